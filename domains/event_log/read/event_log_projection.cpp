#include "event_log_projection.hpp"

#include "lethe/domain/registry.hpp"
#include "lethe/infra/pg.hpp"

namespace lethe::projections {

std::vector<std::string> EventLogProjection::topics() const {
  std::vector<std::string> out;
  for (const auto t : domain::event_topics()) out.emplace_back(t);
  return out;
}

ApplyResult EventLogProjection::apply(std::span<const Delivered> batch, infra::Tx tx) {
  ApplyResult result;
  if (batch.empty()) return result;
  pqxx::stream_to copy(tx, "event_log",
                       std::vector<std::string>{"topic", "partition", "kafka_offset", "event_id", "type", "stream_id",
                                                "stream_version", "occurred_at", "actor", "correlation_id"});
  for (const auto& d : batch) {
    const auto& e = d.envelope;
    copy << std::make_tuple(d.source.topic, d.source.partition, d.source.offset, e.event_id, e.type, e.stream_id,
                            e.stream_version, e.occurred_at, e.actor, e.correlation_id);
    ++result.applied;
  }
  copy.complete();
  return result;
}

// How this read model forgets a person (see ErasureRule); its migrations
// mark the columns it must cover.
const ErasurePolicy& EventLogProjection::erasure_policy() const {
  static const ErasurePolicy policy{
      {"event_log", "actor", Erase::keep, {}, {}, "the log of what was delivered keeps ids, never payloads"},
  };
  return policy;
}

std::vector<ReadModel> event_log_read_models() {
  return {{"event_log", []() -> std::unique_ptr<Projection> { return std::make_unique<EventLogProjection>(); }}};
}

}  // namespace lethe::projections
