#include "support/slow_clients.hpp"

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <string>

#include "support/api.hpp"

namespace lethe::test {

namespace {

void allow_descriptors(int wanted) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  const auto need = static_cast<rlim_t>(wanted) + 256;
  if (lim.rlim_cur >= need) return;
  lim.rlim_cur = std::min(need, lim.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &lim);
}

}  // namespace

SlowClients::SlowClients(int port, int count, std::chrono::milliseconds interval) {
  allow_descriptors(count);
  for (int i = 0; i < count; ++i) {
    const int fd = connect_local(port, 2);
    if (fd < 0) {
      stop();
      throw std::runtime_error("slow client " + std::to_string(i) + " could not connect");
    }
    fds_.push_back(fd);
  }
  trickle_ = std::thread([this, interval] {
    const std::string line = "GET /users HTTP/1.1\r\n";
    for (std::size_t i = 0; !stop_.load(); ++i) {
      for (int fd : fds_) ::send(fd, &line[i % line.size()], 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      for (auto slept = std::chrono::milliseconds(0); slept < interval && !stop_.load();
           slept += std::chrono::milliseconds(10))
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
}

void SlowClients::stop() {
  stop_ = true;
  if (trickle_.joinable()) trickle_.join();
}

int SlowClients::closed_by_server() {
  stop();
  int closed = 0;
  for (int fd : fds_) {
    char buf[256];
    const auto n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    closed += n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }
  return closed;
}

SlowClients::~SlowClients() {
  stop();
  for (int fd : fds_) ::close(fd);
}

double p99_ms_of(int n, const std::function<bool()>& call, int* failures) {
  std::vector<double> ms;
  int failed = 0;
  for (int i = 0; i < n; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    failed += call() ? 0 : 1;
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  if (failures) *failures = failed;
  std::sort(ms.begin(), ms.end());
  return ms.empty() ? 0 : ms[static_cast<std::size_t>(static_cast<double>(ms.size() - 1) * 0.99)];
}

}  // namespace lethe::test
