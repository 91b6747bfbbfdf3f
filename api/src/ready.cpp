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

}  // namespace

void ready(Call& c) {
  Json j;
  j.begin();
  bool ok = true;
  std::int64_t backlog = -1;
  std::vector<std::tuple<std::string, std::string, int, std::int64_t>> offsets;  // projection, topic, partition, next
  try {
    auto conn = infra::connect(c.shared.cfg.pg, "lethe-serve-ready");
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
  c.json(ok ? 200 : 503, j.str("status", ok ? "ready" : "not_ready").end().text());
}

}  // namespace lethe::api
