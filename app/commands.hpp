#pragma once
// The subcommands of `lethe`. main.cpp parses flags; these do the work.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "lethe/api/server.hpp"
#include "lethe/consumers/runner.hpp"
#include "lethe/infra/config.hpp"
#include "lethe/infra/logging.hpp"
#include "lethe/producers/republish.hpp"
#include "lethe/producers/topics.hpp"

namespace lethe::app {

// Set by SIGTERM/SIGINT; long-running commands finish the batch in hand.
std::atomic<bool>& stop_flag();
void install_signal_handlers();

using infra::Throttled;

int migrate(const infra::Config& cfg);
int create_topics(const infra::Config& cfg, const producers::TopicOptions& options);

struct RelayFlags {
  int batch_size = 10000;
  std::int64_t batch_max_bytes = 16 << 20;
  bool until_idle = false;
  std::string metrics_address;  // host:port to serve Prometheus metrics on; empty: not served
};
int relay(const infra::Config& cfg, const RelayFlags& flags);
int relay_rebase(const infra::Config& cfg);
int republish(const infra::Config& cfg, producers::RepublishOptions options);

struct ProjectFlags {
  std::vector<std::string> names;  // empty: all
  int batch_size = 5000;
  int batch_wait_ms = 100;
  std::int64_t batch_max_bytes = consumers::RunnerOptions{}.batch_max_bytes;
  int max_consecutive_refusals = consumers::RunnerOptions{}.max_consecutive_refusals;
  int prefetch_mib = consumers::RunnerOptions{}.fetch_queue_kbytes >> 10;
  bool until_idle = false;
  std::string instance = "0";
  std::string group_prefix;     // empty: the topic prefix
  bool replay = false;          // empty the read models and start from offset zero
  std::string metrics_address;  // host:port to serve Prometheus metrics on; empty: not served
};
int project(const infra::Config& cfg, const ProjectFlags& flags);

// `lethe project rebuild|cut-over|rollback|drop NAME` (consumers/versions.hpp).
struct VersionFlags {
  std::string name;
  bool restart = false;      // rebuild: drop a rebuild in progress and start from offset zero
  bool no_cut_over = false;  // rebuild: stop once caught up
  bool resume_only = false;  // cut-over: there must be a rebuild to finish
  bool next = false;         // drop: the rebuild in progress, not the previous version
  int patience_seconds = 120;
};
int project_rebuild(const infra::Config& cfg, const ProjectFlags& pf, const VersionFlags& vf);
// The same rebuild (with its cut-over) and rollback for `lethe serve`, which
// runs them when the console asks (POST /projections/{name}/rebuild|rollback).
api::ProjectionJob projection_job(const infra::Config& cfg);
int project_rollback(const infra::Config& cfg, const ProjectFlags& pf, const VersionFlags& vf);
int project_drop(const infra::Config& cfg, const VersionFlags& vf);

struct UserFlags {
  std::string id, email, name, role = "user", actor = "system:cli";
};
int user_register(const infra::Config& cfg, const UserFlags& f);
// Wraps the keys stored unwrapped under the master key; prints {"rewrapped":N}.
int keys_rewrap(const infra::Config& cfg);
// retention_days < 0: LETHE_MASTER_RETENTION_DAYS, else 30.
int keys_rotate_master(const infra::Config& cfg, int retention_days);
int user_rename(const infra::Config& cfg, const UserFlags& f);
int user_set_role(const infra::Config& cfg, const UserFlags& f);
// Creates the first owner and prints their API key, once.
int bootstrap(const infra::Config& cfg, const std::string& email, const std::string& name);

// Prints the events of a stream, one JSON envelope per line, personal fields
// opened (or as stored, with sealed), and checks its hash chain.
int show_stream(const infra::Config& cfg, const std::string& stream, bool sealed);

// Verifies every stream of the event store: versions without gaps, hashes
// matching content, each linked to the one before. With a seal key, also
// every seal; with against_kafka, every event against its copies on Kafka.
// Exit 1 on any problem.
struct VerifyFlags {
  std::string seal_key_file;  // empty: seals are not checked
  bool against_kafka = false;
  std::size_t page_bytes = 16u << 20;
};
int verify(const infra::Config& cfg, const VerifyFlags& flags);

// Seals the events appended since the last seal and prints the seal as one
// JSON line (nothing when there was nothing new).
struct SealFlags {
  std::string seal_key_file;
  int wait_seconds = 60;
};
int seal(const infra::Config& cfg, const SealFlags& flags);

// Proves that a person is forgotten, or shows where they are not: no column
// commented `lethe:person` holds their id (`lethe:person-kept` ones keep it
// by design), and neither a text or JSON column of any table nor any
// message on the topics (key, value, headers), nor any byte of
// PostgreSQL's data directory (after a CHECKPOINT) or of the log files
// given, holds their email or name.
// Reads only. Prints one line per finding on stdout, then a summary; never
// prints or logs the email or the name. Returns 0 when nothing is found, 1
// when something is, 2 when it cannot tell (a service fails).
struct GdprVerifyFlags {
  std::string user_id;
  std::string email, name;        // empty: not searched
  std::string pg_data;            // "": the server's data directory if readable here; "-": not searched
  std::vector<std::string> logs;  // lethe's log files or folders
};
int gdpr_verify(const infra::Config& cfg, const GdprVerifyFlags& flags);

// What reapply_erasures found and did.
struct ReapplyReport {
  std::size_t on_topic = 0;             // people the erasure topic says are erased
  std::size_t forgotten = 0;            // missing from the register: forgotten again
  std::size_t keys_destroyed = 0;       // of those, whose key was back (restored)
  std::size_t fingerprint_differs = 0;  // a key came back that the topic does not name
};
// A restore forgets again: reads the register of erased people from the
// erasure topic (retained forever, outside PostgreSQL) and forgets again
// everyone PostgreSQL's register lacks (a database restored from a backup
// taken before their erasure): their key destroyed, the write side's rows
// of them deleted, and every projection's erasure policy applied to them.
// `lethe gdpr reapply` runs it, and so do serve, the relay and the
// projector before they start, so nothing about such a person is served,
// published or projected in between. Throws when the topic or PostgreSQL
// cannot be read.
ReapplyReport reapply_erasures(const infra::Config& cfg, std::string_view process);
int gdpr_reapply(const infra::Config& cfg);

}  // namespace lethe::app
