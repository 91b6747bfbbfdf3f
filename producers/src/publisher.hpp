#pragma once
// Puts events on Kafka, the one way lethe does it: an idempotent producer
// (acks=all, no delivery deadline), key = stream id, headers type,
// schema_version and event_id, value = the encoded envelope. The relay and
// `lethe republish` both publish through it.
#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
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

// A page handed to the producer whose delivery reports are not all in yet.
struct SentPage {
  std::uint64_t page = 0;
  std::int64_t handed = 0;
  PublishOutcome outcome;  // what the producer refused at once
};

class Publisher {
 public:
  // Connects; throws infra::Unavailable if no broker answers.
  Publisher(const std::string& brokers, std::string topic_prefix);
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Hands every entry to the producer without waiting for a delivery report
  // (only while the producer's local queue is full). Throws
  // infra::InfraError for a missing topic.
  SentPage send(std::span<const OutboxEntry> entries);
  // Waits for every delivery report of a page sent (or for stop, or the
  // deadline; undelivered messages are then purged, they stay in the
  // outbox). Reports of other pages sent meanwhile are counted for them.
  // Throws infra::InfraError for what stops publishing altogether: a fatal
  // producer error, a missing topic.
  PublishOutcome settle(SentPage& sent, const std::atomic<bool>& stop,
                        std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max());
  // Forgets every page sent and not settled: their reports, when they
  // come, count for nothing.
  void forget_all();
  // send() and settle(): one page, published and acknowledged.
  PublishOutcome publish(std::span<const OutboxEntry> entries, const std::atomic<bool>& stop);

  void flush(int timeout_ms);
  // Drops every message not yet acknowledged (a fault test's hook).
  void purge();

 private:
  // The delivery reports of each page sent and not yet settled or
  // forgotten, told apart by the page number in the high half of each
  // message's tag (its index in the page is the low half).
  struct Tally {
    std::int64_t settled = 0;
    std::vector<infra::DeliveryReports::Failure> failures;
  };
  class PageReports : public RdKafka::DeliveryReportCb {
   public:
    void dr_cb(RdKafka::Message& m) override;
    std::map<std::uint64_t, Tally> pages;
  };

  std::string topic_prefix_;
  PageReports delivery_;
  std::uint64_t next_page_ = 0;
  std::unique_ptr<RdKafka::Producer> producer_;
};

// The size of the Kafka message an envelope becomes (value, key, headers),
// which must stay within infra::kMaxMessageBytes.
std::size_t message_size(const domain::Envelope& e);

}  // namespace lethe::producers
