#include "support/fixtures.hpp"

#include <librdkafka/rdkafkacpp.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "lethe/domain/personal.hpp"
#include "lethe/infra/ids.hpp"
#include "lethe/infra/kafka.hpp"
#include "lethe/infra/keyring.hpp"
#include "lethe/infra/migrations.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/producers/topics.hpp"

namespace lethe::test {

namespace {
// Tests need an email index key (infra/access.hpp) and a master key (serve,
// the relay and the projector refuse to start without one); keys of their
// own unless the environment names them. `lethe` subprocesses inherit them.
const bool kIndexKeySet = [] {
  if (!std::getenv("LETHE_INDEX_KEY_FILE") && !std::getenv("LETHE_INDEX_KEY"))
    setenv("LETHE_INDEX_KEY", "7e57000000000000000000000000000000000000000000000000000000007e57", 0);
  if (!std::getenv("LETHE_MASTER_KEY_FILE") && !std::getenv("LETHE_MASTER_KEY"))
    setenv("LETHE_MASTER_KEY", "3a57e2000000000000000000000000000000000000000000000000000003a57e", 0);
  return true;
}();

// In-process logs at warn and above (LETHE_TEST_LOG_LEVEL=info shows all):
// a failing test's output then starts with what failed, not with a page of
// migrations for every schema it made.
const bool kQuietLogs = [] {
  const char* level = std::getenv("LETHE_TEST_LOG_LEVEL");
  spdlog::set_level(spdlog::level::from_str(level && *level ? level : "warn"));
  return true;
}();
}  // namespace

std::string random_suffix() {
  auto id = infra::new_uuid();
  id.erase(std::remove(id.begin(), id.end(), '-'), id.end());
  return id.substr(0, 12);
}

std::string source_dir() {
  return LETHE_SOURCE_DIR;
}
std::string lethe_bin() {
  const char* other = std::getenv("LETHE_BIN");
  return other && *other ? other : LETHE_BIN;
}

TestSchema::TestSchema(const std::string& name) : name_(name.empty() ? "t_" + random_suffix() : name) {
  const auto base = infra::Config::from_env().pg;
  {
    auto conn = infra::connect(base);
    pqxx::nontransaction nt(*conn);
    nt.exec("CREATE SCHEMA " + name_);
  }
  conninfo_ = infra::with_search_path(base, name_);
  // Its twin in the keyring apart, where the keys of its people live.
  if (const auto keyring = infra::keyring_conninfo_for(base)) {
    auto conn = infra::connect(*keyring);
    pqxx::nontransaction(*conn).exec("CREATE SCHEMA " + name_);
  }
  auto conn = infra::connect(conninfo_);
  infra::migrate(*conn);
  infra::migrate_keyring(*conn);
}

struct HeldWrites::Impl {
  std::string conninfo;
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<pqxx::work> tx;
  int pid = 0;
};

HeldWrites::HeldWrites(const TestSchema& db, const std::string& table) : impl_(std::make_unique<Impl>()) {
  impl_->conninfo = db.conninfo();
  impl_->conn = infra::connect(db.conninfo());
  impl_->pid = impl_->conn->backendpid();
  impl_->tx = std::make_unique<pqxx::work>(*impl_->conn);
  impl_->tx->exec("LOCK TABLE " + table + " IN SHARE MODE");
}

HeldWrites::~HeldWrites() {
  if (impl_->tx) impl_->tx->abort();
}

bool HeldWrites::release_when_waiting(int writers) {
  auto watch = infra::connect(impl_->conninfo);
  const bool all = eventually(
      [&] {
        pqxx::nontransaction nt(*watch);
        return nt.exec_params("SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))",
                              impl_->pid)[0][0]
                   .as<int>() >= writers;
      },
      std::chrono::seconds(30));
  impl_->tx->commit();
  impl_->tx.reset();
  return all;
}

SchemaClock::SchemaClock(const TestSchema& schema) : schema_(schema) {
  const auto& n = schema.name();
  schema.exec("CREATE TABLE " + n +
              ".lethe_test_clock (shift interval NOT NULL);"
              "INSERT INTO " +
              n +
              ".lethe_test_clock VALUES ('0');"
              "CREATE OR REPLACE FUNCTION " +
              n +
              ".lethe_now() RETURNS timestamptz LANGUAGE sql STABLE AS"
              " $$ SELECT now() + (SELECT shift FROM " +
              n +
              ".lethe_test_clock) $$;"
              "CREATE OR REPLACE FUNCTION " +
              n +
              ".lethe_clock() RETURNS timestamptz LANGUAGE sql VOLATILE AS"
              " $$ SELECT clock_timestamp() + (SELECT shift FROM " +
              n + ".lethe_test_clock) $$");
}

void SchemaClock::advance(std::chrono::seconds by) const {
  schema_.exec("UPDATE " + schema_.name() + ".lethe_test_clock SET shift = shift + make_interval(secs => " +
               std::to_string(by.count()) + ")");
}

void SchemaClock::to_second_of_minute(int second) const {
  // The shift that brings the clock to the next whole minute, plus `second`.
  schema_.exec("UPDATE " + schema_.name() + ".lethe_test_clock SET shift = shift + (date_trunc('minute', " +
               schema_.name() + ".lethe_clock()) + interval '1 minute' - " + schema_.name() +
               ".lethe_clock()) + make_interval(secs => " + std::to_string(second) + ")");
}

std::string SchemaClock::now(std::chrono::seconds plus) const {
  return schema_.scalar("SELECT to_char((" + schema_.name() + ".lethe_clock() + make_interval(secs => " +
                        std::to_string(plus.count()) + ")) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
}

pid_t broker_pid(const std::string& dir) {
  const char* var = std::getenv("LETHE_VAR_DIR");
  std::ifstream in((var ? std::string(var) : source_dir() + "/.lethe") + "/" + dir + "/kafka.pid");
  pid_t pid = 0;
  in >> pid;
  return pid;
}

Thaw::~Thaw() {
  ::kill(pid, SIGCONT);
}

std::ostream& operator<<(std::ostream& os, const ProjectDid& d) {
  return os << "applied " << d.applied << ", skipped " << d.skipped << ", dead-lettered " << d.dead_lettered;
}

std::map<std::string, ProjectDid> project_summaries(std::istream& lines) {
  std::map<std::string, ProjectDid> out;
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("{\"projection\"")) continue;
    rapidjson::Document d;
    d.Parse(line.c_str());
    if (d.HasParseError() || !d.IsObject()) throw std::runtime_error("lethe project printed " + line);
    out[d["projection"].GetString()] = {d["applied"].GetInt64(), d["skipped"].GetInt64(),
                                        d["dead_lettered"].GetInt64()};
  }
  return out;
}

TestSchema TestSchema::keyring() const {
  return TestSchema(View{}, name_, infra::keyring_conninfo_for(conninfo_).value_or(conninfo_));
}

TestSchema::~TestSchema() {
  if (!owner_ || std::getenv("LETHE_KEEP_TEST_DATA")) return;
  auto drop = [&](const std::string& conninfo) {
    try {
      auto conn = infra::connect(conninfo);
      pqxx::nontransaction nt(*conn);
      nt.exec("DROP SCHEMA IF EXISTS " + name_ + " CASCADE");
      // And the versions of its read models a rebuild left beside it
      // (<schema>_next_<projection>, _prev_, _swap_).
      for (const auto& row :
           nt.exec_params("SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", name_ + "\\_%\\_%"))
        nt.exec("DROP SCHEMA IF EXISTS " + nt.quote_name(row[0].c_str()) + " CASCADE");
    } catch (const std::exception&) {
      // A test that restarted PostgreSQL may leave it down; the schema is
      // disposable either way.
    }
  };
  const auto base = infra::Config::from_env().pg;
  drop(base);
  if (const auto keyring = infra::keyring_conninfo_for(base)) drop(*keyring);
}

std::string TestSchema::scalar(const std::string& sql) const {
  auto conn = infra::connect(conninfo_);
  pqxx::nontransaction nt(*conn);
  const auto r = nt.exec(sql);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].c_str();
}

std::vector<std::string> TestSchema::columns_holding(const std::string& text) const {
  auto conn = infra::connect(conninfo_);
  pqxx::read_transaction tx(*conn);
  std::vector<std::string> found;
  for (const auto& col : tx.exec("SELECT table_name, column_name FROM information_schema.columns c"
                                 " JOIN information_schema.tables t USING (table_schema, table_name)"
                                 " WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'")) {
    const std::string table = col[0].c_str(), column = col[1].c_str();
    const auto n = tx.exec_params("SELECT count(*) FROM " + tx.quote_name(table) + " WHERE strpos(lower(" +
                                      tx.quote_name(column) + "::text), lower($1)) > 0",
                                  text)[0][0]
                       .as<int>();
    if (n > 0) found.push_back(table + "." + column);
  }
  return found;
}

namespace {

std::vector<std::string> rows_of(const std::string& conninfo, const std::string& sql, bool open) {
  auto conn = infra::connect(conninfo);
  pqxx::read_transaction tx(*conn);
  const auto result = tx.exec(sql);
  std::map<std::string, infra::PersonKey> keys;
  if (open) {
    std::vector<std::string> subjects;
    for (const auto& row : result)
      for (const auto& f : row)
        if (!f.is_null())
          for (auto& s : domain::sealed_text_subjects(f.c_str())) subjects.push_back(std::move(s));
    keys = infra::load_person_keys(tx, subjects);
  }
  std::vector<std::string> out;
  for (const auto& row : result) {
    std::string line;
    for (const auto& f : row) {
      if (!line.empty()) line += '|';
      if (f.is_null()) {
        line += "NULL";
      } else if (!open) {
        line += f.c_str();
      } else {
        // A sealed text, or a JSON value with sealed values inside (jsonb).
        const std::string_view text = f.c_str();
        const auto lookup = domain::lookup_in(keys);
        if (domain::is_sealed_text(text)) {
          const auto opened = domain::open_sealed_text(text, lookup);
          if (!opened) throw std::runtime_error("a sealed value does not open: " + opened.error().message);
          line += opened.value().value_or("NULL");
        } else {
          const auto opened = domain::open_sealed_json(text, lookup);
          if (!opened) throw std::runtime_error("a sealed value does not open: " + opened.error().message);
          line += opened.value();
        }
      }
    }
    out.push_back(line);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<std::string> TestSchema::rows(const std::string& sql) const {
  return rows_of(conninfo_, sql, false);
}

std::vector<std::string> TestSchema::opened_rows(const std::string& sql) const {
  return rows_of(conninfo_, sql, true);
}

void TestSchema::exec(const std::string& sql) const {
  auto conn = infra::connect(conninfo_);
  pqxx::nontransaction nt(*conn);
  nt.exec(sql);
}

TestTopics::TestTopics(int partitions, const std::map<std::string, std::string>& config)
    : prefix_("t" + random_suffix() + ".") {
  create_local_topics(prefix_, partitions, config);
}

TestTopics::~TestTopics() {
  std::vector<std::string> names;
  for (const auto& spec : producers::topic_specs()) names.push_back(prefix_ + spec.name);
  try {
    producers::delete_topics(infra::Config::from_env().brokers, names);
  } catch (const std::exception& e) {
    spdlog::warn("test topics {}*: not deleted: {}", prefix_, e.what());
  }
}

void create_local_topics(const std::string& prefix, int partitions, const std::map<std::string, std::string>& config) {
  // One local broker: one replica, and an acks=all write needs just it.
  producers::create_topics(
      infra::Config::from_env().brokers, prefix,
      {.partitions_override = partitions, .replication_factor = 1, .min_insync_replicas = 1, .config = config});
}

void delete_topic(const std::string& topic) {
  producers::delete_topics(infra::Config::from_env().brokers, {topic});
  // Deletion is asynchronous on the broker: wait until metadata no longer
  // lists it, so that a test can recreate it at once.
  const auto brokers = infra::Config::from_env().brokers;
  auto conf = infra::kafka_conf({{"bootstrap.servers", brokers}});
  std::string err;
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(conf.get(), err));
  if (!p) throw std::runtime_error(err);
  eventually(
      [&] {
        RdKafka::Metadata* md = nullptr;
        if (p->metadata(true, nullptr, &md, 5000) != RdKafka::ERR_NO_ERROR) return false;
        std::unique_ptr<RdKafka::Metadata> owned(md);
        for (const auto* t : *md->topics())
          if (t->topic() == topic && t->err() == RdKafka::ERR_NO_ERROR) return false;
        return true;
      },
      std::chrono::seconds(30), std::chrono::milliseconds(200));
}

infra::Config config_for(const TestSchema& schema, const TestTopics& topics) {
  auto cfg = infra::Config::from_env();
  cfg.pg = schema.conninfo();
  cfg.topic_prefix = topics.prefix();
  return cfg;
}

namespace {

// A partition's low and high watermarks, asked again for up to 15 s while
// the broker answers with an error (a leader still being elected right
// after the topic was made, a restarted broker); then an error that names
// the partition, never a guess.
std::pair<std::int64_t, std::int64_t> watermarks(RdKafka::KafkaConsumer& c, const std::string& topic, int partition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  for (;;) {
    int64_t low = 0, high = 0;
    const auto e = c.query_watermark_offsets(topic, partition, &low, &high, 5000);
    if (e == RdKafka::ERR_NO_ERROR) return {low, high};
    if (std::chrono::steady_clock::now() >= deadline)
      throw std::runtime_error(topic + ": the end of partition " + std::to_string(partition) +
                               " could not be asked: " + RdKafka::err2str(e));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace

std::vector<Message> read_topic(const std::string& topic) {
  const auto brokers = infra::Config::from_env().brokers;
  auto conf = infra::kafka_conf({{"bootstrap.servers", brokers},
                                 {"group.id", "reader-" + random_suffix()},
                                 {"enable.auto.commit", "false"},
                                 {"enable.partition.eof", "true"}});
  std::string err;
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!c) throw std::runtime_error(err);
  RdKafka::Metadata* md = nullptr;
  std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(c.get(), topic, nullptr, err));
  if (c->metadata(false, t.get(), &md, 10000) != RdKafka::ERR_NO_ERROR) throw std::runtime_error("metadata");
  std::unique_ptr<RdKafka::Metadata> owned(md);
  std::vector<RdKafka::TopicPartition*> parts;
  int expected_eof = 0;
  for (const auto* tm : *md->topics())
    for (const auto* pm : *tm->partitions()) {
      // A failed query is an error, never an empty partition.
      const auto [low, high] = watermarks(*c, topic, pm->id());
      if (high > low) {
        parts.push_back(RdKafka::TopicPartition::create(topic, pm->id(), RdKafka::Topic::OFFSET_BEGINNING));
        ++expected_eof;
      }
    }
  std::vector<Message> out;
  if (parts.empty()) return out;
  c->assign(parts);
  RdKafka::TopicPartition::destroy(parts);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (expected_eof > 0 && std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> m(c->consume(500));
    if (m->err() == RdKafka::ERR__PARTITION_EOF) {
      --expected_eof;
    } else if (m->err() == RdKafka::ERR_NO_ERROR) {
      Message msg;
      if (m->key()) msg.key = *m->key();
      msg.value.assign(static_cast<const char*>(m->payload()), m->len());
      msg.partition = m->partition();
      msg.offset = m->offset();
      if (auto* h = m->headers())
        for (const auto& hd : h->get_all())
          msg.headers[hd.key()] = std::string(static_cast<const char*>(hd.value()), hd.value_size());
      out.push_back(std::move(msg));
    }
  }
  c->close();
  // Never a partial read passed off as the topic.
  if (expected_eof > 0)
    throw std::runtime_error("read_topic " + topic + ": " + std::to_string(expected_eof) +
                             " partition(s) not read to their end within 60 s (" + std::to_string(out.size()) +
                             " messages read)");
  return out;
}

std::int64_t topic_end(const std::string& topic) {
  auto conf = infra::kafka_conf(
      {{"bootstrap.servers", infra::Config::from_env().brokers}, {"group.id", "reader-" + random_suffix()}});
  std::string err;
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!c) throw std::runtime_error(err);
  RdKafka::Metadata* md = nullptr;
  std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(c.get(), topic, nullptr, err));
  if (const auto me = c->metadata(false, t.get(), &md, 10000); me != RdKafka::ERR_NO_ERROR)
    throw std::runtime_error("topic_end " + topic + ": metadata: " + RdKafka::err2str(me));
  std::unique_ptr<RdKafka::Metadata> owned(md);
  std::int64_t end = 0;
  int partitions = 0;
  for (const auto* tm : *md->topics()) {
    if (tm->err() != RdKafka::ERR_NO_ERROR)
      throw std::runtime_error("topic_end " + topic + ": " + RdKafka::err2str(tm->err()));
    for (const auto* pm : *tm->partitions()) {
      end += watermarks(*c, topic, pm->id()).second;
      ++partitions;
    }
  }
  if (partitions == 0) throw std::runtime_error("topic_end " + topic + ": no such topic");
  c->close();
  return end;
}

void produce_raw(const std::string& topic, const std::string& key, const std::string& value,
                 const std::map<std::string, std::string>& headers) {
  auto conf = infra::kafka_conf(infra::producer_settings(infra::Config::from_env().brokers));
  std::string err;
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(conf.get(), err));
  if (!p) throw std::runtime_error(err);
  RdKafka::Headers* hs = headers.empty() ? nullptr : RdKafka::Headers::create();
  for (const auto& [k, v] : headers) hs->add(k, v);
  const auto code = infra::produce_copy(*p, topic, key, value, hs);
  if (code != RdKafka::ERR_NO_ERROR) throw std::runtime_error(RdKafka::err2str(code));
  if (p->flush(30000) != RdKafka::ERR_NO_ERROR) throw std::runtime_error("flush timed out");
}

Process::Process(std::vector<std::string> args, std::map<std::string, std::string> env)
    : Process(Program{lethe_bin()}, std::move(args), std::move(env)) {}

Process::Process(const Program& program, std::vector<std::string> args, std::map<std::string, std::string> env) {
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    if (!program.stdout_path.empty() && !std::freopen(program.stdout_path.c_str(), "w", stdout)) _exit(126);
    std::vector<char*> argv;
    std::string bin = program.path;
    argv.push_back(bin.data());
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
}

Process::~Process() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait();
  }
}

void Process::signal(int sig) {
  if (!reaped_) ::kill(pid_, sig);
}

bool Process::wait_for(std::chrono::milliseconds timeout, int* status) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!reaped_) {
    int st = 0;
    const pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (status) *status = status_;
  return true;
}

int Process::wait(std::chrono::seconds limit) {
  int st = 0;
  if (wait_for(limit, &st)) return st;
  // A hang fails the test in minutes, with a name, not at ctest's timeout.
  std::fprintf(stderr, "test: lethe pid %d still running after %lld s; killing it\n", static_cast<int>(pid_),
               static_cast<long long>(limit.count()));
  ::kill(pid_, SIGKILL);
  wait_for(std::chrono::seconds(10), &st);
  return -1;
}

bool Process::running() {
  return !wait_for(std::chrono::milliseconds(0));
}

std::map<std::string, std::string> lethe_env(const TestSchema& schema, const TestTopics& topics) {
  return {{"LETHE_PG", schema.conninfo()},
          {"LETHE_TOPIC_PREFIX", topics.prefix()},
          {"LETHE_BROKERS", infra::Config::from_env().brokers}};
}

Captured capture_env(const std::map<std::string, std::string>& env, const std::string& shell_command) {
  std::string prefix;
  for (const auto& [k, v] : env) prefix += k + "='" + v + "' ";
  return capture(prefix + shell_command);
}

Captured capture(const std::string& shell_command) {
  Captured c{-1, ""};
  FILE* p = popen((shell_command + " 2>&1").c_str(), "r");
  if (!p) return c;
  char buf[4096];
  while (fgets(buf, sizeof buf, p)) c.output += buf;
  const int st = pclose(p);
  c.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return c;
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout, std::chrono::milliseconds every) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

std::string kafka_segments(const std::string& prefix) {
  namespace fs = std::filesystem;
  const char* env = std::getenv("LETHE_KAFKA_DATA_DIR");
  const fs::path data = env && *env ? fs::path(env) : fs::path(source_dir()) / ".lethe" / "kafka" / "data";
  if (!fs::is_directory(data)) throw std::runtime_error("no Kafka data directory at " + data.string());
  std::string all;
  for (const auto& dir : fs::directory_iterator(data)) {
    if (!dir.is_directory() || !dir.path().filename().string().starts_with(prefix)) continue;
    for (const auto& f : fs::directory_iterator(dir.path())) {
      if (f.path().extension() != ".log") continue;
      std::ifstream in(f.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      all += ss.str();
    }
  }
  return all;
}

}  // namespace lethe::test
