#pragma once
// Rebuilds a topic from the event store, which keeps every event forever:
// events are read in global position order (version order within each
// stream) and published as the relay publishes them, same key, headers and
// bytes. For a lost or damaged topic; projections absorb the duplicates a
// republish makes on a topic that still holds some of the events.
#include <atomic>
#include <cstdint>
#include <string>

namespace lethe::producers {

struct RepublishOptions {
  std::string conninfo;
  std::string brokers;
  std::string topic_prefix = "lethe.";
  std::string topic;               // logical topic ("users"); empty: every topic
  std::string stream;              // one stream; empty: every stream
  std::int64_t from_position = 0;  // events at or after this global position
  int batch_size = 10000;
  std::int64_t batch_max_bytes = 16 << 20;
};

struct RepublishReport {
  std::int64_t published = 0;
  std::int64_t refused = 0;  // the broker refused them for good (logged each)
};

// Publishes until done or stop. Throws infra::InfraError when a service
// fails for good (missing topic: run `lethe topics create` first).
RepublishReport republish(const RepublishOptions& options, const std::atomic<bool>& stop);

}  // namespace lethe::producers
