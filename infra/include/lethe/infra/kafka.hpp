#pragma once
// The one place where librdkafka configuration and error codes are handled.
// Layers include this from their .cpp files only.
#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace lethe::infra {

// Builds a global configuration from key/value pairs; a rejected key throws
// Misconfigured naming it.
std::unique_ptr<RdKafka::Conf> kafka_conf(const std::map<std::string, std::string>& settings);

// Settings of the idempotent producer that lethe uses everywhere it writes
// to Kafka: acks=all, enable.idempotence, generous delivery timeout so a
// broker restart is ridden out rather than surfaced as loss.
std::map<std::string, std::string> producer_settings(const std::string& brokers);

// Asks the cluster for its metadata; throws Unavailable with an operator hint
// ("is scripts/kafka running?") if no broker answers within timeout_ms.
void check_broker(RdKafka::Handle& handle, const std::string& brokers, int timeout_ms = 10000);

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

  std::int64_t ok = 0, failed = 0;
  RdKafka::ErrorCode first_error = RdKafka::ERR_NO_ERROR;
};

// Hands one message (copied) to the producer, waiting while its local queue
// is full. Takes the headers (may be null): librdkafka keeps them when the
// message is accepted, and they are deleted otherwise.
RdKafka::ErrorCode produce_copy(RdKafka::Producer& producer, const std::string& topic, std::string_view key,
                                std::string_view value, RdKafka::Headers* headers = nullptr);

// Polls until `handed` reports are in. Returns false early, with reports
// still missing, if stop is given and becomes true.
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
