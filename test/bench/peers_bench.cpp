#include "peers_bench.hpp"

#include <librdkafka/rdkafkacpp.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <numeric>
#include <pqxx/pqxx>
#include <regex>
#include <span>
#include <sstream>
#include <thread>

#include "lethe/domain/personal.hpp"
#include "lethe/infra/config.hpp"
#include "lethe/infra/ids.hpp"
#include "lethe/infra/kafka.hpp"
#include "lethe/infra/keyring.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/producers/event_store.hpp"
#include "loads.hpp"
#include "support/events.hpp"
#include "support/fixtures.hpp"

namespace lethe::bench {

namespace {

using namespace std::chrono_literals;
using Sent = std::vector<std::pair<std::string, Clock::time_point>>;  // key -> when it went in

std::string peers_script() {
  return test::source_dir() + "/scripts/peers";
}

void peers(const std::string& args) {
  const auto r = test::capture(peers_script() + " " + args);
  if (r.rc != 0)
    throw std::runtime_error("scripts/peers " + args + " exited with " + std::to_string(r.rc) + ":\n" + r.output);
}

// A template of test/bench/peers/ with its @NAME@ placeholders filled.
std::string filled(const std::string& name, const std::map<std::string, std::string>& values) {
  std::ifstream in(test::source_dir() + "/test/bench/peers/" + name);
  if (!in) throw std::runtime_error("cannot read test/bench/peers/" + name);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const auto& [key, value] : values) {
    const std::string mark = "@" + key + "@";
    for (auto at = text.find(mark); at != std::string::npos; at = text.find(mark, at + value.size()))
      text.replace(at, mark.size(), value);
  }
  // A placeholder left outside the comments is one this code does not fill.
  static const std::regex left("@[A-Z_]+@");
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (!line.starts_with("#") && !line.starts_with("--") && std::regex_search(line, left))
      throw std::runtime_error("test/bench/peers/" + name + ": a placeholder is left in: " + line);
  return text;
}

// Writes a filled template under .lethe/peers/run/ for Connect to read.
std::string written(const std::string& file, const std::string& text) {
  const char* var = std::getenv("LETHE_VAR_DIR");
  const auto dir = (var && *var ? std::string(var) : test::source_dir() + "/.lethe") + "/peers/run";
  std::filesystem::create_directories(dir);
  const auto path = dir + "/" + file;
  std::ofstream(path) << text;
  return path;
}

// The placeholders every template shares: the broker and the data cluster.
std::map<std::string, std::string> common_values(const test::TestSchema& db, const std::string& tag) {
  const auto conn = infra::connect(db.conninfo());
  const char* var = std::getenv("LETHE_VAR_DIR");
  return {{"BOOTSTRAP", infra::Config::from_env().brokers},
          {"OFFSETS_FILE",
           (var && *var ? std::string(var) : test::source_dir() + "/.lethe") + "/peers/offsets/" + tag + ".offsets"},
          {"PG_HOST", conn->hostname() ? conn->hostname() : "127.0.0.1"},
          {"PG_PORT", conn->port() ? conn->port() : "5432"},
          {"PG_DB", conn->dbname()},
          {"PG_USER", conn->username()},
          {"PG_PASSWORD", ""},
          {"SCHEMA", db.name()}};
}

// Kafka Connect standalone with one connector, through scripts/peers (which
// execs the JVM: the pid is Connect's).
class Connect {
 public:
  Connect(const std::string& worker, const std::string& connector)
      : process_(test::Program{peers_script()}, {"connect", worker, connector}) {}
  ~Connect() { stop(); }
  Connect(const Connect&) = delete;
  Connect& operator=(const Connect&) = delete;
  test::Process& process() { return process_; }
  void stop() {
    if (!process_.running()) return;
    process_.signal(SIGTERM);
    process_.wait(std::chrono::seconds(30));
  }

 private:
  test::Process process_;
};

// Polls done() every `every` until it holds; throws when the process it
// waits on has exited, or after `limit`.
void wait_until(const std::string& what, const std::function<bool()>& done, test::Process& process,
                std::chrono::milliseconds every, std::chrono::seconds limit = 300s) {
  const auto deadline = Clock::now() + limit;
  while (!done()) {
    if (!process.running()) throw std::runtime_error(what + ": the process exited first");
    if (Clock::now() > deadline)
      throw std::runtime_error(what + ": not within " + std::to_string(limit.count()) + " s");
    std::this_thread::sleep_for(every);
  }
}

int partition_count(RdKafka::Handle& handle, const std::string& topic) {
  std::string err;
  std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(&handle, topic, nullptr, err));
  if (!t) throw std::runtime_error(err);
  RdKafka::Metadata* md = nullptr;
  if (const auto rc = handle.metadata(false, t.get(), &md, 10000); rc != RdKafka::ERR_NO_ERROR)
    infra::throw_kafka(rc, "metadata of " + topic);
  std::unique_ptr<RdKafka::Metadata> owned(md);
  if (md->topics()->empty() || md->topics()->at(0)->partitions()->empty())
    throw std::runtime_error("topic " + topic + " has no partitions");
  return static_cast<int>(md->topics()->at(0)->partitions()->size());
}

// The end offset of each partition of a topic, asked on one connection.
class Ends {
 public:
  explicit Ends(std::string topic)
      : topic_(std::move(topic)), reader_(infra::raw_reader(infra::Config::from_env().brokers, "bench-peers")) {
    partitions_ = partition_count(*reader_, topic_);
  }
  std::vector<std::int64_t> each() {
    std::vector<std::int64_t> out;
    for (int p = 0; p < partitions_; ++p) {
      std::int64_t low = 0, high = 0;
      if (const auto rc = reader_->query_watermark_offsets(topic_, p, &low, &high, 10000); rc != RdKafka::ERR_NO_ERROR)
        infra::throw_kafka(rc, "end offset of " + topic_);
      out.push_back(high);
    }
    return out;
  }
  std::int64_t total() {
    const auto ends = each();
    return std::accumulate(ends.begin(), ends.end(), std::int64_t{0});
  }
  const std::string& topic() const { return topic_; }

 private:
  std::string topic_;
  std::unique_ptr<RdKafka::KafkaConsumer> reader_;
  int partitions_ = 0;
};

// When each message key arrives on a topic, from the topic's end when made.
class Arrivals {
 public:
  explicit Arrivals(Ends& ends) : reader_(infra::raw_reader(infra::Config::from_env().brokers, "bench-arrivals")) {
    std::vector<RdKafka::TopicPartition*> parts;
    const auto at = ends.each();
    for (std::size_t p = 0; p < at.size(); ++p)
      parts.push_back(RdKafka::TopicPartition::create(ends.topic(), static_cast<int>(p), at[p]));
    reader_->assign(parts);
    RdKafka::TopicPartition::destroy(parts);
    thread_ = std::thread([this] {
      while (!stop_) {
        std::unique_ptr<RdKafka::Message> m(reader_->consume(20));
        if (m->err() != RdKafka::ERR_NO_ERROR || !m->key()) continue;
        std::lock_guard lock(mutex_);
        seen_.emplace(*m->key(), Clock::now());
      }
    });
  }
  ~Arrivals() { finish(); }
  Arrivals(const Arrivals&) = delete;
  Arrivals& operator=(const Arrivals&) = delete;
  std::size_t count() {
    std::lock_guard lock(mutex_);
    return seen_.size();
  }
  std::map<std::string, Clock::time_point> finish() {
    if (thread_.joinable()) {
      stop_ = true;
      thread_.join();
      reader_->close();
    }
    return seen_;
  }

 private:
  std::unique_ptr<RdKafka::KafkaConsumer> reader_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::map<std::string, Clock::time_point> seen_;
  std::thread thread_;
};

// How many rows a query counts, polled every millisecond on a connection of
// its own: when the k-th paced row became visible.
class Visible {
 public:
  Visible(const std::string& conninfo, std::string count_sql) : sql_(std::move(count_sql)) {
    thread_ = std::thread([this, conn = infra::connect(conninfo)] {
      std::int64_t last = -1;
      while (!stop_) {
        pqxx::nontransaction tx(*conn);
        const auto n = tx.exec(sql_)[0][0].as<std::int64_t>();
        if (n != last) {
          std::lock_guard lock(mutex_);
          samples_.emplace_back(Clock::now(), n);
          last = n;
        }
        std::this_thread::sleep_for(1ms);
      }
    });
  }
  ~Visible() { finish(); }
  Visible(const Visible&) = delete;
  Visible& operator=(const Visible&) = delete;
  std::int64_t count() {
    std::lock_guard lock(mutex_);
    return samples_.empty() ? 0 : samples_.back().second;
  }
  std::vector<std::pair<Clock::time_point, std::int64_t>> finish() {
    if (thread_.joinable()) {
      stop_ = true;
      thread_.join();
    }
    return samples_;
  }

 private:
  std::string sql_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<std::pair<Clock::time_point, std::int64_t>> samples_;
  std::thread thread_;
};

// Calls step(i) `rate` times a second for `seconds`, one at a time.
void paced(int rate, double seconds, const std::function<void(std::int64_t)>& step) {
  const auto n = static_cast<std::int64_t>(rate * seconds);
  const auto t0 = Clock::now();
  for (std::int64_t i = 0; i < n; ++i) {
    std::this_thread::sleep_until(t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                                           static_cast<double>(i) / static_cast<double>(rate))));
    step(i);
  }
}

// In -> out of each paced key (missing: never out).
void key_latency(PeerRow& row, const Sent& sent, const std::map<std::string, Clock::time_point>& seen) {
  std::vector<double> ms;
  for (const auto& [key, at] : sent)
    if (const auto it = seen.find(key); it != seen.end())
      ms.push_back(std::chrono::duration<double, std::milli>(it->second - at).count());
  row.paced = static_cast<std::int64_t>(sent.size());
  row.paced_missing = row.paced - static_cast<std::int64_t>(ms.size());
  row.latency = latency_of(ms);
}

// The k-th row sent counts as visible when k rows are (each paced row is a
// new one, and they go in one at a time).
void count_latency(PeerRow& row, const Sent& sent,
                   const std::vector<std::pair<Clock::time_point, std::int64_t>>& seen) {
  std::vector<double> ms;
  auto it = seen.begin();
  for (std::size_t k = 0; k < sent.size(); ++k) {
    while (it != seen.end() && it->second < static_cast<std::int64_t>(k + 1)) ++it;
    if (it == seen.end()) break;
    ms.push_back(std::max(0.0, std::chrono::duration<double, std::milli>(it->first - sent[k].second).count()));
  }
  row.paced = static_cast<std::int64_t>(sent.size());
  row.paced_missing = row.paced - static_cast<std::int64_t>(ms.size());
  row.latency = latency_of(ms);
}

// Throughput bookkeeping of one process over its measured window.
struct Window {
  Clock::time_point t0 = Clock::now();
  double cpu0;
  explicit Window(pid_t pid) : cpu0(cpu_seconds(pid)) {}
  void close(PeerRow& row, pid_t pid, std::int64_t events) const {
    row.seconds = seconds_since(t0);
    row.cpu_seconds = cpu_seconds(pid) - cpu0;
    row.events = events;
  }
};

// lethe's published messages, by the people they are about.
struct Published {
  std::vector<test::Message> warm, measured, paced;
};
Published split(std::vector<test::Message> all) {
  Published out;
  for (auto& m : all) {
    if (m.key.starts_with("user-w"))
      out.warm.push_back(std::move(m));
    else if (m.key.starts_with("user-b"))
      out.measured.push_back(std::move(m));
    else if (m.key.starts_with("user-p"))
      out.paced.push_back(std::move(m));
    else
      throw std::runtime_error("unexpected message key " + m.key);
  }
  return out;
}

std::string header_names(const test::Message& m) {
  std::string out;
  for (const auto& [name, value] : m.headers) out += (out.empty() ? "" : ", ") + name;
  return out;
}

// The peer outbox's rows for lethe's messages: the same key, value and
// headers (outbox.sql says how each maps).
void copy_outbox(const test::TestSchema& db, const std::vector<test::Message>& messages) {
  auto conn = infra::connect(db.conninfo());
  pqxx::work tx(*conn);
  pqxx::stream_to copy(
      tx, "peer_outbox",
      std::vector<std::string>{"id", "aggregatetype", "aggregateid", "type", "schema_version", "payload"});
  for (const auto& m : messages)
    copy << std::make_tuple(m.headers.at("event_id"), std::string("users"), m.key, m.headers.at("type"),
                            m.headers.at("schema_version"), m.value);
  copy.complete();
  tx.commit();
}

// The outbox rows: lethe relay, then Debezium's connector, on the same bytes.
// Returns what lethe published, for the table rows.
Published outbox_rows(const PeerOptions& o, PeersResult& out, const std::function<void(const std::string&)>& say) {
  test::TestSchema db;
  test::TestTopics lethe_topics, peer_topics;
  Ends lethe_end(lethe_topics.topic("users")), peer_end(peer_topics.topic("users"));
  out.relay.what = "lethe relay";
  {
    say("peers: lethe relay, warm-up, " + std::to_string(o.events) + " events committed at once, then paced");
    test::Process relay({"--log-level", "warn", "relay"}, test::lethe_env(db, lethe_topics));
    bulk_load(db, o.warmup, o.payload_bytes, true, "w");
    wait_until(
        "lethe relay's warm-up", [&] { return lethe_end.total() >= o.warmup; }, relay, 10ms);
    bulk_load(db, o.events, o.payload_bytes, true, "b");  // one transaction: all in at its commit
    const Window window(relay.pid());
    wait_until(
        "lethe relay's load", [&] { return lethe_end.total() >= o.warmup + o.events; }, relay, 5ms);
    window.close(out.relay, relay.pid(), o.events);
    // Paced: one event per transaction, as a command appends it.
    Arrivals arrivals(lethe_end);
    producers::EventStore store(db.conninfo());
    std::array<unsigned char, domain::kPersonKeyBytes> key{};
    infra::random_bytes(key.data(), key.size());
    Sent sent;
    paced(o.paced_rate, o.paced_seconds, [&](std::int64_t i) {
      const std::string id = "p" + std::to_string(i);
      auto ne = test::new_event(domain::users::UserRegistered{id, "user-" + id + "@example.org",
                                                              padded_name(id, o.payload_bytes), "user", ""},
                                "bench");
      seal_under(ne, key.data());
      store.append("user-" + id, 0, std::span(&ne, 1));
      sent.emplace_back("user-" + id, Clock::now());
    });
    test::eventually([&] { return arrivals.count() >= sent.size(); }, 15s);
    key_latency(out.relay, sent, arrivals.finish());
    out.relay.rss_mib = peak_rss_kib(relay.pid()) / 1024;
    relay.signal(SIGTERM);
    relay.wait(std::chrono::seconds(30));
  }

  const auto published = split(test::read_topic(lethe_end.topic()));
  {
    std::map<std::string, int> seen;
    for (const auto* group : {&published.warm, &published.measured, &published.paced})
      for (const auto& m : *group) ++seen[m.headers.at("event_id")];
    std::int64_t twice = 0;
    std::string example;
    for (const auto& [id, n] : seen)
      if (n > 1) {
        ++twice;
        example = id;
      }
    if (twice > 0)
      throw std::runtime_error("lethe relay published " + std::to_string(twice) + " events more than once (e.g. " +
                               example + ")");
  }
  if (published.measured.size() != static_cast<std::size_t>(o.events))
    throw std::runtime_error("lethe relay published " + std::to_string(published.measured.size()) + " of " +
                             std::to_string(o.events) + " measured events");
  out.outbox.what = "Debezium outbox connector";
  {
    say("peers: Debezium's outbox connector (Kafka Connect standalone), the same messages");
    const auto tag = "bench_" + test::random_suffix();
    auto values = common_values(db, tag);
    values["SLOT"] = "lethe_peers_" + tag;
    values["PUBLICATION"] = "lethe_peers_" + tag;
    values["TOPIC_PREFIX"] = peer_topics.prefix();
    db.exec(filled("outbox.sql", values));
    Connect connect(written(tag + "-worker.properties", filled("worker.properties", values)),
                    written(tag + "-outbox.properties", filled("outbox.properties", values)));
    auto& jvm = connect.process();
    // Streaming only: what commits after the slot is made is sent.
    wait_until(
        "Debezium's replication slot",
        [&] {
          return db.scalar("SELECT count(*) FROM pg_replication_slots WHERE active AND slot_name = '" + values["SLOT"] +
                           "'") == "1";
        },
        jvm, 100ms, 180s);
    copy_outbox(db, published.warm);
    wait_until(
        "Debezium's warm-up", [&] { return peer_end.total() >= o.warmup; }, jvm, 10ms);
    copy_outbox(db, published.measured);
    const Window window(jvm.pid());
    wait_until(
        "Debezium's load", [&] { return peer_end.total() >= o.warmup + o.events; }, jvm, 5ms);
    window.close(out.outbox, jvm.pid(), o.events);
    Arrivals arrivals(peer_end);
    auto conn = infra::connect(db.conninfo());
    Sent sent;
    paced(o.paced_rate, o.paced_seconds, [&](std::int64_t i) {
      if (static_cast<std::size_t>(i) >= published.paced.size()) return;
      const auto& m = published.paced[static_cast<std::size_t>(i)];
      pqxx::work tx(*conn);
      tx.exec_params(
          "INSERT INTO peer_outbox (id, aggregatetype, aggregateid, type, schema_version, payload)"
          " VALUES ($1, 'users', $2, $3, $4, $5)",
          m.headers.at("event_id"), m.key, m.headers.at("type"), m.headers.at("schema_version"), m.value);
      tx.commit();
      sent.emplace_back(m.key, Clock::now());
    });
    test::eventually([&] { return arrivals.count() >= sent.size(); }, 15s);
    key_latency(out.outbox, sent, arrivals.finish());
    out.outbox.rss_mib = peak_rss_kib(jvm.pid()) / 1024;
  }

  // The same bytes? Keys and values of the measured load, as multisets.
  const auto peer = split(test::read_topic(peer_end.topic()));
  const auto pairs = [](const std::vector<test::Message>& ms) {
    std::vector<std::string> keyed;
    for (const auto& m : ms) keyed.push_back(m.key + '\0' + m.value);
    std::sort(keyed.begin(), keyed.end());
    return keyed;
  };
  const auto a = pairs(published.measured), b = pairs(peer.measured);
  std::vector<std::string> differ;
  std::set_symmetric_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(differ));
  out.compared = static_cast<std::int64_t>(a.size());
  out.differing = static_cast<std::int64_t>(differ.size());
  out.lethe_headers = header_names(published.measured.front());
  if (!peer.measured.empty()) out.peer_headers = header_names(peer.measured.front());
  return published;
}

// Produces messages with lethe's producer settings, and says when one failed.
class Producer {
 public:
  Producer() {
    auto conf = infra::kafka_conf(infra::producer_settings(infra::Config::from_env().brokers));
    std::string err;
    if (conf->set("dr_cb", &reports_, err) != RdKafka::Conf::CONF_OK) throw std::runtime_error(err);
    producer_.reset(RdKafka::Producer::create(conf.get(), err));
    if (!producer_) throw std::runtime_error(err);
  }
  void send(const std::string& topic, const std::string& key, const std::string& value,
            const std::map<std::string, std::string>& headers = {}) {
    RdKafka::Headers* h = nullptr;
    if (!headers.empty()) {
      h = RdKafka::Headers::create();
      for (const auto& [name, v] : headers) h->add(name, v);
    }
    if (const auto rc = infra::produce_copy(*producer_, topic, key, value, h); rc != RdKafka::ERR_NO_ERROR)
      infra::throw_kafka(rc, "produce to " + topic);
    producer_->poll(0);
  }
  void flush() {
    producer_->flush(120000);
    if (producer_->outq_len() > 0 || reports_.failed > 0)
      throw std::runtime_error("the bench's producer lost " + std::to_string(reports_.failed) + " messages");
  }

 private:
  infra::DeliveryReports reports_;
  std::unique_ptr<RdKafka::Producer> producer_;
};

// A users row as lethe's projection left it (its sealed values as stored).
struct UserRow {
  std::string email, name, role, registered_at, updated_at, last_event_id;
  bool active = true;
};
std::map<std::string, UserRow> user_rows(const test::TestSchema& db) {
  auto conn = infra::connect(db.conninfo());
  pqxx::read_transaction tx(*conn);
  std::map<std::string, UserRow> out;
  const std::string utc = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'";
  for (const auto& r :
       tx.exec("SELECT user_id, email, name, role, to_char(registered_at AT TIME ZONE 'UTC', " + utc +
               "), to_char(updated_at AT TIME ZONE 'UTC', " + utc + "), last_event_id::text, active FROM users"))
    out[r[0].as<std::string>()] = {r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<std::string>(),
                                   r[4].as<std::string>(), r[5].as<std::string>(), r[6].as<std::string>(),
                                   r[7].as<bool>()};
  return out;
}

// One record as the JDBC sink takes it (sink.properties shows one): the
// row's values at a version, with Connect's JSON schema beside them.
std::string sink_record(const std::string& id, const UserRow& r, int version) {
  static constexpr std::string_view kSchema =
      R"({"type":"struct","optional":false,"name":"peer_users","fields":[)"
      R"({"field":"user_id","type":"string","optional":false},)"
      R"({"field":"email","type":"string","optional":false},)"
      R"({"field":"name","type":"string","optional":false},)"
      R"({"field":"role","type":"string","optional":false},)"
      R"({"field":"registered_at","type":"string","optional":false,"name":"io.debezium.time.ZonedTimestamp","version":1},)"
      R"({"field":"updated_at","type":"string","optional":false,"name":"io.debezium.time.ZonedTimestamp","version":1},)"
      R"({"field":"version","type":"int64","optional":false},)"
      R"({"field":"last_event_id","type":"string","optional":false,"name":"io.debezium.data.Uuid","version":1},)"
      R"({"field":"active","type":"boolean","optional":false},)"
      R"({"field":"erased_at","type":"string","optional":true,"name":"io.debezium.time.ZonedTimestamp","version":1}]})";
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  const auto text = [&w](const char* key, const std::string& value) {
    w.Key(key);
    w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  };
  w.StartObject();
  w.Key("schema");
  w.RawValue(kSchema.data(), kSchema.size(), rapidjson::kObjectType);
  w.Key("payload");
  w.StartObject();
  text("user_id", id);
  text("email", r.email);
  text("name", r.name);
  text("role", r.role);
  text("registered_at", r.registered_at);
  text("updated_at", r.updated_at);
  w.Key("version");
  w.Int64(version);
  text("last_event_id", r.last_event_id);
  w.Key("active");
  w.Bool(r.active);
  w.Key("erased_at");
  w.Null();
  w.EndObject();
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

// One table row's measurement, the same for lethe and the sink: the
// warm-up produced and applied, then the measured load produced at once and
// timed until applied, then the paced people (p0, p1, ...) produced one at a
// time, each timed until the table counts it.
void measure_table_row(PeerRow& row, test::Process& process, const test::TestSchema& db, const std::string& table,
                       const PeerOptions& o, Producer& producer, const std::string& topic, const Published& load) {
  const auto send_all = [&](const std::vector<test::Message>& ms) {
    for (const auto& m : ms) producer.send(topic, m.key, m.value, m.headers);
    producer.flush();
  };
  const auto at_version_2 = [&] {
    return std::stoll(db.scalar("SELECT count(*) FROM " + table + " WHERE version = 2"));
  };
  send_all(load.warm);
  wait_until(
      row.what + "'s warm-up", [&] { return at_version_2() >= o.warmup / 2; }, process, 50ms);
  const Window window(process.pid());
  send_all(load.measured);
  wait_until(
      row.what + "'s load", [&] { return at_version_2() >= (o.warmup + o.events) / 2; }, process, 20ms);
  window.close(row, process.pid(), o.events);
  Visible visible(db.conninfo(), "SELECT count(*) FROM " + table + " WHERE user_id >= 'p' AND user_id < 'q'");
  Sent sent;
  paced(o.paced_rate, o.paced_seconds, [&](std::int64_t i) {
    if (static_cast<std::size_t>(i) >= load.paced.size()) return;
    const auto& m = load.paced[static_cast<std::size_t>(i)];
    producer.send(topic, m.key, m.value, m.headers);
    sent.emplace_back(m.key, Clock::now());
  });
  producer.flush();
  test::eventually([&] { return visible.count() >= static_cast<std::int64_t>(sent.size()); }, 15s);
  count_latency(row, sent, visible.finish());
  row.rss_mib = peak_rss_kib(process.pid()) / 1024;
}

// The table rows: lethe's users projection, then Debezium's JDBC sink, fed
// the same people (lethe its envelopes, the sink rows of the values lethe
// stored for them), each into its table of the same shape in one schema.
void table_rows(const PeerOptions& o, const Published& lethe, PeersResult& out,
                const std::function<void(const std::string&)>& say) {
  Producer producer;
  test::TestSchema db;
  test::TestTopics lethe_topics, sink_topics;
  const auto lethe_topic = lethe_topics.topic("users"), sink_topic = sink_topics.topic("users");
  out.project.what = "lethe project users";
  {
    say("peers: lethe project users, warm-up, " + std::to_string(o.events) + " events produced at once, then paced");
    test::Process project({"--log-level", "warn", "project", "users", "--batch-size", std::to_string(o.batch)},
                          test::lethe_env(db, lethe_topics));
    measure_table_row(out.project, project, db, "users", o, producer, lethe_topic, lethe);
    project.signal(SIGTERM);
    project.wait(std::chrono::seconds(30));
  }

  // The sink's records: for each of lethe's messages, the row lethe stored
  // for its person at its version (a registration is version 1).
  const auto rows = user_rows(db);
  const auto records = [&](const std::vector<test::Message>& ms) {
    std::vector<test::Message> made;
    for (const auto& m : ms) {
      const auto id = m.key.substr(std::string_view("user-").size());
      const auto row = rows.find(id);
      if (row == rows.end()) throw std::runtime_error("lethe's users read model has no row " + id);
      test::Message record;
      record.key = m.key;
      record.value = sink_record(id, row->second, m.headers.at("type") == "user.registered" ? 1 : 2);
      made.push_back(std::move(record));
    }
    return made;
  };
  const Published sink_load{records(lethe.warm), records(lethe.measured), records(lethe.paced)};
  out.sink.what = "Debezium JDBC sink";
  {
    say("peers: Debezium's JDBC sink (Kafka Connect standalone), the same people");
    const auto tag = "bench_" + test::random_suffix();
    auto values = common_values(db, tag);
    values["TOPIC"] = sink_topic;
    values["BATCH_SIZE"] = std::to_string(o.batch);
    db.exec(filled("sink_table.sql", values));
    Connect connect(written(tag + "-worker.properties", filled("worker.properties", values)),
                    written(tag + "-sink.properties", filled("sink.properties", values)));
    measure_table_row(out.sink, connect.process(), db, "peer_users", o, producer, sink_topic, sink_load);
  }
}

void print_row(const PeerRow& r, int rate) {
  std::printf("%-38s %8lld %8.2f %10.0f %7.2f %5ld MiB  %d/s: p50 %.1f ms, p99 %.1f ms, max %.1f ms, missing %lld\n",
              r.what.c_str(), static_cast<long long>(r.events), r.seconds, static_cast<double>(r.events) / r.seconds,
              r.cpu_seconds, r.rss_mib, rate, r.latency.p50_ms, r.latency.p99_ms, r.latency.max_ms,
              static_cast<long long>(r.paced_missing));
}

}  // namespace

PeersResult peers_bench(const PeerOptions& o, const std::function<void(const std::string&)>& say) {
  PeersResult out;
  say("peers: jars, and wal_level=logical for Debezium (scripts/peers)");
  peers("install");
  peers("logical on");
  struct Restore {
    ~Restore() {
      try {
        peers("cleanup");
        peers("logical off");
      } catch (const std::exception& e) {
        std::fprintf(stderr, "bench: peers: putting things back failed: %s\n", e.what());
      }
    }
  } restore;
  out.paced_rate = o.paced_rate;
  const auto published = outbox_rows(o, out, say);
  table_rows(o, published, out, say);
  return out;
}

void print_peers(const PeersResult& r) {
  std::printf(
      "\npeers: what a team would deploy instead, on the same broker and PostgreSQL, fed the same bytes, this run\n");
  std::printf("%-38s %8s %8s %10s %7s %8s  %s\n", "path", "events", "seconds", "events/s", "CPU s", "peak RSS",
              "paced, one at a time: in -> out");
  print_row(r.relay, r.paced_rate);
  print_row(r.outbox, r.paced_rate);
  print_row(r.project, r.paced_rate);
  print_row(r.sink, r.paced_rate);
  const auto rate = [](const PeerRow& row) { return static_cast<double>(row.events) / row.seconds; };
  std::printf("lethe relay: %.2fx Debezium's outbox events/s on %.2fx its CPU seconds; p99 %.1f ms against %.1f ms\n",
              rate(r.relay) / rate(r.outbox), r.relay.cpu_seconds / r.outbox.cpu_seconds, r.relay.latency.p99_ms,
              r.outbox.latency.p99_ms);
  std::printf(
      "lethe project users: %.2fx the JDBC sink's events/s on %.2fx its CPU seconds; p99 %.1f ms against %.1f ms\n",
      rate(r.project) / rate(r.sink), r.project.cpu_seconds / r.sink.cpu_seconds, r.project.latency.p99_ms,
      r.sink.latency.p99_ms);
  std::printf(
      "Debezium's messages beside lethe's: %lld compared, %lld differ in key or value; headers: lethe %s; Debezium "
      "%s\n",
      static_cast<long long>(r.compared), static_cast<long long>(r.differing), r.lethe_headers.c_str(),
      r.peer_headers.c_str());
  std::printf(
      "targets: relay >= 1.0x Debezium's outbox with a lower p99: %s; users projection >= 1.0x the JDBC sink: %s\n",
      rate(r.relay) >= rate(r.outbox) && r.relay.latency.p99_ms < r.outbox.latency.p99_ms ? "met" : "MISSED",
      rate(r.project) >= rate(r.sink) ? "met" : "MISSED");
}

}  // namespace lethe::bench
