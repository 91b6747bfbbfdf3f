#pragma once
// The topics lethe writes, created with their partitions and unlimited
// retention: the domain log is kept forever.
#include <map>
#include <string>
#include <vector>

namespace lethe::producers {

struct TopicSpec {
  std::string name;  // logical name; the physical one is prefix + name
  int partitions;
  std::string purpose;
};

// Every topic of the domain registry (domain::topics()), as created here.
const std::vector<TopicSpec>& topic_specs();

// How topics are created. The defaults are production's: three replicas, and
// a write is acknowledged once two of them hold it (acks=all), so one broker
// can be lost without losing or refusing writes. A single local broker needs
// 1 and 1 (scripts/ and the tests pass them).
struct TopicOptions {
  int partitions_override = 0;  // 0: each topic's own count (topic_specs)
  int replication_factor = 3;
  int min_insync_replicas = 2;
  std::map<std::string, std::string> config;  // further topic settings, e.g. compression.type
};

// Creates the missing topics (existing ones are left as they are). Returns
// the physical names created. Throws infra::Unavailable if no broker answers,
// infra::Misconfigured if the cluster has fewer brokers than replicas asked.
std::vector<std::string> create_topics(const std::string& brokers, const std::string& prefix,
                                       const TopicOptions& options = {});

// Deletes the named physical topics (for tests and for an operator who
// rebuilds a topic with `lethe republish`). Missing topics are not an error.
void delete_topics(const std::string& brokers, const std::vector<std::string>& topics);

}  // namespace lethe::producers
