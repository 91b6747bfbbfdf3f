#pragma once
// Verification of the event store for auditors: every stream's versions run
// 1..n without a gap, each event's hash matches its content, and each links
// to the hash of the event before it. Read-only.
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

// Walks every stream in pages; progress(events_checked) is called after each
// page. Throws infra::InfraError when PostgreSQL fails.
AuditReport verify_event_store(const std::string& conninfo, const std::function<void(std::int64_t)>& progress = {});

}  // namespace lethe::producers
