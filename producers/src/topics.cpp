#include "lethe/producers/topics.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "lethe/infra/errors.hpp"
#include "lethe/infra/kafka.hpp"

namespace lethe::producers {

const std::vector<TopicSpec>& topic_specs() {
  static const std::vector<TopicSpec> all{
      {"users", 3, "user.* events: registered, profile changed, role changed"},
      {"tickets", 3, "ticket.* events"},
      {"shop", 3, "catalogue, inventory, carts and orders"},
      {"billing", 3, "billing profiles, subscriptions, transactions, credit notes"},
      {"content", 3, "posts and comments"},
      {"staff", 3, "restricted: staff-only data such as internal ticket notes"},
      {"dead-letters", 1, "events a projection could not apply, with reason and source offset in headers"},
  };
  return all;
}

std::vector<std::string> create_topics(const std::string& brokers, const std::string& prefix, int partitions_override) {
  // The C++ API has no admin client; the C API's CreateTopics is used on a
  // handle made from the same configuration.
  auto conf = infra::kafka_conf({{"bootstrap.servers", brokers}});
  std::string err;
  std::unique_ptr<RdKafka::Producer> handle(RdKafka::Producer::create(conf.get(), err));
  if (!handle) throw infra::Misconfigured("Kafka admin handle: " + err);
  infra::check_broker(*handle, brokers);
  rd_kafka_t* rk = handle->c_ptr();

  const auto& specs = topic_specs();
  std::vector<rd_kafka_NewTopic_t*> topics;
  char errstr[512];
  for (const auto& spec : specs) {
    const std::string name = prefix + spec.name;
    const int parts = partitions_override > 0 && spec.partitions > 1 ? partitions_override : spec.partitions;
    auto* t = rd_kafka_NewTopic_new(name.c_str(), parts, 1, errstr, sizeof errstr);
    if (!t) throw infra::Misconfigured("topic " + name + ": " + errstr);
    rd_kafka_NewTopic_set_config(t, "retention.ms", "-1");
    rd_kafka_NewTopic_set_config(t, "retention.bytes", "-1");
    topics.push_back(t);
  }
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(options, 15000, errstr, sizeof errstr);
  rd_kafka_CreateTopics(rk, topics.data(), topics.size(), options, queue);

  std::vector<std::string> created;
  std::string failure;
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, 30000);
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
        spdlog::info("topics: created {}", name);
      } else if (code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        spdlog::debug("topics: {} exists", name);
      } else if (failure.empty()) {
        failure = name + ": " + rd_kafka_err2str(code);
      }
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_queue_destroy(queue);
  for (auto* t : topics) rd_kafka_NewTopic_destroy(t);
  if (!failure.empty()) throw infra::Unavailable("create topics: " + failure);
  return created;
}

}  // namespace lethe::producers
