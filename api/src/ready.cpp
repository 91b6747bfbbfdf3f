#include "ready.hpp"

#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>

#include "lethe/infra/errors.hpp"
#include "lethe/infra/kafka.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/producers/relay.hpp"

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

// One partition a projection reads: where it stands, and when the message
// it reads next occurred (when the event log holds it).
struct Partition {
  std::string topic;
  int partition = 0;
  std::int64_t next = 0;
  std::string last_batch;
  std::optional<double> next_age_seconds;
};

struct Projection {
  bool measured = true;  // every partition's end was read from Kafka
  std::int64_t lag = 0;
  double lag_seconds = 0;
  int partitions = 0;
  std::string last_batch;  // the newest of its partitions' last batches
};

struct Snapshot {
  bool postgres = false, kafka = false;
  std::int64_t backlog = -1;
  double backlog_oldest_seconds = 0;
  std::int64_t dead_letters = -1;
  std::map<std::string, Projection> projections;
  std::chrono::steady_clock::time_point at{};
  bool ok() const { return postgres && kafka; }
};

// Each projection's partitions; the age of the message each reads next,
// from the event log (null when that projection has not delivered it yet).
constexpr const char* kOffsetsSql =
    "SELECT o.projection, o.topic, o.partition, o.next_offset,"
    " to_char(o.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    " extract(epoch FROM now() - l.occurred_at::timestamptz)::float8"
    " FROM projection_offsets o"
    " LEFT JOIN event_log l ON l.topic = o.topic AND l.partition = o.partition AND l.kafka_offset = o.next_offset"
    " ORDER BY o.projection, o.topic, o.partition";

// Checks PostgreSQL (on one connection kept for it, remade when lost; every
// connect and statement bounded) and Kafka.
Snapshot take(Call& c, std::unique_ptr<pqxx::connection>& conn) {
  Snapshot s;
  std::vector<std::pair<std::string, Partition>> offsets;
  try {
    if (conn && infra::peer_closed(*conn)) conn.reset();
    if (!conn) {
      conn = infra::connect(c.shared.cfg.pg, "lethe-serve-ready");
      pqxx::nontransaction tx(*conn);
      limit_waits(tx, c.shared.options);
    }
    pqxx::read_transaction tx(*conn);
    const auto backlog = tx.exec(producers::kOutboxBacklogSql)[0];
    s.backlog = backlog[0].as<std::int64_t>();
    s.backlog_oldest_seconds = backlog[1].as<double>();
    for (const auto& r : tx.exec(kOffsetsSql)) {
      Partition p{r[1].c_str(), r[2].as<int>(), r[3].as<std::int64_t>(), r[4].c_str(), std::nullopt};
      if (!r[5].is_null()) p.next_age_seconds = r[5].as<double>();
      offsets.emplace_back(r[0].c_str(), std::move(p));
    }
    s.postgres = true;
  } catch (const std::exception& e) {
    conn.reset();
    spdlog::warn("ready: postgres: {}", infra::first_line(e.what()));
  }
  // What PostgreSQL knows stands whether Kafka answers or not; the lag
  // needs the partitions' ends from Kafka.
  for (const auto& [name, p] : offsets) {
    auto& projection = s.projections[name];
    ++projection.partitions;
    projection.last_batch = std::max(projection.last_batch, p.last_batch);
    projection.measured = false;
  }
  try {
    infra::check_broker(kafka(c.shared.cfg.brokers), c.shared.cfg.brokers, kKafkaTimeoutMs);
    // Every partition's end in one request per broker (many projections
    // read the same partitions; asked one at a time, each waited its turn).
    std::vector<infra::TopicPartitionKey> keys;
    for (const auto& [name, p] : offsets) keys.emplace_back(p.topic, p.partition);
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    auto ends = infra::offsets_at(kafka(c.shared.cfg.brokers), keys, RdKafka::Topic::OFFSET_END, kKafkaTimeoutMs);
    for (auto& [name, projection] : s.projections) projection.measured = true;
    for (const auto& [name, p] : offsets) {
      auto& projection = s.projections[name];
      const auto end = ends[{p.topic, p.partition}];
      if (!end) {
        projection.measured = false;
        continue;
      }
      const auto behind = std::max<std::int64_t>(0, *end - p.next);
      projection.lag += behind;
      if (behind > 0 && p.next_age_seconds)
        projection.lag_seconds = std::max(projection.lag_seconds, *p.next_age_seconds);
    }
    if (const auto dead = watermarks(c, c.shared.cfg.topic("dead-letters"), 0))
      s.dead_letters = dead->second - dead->first;
    s.kafka = true;
  } catch (const std::exception& e) {
    spdlog::warn("ready: kafka: {}", infra::first_line(e.what()));
  }
  s.at = std::chrono::steady_clock::now();
  return s;
}

Snapshot snapshot(Call& c) {
  static std::mutex mutex;  // one check at a time; the others wait for its answer
  static std::optional<Snapshot> last;
  static std::unique_ptr<pqxx::connection> conn;
  std::lock_guard lock(mutex);
  if (!last || std::chrono::steady_clock::now() - last->at >= kCacheFor) last = take(c, conn);
  return *last;
}

}  // namespace

std::optional<std::pair<std::int64_t, std::int64_t>> watermarks(const Call& c, const std::string& topic,
                                                                std::int32_t partition) {
  std::int64_t low = 0, high = 0;
  if (kafka(c.shared.cfg.brokers).query_watermark_offsets(topic, partition, &low, &high, kKafkaTimeoutMs) !=
      RdKafka::ERR_NO_ERROR)
    return std::nullopt;
  return std::pair{low, high};
}

void ready(Call& c) {
  const auto s = snapshot(c);
  Json j;
  j.begin();
  // What is down, the relay's backlog and each projection's lag are for
  // operators; anyone else learns ready or not.
  if (c.who && c.who->role != domain::users::Role::user) {
    j.str("postgres", s.postgres ? "ok" : "unreachable").str("kafka", s.kafka ? "ok" : "unreachable");
    if (s.backlog >= 0) j.num("relay_backlog", s.backlog);
    j.begin_array("projections");
    for (const auto& [name, p] : s.projections) j.begin().str("name", name).num("lag", p.lag).end();
    j.end_array();
  }
  c.json(s.ok() ? 200 : 503, j.str("status", s.ok() ? "ready" : "not_ready").end().text());
}

void operations(Call& c) {
  const auto s = snapshot(c);
  Json j;
  j.begin().str("postgres", s.postgres ? "ok" : "unreachable").str("kafka", s.kafka ? "ok" : "unreachable");
  j.begin("relay");
  if (s.backlog >= 0)
    j.num("backlog", s.backlog).dbl("oldest_seconds", s.backlog_oldest_seconds);
  else
    j.null("backlog").null("oldest_seconds");
  j.end();
  if (s.dead_letters >= 0)
    j.num("dead_letters", s.dead_letters);
  else
    j.null("dead_letters");
  j.begin_array("projections");
  for (const auto& [name, p] : s.projections)
    j.begin()
        .str("name", name)
        .str("state", !p.measured  ? "unknown"
                      : p.lag == 0 ? "caught_up"
                                   : "catching_up")
        .num("lag", p.lag)
        .dbl("lag_seconds", p.lag_seconds)
        .num("partitions", p.partitions)
        .str("last_batch", p.last_batch)
        .end();
  j.end_array();
  // The rebuilds and rollbacks started from the console since the server
  // started: the last of each projection. A failure's message may quote
  // what PostgreSQL refused: whole for admins and owners, else cut before
  // its first ": ", as a dead letter's reason is.
  const bool whole = c.who && (c.who->role == domain::users::Role::admin || c.who->role == domain::users::Role::owner);
  j.begin_array("jobs");
  for (const auto& job : c.shared.jobs.statuses()) {
    j.begin()
        .str("projection", job.projection)
        .str("action", job.action)
        .str("state", job.state)
        .dbl("progress", job.progress)
        .str("started_by", job.started_by)
        .str("started_at", job.started_at)
        .str_or_null("ended_at", job.ended_at)
        .str("message", whole ? job.message : reason_head(job.message))
        .end();
  }
  j.end_array();
  j.boolean("jobs_available", c.shared.jobs.available());
  c.json(200, j.end().text());
}

}  // namespace lethe::api
