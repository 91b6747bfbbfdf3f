#pragma once
// gdpr verify: does anything still hold a person who was forgotten?
// Read-only: first every table of the connection's schema (columns marked
// lethe:person for the person's id; every text column for their email and
// name; the relay's parked rows among them), then every topic under the
// prefix, raw (keys, values, headers; the dead letters among them), then the
// files: PostgreSQL's data directory after a CHECKPOINT (what the heap, the
// indexes and the WAL hold, dead tuples included) and lethe's logs.
// The email and the name are compared, never shown: they are the very data
// that must be gone, so findings say "the email".
#include <cstdint>
#include <string>
#include <vector>

#include "lethe/infra/config.hpp"

namespace lethe::consumers {

// Whom to look for. An empty email or name is not sought; with neither,
// the topics are not read (the id is on them by design, as stream keys).
struct Sought {
  std::string user_id, email, name;
  // Files searched raw (every byte, ASCII case folded) for the email and the
  // name: the PostgreSQL data directory, heap and WAL, after a CHECKPOINT
  // ("" asks the server for its data_directory and searches it when this
  // process can read it; "-" skips it), and lethe's log files (files or
  // folders).
  std::string pg_data;
  std::vector<std::string> logs;
};

struct GdprReport {
  // One line per finding shown ("table users.email: row user_id=... holds
  // the email", "topic p.users/1@7: value holds the name in clear"); beyond
  // 20 per column or topic, one line says how many more.
  std::vector<std::string> lines;
  std::int64_t findings = 0;  // every finding, shown or counted
  std::size_t tables = 0;     // tables searched
  bool topics_read = false;
  std::int64_t topics = 0, messages = 0;
  std::string pg_data;  // the data directory searched, "" when not
  std::int64_t files = 0, file_bytes = 0;
};

// Throws infra errors when PostgreSQL or Kafka cannot be read: then nothing
// is proven either way.
GdprReport gdpr_verify(const infra::Config& cfg, const Sought& sought);

}  // namespace lethe::consumers
