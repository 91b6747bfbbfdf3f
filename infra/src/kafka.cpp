#include "lethe/infra/kafka.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "lethe/infra/errors.hpp"

namespace lethe::infra {

std::unique_ptr<RdKafka::Conf> kafka_conf(const std::map<std::string, std::string>& settings) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  for (const auto& [k, v] : settings) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK)
      throw Misconfigured("Kafka setting " + k + "=" + v + " rejected: " + err);
  }
  if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(&kafka_log_bridge()), err) != RdKafka::Conf::CONF_OK)
    throw Misconfigured("Kafka event_cb rejected: " + err);
  return conf;
}

std::map<std::string, std::string> producer_settings(const std::string& brokers) {
  return {
      {"bootstrap.servers", brokers},
      {"enable.idempotence", "true"},  // implies acks=all, retries, in-order per partition
      {"acks", "all"},
      {"linger.ms", "5"},
      {"batch.num.messages", "10000"},
      {"queue.buffering.max.messages", "500000"},
      {"queue.buffering.max.kbytes", std::to_string(kProducerQueueKBytes)},
      {"message.max.bytes", std::to_string(kMaxMessageBytes)},
      {"compression.codec", "lz4"},
      // The Java client's partitioner: a key lands on the same partition
      // whichever client wrote it.
      {"partitioner", "murmur2_random"},
      // No deadline: see producer_settings() in kafka.hpp. The outbox is
      // durable, so waiting for the broker loses nothing.
      {"message.timeout.ms", "0"},
  };
}

void check_broker(RdKafka::Handle& handle, const std::string& brokers, int timeout_ms) {
  RdKafka::Metadata* md = nullptr;
  const auto code = handle.metadata(true, nullptr, &md, timeout_ms);
  std::unique_ptr<RdKafka::Metadata> owned(md);
  if (code != RdKafka::ERR_NO_ERROR) {
    throw Unavailable("Kafka broker unreachable at " + brokers + " (" + RdKafka::err2str(code) +
                      "): is it running? Start it with scripts/kafka start, or set LETHE_BROKERS / --brokers");
  }
}

namespace {

using PartitionId = std::pair<std::string, std::int32_t>;

constexpr auto kReadStallLimit = std::chrono::seconds(60);
constexpr auto kDeliveryWaitWarning = std::chrono::seconds(15);

// Owns what librdkafka's assign() borrows.
struct OwnedPartitions {
  std::vector<RdKafka::TopicPartition*> list;
  ~OwnedPartitions() { RdKafka::TopicPartition::destroy(list); }
};

bool transient_leadership(RdKafka::ErrorCode code) {
  return code == RdKafka::ERR_NOT_LEADER_FOR_PARTITION || code == RdKafka::ERR_LEADER_NOT_AVAILABLE ||
         code == RdKafka::ERR_REQUEST_TIMED_OUT || code == RdKafka::ERR__TRANSPORT;
}

// Assigns every non-empty partition of the topics from its earliest offset;
// returns the end offset (high watermark) of each, read now.
std::map<PartitionId, std::int64_t> assign_from_start(RdKafka::KafkaConsumer& consumer,
                                                      const std::vector<std::string>& topics) {
  std::map<PartitionId, std::int64_t> end;
  OwnedPartitions assignment;
  for (const auto& topic : topics) {
    std::string err;
    std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(&consumer, topic, nullptr, err));
    if (!t) throw Misconfigured("Kafka topic " + topic + ": " + err);
    RdKafka::Metadata* md = nullptr;
    const auto code = consumer.metadata(false, t.get(), &md, 10000);
    std::unique_ptr<RdKafka::Metadata> owned(md);
    if (code != RdKafka::ERR_NO_ERROR) throw_kafka(code, "metadata of " + topic);
    for (const auto* tm : *md->topics()) {
      // A topic not created yet holds nothing; any other trouble must not
      // pass for an empty topic.
      if (tm->err() == RdKafka::ERR_UNKNOWN_TOPIC_OR_PART) {
        spdlog::warn("Kafka: topic {} does not exist; taken as empty", topic);
        continue;
      }
      if (tm->err() != RdKafka::ERR_NO_ERROR) throw_kafka(tm->err(), "metadata of " + topic);
      for (const auto* pm : *tm->partitions()) {
        std::int64_t low = 0, high = 0;
        // Leadership that is still settling (a topic just created, a broker
        // just restarted) answers "not leader" for a moment: asked again.
        auto wc = consumer.query_watermark_offsets(topic, pm->id(), &low, &high, 10000);
        for (int retry = 0; retry < 50 && transient_leadership(wc); ++retry) {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          wc = consumer.query_watermark_offsets(topic, pm->id(), &low, &high, 10000);
        }
        if (wc != RdKafka::ERR_NO_ERROR) throw_kafka(wc, "end offsets of " + topic);
        if (high <= low) continue;
        end[{topic, pm->id()}] = high;
        assignment.list.push_back(RdKafka::TopicPartition::create(topic, pm->id(), low));
      }
    }
  }
  if (!end.empty()) {
    const auto assigned = consumer.assign(assignment.list);
    if (assigned != RdKafka::ERR_NO_ERROR) throw_kafka(assigned, "assign");
  }
  return end;
}

}  // namespace

std::map<TopicPartitionKey, std::optional<std::int64_t>> offsets_at(RdKafka::Handle& handle,
                                                                    const std::vector<TopicPartitionKey>& keys,
                                                                    std::int64_t which, int timeout_ms) {
  OwnedPartitions asked;
  for (const auto& [topic, partition] : keys)
    asked.list.push_back(RdKafka::TopicPartition::create(topic, partition, which));
  const bool answered = !asked.list.empty() && handle.offsetsForTimes(asked.list, timeout_ms) == RdKafka::ERR_NO_ERROR;
  std::map<TopicPartitionKey, std::optional<std::int64_t>> out;
  for (const auto* p : asked.list)
    out[{p->topic(), p->partition()}] =
        answered && p->err() == RdKafka::ERR_NO_ERROR && p->offset() >= 0 ? std::optional(p->offset()) : std::nullopt;
  return out;
}

std::unique_ptr<RdKafka::KafkaConsumer> raw_reader(const std::string& brokers, const std::string& purpose) {
  auto conf = kafka_conf({
      {"bootstrap.servers", brokers},
      {"group.id", "lethe-" + purpose + "-" + std::to_string(::getpid())},  // never joined: partitions are assigned
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      // The end of a partition shows even when its last offsets hold no
      // message (compacted away, or transaction markers).
      {"enable.partition.eof", "true"},
      {"queued.max.messages.kbytes", "16384"},  // bounds the prefetch queue
  });
  std::string err;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!consumer) throw Misconfigured("Kafka consumer: " + err);
  check_broker(*consumer, brokers);
  return consumer;
}

std::vector<std::string> topics_with_prefix(RdKafka::Handle& handle, const std::string& prefix, int timeout_ms) {
  RdKafka::Metadata* md = nullptr;
  const auto code = handle.metadata(true, nullptr, &md, timeout_ms);
  std::unique_ptr<RdKafka::Metadata> owned(md);
  if (code != RdKafka::ERR_NO_ERROR) throw_kafka(code, "list of topics");
  std::vector<std::string> names;
  for (const auto* tm : *md->topics())
    if (tm->topic().starts_with(prefix)) names.push_back(tm->topic());
  std::sort(names.begin(), names.end());
  return names;
}

std::int64_t read_to_end(RdKafka::KafkaConsumer& consumer, const std::vector<std::string>& topics,
                         const std::function<void(RdKafka::Message&)>& on_message) {
  auto end = assign_from_start(consumer, topics);
  std::int64_t read = 0;
  auto last_message = std::chrono::steady_clock::now();
  while (!end.empty()) {
    std::unique_ptr<RdKafka::Message> m(consumer.consume(500));
    if (m->err() == RdKafka::ERR__TIMED_OUT) {
      if (std::chrono::steady_clock::now() - last_message > kReadStallLimit)
        throw Unavailable("no message from Kafka for " + std::to_string(kReadStallLimit.count()) + " s with " +
                          std::to_string(end.size()) + " partitions unread to their end");
      continue;
    }
    if (m->err() == RdKafka::ERR__PARTITION_EOF) {  // not an error: this partition is read
      end.erase({m->topic_name(), m->partition()});
      continue;
    }
    if (m->err() != RdKafka::ERR_NO_ERROR) throw_kafka(m->err(), "reading " + m->topic_name());
    last_message = std::chrono::steady_clock::now();
    const auto e = end.find({m->topic_name(), m->partition()});
    if (e == end.end()) continue;  // prefetched after its partition was done
    // After a gap in the offsets, the next message may lie past the end:
    // it was appended since the start.
    const bool past_end = m->offset() >= e->second;
    if (m->offset() + 1 >= e->second) end.erase(e);
    if (past_end) continue;
    ++read;
    on_message(*m);
  }
  consumer.unassign();
  return read;
}

void throw_kafka(RdKafka::ErrorCode code, const std::string& what) {
  const std::string msg = what + ": " + RdKafka::err2str(code);
  switch (code) {
    case RdKafka::ERR__TRANSPORT:
    case RdKafka::ERR__ALL_BROKERS_DOWN:
    case RdKafka::ERR__TIMED_OUT:
    case RdKafka::ERR__MSG_TIMED_OUT:
    case RdKafka::ERR_REQUEST_TIMED_OUT:
    case RdKafka::ERR_NOT_LEADER_FOR_PARTITION:
    case RdKafka::ERR_LEADER_NOT_AVAILABLE:
    case RdKafka::ERR__QUEUE_FULL:
    case RdKafka::ERR_NOT_ENOUGH_REPLICAS:
      throw Unavailable(msg + " (is scripts/kafka running?)");
    case RdKafka::ERR_UNKNOWN_TOPIC_OR_PART:
    case RdKafka::ERR__UNKNOWN_TOPIC:
      throw Misconfigured(msg + " (run `lethe topics create`)");
    default:
      throw InfraError(msg, false);
  }
}

void DeliveryReports::dr_cb(RdKafka::Message& m) {
  if (m.err() == RdKafka::ERR_NO_ERROR) {
    ++ok;
    return;
  }
  if (failed++ == 0) first_error = m.err();
  failures.push_back({reinterpret_cast<std::intptr_t>(m.msg_opaque()), m.err()});
}

std::optional<std::string_view> header_of(const RdKafka::Message& m, const char* name) {
  // The C handle's lookup gives a pointer into the message, where the C++
  // Headers would copy every header first. (c_ptr() is not const; the
  // lookup only parses the headers once, lazily.)
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(const_cast<RdKafka::Message&>(m).c_ptr(), &headers) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return std::nullopt;
  const void* value = nullptr;
  std::size_t size = 0;
  if (rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR || !value)
    return std::nullopt;
  return std::string_view(static_cast<const char*>(value), size);
}

bool is_permanent_message_error(RdKafka::ErrorCode code) noexcept {
  switch (code) {
    case RdKafka::ERR_MSG_SIZE_TOO_LARGE:
    case RdKafka::ERR_RECORD_LIST_TOO_LARGE:
    case RdKafka::ERR_INVALID_RECORD:
    case RdKafka::ERR_INVALID_MSG:
    case RdKafka::ERR_INVALID_MSG_SIZE:
    case RdKafka::ERR_POLICY_VIOLATION:
      return true;
    default:
      return false;
  }
}

RdKafka::ErrorCode produce_copy(RdKafka::Producer& producer, const std::string& topic, std::string_view key,
                                std::string_view value, RdKafka::Headers* headers, std::intptr_t tag) {
  for (;;) {
    const auto code = producer.produce(topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                                       const_cast<char*>(value.data()), value.size(), key.data(), key.size(), 0,
                                       headers, reinterpret_cast<void*>(tag));
    if (code == RdKafka::ERR_NO_ERROR) return code;  // librdkafka owns the headers now
    if (code != RdKafka::ERR__QUEUE_FULL) {
      delete headers;
      return code;
    }
    producer.poll(50);  // local queue full: let deliveries drain
  }
}

bool await_settled(RdKafka::Producer& producer, const std::function<std::int64_t()>& settled, std::int64_t handed,
                   const std::atomic<bool>* stop, std::chrono::steady_clock::time_point deadline) {
  // Messages never time out (message.timeout.ms 0), so a broker that takes
  // them and never answers would hold this loop silently: it says so.
  const auto started = std::chrono::steady_clock::now();
  auto next_warning = started + kDeliveryWaitWarning;
  while (settled() < handed) {
    if (stop && stop->load()) return false;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    producer.poll(20);
    if (now >= next_warning) {
      next_warning = now + kDeliveryWaitWarning;
      spdlog::warn(
          "Kafka: {} of {} messages unacknowledged after {} s ({} still in the producer's queue); waiting for the "
          "broker",
          handed - settled(), handed, std::chrono::duration_cast<std::chrono::seconds>(now - started).count(),
          producer.outq_len());
    }
  }
  return true;
}

bool await_reports(RdKafka::Producer& producer, const DeliveryReports& reports, std::int64_t handed,
                   const std::atomic<bool>* stop) {
  return await_settled(
      producer, [&] { return reports.settled(); }, handed, stop);
}

void KafkaLogBridge::event_cb(RdKafka::Event& event) {
  switch (event.type()) {
    case RdKafka::Event::EVENT_LOG:
      // librdkafka retries connections itself; its per-attempt lines are
      // debug detail. lethe reports the outcome (check_broker, delivery).
      spdlog::debug("librdkafka {}: {}", event.fac(), event.str());
      break;
    case RdKafka::Event::EVENT_ERROR:
      if (event.fatal()) {
        spdlog::error("librdkafka fatal: {}", event.str());
      } else if (event.err() == RdKafka::ERR__ALL_BROKERS_DOWN) {
        // Worth an operator's attention, but once per outage, not per retry.
        const std::int64_t now =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
                .count();
        auto last = last_down_warning_ms_.load();
        if (now - last > 10000 && last_down_warning_ms_.compare_exchange_strong(last, now))
          spdlog::warn("Kafka: all brokers down ({}); retrying. Is scripts/kafka running?", event.str());
      } else {
        spdlog::debug("librdkafka: {} ({})", RdKafka::err2str(event.err()), event.str());
      }
      break;
    default:
      break;
  }
}

KafkaLogBridge& kafka_log_bridge() {
  static KafkaLogBridge bridge;
  return bridge;
}

}  // namespace lethe::infra
