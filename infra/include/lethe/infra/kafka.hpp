#pragma once
// The one place where librdkafka configuration and error codes are handled.
// Layers include this from their .cpp files only.
#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lethe::infra {

// Builds a global configuration from key/value pairs; a rejected key throws
// Misconfigured naming it.
std::unique_ptr<RdKafka::Conf> kafka_conf(const std::map<std::string, std::string>& settings);

// Settings of the idempotent producer that lethe uses everywhere it writes
// to Kafka: acks=all, enable.idempotence, and no delivery deadline
// (message.timeout.ms=0): what is handed over is retried until the broker
// takes it or the producer hits a fatal error. A deadline would expire some
// queued messages during a long outage while later ones of the same
// partition still went out, and resending the expired ones would put a
// stream's versions out of order. The local queue is bounded in bytes
// (kProducerQueueKBytes), so a slow broker makes produce() wait, not grow.
std::map<std::string, std::string> producer_settings(const std::string& brokers);
inline constexpr int kProducerQueueKBytes = 64 * 1024;

// The largest Kafka message lethe produces (value + key + headers), which is
// librdkafka's default message.max.bytes. Brokers accept 1,048,588 bytes by
// default, so what the producer accepts the broker does too, unless a topic
// is configured below that.
inline constexpr std::size_t kMaxMessageBytes = 1000000;

// Asks the cluster for its metadata; throws Unavailable with an operator hint
// ("is scripts/kafka running?") if no broker answers within timeout_ms.
void check_broker(RdKafka::Handle& handle, const std::string& brokers, int timeout_ms = 10000);

// The offsets of the given partitions at `which` (RdKafka::Topic::OFFSET_END:
// the next offset to be written; OFFSET_BEGINNING: the first kept), asked in
// one request per broker. Asked one partition at a time, each question
// waits behind whatever else the handle has in flight to that broker (a
// consumer's fetch): 0.43 s for the nine partitions of the users
// projection. nullopt for a partition the brokers did not answer.
using TopicPartitionKey = std::pair<std::string, int>;
std::map<TopicPartitionKey, std::optional<std::int64_t>> offsets_at(RdKafka::Handle& handle,
                                                                    const std::vector<TopicPartitionKey>& keys,
                                                                    std::int64_t which, int timeout_ms = 2000);

// A consumer that reads topics raw, outside any consumer group: partitions
// are assigned, never joined, no offset is committed, and the prefetch queue
// is bounded. `purpose` names it in the broker's view ("lethe-<purpose>-<pid>").
// Throws Unavailable if no broker answers.
std::unique_ptr<RdKafka::KafkaConsumer> raw_reader(const std::string& brokers, const std::string& purpose);

// Names of the cluster's topics that start with prefix, sorted.
std::vector<std::string> topics_with_prefix(RdKafka::Handle& handle, const std::string& prefix, int timeout_ms = 10000);

// Reads every partition of the topics with a raw_reader, from its earliest
// offset to the end it has when the read starts, and hands each message to
// on_message, in offset order within a partition; what is appended meanwhile
// is not read. A topic that does not exist is logged and taken as empty.
// Throws Unavailable if no message comes for a minute while partitions are
// unread, and the lethe error of any other failure (a topic the broker
// cannot describe is not taken as empty). Returns the messages read.
std::int64_t read_to_end(RdKafka::KafkaConsumer& consumer, const std::vector<std::string>& topics,
                         const std::function<void(RdKafka::Message&)>& on_message);

// The header every event message carries its envelope's type in (the
// relay sets it; projections pass over types they do not read by it).
inline constexpr const char* kTypeHeader = "type";

// The value of the message's last header of that name, as a view into the
// message (valid while it lives); nullopt when it has none.
std::optional<std::string_view> header_of(const RdKafka::Message& m, const char* name);

// Throws the lethe error that fits a librdkafka error code.
[[noreturn]] void throw_kafka(RdKafka::ErrorCode code, const std::string& what);

// Counts the delivery reports of what a producer was handed since reset().
// Install it as the producer's dr_cb; reports arrive inside poll()/flush(),
// on the thread that calls them.
class DeliveryReports : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& m) override;
  void reset() { *this = DeliveryReports{}; }
  std::int64_t settled() const { return ok + failed; }

  struct Failure {
    std::intptr_t tag;  // the opaque the message was produced with
    RdKafka::ErrorCode code;
  };
  std::int64_t ok = 0, failed = 0;
  RdKafka::ErrorCode first_error = RdKafka::ERR_NO_ERROR;
  std::vector<Failure> failures;
};

// Whether no retry of the same message can succeed (it is too large, or the
// broker finds it invalid): such a message is set aside, not retried forever.
bool is_permanent_message_error(RdKafka::ErrorCode code) noexcept;

// Hands one message (copied) to the producer, waiting while its local queue
// is full. Takes the headers (may be null): librdkafka keeps them when the
// message is accepted, and they are deleted otherwise.
// The tag comes back in DeliveryReports::failures.
RdKafka::ErrorCode produce_copy(RdKafka::Producer& producer, const std::string& topic, std::string_view key,
                                std::string_view value, RdKafka::Headers* headers = nullptr, std::intptr_t tag = 0);

// Polls until settled() reaches handed. Returns false early, with reports
// still missing, if stop is given and becomes true, or the deadline passes.
bool await_settled(RdKafka::Producer& producer, const std::function<std::int64_t()>& settled, std::int64_t handed,
                   const std::atomic<bool>* stop = nullptr,
                   std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max());

// Polls until `handed` reports are in (await_settled of reports.settled()).
bool await_reports(RdKafka::Producer& producer, const DeliveryReports& reports, std::int64_t handed,
                   const std::atomic<bool>* stop = nullptr);

// Routes librdkafka's own log lines into spdlog instead of stderr. Thread-safe.
class KafkaLogBridge : public RdKafka::EventCb {
 public:
  void event_cb(RdKafka::Event& event) override;

 private:
  std::atomic<std::int64_t> last_down_warning_ms_{0};  // librdkafka calls from several threads
};
KafkaLogBridge& kafka_log_bridge();

}  // namespace lethe::infra
