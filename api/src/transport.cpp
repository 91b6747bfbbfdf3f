#include "transport.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <array>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <optional>
#include <thread>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange
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

// What the server shares with its connections.
struct Connections {
  const TransportLimits& limits;
  const Handlers& handlers;
  asio::thread_pool& workers;
  std::atomic<int> connections{0};
  std::atomic<int> in_flight{0};           // requests handed to a handler and not yet written
  std::atomic<std::size_t> body_bytes{0};  // bodies being read or handled, by their Content-Length
  std::atomic<bool> stopping{false};
};

// One connection: read a request within the bounds, have it answered,
// write the answer, and again while the client keeps the connection alive.
// Every step runs on the connection's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Connections& shared) : stream_(std::move(socket)), shared_(shared) {
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
    asio::post(shared_.workers, [self = shared_from_this(), req] {
      auto res = self->shared_.handlers.answer(*req);
      asio::post(self->stream_.get_executor(), [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
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

  void write(Response res) {
    release_body();
    res_ = {};
    res_.version(11);
    res_.result(static_cast<unsigned>(res.status));
    const bool keep = keep_alive_ && !shared_.stopping;
    res_.keep_alive(keep);
    for (auto& [name, value] : res.headers) res_.insert(name, value);
    if (!res.content_type.empty()) res_.set(http::field::content_type, res.content_type);
    res_.body() = std::move(res.body);
    res_.prepare_payload();
    stream_.expires_after(kWriteTimeout);
    http::async_write(stream_, res_, [self = shared_from_this(), keep](beast::error_code ec, std::size_t) {
      --self->shared_.in_flight;
      if (ec) return;
      if (!keep) return self->linger();
      self->read_next();
    });
  }

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
  Connections& shared_;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  http::response<http::string_body> res_;
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
  asio::thread_pool workers(static_cast<std::size_t>(limits.workers));
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
