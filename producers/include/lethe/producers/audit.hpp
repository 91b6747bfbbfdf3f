#pragma once
// Verification of the event store for auditors. Read-only.
//  - verify_event_store: every stream's versions run 1..n without a gap,
//    each event's hash matches its content, and each links to the hash of
//    the event before it. Blind to a stream's last events deleted, a whole
//    stream deleted, or a stream rewritten with recomputed hashes: seals
//    (seals.hpp) and verify_against_kafka catch those.
//  - verify_against_kafka: every event's hash in PostgreSQL against its
//    copies on the domain topics.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace lethe::producers {

struct ChainBreak {
  std::string stream_id;
  std::int64_t stream_version;
  std::string problem;  // "hash does not match content", "version gap: expected 3", ...
};

struct AuditReport {
  std::int64_t streams = 0;
  std::int64_t events = 0;
  std::vector<ChainBreak> breaks;  // the first break of each broken stream
  bool ok() const { return breaks.empty(); }
};

// Pages are bounded in rows and in bytes, so that memory stays within a
// budget however large the payloads (a page holds at least one row).
struct AuditOptions {
  int page_rows = 10000;
  std::size_t page_bytes = 16u << 20;
};

// Walks every stream in pages; progress(events_checked) is called after each
// page. Throws infra::InfraError when PostgreSQL fails.
AuditReport verify_event_store(const std::string& conninfo, const std::function<void(std::int64_t)>& progress = {},
                               const AuditOptions& options = {});

struct KafkaAuditReport {
  std::int64_t messages = 0;          // read from the domain topics
  std::int64_t events = 0;            // in PostgreSQL when the audit began
  std::int64_t unpublished = 0;       // of those, not yet published (or parked) by the relay: not expected on Kafka
  std::int64_t missing_on_kafka = 0;  // published (behind the relay's checkpoint) but on no topic
  std::int64_t missing_in_store = 0;  // on a topic, not in PostgreSQL
  std::int64_t hash_differs = 0;      // in both with different hashes, copies that disagree, or a copy
                                      // whose content does not match its own hash
  std::int64_t undecodable = 0;       // messages on a domain topic that are no envelope
  std::int64_t mislabelled = 0;       // copies whose type header is not their envelope's type (the
                                      // header is outside the hash; projections pass over types by it)
  std::vector<std::string> examples;  // the first problems, one line each
  bool ok() const { return missing_on_kafka + missing_in_store + hash_differs + undecodable + mislabelled == 0; }
};

struct KafkaAuditOptions {
  std::string conninfo;
  std::string brokers;
  std::string topic_prefix = "lethe.";
  std::size_t max_examples = 100;
};

// Reads every domain topic (not the dead letters) from the beginning to its
// end, then every event of PostgreSQL, and compares the hashes by event id.
// Memory: about 100 bytes per message on Kafka (binary id and hash). Events
// appended while it runs are not reported. progress(stage, count) is called
// as it goes. Throws infra::InfraError when a service fails.
KafkaAuditReport verify_against_kafka(const KafkaAuditOptions& options,
                                      const std::function<void(const std::string&, std::int64_t)>& progress = {});

}  // namespace lethe::producers
