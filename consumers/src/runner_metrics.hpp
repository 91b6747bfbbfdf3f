#pragma once
// What a projection runner tells Prometheus (infra::metrics()), labelled by
// projection. docs/operations.md ("Metrics") lists the names.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "lethe/consumers/runner.hpp"
#include "lethe/infra/metrics.hpp"
#include "partition.hpp"

namespace lethe::consumers {

class RunnerMetrics {
 public:
  enum class State { running, stopped, faulted, rebuilding };

  explicit RunnerMetrics(const std::string& projection);

  void state(State s);
  // A batch was taken: remembers, per partition, when its first message was
  // written, the oldest event not applied yet.
  void taken(std::span<const std::unique_ptr<RdKafka::Message>> batch);
  // Lag in events per assigned partition; partitions not listed any more
  // are dropped from the series.
  void lag(const std::map<PartitionKey, std::int64_t>& lags);
  // A batch applied in `seconds`; stats are the run's totals after it.
  void applied(double seconds, const RunStats& stats);
  void error(const std::string& kind);
  // A rebuild's share done: offsets passed / end of the logs, 0 to 1.
  void rebuild_progress(double done);

 private:
  struct PartitionSeries {
    prometheus::Gauge* events;
    prometheus::Gauge* seconds;
    std::int64_t oldest_ms = -1;  // write time of the oldest event not applied, when known
  };

  std::string projection_;
  prometheus::Family<prometheus::Gauge>& lag_events_;
  prometheus::Family<prometheus::Gauge>& lag_seconds_;
  prometheus::Family<prometheus::Counter>& events_;
  prometheus::Family<prometheus::Counter>& by_type_;
  prometheus::Family<prometheus::Counter>& errors_;
  prometheus::Family<prometheus::Gauge>& state_;
  prometheus::Histogram& batch_seconds_;
  prometheus::Counter &applied_, &skipped_, &dead_lettered_;
  prometheus::Gauge& last_dead_letter_;
  prometheus::Family<prometheus::Gauge>& rebuild_progress_;
  std::map<PartitionKey, PartitionSeries> partitions_;
  std::map<std::string, prometheus::Counter*> types_;
  RunStats seen_;  // totals already counted
};

}  // namespace lethe::consumers
