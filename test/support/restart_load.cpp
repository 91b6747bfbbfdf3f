#include "support/restart_load.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace lethe::test {

namespace {

void postgres(const std::string& verb) {
  const auto r = capture(source_dir() + "/scripts/postgres " + verb);
  if (r.rc != 0) throw std::runtime_error("scripts/postgres " + verb + ": " + r.output);
}

}  // namespace

RestartLoad load_through_postgres_restart(const Api& api, const std::string& token, double seconds_after) {
  using Clock = std::chrono::steady_clock;
  struct Answer {
    Clock::time_point sent;
    int status;
    std::string what;
  };
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::vector<Answer> answers;
  // Eight clients, reads and commands, so that every worker thread holds
  // pooled connections when PostgreSQL goes away.
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c)
    clients.emplace_back([&, c] {
      for (int i = 0; !stop.load(); ++i) {
        const auto sent = Clock::now();
        const bool read = i % 2 == 0;
        const auto r = read ? api.call("GET", "/tickets", "", token)
                            : api.call("POST", "/users",
                                       "{\"email\":\"restart" + std::to_string(c) + "n" + std::to_string(i) +
                                           "@example.org\",\"name\":\"Load\"}",
                                       api.owner_key());
        std::lock_guard lock(mutex);
        answers.push_back(
            {sent, r.status, (read ? "GET /tickets " : "POST /users ") + std::to_string(r.status) + " " + r.body});
        if (r.status >= 500) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  RestartLoad out;
  try {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const auto stopped = Clock::now();
    postgres("stop");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    postgres("start");  // returns once PostgreSQL accepts connections over TCP
    const auto back = Clock::now();
    out.outage_seconds = std::chrono::duration<double>(back - stopped).count();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds_after));
    stop = true;
    for (auto& t : clients) t.join();
    for (const auto& a : answers) {
      const bool ok = a.status / 100 == 2;
      if (a.sent < back)
        (ok ? out.before_ok : out.before_failed) += 1;
      else if (ok)
        ++out.after_ok;
      else
        out.after_failed.push_back(a.what);
    }
  } catch (...) {
    stop = true;
    for (auto& t : clients)
      if (t.joinable()) t.join();
    throw;
  }
  return out;
}

}  // namespace lethe::test
