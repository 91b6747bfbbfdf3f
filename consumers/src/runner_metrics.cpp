#include "runner_metrics.hpp"

#include <algorithm>

namespace lethe::consumers {

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr const char* kStates[] = {"running", "stopped", "faulted", "rebuilding"};

}  // namespace

RunnerMetrics::RunnerMetrics(const std::string& projection)
    : projection_(projection),
      lag_events_(infra::gauge_family("lethe_projection_lag_events",
                                      "Events on the partition not applied yet (end of log - next offset to apply)")),
      lag_seconds_(
          infra::gauge_family("lethe_projection_lag_seconds",
                              "Age of the oldest event not applied yet, as of the last batch taken; 0 when caught up")),
      events_(infra::counter_family("lethe_projection_events_total",
                                    "Events the projection handled, by outcome: applied, skipped (applied before), "
                                    "dead_lettered")),
      by_type_(infra::counter_family("lethe_projection_events_by_type_total",
                                     "Events in committed batches, by event type (dead letters left out)")),
      errors_(
          infra::counter_family("lethe_projection_errors_total",
                                "Errors by kind: batch_retried (rolled back and tried again), stopped (the projection "
                                "stopped on an error)")),
      state_(infra::gauge_family(
          "lethe_projection_state",
          "1 for the projection's current state (running, stopped, faulted, rebuilding), 0 for the others")),
      batch_seconds_(infra::histogram_family("lethe_projection_batch_seconds",
                                             "Time to apply one batch: decode, write, dead letters, offsets, commit")
                         .Add({{"projection", projection}}, infra::duration_buckets())),
      applied_(events_.Add({{"projection", projection}, {"outcome", "applied"}})),
      skipped_(events_.Add({{"projection", projection}, {"outcome", "skipped"}})),
      dead_lettered_(events_.Add({{"projection", projection}, {"outcome", "dead_lettered"}})),
      last_dead_letter_(infra::gauge_family("lethe_projection_last_dead_letter_timestamp_seconds",
                                            "When this process last sent one of the projection's events to the dead "
                                            "letters (0: never)")
                            .Add({{"projection", projection}})),
      rebuild_progress_(infra::gauge_family("lethe_projection_rebuild_progress",
                                            "A rebuild beside the live version: offsets passed / end of the logs, "
                                            "0 to 1 (only a rebuilding process has it)")) {
  state(State::stopped);
}

void RunnerMetrics::state(State s) {
  for (const char* name : kStates)
    state_.Add({{"projection", projection_}, {"state", name}})
        .Set(std::string_view(name) == kStates[static_cast<int>(s)] ? 1 : 0);
}

void RunnerMetrics::taken(std::span<const std::unique_ptr<RdKafka::Message>> batch) {
  std::map<PartitionKey, std::int64_t> first;
  for (const auto& m : batch) first.try_emplace(key_of(*m), m->timestamp().timestamp);
  for (const auto& [key, ms] : first) {
    const auto it = partitions_.find(key);
    if (it != partitions_.end()) it->second.oldest_ms = ms;
  }
}

void RunnerMetrics::lag(const std::map<PartitionKey, std::int64_t>& lags) {
  for (auto it = partitions_.begin(); it != partitions_.end();) {
    if (lags.contains(it->first)) {
      ++it;
      continue;
    }
    lag_events_.Remove(it->second.events);
    lag_seconds_.Remove(it->second.seconds);
    it = partitions_.erase(it);
  }
  const auto now = now_ms();
  for (const auto& [key, n] : lags) {
    auto it = partitions_.find(key);
    if (it == partitions_.end()) {
      const std::map<std::string, std::string> labels{
          {"projection", projection_}, {"topic", key.first}, {"partition", std::to_string(key.second)}};
      it = partitions_.emplace(key, PartitionSeries{&lag_events_.Add(labels), &lag_seconds_.Add(labels)}).first;
    }
    auto& p = it->second;
    p.events->Set(static_cast<double>(n));
    if (n == 0) p.oldest_ms = -1;
    p.seconds->Set(p.oldest_ms < 0 ? 0.0 : static_cast<double>(std::max<std::int64_t>(0, now - p.oldest_ms)) / 1000);
  }
}

void RunnerMetrics::applied(double seconds, const RunStats& stats) {
  batch_seconds_.Observe(seconds);
  applied_.Increment(static_cast<double>(stats.applied - seen_.applied));
  skipped_.Increment(static_cast<double>(stats.skipped - seen_.skipped));
  if (stats.dead_lettered > seen_.dead_lettered) {
    dead_lettered_.Increment(static_cast<double>(stats.dead_lettered - seen_.dead_lettered));
    last_dead_letter_.Set(static_cast<double>(now_ms()) / 1000);
  }
  for (const auto& [type, n] : stats.by_type) {
    auto& counter = types_[type];
    if (!counter) counter = &by_type_.Add({{"projection", projection_}, {"type", type}});
    const auto before = seen_.by_type.find(type);
    counter->Increment(static_cast<double>(n - (before == seen_.by_type.end() ? 0 : before->second)));
  }
  seen_ = stats;
}

void RunnerMetrics::error(const std::string& kind) {
  errors_.Add({{"projection", projection_}, {"kind", kind}}).Increment();
}

void RunnerMetrics::rebuild_progress(double done) {
  rebuild_progress_.Add({{"projection", projection_}}).Set(done);
}

}  // namespace lethe::consumers
