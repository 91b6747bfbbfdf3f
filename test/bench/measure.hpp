#pragma once
// What every part of scripts/bench measures with: wall time, percentiles of
// latencies, and a child process's CPU time and peak RSS from /proc.
#include <sys/types.h>

#include <chrono>
#include <vector>

namespace lethe::bench {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t);

// Percentiles of a set of latencies.
struct Latency {
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
};
double percentile(std::vector<double> v, double p);
Latency latency_of(const std::vector<double>& ms);

// utime + stime of a running process, from /proc/<pid>/stat (0 once gone).
double cpu_seconds(pid_t pid);
// VmHWM of a running process: the peak RSS of its current image, KiB. (The
// rusage of a child also counts the pages it shared with this process
// between fork and exec, so it is no use here.)
long peak_rss_kib(pid_t pid);

}  // namespace lethe::bench
