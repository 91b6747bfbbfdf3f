#include "assignment.hpp"

#include <algorithm>
#include <atomic>

#include "lethe/consumers/runner.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/kafka.hpp"

namespace lethe::consumers {

void Assignment::refuse(const PartitionKey& key, const std::string& what) const {
  throw infra::Misconfigured(log_name_ + ": " + describe(key) + " " + what +
                             ": the topic was deleted and recreated, or the broker reset, since the offsets "
                             "stored in PostgreSQL were taken. Nothing was applied from it. Rebuild the read "
                             "model with `lethe project " +
                             projection_ + " --replay`");
}

std::atomic<bool> negative_control_trust_offsets{false};

std::int64_t Assignment::place(RdKafka::KafkaConsumer& consumer, RdKafka::TopicPartition& p,
                               const std::map<PartitionKey, StoredOffset>& stored) {
  const PartitionKey key{p.topic(), p.partition()};
  unchecked_.erase(key);
  const auto it = stored.find(key);
  const std::int64_t next = it == stored.end() ? -1 : it->second.next_offset;
  const bool trust = negative_control_trust_offsets.load(std::memory_order_relaxed);
  const bool check = next > 0 && !it->second.fingerprint.empty() && !trust;
  int64_t low = -1, high = 0;
  // Asked for a partition never applied too: starting at its first offset
  // rather than at "the beginning" spares librdkafka a lookup whose answer
  // its fetcher may notice only a second later (see FetchWaker).
  if (consumer.query_watermark_offsets(key.first, key.second, &low, &high, 10000) != RdKafka::ERR_NO_ERROR) {
    low = -1;
  } else if (next > 0 && !trust) {
    // Everything new would be skipped as "applied before".
    if (next > high)
      refuse(key, "ends at offset " + std::to_string(high) + ", before the stored offset " + std::to_string(next));
    if (check && low > next - 1)
      refuse(key, "now starts at offset " + std::to_string(low) + ", past the last message applied (" +
                      std::to_string(next - 1) + ")");
  }
  next_[key] = next;
  if (check) unchecked_[key] = it->second.fingerprint;
  p.set_offset(next >= 0 ? (check ? next - 1 : next) : low >= 0 ? low : RdKafka::Topic::OFFSET_BEGINNING);
  return next;
}

bool Assignment::check(const RdKafka::Message& m) {
  const auto key = key_of(m);
  const auto it = unchecked_.find(key);
  if (it == unchecked_.end()) return false;
  const auto known = next_.find(key);
  if (known == next_.end()) return false;  // not ours any more
  const std::int64_t expected = known->second - 1;
  // Below it: fetched before the seek; the runner skips it anyway.
  if (m.offset() < expected) return false;
  if (m.offset() > expected)
    refuse(key, "has no message at offset " + std::to_string(expected) + ", the last one applied (the first is at " +
                    std::to_string(m.offset()) + ")");
  if (fingerprint(m) != it->second)
    refuse(key, "holds another message at offset " + std::to_string(expected) + " than the last one applied there");
  unchecked_.erase(it);
  return true;
}

std::optional<std::int64_t> Assignment::next(const PartitionKey& key) const {
  const auto it = next_.find(key);
  if (it == next_.end()) return std::nullopt;
  return it->second;
}

void Assignment::revoke(const PartitionKey& key) {
  next_.erase(key);
  unchecked_.erase(key);
  epochs_.erase(key);
}

void Assignment::clear() {
  next_.clear();
  unchecked_.clear();
  epochs_.clear();
}

void Assignment::claimed(const std::map<PartitionKey, std::int64_t>& epochs) {
  for (const auto& [key, epoch] : epochs) epochs_[key] = epoch;
}

std::map<PartitionKey, std::int64_t> Assignment::epochs_of(const std::vector<PartitionKey>& keys) const {
  std::map<PartitionKey, std::int64_t> out;
  for (const auto& key : keys) {
    const auto it = epochs_.find(key);
    out[key] = it == epochs_.end() ? 0 : it->second;
  }
  return out;
}

std::optional<std::map<PartitionKey, std::int64_t>> Assignment::lags(RdKafka::KafkaConsumer& consumer,
                                                                     bool exact) const {
  std::map<PartitionKey, std::int64_t> out;
  std::map<PartitionKey, std::optional<std::int64_t>> ends, starts;
  if (exact) {
    std::vector<PartitionKey> all, unread;
    for (const auto& [key, offset] : next_) {
      all.push_back(key);
      if (offset < 0) unread.push_back(key);
    }
    ends = infra::offsets_at(consumer, all, RdKafka::Topic::OFFSET_END);
    starts = infra::offsets_at(consumer, unread, RdKafka::Topic::OFFSET_BEGINNING);
  }
  for (const auto& [key, offset] : next_) {
    int64_t low = 0, high = 0;
    auto code = RdKafka::ERR_NO_ERROR;
    if (!exact) {
      code = consumer.get_watermark_offsets(key.first, key.second, &low, &high);
    } else if (ends[key] && (offset >= 0 || starts[key])) {
      high = *ends[key];
      low = offset >= 0 ? 0 : *starts[key];
    } else {  // not in the batched answer: this partition alone
      code = consumer.query_watermark_offsets(key.first, key.second, &low, &high, 2000);
    }
    if (code != RdKafka::ERR_NO_ERROR || high < 0) {
      if (exact) return std::nullopt;
      continue;
    }
    const std::int64_t from = offset < 0 ? low : offset;
    out[key] = std::max<std::int64_t>(0, high - from);
  }
  return out;
}

std::int64_t Assignment::lag(RdKafka::KafkaConsumer& consumer, bool exact) const {
  const auto each = lags(consumer, exact);
  if (!each) return -1;
  std::int64_t total = 0;
  for (const auto& [key, n] : *each) total += n;
  return total;
}

std::optional<PartitionKey> Assignment::next_in_turn() {
  if (next_.empty()) return std::nullopt;
  auto it = next_.upper_bound(last_in_turn_);
  if (it == next_.end()) it = next_.begin();
  last_in_turn_ = it->first;
  return it->first;
}

}  // namespace lethe::consumers
