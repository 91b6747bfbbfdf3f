#pragma once
// The partitions assigned to this runner and what each must apply next, as
// PostgreSQL says. It also proves, on every assignment, that the log is the
// one those offsets were taken from: it seeks to the last message applied
// (next - 1), compares that message with the fingerprint stored beside the
// offset, and only then lets the partition go on. A topic deleted and
// recreated while the projector was down fails this check instead of having
// its first events skipped as "applied before".
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "partition.hpp"

namespace lethe::consumers {

class Assignment {
 public:
  // log_name prefixes errors (the consumer group); projection names the
  // repair command in them.
  Assignment(std::string log_name, std::string projection)
      : log_name_(std::move(log_name)), projection_(std::move(projection)) {}

  // Points p where reading must start and records the partition: at
  // next - 1 when a fingerprint is stored (that message is checked, then
  // skipped), at next when none is, at the beginning when nothing is
  // stored. Returns the next offset to apply, or -1 for the beginning.
  // Throws infra::Misconfigured if the log no longer holds that position.
  std::int64_t place(RdKafka::KafkaConsumer& consumer, RdKafka::TopicPartition& p,
                     const std::map<PartitionKey, StoredOffset>& stored);

  // A message just consumed: if it is the one its partition must be checked
  // against, compares the fingerprint and returns true (it was applied
  // before and was read only for this check). Throws infra::Misconfigured
  // when it differs, or when the partition's log starts past the message
  // expected.
  bool check(const RdKafka::Message& m);

  // The next offset to apply on a partition (-1: from its beginning), or
  // nothing when the partition is not assigned to us.
  std::optional<std::int64_t> next(const PartitionKey& key) const;
  void advance(const PartitionKey& key, std::int64_t next_offset) { next_[key] = next_offset; }
  // The epochs this runner claimed its partitions at (OffsetStore::claim),
  // and those of some of them: 0 for one not claimed.
  void claimed(const std::map<PartitionKey, std::int64_t>& epochs);
  std::map<PartitionKey, std::int64_t> epochs_of(const std::vector<PartitionKey>& keys) const;
  // Every assigned partition and the next offset to apply there.
  const std::map<PartitionKey, std::int64_t>& positions() const { return next_; }
  void revoke(const PartitionKey& key);
  void clear();
  bool empty() const { return next_.empty(); }

  // Sum over assigned partitions of (end of log - next offset to apply).
  // exact asks the broker (-1 if it does not answer); otherwise the last
  // fetched watermarks are used.
  std::int64_t lag(RdKafka::KafkaConsumer& consumer, bool exact) const;
  // The same per partition; with exact, nothing when the broker does not
  // answer for one of them. Without, partitions with no watermark yet are
  // left out.
  std::optional<std::map<PartitionKey, std::int64_t>> lags(RdKafka::KafkaConsumer& consumer, bool exact) const;

  // The assigned partitions one after another, round and round (nothing
  // when none is assigned).
  std::optional<PartitionKey> next_in_turn();

 private:
  [[noreturn]] void refuse(const PartitionKey& key, const std::string& what) const;

  std::string log_name_, projection_;
  std::map<PartitionKey, std::int64_t> next_;
  std::map<PartitionKey, std::int64_t> epochs_;
  // Partitions whose message at next - 1 has not been read back yet, with
  // the fingerprint it must have.
  std::map<PartitionKey, std::string> unchecked_;
  PartitionKey last_in_turn_;
};

}  // namespace lethe::consumers
