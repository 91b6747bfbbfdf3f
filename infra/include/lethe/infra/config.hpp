#pragma once
// Settings shared by every subcommand. Defaults come from the environment
// (LETHE_BROKERS, LETHE_PG, LETHE_TOPIC_PREFIX) or, failing that, the values
// scripts/kafka and scripts/postgres use; command-line flags override both.
#include <string>
#include <string_view>

namespace lethe::infra {

struct Config {
  std::string brokers;       // librdkafka bootstrap.servers
  std::string pg;            // libpq connection string
  std::string topic_prefix;  // physical topic = prefix + logical topic ("lethe." + "users")

  static Config from_env();
  std::string topic(std::string_view logical) const { return topic_prefix + std::string(logical); }
};

// A test hook: whether LETHE_FAULT names `name` (it holds one name or
// several, comma-separated). Fault tests set it to make a process die or
// freeze at one chosen point, or to break one guarantee for its negative
// control (the hooks are listed where they fire: producers/src/relay.cpp,
// consumers/src/batch_applier.cpp). Never set in production.
bool fault_injected(std::string_view name);

inline constexpr const char* kDefaultBrokers = "127.0.0.1:19092";
inline constexpr const char* kDefaultPg = "postgresql://postgres@127.0.0.1:55432/lethe";
inline constexpr const char* kDefaultTopicPrefix = "lethe.";

}  // namespace lethe::infra
