#pragma once
// The topics lethe writes, created with their partitions and unlimited
// retention: the domain log is kept forever.
#include <string>
#include <vector>

namespace lethe::producers {

struct TopicSpec {
  std::string name;  // logical name; the physical one is prefix + name
  int partitions;
  std::string purpose;
};

const std::vector<TopicSpec>& topic_specs();

// Creates the missing topics (existing ones are left as they are). Returns
// the physical names created. Throws infra::Unavailable if no broker answers.
std::vector<std::string> create_topics(const std::string& brokers, const std::string& prefix,
                                       int partitions_override = 0);

}  // namespace lethe::producers
