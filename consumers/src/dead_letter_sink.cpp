#include "dead_letter_sink.hpp"

#include <spdlog/spdlog.h>

#include <vector>

#include "lethe/infra/errors.hpp"

namespace lethe::consumers {

namespace {

// The projection waits for these acknowledgements before it commits; a
// broker outage longer than this fails the batch, which is retried from the
// offsets in PostgreSQL, instead of blocking the projector deaf to SIGTERM.
// Set here, not taken from infra::producer_settings, whose timeout suits
// the relay (which may wait without a deadline).
constexpr const char* kDeliveryTimeoutMs = "120000";

// The reason header is cut here: a PostgreSQL error can quote the refused
// value, and a dead letter must stay within the broker's message limit
// like the message it carries.
constexpr std::size_t kMaxReasonBytes = 1024;

}  // namespace

DeadLetterSink::DeadLetterSink(const std::string& brokers, std::string topic, std::string projection,
                               std::string log_name)
    : topic_(std::move(topic)), projection_(std::move(projection)), log_name_(std::move(log_name)) {
  auto settings = infra::producer_settings(brokers);
  settings["message.timeout.ms"] = kDeliveryTimeoutMs;
  auto conf = infra::kafka_conf(settings);
  std::string err;
  if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&delivery_), err) != RdKafka::Conf::CONF_OK)
    throw infra::Misconfigured("dr_cb: " + err);
  producer_.reset(RdKafka::Producer::create(conf.get(), err));
  if (!producer_) throw infra::Misconfigured("dead-letter producer: " + err);
}

bool DeadLetterSink::all_sent(std::span<const DeadLetter> dead) const {
  for (const auto& d : dead)
    if (!sent_.contains(position_of(*d.message))) return false;
  return true;
}

void DeadLetterSink::send(std::span<const DeadLetter> dead) {
  delivery_.reset();
  std::vector<Position> handed;
  RdKafka::ErrorCode refused = RdKafka::ERR_NO_ERROR;
  for (const auto& d : dead) {
    const auto& m = *d.message;
    auto pos = position_of(m);
    if (sent_.contains(pos)) continue;
    spdlog::warn("{}: dead-lettering {}[{}]@{}: {}", log_name_, m.topic_name(), m.partition(), m.offset(), d.reason);
    auto* h = RdKafka::Headers::create();
    h->add("reason", d.reason.substr(0, kMaxReasonBytes));
    h->add("projection", projection_);
    h->add("source_topic", m.topic_name());
    h->add("source_partition", std::to_string(m.partition()));
    h->add("source_offset", std::to_string(m.offset()));
    refused = infra::produce_copy(*producer_, topic_, key_view(m), value_view(m), h);
    if (refused != RdKafka::ERR_NO_ERROR) break;
    handed.push_back(std::move(pos));
  }
  // Every report is awaited, even after a refusal, so that counters never
  // mix two calls.
  infra::await_reports(*producer_, delivery_, static_cast<std::int64_t>(handed.size()));
  if (refused != RdKafka::ERR_NO_ERROR) infra::throw_kafka(refused, "dead-letter to " + topic_);
  if (delivery_.failed) infra::throw_kafka(delivery_.first_error, "dead-letter delivery to " + topic_);
  sent_.insert(handed.begin(), handed.end());
}

}  // namespace lethe::consumers
