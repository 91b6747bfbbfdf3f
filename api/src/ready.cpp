#include "ready.hpp"

#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include <map>
#include <mutex>

#include "lethe/infra/errors.hpp"
#include "lethe/infra/kafka.hpp"
#include "lethe/infra/pg.hpp"

namespace lethe::api {

namespace {

constexpr int kKafkaTimeoutMs = 2000;
// Checks run at most once per this interval, whoever asks and how often:
// a flood of /ready costs one check a second.
constexpr auto kCacheFor = std::chrono::seconds(1);

// One handle for the whole server, made on first use: librdkafka handles are
// thread-safe, and metadata requests are cheap.
RdKafka::Producer& kafka(const std::string& brokers) {
  static std::mutex mutex;
  static std::unique_ptr<RdKafka::Producer> handle;
  std::lock_guard lock(mutex);
  if (!handle) {
    auto conf = infra::kafka_conf({{"bootstrap.servers", brokers}, {"client.id", "lethe-serve-ready"}});
    std::string err;
    handle.reset(RdKafka::Producer::create(conf.get(), err));
    if (!handle) throw infra::Misconfigured("kafka handle for /ready: " + err);
  }
  return *handle;
}

struct Checked {
  bool ok = false;
  std::string detail;  // the whole answer, for operators
  std::chrono::steady_clock::time_point at{};
};

// Checks PostgreSQL (on one connection kept for it, remade when lost; every
// connect and statement bounded) and Kafka, and builds the detailed answer.
Checked check(Call& c, std::unique_ptr<pqxx::connection>& conn) {
  Json j;
  j.begin();
  bool ok = true;
  std::int64_t backlog = -1;
  std::vector<std::tuple<std::string, std::string, int, std::int64_t>> offsets;  // projection, topic, partition, next
  try {
    if (conn && infra::peer_closed(*conn)) conn.reset();
    if (!conn) {
      conn = infra::connect(c.shared.cfg.pg, "lethe-serve-ready");
      pqxx::nontransaction tx(*conn);
      limit_waits(tx, c.shared.options);
    }
    pqxx::read_transaction tx(*conn);
    // Rows past the relay's checkpoint (published rows are pruned later).
    backlog = tx.exec(
                    "SELECT count(*) FROM outbox o LEFT JOIN relay_checkpoint c ON c.id = 1"
                    " WHERE c.id IS NULL OR (o.tx_id, o.global_position) > (c.tx_id, c.global_position)")[0][0]
                  .as<std::int64_t>();
    for (const auto& r : tx.exec("SELECT projection, topic, partition, next_offset FROM projection_offsets"))
      offsets.emplace_back(r[0].c_str(), r[1].c_str(), r[2].as<int>(), r[3].as<std::int64_t>());
    j.str("postgres", "ok");
  } catch (const std::exception& e) {
    conn.reset();
    ok = false;
    j.str("postgres", "unreachable");
    spdlog::warn("ready: postgres: {}", infra::first_line(e.what()));
  }
  std::map<std::string, std::int64_t> lag;
  try {
    auto& k = kafka(c.shared.cfg.brokers);
    infra::check_broker(k, c.shared.cfg.brokers, kKafkaTimeoutMs);
    for (const auto& [projection, topic, partition, next] : offsets) {
      std::int64_t low = 0, high = 0;
      if (k.query_watermark_offsets(topic, partition, &low, &high, kKafkaTimeoutMs) == RdKafka::ERR_NO_ERROR)
        lag[projection] += std::max<std::int64_t>(0, high - next);
    }
    j.str("kafka", "ok");
  } catch (const std::exception& e) {
    ok = false;
    j.str("kafka", "unreachable");
    spdlog::warn("ready: kafka: {}", infra::first_line(e.what()));
  }
  if (backlog >= 0) j.num("relay_backlog", backlog);
  j.begin_array("projections");
  for (const auto& [name, n] : lag) j.begin().str("name", name).num("lag", n).end();
  j.end_array();
  return {ok, j.str("status", ok ? "ready" : "not_ready").end().text(), std::chrono::steady_clock::now()};
}

}  // namespace

void ready(Call& c) {
  static std::mutex mutex;  // one check at a time; the others wait for its answer
  static Checked last;
  static std::unique_ptr<pqxx::connection> conn;
  Checked now;
  {
    std::lock_guard lock(mutex);
    if (last.detail.empty() || std::chrono::steady_clock::now() - last.at >= kCacheFor) last = check(c, conn);
    now = last;
  }
  // What is down, the relay's backlog and each projection's lag are for
  // operators; anyone else learns ready or not.
  const bool operator_role = c.who && c.who->role != domain::users::Role::user;
  const auto body =
      operator_role ? now.detail : Json().begin().str("status", now.ok ? "ready" : "not_ready").end().text();
  c.json(now.ok ? 200 : 503, body);
}

}  // namespace lethe::api
