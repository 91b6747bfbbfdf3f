#pragma once
// Test fixtures: each test gets a PostgreSQL schema, a topic prefix and
// consumer groups of its own, so tests never see each other's data. They
// talk to the real services that scripts/test starts (LETHE_PG,
// LETHE_BROKERS, defaults as in docs/api.md).
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lethe/infra/config.hpp"

namespace lethe::test {

// A fresh schema, migrated from the same files as `lethe migrate`; dropped
// at the end unless LETHE_KEEP_TEST_DATA is set.
class TestSchema {
 public:
  // name: the schema's name; empty for a random one.
  explicit TestSchema(const std::string& name = "");
  ~TestSchema();
  // A copy is a view: only the original drops the schema.
  TestSchema(const TestSchema& other) : name_(other.name_), conninfo_(other.conninfo_), owner_(false) {}
  TestSchema& operator=(const TestSchema&) = delete;
  // The keyring's side of this schema, for queries on person_keys and the
  // other keyring tables: its twin in LETHE_KEYRING_PG (the scripts' way),
  // or this schema itself when the keys live beside the data. A view: it
  // drops nothing.
  TestSchema keyring() const;
  // Whether the keyring lives apart (LETHE_KEYRING_PG set, the scripts' way).
  bool keyring_apart() const { return keyring().conninfo() != conninfo_; }
  const std::string& name() const { return name_; }
  const std::string& conninfo() const { return conninfo_; }
  // First column of the first row of a query, as text ("" for NULL / no row).
  std::string scalar(const std::string& sql) const;
  // Every row of a query, columns joined by '|', rows sorted.
  std::vector<std::string> rows(const std::string& sql) const;
  // The same with every sealed text (a lethe:sealed column's value) opened
  // with the keyring, "NULL" once its person's key is gone: what a query
  // answers, for comparing read models with what was written.
  std::vector<std::string> opened_rows(const std::string& sql) const;
  void exec(const std::string& sql) const;
  // "table.column" of every column of every table of the schema whose
  // value, as text, holds `text` in any case.
  std::vector<std::string> columns_holding(const std::string& text) const;

 private:
  struct View {};
  TestSchema(View, std::string name, std::string conninfo)
      : name_(std::move(name)), conninfo_(std::move(conninfo)), owner_(false) {}
  std::string name_, conninfo_;
  bool owner_ = true;
};

// A race forced instead of hoped for: holds back every INSERT into `table`
// (a SHARE lock, which reads pass) until `writers` sessions wait behind it,
// then lets them all go at once. So concurrent commands all read before any
// of them writes, on any machine.
class HeldWrites {
 public:
  HeldWrites(const TestSchema& db, const std::string& table);
  ~HeldWrites();
  // Waits (30 s at most) until `writers` sessions wait behind the lock, then
  // releases it; false when they never all did (it is released either way).
  bool release_when_waiting(int writers);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The schema's clock (lethe_now() and lethe_clock(), V018), moved by the
// test: every rule that depends on time (expiry of sessions, API keys and
// erasure tokens, the login window, request limits, the erasure deadline)
// reads it, so a test proves an expiry to the second without sleeping. It
// replaces the two functions in the test's own schema; PostgreSQL's time
// still runs underneath, shifted by what the test asked.
class SchemaClock {
 public:
  explicit SchemaClock(const TestSchema& schema);
  // Moves the schema's time forward (or back, for a negative amount).
  void advance(std::chrono::seconds by) const;
  // Moves it so that it reads `second` seconds past a whole minute now.
  void to_second_of_minute(int second) const;
  // What the schema's clock reads, plus `plus`, as RFC 3339 in UTC.
  std::string now(std::chrono::seconds plus = {}) const;

 private:
  TestSchema schema_;
};

// The pid of the broker scripts/kafka started (0 if none), for the fault
// tests that kill or freeze it.
// `dir`: "kafka" for the single broker, "kafka-cluster/node<N>" for a node
// of the local 3-broker cluster (scripts/kafka-cluster).
pid_t broker_pid(const std::string& dir = "kafka");

// Resumes a frozen (SIGSTOP) process however the test ends: a broker left
// stopped would hang every test after it.
struct Thaw {
  pid_t pid;
  ~Thaw();
};

// What `lethe project` printed it did on a clean exit, per projection (one
// JSON line each among its stdout lines; other lines are skipped).
struct ProjectDid {
  std::int64_t applied = 0, skipped = 0, dead_lettered = 0;
  bool operator==(const ProjectDid&) const = default;
};
std::ostream& operator<<(std::ostream& os, const ProjectDid& d);
// Throws on a summary line that does not parse.
std::map<std::string, ProjectDid> project_summaries(std::istream& lines);

// Topics under a prefix of their own ("t<random>."), created up front.
class TestTopics {
 public:
  explicit TestTopics(int partitions = 3, const std::map<std::string, std::string>& config = {});
  // Deletes them: a broker that kept every test run's topics would run out
  // of file handles (one per segment and index).
  ~TestTopics();
  TestTopics(const TestTopics&) = delete;
  TestTopics& operator=(const TestTopics&) = delete;
  const std::string& prefix() const { return prefix_; }
  std::string topic(const std::string& logical) const { return prefix_ + logical; }

 private:
  std::string prefix_;
};

struct Message {
  std::string key, value;
  int partition = 0;
  long long offset = 0;
  std::map<std::string, std::string> headers;
};

// Reads a topic from the beginning to its current end (all partitions);
// throws when a partition's end cannot be asked or is not reached within
// 60 s: a failed read is never passed off as an empty or shorter topic.
std::vector<Message> read_topic(const std::string& topic);
// The sum of a topic's partitions' end offsets: how many messages were ever
// written to it (0 for a dead-letter topic nothing was sent to). Throws when
// an end cannot be asked.
std::int64_t topic_end(const std::string& topic);
// Creates lethe's topics under a prefix as the single local broker takes
// them (one replica); what is there already is left alone.
void create_local_topics(const std::string& prefix, int partitions = 3,
                         const std::map<std::string, std::string>& config = {});
// Deletes a topic and waits until the broker no longer lists it.
void delete_topic(const std::string& topic);
// Produces raw bytes (for malformed input), with the given headers.
void produce_raw(const std::string& topic, const std::string& key, const std::string& value,
                 const std::map<std::string, std::string>& headers = {});

infra::Config config_for(const TestSchema& schema, const TestTopics& topics);

// A `lethe` subprocess with the given arguments and extra environment.
// Another executable than lethe, for Process (the bench's peers).
struct Program {
  std::string path;
  // Where its stdout goes (a file, truncated); empty: the test's own stdout.
  std::string stdout_path = "";
};

class Process {
 public:
  Process(std::vector<std::string> args, std::map<std::string, std::string> env = {});
  Process(const Program& program, std::vector<std::string> args, std::map<std::string, std::string> env = {});
  ~Process();  // SIGKILLs it if still running
  void signal(int sig);
  // Exit code, or 128 + signal; -1 (after a SIGKILL) if it runs past limit.
  int wait(std::chrono::seconds limit = std::chrono::seconds(180));
  bool wait_for(std::chrono::milliseconds timeout, int* status = nullptr);
  bool running();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

// Environment that points a `lethe` subprocess at this test's schema and topics.
std::map<std::string, std::string> lethe_env(const TestSchema& schema, const TestTopics& topics);

// Runs a shell command, returns its exit code and stdout+stderr.
struct Captured {
  int rc;
  std::string output;
};
Captured capture(const std::string& shell_command);
// The same with the variables of env set for the command (single-quoted).
Captured capture_env(const std::map<std::string, std::string>& env, const std::string& shell_command);

// Polls until pred() is true; false on timeout.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds every = std::chrono::milliseconds(100));

std::string random_suffix();
// Every byte of every segment file of the broker's topics under a prefix
// (LETHE_KAFKA_DATA_DIR, else the scripts' .lethe/kafka/data).
std::string kafka_segments(const std::string& prefix);
std::string source_dir();
// The lethe executable the tests run: $LETHE_BIN, else the one built here.
std::string lethe_bin();

}  // namespace lethe::test
