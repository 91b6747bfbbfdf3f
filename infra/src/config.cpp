#include "lethe/infra/config.hpp"

#include <cstdlib>

namespace lethe::infra {

namespace {
std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : fallback;
}
}  // namespace

bool fault_injected(std::string_view name) {
  // Read once: the projector asks per batch.
  static const std::string fault = env_or("LETHE_FAULT", "");
  return !fault.empty() && fault == name;
}

Config Config::from_env() {
  return {env_or("LETHE_BROKERS", kDefaultBrokers), env_or("LETHE_PG", kDefaultPg),
          env_or("LETHE_TOPIC_PREFIX", kDefaultTopicPrefix)};
}

}  // namespace lethe::infra
