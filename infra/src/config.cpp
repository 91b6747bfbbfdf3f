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
  const char* f = std::getenv("LETHE_FAULT");
  return f && std::string_view(f) == name;
}

Config Config::from_env() {
  return {env_or("LETHE_BROKERS", kDefaultBrokers), env_or("LETHE_PG", kDefaultPg),
          env_or("LETHE_TOPIC_PREFIX", kDefaultTopicPrefix)};
}

}  // namespace lethe::infra
