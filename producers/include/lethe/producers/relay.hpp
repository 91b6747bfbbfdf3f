#pragma once
// The outbox relay: publishes the outbox to Kafka in order, with an
// idempotent producer (acks=all), key = stream id, headers type,
// schema_version and event_id. An entry counts as published only once every
// entry of its batch has a successful delivery report; the checkpoint then
// moves in PostgreSQL. Delivery is at least once: a relay killed between
// the reports and the checkpoint publishes that batch again, and projections
// apply by stream version, so the effect is once.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace lethe::producers {

// The outbox's backlog: the entries past the relay's checkpoint (published
// rows are pruned later) and how long ago the next one to publish occurred
// (0 when none), columns backlog and oldest_seconds. The count walks the
// outbox's key alone and the age reads one event by its key: joined as a
// set, the event store was hashed whole (240 ms at 200,000 entries waiting,
// now 16 ms), once a second by the relay and by /ready.
inline constexpr const char* kOutboxBacklogSql =
    "SELECT (SELECT count(*) FROM relay_checkpoint c, outbox o"
    "  WHERE c.id = 1 AND (o.tx_id, o.global_position) > (c.tx_id, c.global_position)) AS backlog,"
    " coalesce((SELECT extract(epoch FROM now() - e.occurred_at::timestamptz) FROM relay_checkpoint c, outbox o, "
    "events e"
    "  WHERE c.id = 1 AND (o.tx_id, o.global_position) > (c.tx_id, c.global_position)"
    "  AND e.global_position = o.global_position ORDER BY o.tx_id, o.global_position LIMIT 1), 0)::float8"
    " AS oldest_seconds";

struct RelayOptions {
  std::string conninfo;
  std::string brokers;
  std::string topic_prefix = "lethe.";
  int batch_size = 10000;
  std::int64_t batch_max_bytes = 16 << 20;  // payload bytes per batch (one event always fits)
  int idle_wait_ms = 500;                   // wait for a NOTIFY at most this long, then look anyway
  int prune_every_ms = 5000;                // delete published outbox rows at most this often (0: every batch)
  bool exit_when_idle = false;              // return once the outbox is drained (benchmarks, tests)
  // Tests only, never set elsewhere (no flag reaches it): read the outbox
  // by position alone, as a naive relay would. The ordering test runs
  // against it to show that it fails there (relay_kafkatest).
  bool negative_control_position_order = false;
  // Tests only, likewise: trust the checkpoint whichever cluster wrote it,
  // as the relay did before it checked. relay_hardening_kafkatest shows it
  // losing the events appended after a restore into another cluster.
  bool negative_control_trust_checkpoint = false;
  // Tests only, likewise: LISTEN on a channel that appends never notify
  // (relay_kafkatest shows such a relay waking only on its fallback poll),
  // and run without taking the schema's relay lock (relay_hardening_kafkatest
  // shows a second relay then let in).
  bool negative_control_listen_elsewhere = false;
  bool negative_control_no_lock = false;
};

// Repairs the checkpoint after a restore into another cluster; see the
// relay's refusal message. Run it with the relay stopped.
std::int64_t rebase_relay(const std::string& conninfo);

class Relay {
 public:
  explicit Relay(RelayOptions options);  // connects; throws infra::Unavailable
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // Publishes until stop becomes true or, with exit_when_idle, nothing
  // unpublished is left in the outbox. On stop, deliveries still unconfirmed
  // are dropped from librdkafka's queue: they stay in the outbox and go out
  // again on the next run (possibly a second time). An entry the broker
  // refuses for good (too large, invalid) is parked in relay_parked, logged,
  // and the relay goes on. A lost PostgreSQL connection is reopened (a stale
  // session of its own that still holds the relay lock is terminated); the
  // broker is waited for without a deadline. Returns the number of events
  // published by this call. Throws infra::InfraError for what no retry can
  // cure (fatal producer error, missing topic, a checkpoint from another
  // cluster).
  std::int64_t run(const std::atomic<bool>& stop);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lethe::producers
