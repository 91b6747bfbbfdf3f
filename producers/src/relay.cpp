#include "lethe/producers/relay.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "lethe/domain/envelope.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/kafka.hpp"
#include "lethe/infra/pg.hpp"

namespace lethe::producers {

namespace {

// Order without holes. Positions come from a sequence, but transactions
// commit in any order, so "everything after the last position sent" can skip
// a row whose transaction commits late with a lower position. Instead we read
// only rows written by transactions older than the oldest one still running
// (pg_snapshot_xmin): no row can ever appear below that line again, so the
// checkpoint (tx_id, position) only moves past rows that are final. Within a
// stream, a later version is written by a later transaction (the append reads
// the head first), so stream order is kept.
constexpr const char* kFetch = "relay_fetch";
constexpr const char* kFetchSql =
    "SELECT o.tx_id::text, o.global_position, o.topic, e.event_id, e.type, e.schema_version,"
    " e.stream_id, e.stream_version, e.occurred_at, e.actor, e.correlation_id, e.causation_id,"
    " e.payload, e.prev_hash, e.hash"
    " FROM outbox o JOIN events e ON e.global_position = o.global_position"
    " WHERE (o.tx_id, o.global_position) > ($1::xid8, $2::bigint)"
    "   AND o.tx_id < pg_snapshot_xmin(pg_current_snapshot())"
    " ORDER BY o.tx_id, o.global_position LIMIT $3";

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

class DeliveryCounter : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& m) override {
    if (m.err() == RdKafka::ERR_NO_ERROR) {
      ++ok;
    } else {
      if (failed++ == 0) first_error = m.err();
    }
  }
  void reset() { ok = failed = 0; first_error = RdKafka::ERR_NO_ERROR; }
  std::int64_t ok = 0, failed = 0;
  RdKafka::ErrorCode first_error = RdKafka::ERR_NO_ERROR;
};

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
  DeliveryCounter delivery;
  std::unique_ptr<RdKafka::Producer> producer;
  std::string cp_tx = "0";
  std::int64_t cp_pos = 0;

  void connect_pg() {
    conn = infra::connect(opt.conninfo);
    infra::translate_pg("relay start", [&] {
      pqxx::nontransaction nt(*conn);
      if (!nt.exec(kLockSql)[0][0].as<bool>())
        throw infra::Misconfigured("another relay holds the lock of this schema; run only one `lethe relay`");
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

  void produce(const pqxx::row& r) {
    domain::Envelope e{r[3].c_str(), r[4].c_str(), r[5].as<int>(), r[6].c_str(), r[7].as<std::int64_t>(),
                       r[1].as<std::int64_t>(), r[8].c_str(), r[9].c_str(), r[10].c_str(), r[11].c_str(),
                       r[12].c_str(), r[13].c_str(), r[14].c_str()};
    const std::string value = domain::encode(e);
    const std::string topic = opt.topic_prefix + r[2].c_str();
    const std::string version = std::to_string(e.schema_version);
    for (;;) {
      auto* headers = RdKafka::Headers::create();
      headers->add("type", e.type);
      headers->add("schema_version", version);
      headers->add("event_id", e.event_id);
      const auto code = producer->produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                                          const_cast<char*>(value.data()), value.size(), e.stream_id.data(),
                                          e.stream_id.size(), 0, headers, nullptr);
      if (code == RdKafka::ERR_NO_ERROR) return;  // librdkafka owns the headers now
      delete headers;
      if (code != RdKafka::ERR__QUEUE_FULL) infra::throw_kafka(code, "produce to " + topic);
      producer->poll(50);  // local queue full: let deliveries drain
    }
  }

  // Waits for every delivery report of the batch; librdkafka retries on its
  // own until message.timeout.ms, so this returns within that bound.
  void await_deliveries(std::int64_t expected) {
    while (delivery.ok + delivery.failed < expected) producer->poll(20);
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
  auto last_report = std::chrono::steady_clock::now();
  auto last_prune = last_report;
  int backoff_ms = 100;

  while (!stop.load()) {
    try {
      const auto rows = infra::translate_pg("relay fetch", [&] {
        pqxx::read_transaction tx(*s.conn);
        return tx.exec_prepared(kFetch, s.cp_tx, s.cp_pos, s.opt.batch_size);
      });
      if (rows.empty()) {
        if (s.opt.exit_when_idle) break;
        s.wakeup->woken = false;
        s.conn->await_notification(0, s.opt.idle_wait_ms * 1000L);
        continue;
      }

      s.delivery.reset();
      for (const auto& r : rows) s.produce(r);
      s.await_deliveries(static_cast<std::int64_t>(rows.size()));
      if (s.delivery.failed > 0) {
        // Not advancing: the whole batch goes again. Those that did arrive
        // are then on the topic twice, which projections absorb.
        spdlog::error("relay: {} of {} deliveries failed ({}); retrying the batch in {} ms", s.delivery.failed,
                      rows.size(), RdKafka::err2str(s.delivery.first_error), backoff_ms);
        std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
        backoff_ms = std::min(backoff_ms * 2, 5000);
        continue;
      }
      backoff_ms = 100;
      if (fault_after_delivery()) {
        spdlog::warn("relay: LETHE_FAULT=relay.after_delivery, dying before the checkpoint");
        _exit(86);
      }

      const auto& last = rows[rows.size() - 1];
      const std::string tx_id = last[0].c_str();
      const auto pos = last[1].as<std::int64_t>();
      const bool prune = std::chrono::steady_clock::now() - last_prune > std::chrono::seconds(5);
      infra::translate_pg("relay checkpoint", [&] {
        pqxx::work tx(*s.conn);
        tx.exec_prepared(kCheckpoint, tx_id, pos, static_cast<std::int64_t>(rows.size()));
        if (prune) tx.exec_params(kPruneSql, tx_id, pos);
        tx.commit();
      });
      if (prune) last_prune = std::chrono::steady_clock::now();
      s.cp_tx = tx_id;
      s.cp_pos = pos;
      published += static_cast<std::int64_t>(rows.size());
      since_report += static_cast<std::int64_t>(rows.size());

      const auto now = std::chrono::steady_clock::now();
      if (now - last_report > std::chrono::seconds(5)) {
        const double secs = std::chrono::duration<double>(now - last_report).count();
        const auto backlog = infra::translate_pg("relay backlog", [&] {
          pqxx::read_transaction tx(*s.conn);
          return tx.exec(kBacklogSql)[0][0].as<std::int64_t>();
        });
        spdlog::info("relay: published {} events ({:.0f}/s), total {}, backlog {}", since_report,
                     since_report / secs, published, backlog);
        since_report = 0;
        last_report = now;
      }
    } catch (const infra::InfraError& e) {
      if (!e.is_retryable()) throw;
      spdlog::warn("relay: {}; retrying in {} ms", e.what(), backoff_ms);
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
      backoff_ms = std::min(backoff_ms * 2, 5000);
      if (!s.conn->is_open()) {
        try {
          s.connect_pg();
        } catch (const infra::Unavailable& again) {
          spdlog::warn("relay: {}", again.what());
        }
      }
    }
  }
  s.producer->flush(10000);
  spdlog::info("relay: stopped after publishing {} events", published);
  return published;
}

}  // namespace lethe::producers
