#pragma once
// The consumer runtime of one projection: a Kafka consumer group of its own,
// batches applied in ONE PostgreSQL transaction together with the partition
// offsets, and offsets read back from PostgreSQL on every assignment (Kafka's
// committed offsets are not used). The effect is exactly once per event.
// Memory is bounded: a batch holds at most batch_size messages or
// batch_max_bytes of keys and values, and librdkafka prefetches at most
// fetch_queue_kbytes ahead of it (README, "Memory").
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "lethe/projections/projection.hpp"

namespace lethe::consumers {

struct RunnerOptions {
  std::string conninfo;
  std::string brokers;
  std::string topic_prefix = "lethe.";
  std::string group_prefix = "lethe.";  // group id = group_prefix + "projection." + name
  std::string instance = "0";           // static group membership: a restart takes its partitions back at once
  int batch_size = 5000;
  int batch_wait_ms = 100;  // how long to fill a batch before applying what is there
  // A batch stops filling once its keys and values reach this many bytes
  // (the message that crosses the bound is its last). 16 MiB: far above
  // batch_size small events, so it only bites on large ones.
  std::int64_t batch_max_bytes = 16 << 20;
  // librdkafka's prefetch queue (queued.max.messages.kbytes), per consumer.
  // librdkafka 2.0 (Debian 12's) stops fetching once the queue reaches this
  // bound and looks again only a second later (its issue #2879; 2.1 added
  // fetch.queue.backoff.ms), so the queue must hold at least a second of
  // events or the projector idles: 16 MiB cost the users projection a third
  // of its throughput on 1 KB events.
  int fetch_queue_kbytes = 64 << 10;
  // The projection stops, offsets kept, when PostgreSQL refuses more than
  // this many messages in a row: a broken projection or schema, not bad
  // messages. 0: never stop on a run.
  int max_consecutive_refusals = 20;
  bool exit_when_idle = false;  // return once every assigned partition is read to its end
  // With exit_when_idle: also return after a batch once fewer events than
  // this are left to read (0: only at the very end). Under steady traffic a
  // projector keeping up is seldom at the very end; a rebuild needs only to
  // be close before its cut-over catches up the rest.
  std::int64_t idle_below_lag = 0;
  // A rebuild beside the live version (consumers/versions.hpp): the
  // session puts this schema first in its search_path, so the projection's
  // tables, offsets, claims and tombstones are the copies there, while the
  // event store, the erasure register and the keys are the live ones. The
  // runner reports the state `rebuilding` and its progress.
  std::string schema_first = {};
  // With schema_first: told the rebuild's progress (0 to 1) with each
  // progress line (a job started from the console shows it).
  std::function<void(double)> on_progress = {};
  // Where the projection's erasure receipts go (app::event_store_receipts);
  // a runner without it refuses to start.
  projections::ReceiptLog receipts = {};
};

struct RunStats {
  std::int64_t applied = 0;
  std::int64_t skipped = 0;
  std::int64_t dead_lettered = 0;
  std::int64_t batches = 0;
  std::int64_t split_batches = 0;               // batches PostgreSQL refused, retried one message at a time
  std::int64_t largest_batch_bytes = 0;         // keys and values of the largest batch read
  std::map<std::string, std::int64_t> by_type;  // events in committed batches by type, dead letters left out
  // Where the run's time went, in seconds: waiting for and taking messages
  // from the consumer (fill), parsing their envelopes (parse), the
  // projection's own work in the batch's transaction (apply: decoding,
  // loading rows, COPY, merge, the erasure policy), storing offsets, and
  // committing. The stop line of `lethe project` prints them.
  double fill_seconds = 0, parse_seconds = 0, apply_seconds = 0, offsets_seconds = 0, commit_seconds = 0;
};

// Empties the projection's tables and forgets its offsets, in one
// transaction, so that its next run rebuilds it from offset zero. Run it
// while the projection is stopped (ProjectionRunner::reset() makes sure).
void reset_projection(const std::string& conninfo, const projections::Projection& projection);

// Not thread-safe; run one runner per thread.
// Test-only, the negative control of "a broken projection stops"
// (runner_kafkatest): while true, a refusal about the schema (a column the
// projection does not fill, a table missing) is taken as one message's
// fault, and dead-lettered. Reached by nothing but a test, in its own process.
extern std::atomic<bool> negative_control_blind_to_schema;
// Test-only, the negative control of "a recreated topic is not read as the
// old one" (runner_kafkatest): while true, a partition is read on from its
// stored offset with no check of its end, its start or the last message
// applied. Reached by nothing but a test, in its own process.
extern std::atomic<bool> negative_control_trust_offsets;

class ProjectionRunner {
 public:
  // Connects to both services; throws infra::Unavailable with a hint when one
  // cannot be reached.
  ProjectionRunner(RunnerOptions options, std::unique_ptr<projections::Projection> projection);
  ~ProjectionRunner();
  ProjectionRunner(const ProjectionRunner&) = delete;
  ProjectionRunner& operator=(const ProjectionRunner&) = delete;

  // Consumes until stop is true (the batch in hand is finished first) or,
  // with exit_when_idle, until caught up. Throws infra::Misconfigured, with
  // nothing of the failing batch committed, when the projection must stop:
  // PostgreSQL refuses its writes for a reason about the schema (SQLSTATE
  // class 42, 23502, 23503, 22P04), more than max_consecutive_refusals
  // messages in a row are refused, or a partition's log is not the one its
  // stored offset came from (a recreated topic). Fixing the cause and running
  // again resumes where it stopped.
  RunStats run(const std::atomic<bool>& stop);
  // Empties the projection's tables and forgets its offsets, in one
  // transaction, so that run() rebuilds it from offset zero (`lethe project
  // --replay`). Done on the runner's session, which holds its instance: a
  // projector of the same instance still running refused this one first.
  void reset();

  // Applies, as run() does, every message below its partition's target
  // (topic as on Kafka, partition) and nothing at or beyond it, and returns
  // once every partition named stands at its target, or when told to stop.
  // A cut-over calls it, after run(exit_when_idle), to bring the new
  // version to exactly where the live one is held. Throws infra::Unavailable
  // when a partition named is not assigned here within `patience`.
  using Targets = std::map<std::pair<std::string, int>, std::int64_t>;
  RunStats catch_up(const Targets& targets, const std::atomic<bool>& stop, std::chrono::seconds patience);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lethe::consumers
