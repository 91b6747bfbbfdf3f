#pragma once
// The dead-letter topic of a projection: messages it cannot apply go there,
// with the reason and their source in headers (reason, projection,
// source_topic, source_partition, source_offset). send() returns only once
// the broker has acknowledged every one, so that the offsets passing them
// may commit: nothing disappears between the two.
#include <cstdint>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <tuple>

#include "lethe/infra/kafka.hpp"
#include "partition.hpp"

namespace lethe::consumers {

struct DeadLetter {
  const RdKafka::Message* message;
  std::string reason;
};

class DeadLetterSink {
 public:
  // log_name prefixes log lines (the consumer group).
  DeadLetterSink(const std::string& brokers, std::string topic, std::string projection, std::string log_name);

  // Sends the dead letters not sent since the last forget_sent() and waits
  // for their acknowledgements. Throws the infra error that fits when the
  // broker refuses one. Call it with no PostgreSQL transaction open.
  void send(std::span<const DeadLetter> dead);

  // True when every one of them was acknowledged since the last forget_sent().
  bool all_sent(std::span<const DeadLetter> dead) const;

  // A new batch: what was sent for the last one is forgotten. Within a batch
  // a message is sent once, however often the batch is split and applied
  // again.
  void forget_sent() { sent_.clear(); }

 private:
  using Position = std::tuple<std::string, int, std::int64_t>;
  static Position position_of(const RdKafka::Message& m) { return {m.topic_name(), m.partition(), m.offset()}; }

  std::string topic_, projection_, log_name_;
  infra::DeliveryReports delivery_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::set<Position> sent_;
};

}  // namespace lethe::consumers
