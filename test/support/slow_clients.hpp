#pragma once
// Clients that open connections and then send a request one byte at a time,
// a byte per connection every `interval`, and never finish: what an attacker
// does to hold a server's workers. For the hostile-request test and the
// bench row beside it.
#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

namespace lethe::test {

class SlowClients {
 public:
  // Opens `count` connections to 127.0.0.1:port (raising this process's
  // descriptor limit as needed) and starts trickling. Throws when a
  // connection cannot be opened.
  SlowClients(int port, int count, std::chrono::milliseconds interval);
  ~SlowClients();  // stops trickling and closes every connection
  SlowClients(const SlowClients&) = delete;
  SlowClients& operator=(const SlowClients&) = delete;

  // Stops trickling and counts the connections the server has closed.
  int closed_by_server();

 private:
  void stop();
  std::vector<int> fds_;
  std::atomic<bool> stop_{false};
  std::thread trickle_;
};

// Milliseconds a call takes, `n` times, and the 99th percentile of them.
double p99_ms_of(int n, const std::function<bool()>& call, int* failures = nullptr);

}  // namespace lethe::test
