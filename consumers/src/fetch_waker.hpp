#pragma once
// Keeps librdkafka's prefetch queue filling while the runner catches up.
//
// librdkafka 2.0 (Debian 12's) stops fetching a partition once its prefetch
// queue holds queued.max.messages.kbytes, and looks at the queue again only
// when the partition leader's broker thread wakes: on a request or a reply
// on that connection, or after a second (librdkafka issue #2879; 2.1 made
// the second configurable as fetch.queue.backoff.ms). A projector drains
// 64 MiB in well under that second and would wait out the rest of it.
//
// wake() asks, from a thread of its own, for the end offset of the partition
// named: the request wakes its leader's broker thread, which then sees the
// room the last batch made and fetches again. After a full batch, at most
// every 250 ms, the runner names one assigned partition, in turn, so every
// leader is woken. The answer is
// not used. Requests never overlap: a wake while one is in flight only
// replaces the partition the next one asks about.
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "partition.hpp"

namespace lethe::consumers {

class FetchWaker {
 public:
  explicit FetchWaker(RdKafka::KafkaConsumer& consumer);
  FetchWaker(const FetchWaker&) = delete;
  FetchWaker& operator=(const FetchWaker&) = delete;
  ~FetchWaker();  // waits for a request in flight (at most its timeout)

  void wake(const PartitionKey& partition);

 private:
  void serve(const std::stop_token& stop);

  RdKafka::KafkaConsumer& consumer_;
  std::mutex mutex_;
  std::condition_variable_any ready_;
  std::optional<PartitionKey> next_;
  std::jthread thread_;  // last: started once the rest is built
};

}  // namespace lethe::consumers
