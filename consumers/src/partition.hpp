#pragma once
// Small vocabulary shared by the parts of the consumer runtime: which
// partition, where it stands in PostgreSQL, and what a message looks like
// to the fingerprint check.
#include <librdkafka/rdkafkacpp.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace lethe::consumers {

// (topic, partition)
using PartitionKey = std::pair<std::string, int>;

// A partition's position as stored in projection_offsets.
struct StoredOffset {
  std::int64_t next_offset = 0;  // the next message to apply
  std::string fingerprint;       // of the message at next_offset - 1; empty when unknown (stored before V004)
};

inline PartitionKey key_of(const RdKafka::Message& m) {
  return {m.topic_name(), m.partition()};
}

// "lethe.users[2]", for log lines and errors.
std::string describe(const PartitionKey& key);

// The message's key and value as views; a message without a key gives an
// empty view with a null data(), so it stays without one when copied.
std::string_view key_view(const RdKafka::Message& m);
std::string_view value_view(const RdKafka::Message& m);

// BLAKE2b-128 over the length-prefixed key and value, in hex: what is
// stored with an offset to recognise the message at that offset later.
std::string fingerprint(const RdKafka::Message& m);

}  // namespace lethe::consumers
