#include "lethe/producers/relay.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>

#include "envelope_row.hpp"
#include "lethe/domain/envelope.hpp"
#include "lethe/infra/backoff.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/kafka.hpp"
#include "lethe/infra/pg.hpp"

namespace lethe::producers {

namespace {

using Clock = std::chrono::steady_clock;

// Order without holes. Positions come from a sequence, but transactions
// commit in any order, so "everything after the last position sent" can skip
// a row whose transaction commits late with a lower position. Instead we read
// only rows written by transactions older than the oldest one still running
// (pg_snapshot_xmin): no row can ever appear below that line again, so the
// checkpoint (tx_id, position) only moves past rows that are final. Within a
// stream, a later version is written by a later transaction (the append reads
// the head first), so stream order is kept.
constexpr const char* kFetch = "relay_fetch";
constexpr const char* kFetchSql = "SELECT o.tx_id::text, o.topic, " LETHE_ENVELOPE_COLUMNS
                                  " FROM outbox o JOIN events e USING (global_position)"
                                  " WHERE (o.tx_id, o.global_position) > ($1::xid8, $2::bigint)"
                                  "   AND o.tx_id < pg_snapshot_xmin(pg_current_snapshot())"
                                  " ORDER BY o.tx_id, o.global_position LIMIT $3";

constexpr pqxx::row::size_type kFetchEnvelopeAt = 2;  // after tx_id and topic

constexpr const char* kCheckpoint = "relay_checkpoint";
constexpr const char* kCheckpointSql =
    "UPDATE relay_checkpoint SET tx_id = $1::xid8, global_position = $2, published = published + $3,"
    " updated_at = now() WHERE id = 1";
constexpr const char* kLoadCheckpointSql = "SELECT tx_id::text, global_position FROM relay_checkpoint WHERE id = 1";
// Published rows are history in `events`; the outbox keeps only the backlog.
constexpr const char* kPruneSql = "DELETE FROM outbox WHERE (tx_id, global_position) <= ($1::xid8, $2::bigint)";
constexpr const char* kBacklogSql =
    "SELECT count(*) FROM outbox o, relay_checkpoint c"
    " WHERE c.id = 1 AND (o.tx_id, o.global_position) > (c.tx_id, c.global_position)";
// The open transaction holding the watermark back, for the stall warning.
constexpr const char* kOldestXactSql =
    "SELECT pid::text, coalesce(state, ''), date_trunc('second', now() - xact_start)::text"
    " FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
    " ORDER BY age(backend_xid) DESC LIMIT 1";
// One relay per schema: two would publish everything twice.
constexpr const char* kLockSql = "SELECT pg_try_advisory_lock(hashtext('lethe.relay.' || current_schema()))";

// Test hook: LETHE_FAULT=relay.after_delivery makes the process die after a
// batch was acknowledged by Kafka and before its checkpoint is stored, the
// window in which a restart republishes. Used by the crash test only.
bool fault_after_delivery() {
  static const bool on = [] {
    const char* f = std::getenv("LETHE_FAULT");
    return f && std::string_view(f) == "relay.after_delivery";
  }();
  return on;
}

class Wakeup : public pqxx::notification_receiver {
 public:
  using pqxx::notification_receiver::notification_receiver;
  void operator()(const std::string&, int) override { woken = true; }
  bool woken = false;
};

}  // namespace

struct Relay::Impl {
  RelayOptions opt;
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<Wakeup> wakeup;
  infra::DeliveryReports delivery;
  std::unique_ptr<RdKafka::Producer> producer;
  std::string cp_tx = "0";
  std::int64_t cp_pos = 0;
  Clock::time_point last_stall_warning{};
  std::optional<Clock::time_point> stalled_since;  // entries pending, none fetchable

  // (Re)connects: takes the relay lock, LISTENs, and reloads the checkpoint
  // from PostgreSQL, the only truth about what was published.
  void connect_pg(bool reconnecting = false) {
    wakeup.reset();  // unregisters from the old connection while it still exists
    conn.reset();
    conn = infra::connect(opt.conninfo);
    infra::translate_pg("relay start", [&] {
      pqxx::nontransaction nt(*conn);
      if (!nt.exec(kLockSql)[0][0].as<bool>()) {
        // On a reconnect the holder may be our own old session, not yet
        // noticed dead by the server: wait for it (the loop retries).
        if (reconnecting) throw infra::Unavailable("relay lock still held, by our old session or another relay");
        throw infra::Misconfigured("another relay holds the lock of this schema; run only one `lethe relay`");
      }
      const auto schema = nt.exec("SELECT current_schema()")[0][0].as<std::string>();
      const auto cp = nt.exec(kLoadCheckpointSql);
      if (cp.empty()) throw infra::Misconfigured("relay_checkpoint is empty: run `lethe migrate`");
      cp_tx = cp[0][0].as<std::string>();
      cp_pos = cp[0][1].as<std::int64_t>();
      conn->prepare(kFetch, kFetchSql);
      conn->prepare(kCheckpoint, kCheckpointSql);
      wakeup = std::make_unique<Wakeup>(*conn, "lethe_outbox_" + schema);
    });
  }

  void connect_kafka() {
    auto conf = infra::kafka_conf(infra::producer_settings(opt.brokers));
    std::string err;
    if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&delivery), err) != RdKafka::Conf::CONF_OK)
      throw infra::Misconfigured("dr_cb: " + err);
    producer.reset(RdKafka::Producer::create(conf.get(), err));
    if (!producer) throw infra::Misconfigured("Kafka producer: " + err);
    infra::check_broker(*producer, opt.brokers);
  }

  // Hands one outbox row to librdkafka; returns its error, if any.
  RdKafka::ErrorCode produce(const pqxx::row& r) {
    const auto e = envelope_from_row(r, kFetchEnvelopeAt);
    const std::string value = domain::encode(e);
    const std::string topic = opt.topic_prefix + r[1].c_str();
    auto* headers = RdKafka::Headers::create();
    headers->add("type", e.type);
    headers->add("schema_version", std::to_string(e.schema_version));
    headers->add("event_id", e.event_id);
    const auto code = infra::produce_copy(*producer, topic, e.stream_id, value, headers);
    if (code != RdKafka::ERR_NO_ERROR)
      spdlog::error("relay: produce {} to {}: {}", e.event_id, topic, RdKafka::err2str(code));
    return code;
  }

  // Publishes a batch; true once every entry has a successful delivery
  // report. Waits for the reports of everything handed over, so counters
  // never mix batches; librdkafka retries on its own until
  // message.timeout.ms. On stop, undelivered messages are purged: they stay
  // in the outbox and go out after a restart.
  bool publish(const pqxx::result& rows, const std::atomic<bool>& stop) {
    delivery.reset();
    std::int64_t handed = 0;
    RdKafka::ErrorCode refused = RdKafka::ERR_NO_ERROR;
    for (const auto& r : rows) {
      refused = produce(r);
      if (refused != RdKafka::ERR_NO_ERROR) break;
      ++handed;
    }
    if (!infra::await_reports(*producer, delivery, handed, &stop)) {
      spdlog::warn("relay: stopping with {} deliveries unconfirmed; they stay in the outbox",
                   handed - delivery.settled());
      producer->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
      producer->flush(2000);
      return false;
    }
    // Errors that no retry can cure stop the relay, loudly; the rest (the
    // broker is away, a queue timed out) make the batch go again.
    stop_if_hopeless(refused);
    stop_if_hopeless(delivery.first_error);
    if (refused != RdKafka::ERR_NO_ERROR) return false;
    if (delivery.failed > 0) {
      spdlog::error("relay: {} of {} deliveries failed ({}); the batch goes again", delivery.failed, handed,
                    RdKafka::err2str(delivery.first_error));
      return false;
    }
    return true;
  }

  void stop_if_hopeless(RdKafka::ErrorCode code) {
    switch (code) {
      case RdKafka::ERR__FATAL: {
        // The idempotent producer lost its guarantees (e.g. the broker lost
        // acknowledged data); only a new producer may go on, after a look.
        std::string reason;
        const auto fatal = producer->fatal_error(reason);
        throw infra::InfraError("relay: fatal producer error " + RdKafka::err2str(fatal) + ": " + reason +
                                    "; restart the relay (the outbox keeps everything unpublished)",
                                false);
      }
      case RdKafka::ERR__UNKNOWN_TOPIC:
      case RdKafka::ERR_UNKNOWN_TOPIC_OR_PART:
      case RdKafka::ERR_MSG_SIZE_TOO_LARGE:
      case RdKafka::ERR__INVALID_ARG:
        infra::throw_kafka(code, "relay");
      default:
        return;
    }
  }

  std::int64_t backlog() {
    return infra::translate_pg("relay backlog", [&] {
      pqxx::read_transaction tx(*conn);
      return tx.exec(kBacklogSql)[0][0].as<std::int64_t>();
    });
  }

  // Entries exist but none is below the watermark: some transaction older
  // than them is still open. Normal for a moment under load; after 5 s it
  // says which transaction, at most every 10 s.
  void warn_if_stalled(std::int64_t pending) {
    const auto now = Clock::now();
    if (!stalled_since) stalled_since = now;
    if (now - *stalled_since < std::chrono::seconds(5) || now - last_stall_warning < std::chrono::seconds(10)) return;
    last_stall_warning = now;
    const auto who = infra::translate_pg("relay stall", [&] {
      pqxx::read_transaction tx(*conn);
      return tx.exec(kOldestXactSql);
    });
    spdlog::warn("relay: {} outbox entries wait behind an open transaction{}", pending,
                 who.empty() ? std::string()
                             : " (pid " + std::string(who[0][0].c_str()) + ", " + who[0][1].c_str() + ", open " +
                                   who[0][2].c_str() + ")");
  }
};

Relay::Relay(RelayOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->opt = std::move(options);
  impl_->connect_pg();
  impl_->connect_kafka();
}

Relay::~Relay() {
  if (impl_ && impl_->producer) impl_->producer->flush(5000);
}

std::int64_t Relay::run(const std::atomic<bool>& stop) {
  auto& s = *impl_;
  std::int64_t published = 0, since_report = 0;
  auto last_report = Clock::now();
  auto last_prune = last_report;
  infra::Backoff backoff(std::chrono::milliseconds(100));
  bool connected = true;

  while (!stop.load()) {
    try {
      if (!connected) {
        s.connect_pg(true);
        connected = true;
        spdlog::info("relay: reconnected to PostgreSQL, resuming after position {}", s.cp_pos);
      }
      const auto rows = infra::translate_pg("relay fetch", [&] {
        pqxx::read_transaction tx(*s.conn);
        return tx.exec_prepared(kFetch, s.cp_tx, s.cp_pos, s.opt.batch_size);
      });
      if (rows.empty()) {
        const auto pending = s.backlog();
        if (pending > 0)
          s.warn_if_stalled(pending);
        else
          s.stalled_since.reset();
        if (s.opt.exit_when_idle && pending == 0) break;
        infra::translate_pg("relay wait",
                            [&] { s.conn->await_notification(0, pending > 0 ? 100000L : s.opt.idle_wait_ms * 1000L); });
        continue;
      }

      s.stalled_since.reset();
      if (!s.publish(rows, stop)) {
        if (stop.load()) break;
        backoff.wait();
        continue;
      }
      backoff.reset();
      if (fault_after_delivery()) {
        spdlog::warn("relay: LETHE_FAULT=relay.after_delivery, dying before the checkpoint");
        _exit(86);
      }

      const auto& last = rows[rows.size() - 1];
      const std::string tx_id = last[0].c_str();
      const auto pos = last[kFetchEnvelopeAt + kPositionColumn].as<std::int64_t>();
      const bool prune = Clock::now() - last_prune >= std::chrono::milliseconds(s.opt.prune_every_ms);
      infra::translate_pg("relay checkpoint", [&] {
        pqxx::work tx(*s.conn);
        tx.exec_prepared(kCheckpoint, tx_id, pos, static_cast<std::int64_t>(rows.size()));
        if (prune) tx.exec_params(kPruneSql, tx_id, pos);
        tx.commit();
      });
      if (prune) last_prune = Clock::now();
      s.cp_tx = tx_id;
      s.cp_pos = pos;
      published += static_cast<std::int64_t>(rows.size());
      since_report += static_cast<std::int64_t>(rows.size());

      const auto now = Clock::now();
      if (now - last_report > std::chrono::seconds(5)) {
        const double secs = std::chrono::duration<double>(now - last_report).count();
        spdlog::info("relay: published {} events ({:.0f}/s), total {}, backlog {}", since_report, since_report / secs,
                     published, s.backlog());
        since_report = 0;
        last_report = now;
      }
    } catch (const infra::InfraError& e) {
      // A lost connection, or a checkpoint commit in doubt: either way the
      // checkpoint in PostgreSQL is the truth. Reconnect and reload it; at
      // worst a batch goes out again, which projections absorb.
      if (!e.is_retryable() && !dynamic_cast<const infra::CommitInDoubt*>(&e)) throw;
      spdlog::warn("relay: {}; reconnecting in {} ms", e.what(), backoff.next().count());
      backoff.wait();
      connected = false;
    }
  }
  s.producer->flush(10000);
  spdlog::info("relay: stopped after publishing {} events", published);
  return published;
}

}  // namespace lethe::producers
