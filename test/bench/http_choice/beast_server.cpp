// Boost.Beast candidate for `lethe serve`: POST /echo parses the JSON body
// and answers {"ok":true,"n":<body length>}. Asynchronous; one io_context
// run by 2 threads, one session (on its own strand) per keep-alive
// connection. Usage: http_choice_beast PORT
#include <rapidjson/document.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(30);
constexpr int kIoThreads = 2;

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

Response answer(const Request& req) {
  Response res;
  res.version(req.version());
  res.keep_alive(req.keep_alive());
  res.set(http::field::content_type, "application/json");
  if (req.target() != "/echo") {
    res.result(http::status::not_found);
    res.body() = R"({"ok":false})";
  } else if (req.method() != http::verb::post) {
    res.result(http::status::method_not_allowed);
    res.body() = R"({"ok":false})";
  } else {
    const std::string& body = req.body();
    rapidjson::Document doc;
    if (doc.Parse(body.data(), body.size()).HasParseError() || !doc.IsObject()) {
      res.result(http::status::bad_request);
      res.body() = R"({"ok":false})";
    } else {
      res.result(http::status::ok);
      res.body() = R"({"ok":true,"n":)" + std::to_string(body.size()) + "}";
    }
  }
  res.prepare_payload();
  return res;
}

// Reads a request, writes its answer, and loops while the client keeps the
// connection alive. Every handler runs on the socket's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket socket) : stream_(std::move(socket)) {}

  void start() { read_next(); }

 private:
  void read_next() {
    req_ = {};
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, req_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream) return close();
    if (ec) return;  // timeout, reset or malformed request: drop the connection
    res_ = answer(req_);
    http::async_write(stream_, res_,
                      [self = shared_from_this()](beast::error_code wec, std::size_t) { self->on_write(wec); });
  }

  void on_write(beast::error_code ec) {
    if (ec) return;
    if (res_.need_eof()) return close();
    read_next();
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  Request req_;
  Response res_;
};

// Accepts connections forever, each onto a fresh strand.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(asio::io_context& ioc, const tcp::endpoint& at) : ioc_(ioc), acceptor_(ioc) {
    acceptor_.open(at.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(at);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }

  void accept_next() {
    acceptor_.async_accept(asio::make_strand(ioc_), [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) std::make_shared<Session>(std::move(s))->start();
      self->accept_next();
    });
  }

 private:
  asio::io_context& ioc_;
  tcp::acceptor acceptor_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " PORT\n";
    return 2;
  }
  const auto port = static_cast<unsigned short>(std::atoi(argv[1]));

  try {
    asio::io_context ioc(kIoThreads);
    std::make_shared<Listener>(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port))->accept_next();

    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&ioc](beast::error_code, int) { ioc.stop(); });

    std::cout << "beast listening on 127.0.0.1:" << port << std::endl;
    std::vector<std::thread> threads;
    for (int i = 1; i < kIoThreads; ++i) threads.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : threads) t.join();
  } catch (const std::exception& e) {
    std::cerr << "beast server: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
