// cpp-httplib candidate for `lethe serve`: POST /echo parses the JSON body
// and answers {"ok":true,"n":<body length>}. Usage: http_choice_httplib PORT
#include <httplib.h>
#include <rapidjson/document.h>

#include <cstdlib>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " PORT\n";
    return 2;
  }
  const int port = std::atoi(argv[1]);

  httplib::Server svr;
  svr.new_task_queue = [] { return new httplib::ThreadPool(16); };
  svr.set_keep_alive_max_count(100000);
  svr.set_keep_alive_timeout(30);
  // cpp-httplib sends the headers and the body in two send() calls: without
  // TCP_NODELAY, Nagle holds the body until the client's delayed ACK, and
  // every kept-alive request takes ~44 ms (measured: 340 req/s).
  svr.set_tcp_nodelay(true);

  svr.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
    rapidjson::Document doc;
    if (doc.Parse(req.body.data(), req.body.size()).HasParseError() || !doc.IsObject()) {
      res.status = 400;
      res.set_content(R"({"ok":false})", "application/json");
      return;
    }
    res.set_content(R"({"ok":true,"n":)" + std::to_string(req.body.size()) + "}", "application/json");
  });

  std::cout << "httplib listening on 127.0.0.1:" << port << std::endl;
  if (!svr.listen("127.0.0.1", port)) {
    std::cerr << "cannot listen on port " << port << "\n";
    return 1;
  }
  return 0;
}
