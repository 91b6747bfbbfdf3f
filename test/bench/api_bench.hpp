#pragma once
// The HTTP rows of scripts/bench: commands per second through `lethe serve`
// beside the same commands run in-process and the bare appends (the limits
// without HTTP, and without deciding), and the time from a command's answer
// to its change being visible in the read model at a fixed rate; then, with
// every projection running and the same paced traffic, the time from an
// erasure's answer until every projection has applied it.
#include <cstdint>

#include "measure.hpp"
#include "support/fixtures.hpp"

namespace lethe::bench {

struct ApiBenchOptions {
  int connections = 8;
  int users = 800;
  int random_users = 10000;  // the row whose commands pick their person at random among so many
  double seconds = 8;
  int paced_rate = 1000;
  double paced_seconds = 10;
  int erasures = 50;              // people erased beside the paced traffic (0: skip that row)
  int erasure_interval_ms = 200;  // one erasure every so often
  bool postgres_restart = true;   // the row that restarts the shared PostgreSQL
};

// GET /users?limit=50 (the first page, opened with one key query) through a
// `lethe serve` started on db, one request at a time: what a list query
// costs with the read model as it is (sealed columns, or plaintext ones).
Latency list_latency(const lethe::test::TestSchema& db, int requests);

struct ApiBenchResult {
  std::int64_t http = 0, direct = 0, store = 0, http_errors = 0;
  double http_s = 0, direct_s = 0, store_s = 0;
  // Renames over HTTP, each for a person drawn at random among random_users
  // (caches cold, two workers now and then on one stream).
  std::int64_t http_random = 0, http_random_errors = 0;
  double http_random_s = 0;
  // The mixed workload of the domains: open a ticket, comment on it, open a
  // cart, add a line, convert it, record a charge (each customer's own
  // streams; each worker its own product).
  std::int64_t mixed = 0, mixed_errors = 0;
  double mixed_s = 0;
  std::int64_t paced = 0, paced_unseen = 0, paced_failed = 0;
  double paced_s = 0, p50_ms = 0, p99_ms = 0, max_ms = 0;
  // Erasure beside paced renames, every projection running (`lethe project`).
  std::int64_t erased = 0, erase_errors = 0;
  std::int64_t erasures_unfinished = 0;   // receipts not all in 10 s after the last answer
  std::int64_t erasures_unseen = 0;       // not all shown by the erasure read model by then
  int erasure_projections = 0;            // receipts expected per erasure
  std::int64_t erasure_dead_letters = 0;  // messages set aside meanwhile (none expected)
  std::int64_t erasure_out_of_order = 0;  // erasure-stream events on Kafka after a later version (none expected)
  double erasure_s = 0;
  Latency erase_answer;  // POST /users/{id}/erasure: send -> answer
  Latency erasure;       // answer -> every projection's erasure.applied in the event store
  Latency erasure_view;  // answer -> GET /erasure-requests/{id} shows every receipt applied
  // The renames paced beside the erasures, read model visibility as above.
  std::int64_t beside_paced = 0, beside_unseen = 0, beside_failed = 0;
  double beside_s = 0;
  Latency beside;
  // /health and a signed-in read, one at a time, with no other client and
  // then beside 1,000 clients that trickle a byte every 500 ms (4 workers).
  int slow_clients = 0;
  double health_p99_alone = 0, health_p99_slow = 0, read_p99_alone = 0, read_p99_slow = 0;
  int slow_failures = 0;
  // Eight clients of reads and commands while PostgreSQL restarts.
  int restart_before_ok = 0, restart_before_refused = 0, restart_after_ok = 0, restart_after_failed = 0;
  double restart_outage_s = 0;
};

ApiBenchResult api_bench(const ApiBenchOptions& options);

}  // namespace lethe::bench
