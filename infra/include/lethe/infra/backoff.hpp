#pragma once
// Exponential back-off between retries: waits `first`, then twice as long
// each time, up to `cap`; reset() after a success.
#include <algorithm>
#include <chrono>
#include <thread>

namespace lethe::infra {

class Backoff {
 public:
  explicit Backoff(std::chrono::milliseconds first, std::chrono::milliseconds cap = std::chrono::seconds(5))
      : first_(first), cap_(cap), next_(first) {}

  // How long the next wait() sleeps, for the log line that announces it.
  std::chrono::milliseconds next() const { return next_; }
  void wait() {
    std::this_thread::sleep_for(next_);
    next_ = std::min(next_ * 2, cap_);
  }
  void reset() { next_ = first_; }

 private:
  std::chrono::milliseconds first_, cap_, next_;
};

}  // namespace lethe::infra
