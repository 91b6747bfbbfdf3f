#pragma once
// Log set-up shared by every subcommand: UTC timestamps, a level, and either
// human-readable lines or one JSON object per line for log shippers
// ({"time":...,"level":...,"msg":...}, the message escaped).
#include <chrono>
#include <string>

namespace lethe::infra {

enum class LogFormat { text, json };

void configure_logging(const std::string& level, LogFormat format);

// True at most once every 5 s: the progress lines of a long operation, not a flood.
class Throttled {
 public:
  bool due() {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::seconds(5)) return false;
    last_ = now;
    return true;
  }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

// Adds the seconds of its scope to a counter: where a long operation's time
// went (the stop line of `lethe project`).
class Timed {
 public:
  explicit Timed(double& into) : into_(into), started_(std::chrono::steady_clock::now()) {}
  ~Timed() { into_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count(); }
  Timed(const Timed&) = delete;
  Timed& operator=(const Timed&) = delete;

 private:
  double& into_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace lethe::infra
