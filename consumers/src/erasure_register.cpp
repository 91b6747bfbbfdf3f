#include "lethe/consumers/erasure_register.hpp"

#include <spdlog/spdlog.h>

#include "erasure.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/kafka.hpp"

namespace lethe::consumers {

std::vector<domain::Envelope> erasures_on_topic(const infra::Config& cfg) {
  namespace erasure = domain::erasure;
  const auto topic = cfg.topic_prefix + std::string(erasure::UserErased::kTopic);
  auto consumer = infra::raw_reader(cfg.brokers, "erasure-register");
  std::vector<domain::Envelope> out;
  const auto read = infra::read_to_end(*consumer, {topic}, [&](RdKafka::Message& m) {
    const std::string_view value(static_cast<const char*>(m.payload()), m.len());
    auto env = domain::decode(value);
    if (!env)
      throw infra::Misconfigured(
          "the erasure topic " + topic + " holds a message that is not an envelope at partition " +
          std::to_string(m.partition()) + " offset " + std::to_string(m.offset()) + ": " + env.error().message);
    if (env.value().type == erasure::UserErased::kType) out.push_back(std::move(env).value());
  });
  consumer->close();
  spdlog::info("erasure register: {} erasures among {} messages on {}", out.size(), read, topic);
  return out;
}

}  // namespace lethe::consumers
