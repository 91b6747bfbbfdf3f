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
  for (std::string_view rest = fault; !rest.empty();) {
    const auto comma = rest.find(',');
    if (rest.substr(0, comma) == name) return true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return false;
}

Config Config::from_env() {
  return {env_or("LETHE_BROKERS", kDefaultBrokers), env_or("LETHE_PG", kDefaultPg),
          env_or("LETHE_TOPIC_PREFIX", kDefaultTopicPrefix)};
}

}  // namespace lethe::infra
