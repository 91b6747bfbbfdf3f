#pragma once
// Puts events on Kafka, the one way lethe does it: an idempotent producer
// (acks=all, no delivery deadline), key = stream id, headers type,
// schema_version and event_id, value = the encoded envelope. The relay and
// `lethe republish` both publish through it.
#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "lethe/infra/kafka.hpp"
#include "outbox_reader.hpp"

namespace lethe::producers {

struct PublishOutcome {
  bool stopped = false;  // told to stop before every report came in
  // Entries that no retry can get onto the broker (too large, invalid), by
  // index into the batch, with the broker's reason. Every other entry of the
  // batch was delivered.
  std::vector<std::pair<std::size_t, std::string>> refused;
  // Deliveries that failed for a reason a retry may cure: the batch goes
  // again. Empty when nothing failed that way.
  std::string retry_reason;
};

class Publisher {
 public:
  // Connects; throws infra::Unavailable if no broker answers.
  Publisher(const std::string& brokers, std::string topic_prefix);
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Hands every entry to the producer and waits for every delivery report
  // (or for stop; undelivered messages are then purged, they stay in the
  // outbox). Throws infra::InfraError for what stops publishing altogether:
  // a fatal producer error, a missing topic.
  PublishOutcome publish(std::span<const OutboxEntry> entries, const std::atomic<bool>& stop);

  void flush(int timeout_ms);

 private:
  std::string topic_prefix_;
  infra::DeliveryReports delivery_;
  std::unique_ptr<RdKafka::Producer> producer_;
};

// The size of the Kafka message an envelope becomes (value, key, headers),
// which must stay within infra::kMaxMessageBytes.
std::size_t message_size(const domain::Envelope& e);

}  // namespace lethe::producers
