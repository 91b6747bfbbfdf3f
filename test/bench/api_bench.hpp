#pragma once
// The HTTP rows of scripts/bench: commands per second through `lethe serve`
// beside the same commands run in-process and the bare appends (the limits
// without HTTP, and without deciding), and the time from a command's answer
// to its change being visible in the read model at a fixed rate.
#include <cstdint>

namespace lethe::bench {

struct ApiBenchOptions {
  int connections = 8;
  int users = 800;
  double seconds = 8;
  int paced_rate = 1000;
  double paced_seconds = 10;
};

struct ApiBenchResult {
  std::int64_t http = 0, direct = 0, store = 0, http_errors = 0;
  double http_s = 0, direct_s = 0, store_s = 0;
  // The mixed workload of the domains: open a ticket, comment on it, open a
  // cart, add a line, convert it, record a charge (each customer's own
  // streams; each worker its own product).
  std::int64_t mixed = 0, mixed_errors = 0;
  double mixed_s = 0;
  std::int64_t paced = 0, paced_unseen = 0;
  double paced_s = 0, p50_ms = 0, p99_ms = 0, max_ms = 0;
};

ApiBenchResult api_bench(const ApiBenchOptions& options);

}  // namespace lethe::bench
