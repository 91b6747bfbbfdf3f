#include "fetch_waker.hpp"

namespace lethe::consumers {

namespace {
// A broker too slow to answer this is one the fetcher waits for anyway.
constexpr int kRequestTimeoutMs = 1000;
}  // namespace

FetchWaker::FetchWaker(RdKafka::KafkaConsumer& consumer)
    : consumer_(consumer), thread_([this](const std::stop_token& stop) { serve(stop); }) {}

FetchWaker::~FetchWaker() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
}

void FetchWaker::wake(const PartitionKey& partition) {
  {
    const std::lock_guard lock(mutex_);
    next_ = partition;
  }
  ready_.notify_one();
}

void FetchWaker::serve(const std::stop_token& stop) {
  for (;;) {
    PartitionKey partition;
    {
      std::unique_lock lock(mutex_);
      if (!ready_.wait(lock, stop, [&] { return next_.has_value(); })) return;
      partition = std::move(*next_);
      next_.reset();
    }
    int64_t low = 0, high = 0;
    consumer_.query_watermark_offsets(partition.first, partition.second, &low, &high, kRequestTimeoutMs);
  }
}

}  // namespace lethe::consumers
