#include "lethe/producers/topics.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <set>
#include <thread>

#include "lethe/domain/registry.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/kafka.hpp"

namespace lethe::producers {

const std::vector<TopicSpec>& topic_specs() {
  static const std::vector<TopicSpec> all = [] {
    std::vector<TopicSpec> out;
    for (const auto& t : domain::topics()) out.push_back({std::string(t.name), t.partitions, std::string(t.purpose)});
    return out;
  }();
  return all;
}

namespace {

// An admin handle: the C++ API has no admin client, so the C API's calls are
// made on a producer handle built from the same configuration.
std::unique_ptr<RdKafka::Producer> admin_handle(const std::string& brokers) {
  auto conf = infra::kafka_conf({{"bootstrap.servers", brokers}});
  std::string err;
  std::unique_ptr<RdKafka::Producer> handle(RdKafka::Producer::create(conf.get(), err));
  if (!handle) throw infra::Misconfigured("Kafka admin handle: " + err);
  infra::check_broker(*handle, brokers);
  return handle;
}

int broker_count(RdKafka::Handle& handle) {
  RdKafka::Metadata* md = nullptr;
  if (handle.metadata(true, nullptr, &md, 10000) != RdKafka::ERR_NO_ERROR) return -1;
  std::unique_ptr<RdKafka::Metadata> owned(md);
  return static_cast<int>(md->brokers()->size());
}

// Waits for an admin result event; the caller destroys it. Null on timeout.
rd_kafka_event_t* await_admin(rd_kafka_queue_t* queue) {
  return rd_kafka_queue_poll(queue, 30000);
}

// Waits until the broker's metadata lists every topic named with a leader
// for each of its partitions: the controller answers CreateTopics before
// the brokers' metadata caches hold the new topics, and a caller (the relay,
// a test) may use them at once. Throws infra::Unavailable after 30 s.
void await_leaders(RdKafka::Handle& handle, const std::vector<std::string>& names) {
  if (names.empty()) return;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    std::set<std::string> ready;
    RdKafka::Metadata* md = nullptr;
    if (handle.metadata(true, nullptr, &md, 5000) == RdKafka::ERR_NO_ERROR) {
      std::unique_ptr<RdKafka::Metadata> owned(md);
      for (const auto* t : *md->topics()) {
        const auto& parts = *t->partitions();
        const bool led = t->err() == RdKafka::ERR_NO_ERROR && !parts.empty() &&
                         std::all_of(parts.begin(), parts.end(), [](const auto* p) { return p->leader() >= 0; });
        if (led) ready.insert(t->topic());
      }
    }
    if (std::all_of(names.begin(), names.end(), [&](const std::string& n) { return ready.contains(n); })) return;
    if (std::chrono::steady_clock::now() > deadline)
      throw infra::Unavailable("create topics: the broker did not list every new topic with its leaders within 30 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

std::vector<std::string> create_topics(const std::string& brokers, const std::string& prefix,
                                       const TopicOptions& options) {
  if (options.replication_factor < 1 || options.min_insync_replicas < 1 ||
      options.min_insync_replicas > options.replication_factor)
    throw infra::Misconfigured("topics: need 1 <= min.insync.replicas (" + std::to_string(options.min_insync_replicas) +
                               ") <= replication factor (" + std::to_string(options.replication_factor) + ")");
  auto handle = admin_handle(brokers);
  if (const int brokers_up = broker_count(*handle); brokers_up > 0 && brokers_up < options.replication_factor)
    throw infra::Misconfigured("topics: replication factor " + std::to_string(options.replication_factor) +
                               " needs as many brokers, the cluster at " + brokers + " has " +
                               std::to_string(brokers_up) +
                               "; a single local broker takes --replication-factor 1 --min-insync-replicas 1");
  rd_kafka_t* rk = handle->c_ptr();

  const auto& specs = topic_specs();
  std::vector<rd_kafka_NewTopic_t*> topics;
  char errstr[512];
  const std::string min_isr = std::to_string(options.min_insync_replicas);
  for (const auto& spec : specs) {
    const std::string name = prefix + spec.name;
    const int parts =
        options.partitions_override > 0 && spec.partitions > 1 ? options.partitions_override : spec.partitions;
    auto* t = rd_kafka_NewTopic_new(name.c_str(), parts, options.replication_factor, errstr, sizeof errstr);
    if (!t) throw infra::Misconfigured("topic " + name + ": " + errstr);
    rd_kafka_NewTopic_set_config(t, "retention.ms", "-1");
    rd_kafka_NewTopic_set_config(t, "retention.bytes", "-1");
    rd_kafka_NewTopic_set_config(t, "min.insync.replicas", min_isr.c_str());
    for (const auto& [key, value] : options.config) rd_kafka_NewTopic_set_config(t, key.c_str(), value.c_str());
    topics.push_back(t);
  }
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* admin = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(admin, 15000, errstr, sizeof errstr);
  rd_kafka_CreateTopics(rk, topics.data(), topics.size(), admin, queue);

  std::vector<std::string> created;
  std::string failure;
  rd_kafka_event_t* ev = await_admin(queue);
  if (!ev) {
    failure = "no answer to CreateTopics within 30 s";
  } else if (rd_kafka_event_error(ev)) {
    failure = rd_kafka_event_error_string(ev);
  } else {
    const auto* result = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const auto** results = rd_kafka_CreateTopics_result_topics(result, &n);
    for (size_t i = 0; i < n; ++i) {
      const auto code = rd_kafka_topic_result_error(results[i]);
      const std::string name = rd_kafka_topic_result_name(results[i]);
      if (code == RD_KAFKA_RESP_ERR_NO_ERROR) {
        created.push_back(name);
        spdlog::info("topics: created {} (replication factor {}, min.insync.replicas {})", name,
                     options.replication_factor, options.min_insync_replicas);
      } else if (code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        spdlog::debug("topics: {} exists", name);
      } else if (failure.empty()) {
        failure = name + ": " + rd_kafka_err2str(code);
      }
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(admin);
  rd_kafka_queue_destroy(queue);
  for (auto* t : topics) rd_kafka_NewTopic_destroy(t);
  if (!failure.empty()) throw infra::Unavailable("create topics: " + failure);
  await_leaders(*handle, created);
  return created;
}

void delete_topics(const std::string& brokers, const std::vector<std::string>& names) {
  if (names.empty()) return;
  auto handle = admin_handle(brokers);
  rd_kafka_t* rk = handle->c_ptr();
  std::vector<rd_kafka_DeleteTopic_t*> topics;
  for (const auto& n : names) topics.push_back(rd_kafka_DeleteTopic_new(n.c_str()));
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  char errstr[512];
  rd_kafka_AdminOptions_t* admin = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(admin, 15000, errstr, sizeof errstr);
  rd_kafka_DeleteTopics(rk, topics.data(), topics.size(), admin, queue);
  std::string failure;
  rd_kafka_event_t* ev = await_admin(queue);
  if (!ev) {
    failure = "no answer to DeleteTopics within 30 s";
  } else if (rd_kafka_event_error(ev)) {
    failure = rd_kafka_event_error_string(ev);
  } else {
    size_t n = 0;
    const auto** results = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
    for (size_t i = 0; i < n; ++i) {
      const auto code = rd_kafka_topic_result_error(results[i]);
      if (code == RD_KAFKA_RESP_ERR_NO_ERROR)
        spdlog::info("topics: deleted {}", rd_kafka_topic_result_name(results[i]));
      else if (code != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART && failure.empty())
        failure = std::string(rd_kafka_topic_result_name(results[i])) + ": " + rd_kafka_err2str(code);
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(admin);
  rd_kafka_queue_destroy(queue);
  for (auto* t : topics) rd_kafka_DeleteTopic_destroy(t);
  if (!failure.empty()) throw infra::Unavailable("delete topics: " + failure);
}

}  // namespace lethe::producers
