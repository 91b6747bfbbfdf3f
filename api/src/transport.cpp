#include "transport.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

namespace lethe::api {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr int kIoThreads = 2;
constexpr auto kWriteTimeout = std::chrono::seconds(10);
constexpr auto kDrainTimeout = std::chrono::seconds(30);
// After a refusal the client may still be sending: the rest is read and
// thrown away (at most this long) so that closing does not reset the
// connection before the client has read the answer.
constexpr auto kLingerTimeout = std::chrono::seconds(2);

std::string lower(boost::beast::string_view s) {
  std::string out(s.data(), s.size());
  for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

Response refusal(int status, const char* code, const char* field, const char* message) {
  Response res;
  send_error(res, {status, code, field, message});
  return res;
}

// The worker threads that run handlers. A request goes to its connection's
// home worker (dealt out in turn as connections open) when that worker is
// free: its per-thread caches hold the streams the connection works on, as
// they did when a thread served one connection.
// Else it goes to any free worker, else it waits for the first to be free:
// a busy worker never holds up a request another could serve.
class Workers {
 public:
  using Job = std::function<void()>;

  explicit Workers(int n) : slots_(static_cast<std::size_t>(n)) {
    for (int i = 0; i < n; ++i) threads_.emplace_back([this, i] { loop(i); });
  }
  ~Workers() { join(); }

  void submit(int home, Job job) {
    std::unique_lock lock(mutex_);
    int chosen = -1;
    if (home >= 0 && home < static_cast<int>(slots_.size()) && slots_[static_cast<std::size_t>(home)].idle)
      chosen = home;
    for (std::size_t i = 0; chosen < 0 && i < slots_.size(); ++i)
      if (slots_[i].idle) chosen = static_cast<int>(i);
    if (chosen < 0) {
      queue_.push_back(std::move(job));
      return;
    }
    auto& slot = slots_[static_cast<std::size_t>(chosen)];
    slot.idle = false;
    slot.job = std::move(job);
    lock.unlock();
    slot.wake.notify_one();
  }

  // Lets queued jobs finish, then stops every thread.
  void join() {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
    }
    for (auto& slot : slots_) slot.wake.notify_one();
    for (auto& t : threads_) t.join();
  }

 private:
  struct Slot {
    bool idle = true;
    Job job;
    std::condition_variable wake;
  };

  void loop(int me) {
    auto& slot = slots_[static_cast<std::size_t>(me)];
    std::unique_lock lock(mutex_);
    for (;;) {
      slot.wake.wait(lock, [&] { return slot.job || stopping_; });
      if (!slot.job) return;  // stopping, nothing assigned
      auto job = std::move(slot.job);
      slot.job = nullptr;
      lock.unlock();
      job();
      lock.lock();
      if (!queue_.empty()) {
        slot.job = std::move(queue_.front());
        queue_.pop_front();
      } else {
        slot.idle = true;
      }
    }
  }

  std::mutex mutex_;
  std::vector<Slot> slots_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// What the server shares with its connections.
struct Connections {
  const TransportLimits& limits;
  const Handlers& handlers;
  Workers& workers;
  std::atomic<int> connections{0};
  std::atomic<int> in_flight{0};           // requests handed to a handler and not yet written
  std::atomic<std::size_t> body_bytes{0};  // bodies being read or handled, by their Content-Length
  std::atomic<unsigned> next_home{0};      // home workers are dealt out in turn
  std::atomic<bool> stopping{false};
};

// One connection: read a request within the bounds, have it answered,
// write the answer, and again while the client keeps the connection alive.
// Every step runs on the connection's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Connections& shared)
      : stream_(std::move(socket)),
        wait_timer_(stream_.get_executor()),
        shared_(shared),
        home_(static_cast<int>(shared.next_home++ % static_cast<unsigned>(shared.limits.workers))) {
    ++shared_.connections;
    beast::error_code ec;
    const auto peer = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = peer.address().to_string();
    stream_.socket().set_option(tcp::no_delay(true), ec);
  }
  ~Session() {
    release_body();
    --shared_.connections;
  }

  void start() { read_next(); }

 private:
  void read_next() {
    if (shared_.stopping) return close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(shared_.limits.max_header_bytes));
    parser_->body_limit(shared_.limits.max_body_bytes);
    stream_.expires_after(shared_.limits.request_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  // Refusals that need no more of the request: the answer, then close.
  std::optional<Response> refuse_header(beast::error_code ec) {
    if (ec == http::error::header_limit)
      return refusal(431, "headers_too_large", "", "the request line and headers are larger than the server accepts");
    if (ec == http::error::body_limit)
      return refusal(413, "payload_too_large", "", "the body is larger than the server accepts");
    if (ec) return refusal(400, "bad_request", "", "the request could not be read as HTTP/1.1");
    const auto& msg = parser_->get();
    if (static_cast<std::size_t>(std::distance(msg.begin(), msg.end())) > shared_.limits.max_header_count)
      return refusal(431, "headers_too_large", "", "the request has more header lines than the server accepts");
    if (parser_->chunked())
      return refusal(411, "length_required", "Transfer-Encoding",
                     "send the body with a Content-Length; chunked bodies are not accepted");
    const auto encoding = lower(msg[http::field::content_encoding]);
    if (!encoding.empty() && encoding != "identity")
      return refusal(415, "unsupported_encoding", "Content-Encoding", "compressed request bodies are not accepted");
    // Bodies held at once are bounded too: with every connection sending
    // the largest body, memory would be connections x max_body_bytes.
    body_reserved_ = static_cast<std::size_t>(parser_->content_length().value_or(0));
    if (shared_.body_bytes.fetch_add(body_reserved_) + body_reserved_ > shared_.limits.max_body_memory) {
      release_body();
      auto res = refusal(503, "busy", "", "the server holds as many request bodies as it can; try again shortly");
      res.set_header("Retry-After", "1");
      return res;
    }
    return std::nullopt;
  }

  void on_header(beast::error_code ec) {
    // A client that closed, went silent past the deadline or reset the
    // connection gets no answer: there is nobody to read it.
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted || ec == asio::error::eof)
      return close();
    if (auto res = refuse_header(ec)) return refuse(std::move(*res));
    if (lower(parser_->get()[http::field::expect]) == "100-continue" && !parser_->is_done()) {
      continue_.emplace(http::status::continue_, 11);
      return http::async_write(stream_, *continue_, [self = shared_from_this()](beast::error_code wec, std::size_t) {
        if (wec) return self->close();
        self->read_body();
      });
    }
    read_body();
  }

  void read_body() {
    if (parser_->is_done()) return dispatch();
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_body(ec); });
  }

  void on_body(beast::error_code ec) {
    if (ec == beast::error::timeout || ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
      return close();
    if (ec == http::error::body_limit)
      return refuse(refusal(413, "payload_too_large", "", "the body is larger than the server accepts"));
    if (ec) return refuse(refusal(400, "bad_request", "", "the request body could not be read"));
    dispatch();
  }

  Request request() {
    auto& msg = parser_->get();
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.path = req.target.substr(0, req.target.find('?'));
    for (const auto& f : msg) req.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    req.body = std::move(msg.body());
    req.remote = remote_;
    return req;
  }

  void dispatch() {
    stream_.expires_never();
    keep_alive_ = parser_->get().keep_alive();
    auto req = std::make_shared<Request>(request());
    ++shared_.in_flight;
    if (shared_.handlers.inline_ok(*req)) return write(shared_.handlers.answer(*req));
    submit(std::move(req));
  }

  // Hands the request to a worker; a request whose answer is to wait comes
  // back here after its pause, holding no worker meanwhile.
  void submit(std::shared_ptr<Request> req) {
    shared_.workers.submit(home_, [self = shared_from_this(), req] {
      auto res = self->shared_.handlers.answer(*req);
      if (res.again_in) {
        const auto pause = *res.again_in;
        return asio::post(self->stream_.get_executor(), [self, req, pause] {
          self->wait_timer_.expires_after(pause);
          self->wait_timer_.async_wait([self, req](beast::error_code) { self->submit(req); });
        });
      }
      // On the worker: the connection has no operation pending (its read
      // is complete, its timer off), so nothing else touches it until the
      // continuation below runs on its strand. The answer is sent from
      // here as far as the socket takes it at once, which it nearly always
      // does: the client has it without waiting for an I/O thread.
      const bool keep = self->prepare(std::move(res));
      const auto sent = self->send_now();
      if (keep && sent == self->wire_.size()) {
        // Sent whole: the next request is awaited from here too (the
        // connection still has nothing pending; the read completes on its
        // strand), which spares a wake of an I/O thread per request.
        --self->shared_.in_flight;
        return self->read_next();
      }
      asio::post(self->stream_.get_executor(), [self, keep, sent] { self->send_rest(keep, sent); });
    });
  }

  void refuse(Response res) {
    Request req;
    req.remote = remote_;
    shared_.handlers.refused(req, res);
    keep_alive_ = false;
    ++shared_.in_flight;
    write(std::move(res));
  }

  void release_body() {
    shared_.body_bytes -= body_reserved_;
    body_reserved_ = 0;
  }

  // The answer's bytes in wire_; returns whether the connection stays open.
  bool prepare(Response res) {
    release_body();
    http::response<http::string_body> msg;
    msg.version(11);
    msg.result(static_cast<unsigned>(res.status));
    const bool keep = keep_alive_ && !shared_.stopping;
    msg.keep_alive(keep);
    for (auto& [name, value] : res.headers) msg.insert(name, value);
    if (!res.content_type.empty()) msg.set(http::field::content_type, res.content_type);
    msg.body() = std::move(res.body);
    msg.prepare_payload();
    std::ostringstream out;
    out << msg;
    wire_ = std::move(out).str();
    return keep;
  }

  // Sends what the socket takes without waiting; the bytes sent.
  std::size_t send_now() {
    std::size_t sent = 0;
    const auto fd = stream_.socket().native_handle();
    while (sent < wire_.size()) {
      const auto n = ::send(fd, wire_.data() + sent, wire_.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n <= 0) break;  // full for now, or broken: the rest (and the error) is for send_rest
      sent += static_cast<std::size_t>(n);
    }
    return sent;
  }

  // On the strand: what send_now left, then the next request (or close).
  void send_rest(bool keep, std::size_t sent) {
    const auto done = [self = shared_from_this(), keep](beast::error_code ec, std::size_t) {
      --self->shared_.in_flight;
      if (ec) return;
      if (!keep) return self->linger();
      self->read_next();
    };
    if (sent == wire_.size()) return done({}, 0);
    stream_.expires_after(kWriteTimeout);
    asio::async_write(stream_, asio::buffer(wire_.data() + sent, wire_.size() - sent), done);
  }

  void write(Response res) { send_rest(prepare(std::move(res)), 0); }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  // Half-closes, then reads and discards until the client closes too or
  // kLingerTimeout passes.
  void linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTimeout);
    discard();
  }

  void discard() {
    stream_.async_read_some(asio::buffer(scratch_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->stream_.close();
      self->discard();
    });
  }

  beast::tcp_stream stream_;
  asio::steady_timer wait_timer_;  // the pause of a request that waits
  Connections& shared_;
  int home_;  // the worker whose caches hold this connection's streams
  std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  std::string wire_;  // the answer being sent
  bool keep_alive_ = false;
  std::size_t body_reserved_ = 0;
  std::array<char, 16384> scratch_{};
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(asio::io_context& ioc, tcp::acceptor acceptor, Connections& shared)
      : ioc_(ioc), acceptor_(std::move(acceptor)), shared_(shared) {}

  void accept_next() {
    acceptor_.async_accept(asio::make_strand(ioc_), [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        if (self->shared_.connections.load() >= self->shared_.limits.max_connections) {
          beast::error_code ignored;
          s.close(ignored);  // over the limit: the client may retry later
        } else {
          std::make_shared<Session>(std::move(s), self->shared_)->start();
        }
      } else if (ec == asio::error::no_descriptors) {
        // Out of file descriptors: pause instead of spinning on accept.
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      self->accept_next();
    });
  }

  void close() {
    beast::error_code ignored;
    acceptor_.close(ignored);
  }

 private:
  asio::io_context& ioc_;
  tcp::acceptor acceptor_;
  Connections& shared_;
};

// Every open connection is a descriptor: take the hard limit, so that
// max_connections is what bounds them and not a default of 1,024.
void raise_descriptor_limit(int wanted) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  const auto need = static_cast<rlim_t>(wanted) + 256;  // PostgreSQL connections, Kafka, logs
  if (lim.rlim_cur >= need) return;
  lim.rlim_cur = std::min(need, lim.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < need)
    spdlog::warn("serve: only {} file descriptors allowed; fewer than --max-connections {} can be open", lim.rlim_cur,
                 wanted);
}

}  // namespace

int run_transport(const std::string& host, int port, const TransportLimits& limits, const Handlers& handlers,
                  const std::atomic<bool>& stop) {
  raise_descriptor_limit(limits.max_connections);
  asio::io_context ioc(kIoThreads);
  Workers workers(limits.workers);
  Connections shared{limits, handlers, workers};

  tcp::acceptor acceptor(ioc);
  beast::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (!ec) {
    const tcp::endpoint at(address, static_cast<unsigned short>(port));
    acceptor.open(at.protocol(), ec);
    // SO_REUSEADDR only (never SO_REUSEPORT): a second server on the same
    // port must fail to bind, not share it unnoticed.
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(at, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    spdlog::error("serve: cannot listen on {}:{} ({}: in use, or not an address of this machine)", host, port,
                  ec.message());
    return 2;
  }
  auto listener = std::make_shared<Listener>(ioc, std::move(acceptor), shared);
  listener->accept_next();

  // The I/O threads run until the server stops, even while no socket has an
  // operation pending (a request being handled on a worker, the acceptor
  // closed at shutdown): its answer is still to be written.
  auto keep_running = asio::make_work_guard(ioc);
  std::vector<std::thread> io;
  for (int i = 0; i < kIoThreads; ++i) io.emplace_back([&ioc] { ioc.run(); });
  spdlog::info("serve: listening on http://{}:{} with {} worker threads, {} connections at most", host, port,
               limits.workers, limits.max_connections);

  while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  spdlog::info("serve: stopping; requests in flight finish first");
  shared.stopping = true;
  asio::post(ioc, [listener] { listener->close(); });
  const auto deadline = std::chrono::steady_clock::now() + kDrainTimeout;
  while (shared.in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  keep_running.reset();
  ioc.stop();
  for (auto& t : io) t.join();
  workers.join();
  spdlog::info("serve: stopped");
  return 0;
}

}  // namespace lethe::api
