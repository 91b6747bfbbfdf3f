#pragma once
// The event log read model: every message applied, with its Kafka position.
// A republished event has a new offset and gets a row of its own: the log
// shows what was delivered, duplicates included.
#include "lethe/projections/projection.hpp"

namespace lethe::projections {

class EventLogProjection final : public Projection {
 public:
  std::string_view name() const override { return "event_log"; }
  // Every topic an event goes to (the domain registry's): auditors find
  // any event by id, stream or position.
  std::vector<std::string> topics() const override;
  std::vector<std::string> tables() const override { return {"event_log"}; }
  ApplyResult apply(std::span<const Delivered> batch, infra::Tx tx) override;
  const ErasurePolicy& erasure_policy() const override;
};

}  // namespace lethe::projections
