#pragma once
// The tickets read models: one row per ticket (folded from ticket-<id>),
// its public comments, and the staff-only internal notes read from the
// restricted staff topic into a table only staff routes read.
#include "lethe/projections/projection.hpp"

namespace lethe::projections {

class TicketsProjection final : public Projection {
 public:
  std::string_view name() const override { return "tickets"; }
  std::vector<std::string> topics() const override { return {"tickets", "staff"}; }
  std::vector<std::string> tables() const override { return {"tickets", "ticket_comments", "ticket_internal_notes"}; }
  ApplyResult apply(std::span<const Delivered> batch, infra::Tx tx) override;
  const ErasurePolicy& erasure_policy() const override;
  std::vector<DeclaredColumn> declared_columns() const override;
};

}  // namespace lethe::projections
