#include "publisher.hpp"

#include <spdlog/spdlog.h>

#include "lethe/infra/errors.hpp"

namespace lethe::producers {

namespace {

struct Header {
  const char* name;
  std::string value;
};

// The headers of every event message, in one place.
std::vector<Header> headers_of(const domain::Envelope& e) {
  return {{infra::kTypeHeader, e.type}, {"schema_version", std::to_string(e.schema_version)}, {"event_id", e.event_id}};
}

}  // namespace

std::size_t message_size(const domain::Envelope& e) {
  std::size_t n = domain::encode(e).size() + e.stream_id.size();
  for (const auto& h : headers_of(e)) n += std::string_view(h.name).size() + h.value.size();
  return n;
}

Publisher::Publisher(const std::string& brokers, std::string topic_prefix) : topic_prefix_(std::move(topic_prefix)) {
  auto conf = infra::kafka_conf(infra::producer_settings(brokers));
  std::string err;
  if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&delivery_), err) != RdKafka::Conf::CONF_OK)
    throw infra::Misconfigured("dr_cb: " + err);
  producer_.reset(RdKafka::Producer::create(conf.get(), err));
  if (!producer_) throw infra::Misconfigured("Kafka producer: " + err);
  infra::check_broker(*producer_, brokers);
}

Publisher::~Publisher() {
  if (producer_) producer_->flush(5000);
}

void Publisher::flush(int timeout_ms) {
  producer_->flush(timeout_ms);
}

namespace {

constexpr std::intptr_t tag_of(std::uint64_t page, std::size_t index) {
  return static_cast<std::intptr_t>(((page & 0x7fffffffU) << 32) | (index & 0xffffffffU));
}

}  // namespace

void Publisher::PageReports::dr_cb(RdKafka::Message& m) {
  const auto tag = reinterpret_cast<std::intptr_t>(m.msg_opaque());
  const auto it = pages.find(static_cast<std::uint64_t>(tag) >> 32);
  if (it == pages.end()) return;  // a page forgotten
  ++it->second.settled;
  if (m.err() != RdKafka::ERR_NO_ERROR)
    it->second.failures.push_back({static_cast<std::intptr_t>(tag & 0xffffffff), m.err()});
}

SentPage Publisher::send(std::span<const OutboxEntry> entries) {
  SentPage sent;
  sent.page = next_page_++ & 0x7fffffffU;
  delivery_.pages[sent.page] = {};
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i].envelope;
    const std::string topic = topic_prefix_ + entries[i].topic;
    auto* headers = RdKafka::Headers::create();
    for (const auto& h : headers_of(e)) headers->add(h.name, h.value);
    const auto code =
        infra::produce_copy(*producer_, topic, e.stream_id, domain::encode(e), headers, tag_of(sent.page, i));
    if (code == RdKafka::ERR_NO_ERROR) {
      ++sent.handed;
    } else if (infra::is_permanent_message_error(code)) {
      // Refused before it left: only this message, its neighbours go on.
      sent.outcome.refused.emplace_back(i, "producer refused it: " + RdKafka::err2str(code));
    } else if (code == RdKafka::ERR__UNKNOWN_TOPIC || code == RdKafka::ERR_UNKNOWN_TOPIC_OR_PART) {
      forget_all();
      infra::throw_kafka(code, "relay: produce to " + topic);
    } else {
      sent.outcome.retry_reason = "produce " + e.event_id + " to " + topic + ": " + RdKafka::err2str(code);
      break;
    }
  }
  return sent;
}

void Publisher::purge() {
  producer_->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
  forget_all();
}

void Publisher::forget_all() {
  delivery_.pages.clear();
}

PublishOutcome Publisher::settle(SentPage& sent, const std::atomic<bool>& stop,
                                 std::chrono::steady_clock::time_point deadline) {
  auto outcome = std::move(sent.outcome);
  auto& tally = delivery_.pages[sent.page];
  if (!infra::await_settled(
          *producer_, [&] { return tally.settled; }, sent.handed, &stop, deadline)) {
    spdlog::warn("relay: stopping with {} deliveries unconfirmed; they stay in the outbox",
                 sent.handed - tally.settled);
    purge();
    producer_->flush(2000);
    outcome.stopped = true;
    return outcome;
  }
  const auto failures = std::move(tally.failures);
  delivery_.pages.erase(sent.page);
  for (const auto& f : failures) {
    if (f.code == RdKafka::ERR__FATAL) {
      // The idempotent producer lost its guarantees (e.g. the broker lost
      // acknowledged data); only a new producer may go on, after a look.
      std::string reason;
      const auto fatal = producer_->fatal_error(reason);
      throw infra::InfraError("relay: fatal producer error " + RdKafka::err2str(fatal) + ": " + reason +
                                  "; restart the relay (the outbox keeps everything unpublished)",
                              false);
    }
    if (f.code == RdKafka::ERR__UNKNOWN_TOPIC || f.code == RdKafka::ERR_UNKNOWN_TOPIC_OR_PART)
      infra::throw_kafka(f.code, "relay: delivery");
    if (infra::is_permanent_message_error(f.code))
      outcome.refused.emplace_back(static_cast<std::size_t>(f.tag), "broker refused it: " + RdKafka::err2str(f.code));
    else if (outcome.retry_reason.empty())
      outcome.retry_reason = RdKafka::err2str(f.code);
  }
  if (!outcome.retry_reason.empty()) outcome.refused.clear();  // the whole page goes again
  return outcome;
}

PublishOutcome Publisher::publish(std::span<const OutboxEntry> entries, const std::atomic<bool>& stop) {
  auto sent = send(entries);
  return settle(sent, stop);
}

}  // namespace lethe::producers
