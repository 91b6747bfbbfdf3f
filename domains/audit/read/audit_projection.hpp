#pragma once
// The audit log: every staff or admin action across the domains (role
// changes, deactivations and restores, API keys, logins, ticket
// assignments and internal notes, inventory adjustments, charges, refunds
// and credit notes), one row each with actor, action, target, time and
// correlation id. Auditors query it through the API.
#include "audited_types.hpp"
#include "lethe/projections/projection.hpp"

namespace lethe::projections {

class AuditProjection final : public Projection {
 public:
  std::string_view name() const override { return "audit"; }
  // The topics the audited types go to (the domain registry says which).
  std::vector<std::string> topics() const override;
  std::vector<std::string> tables() const override { return {"audit_log"}; }
  ApplyResult apply(std::span<const Delivered> batch, infra::Tx tx) override;
  bool reads(std::string_view type) const override;
  const ErasurePolicy& erasure_policy() const override;
};

}  // namespace lethe::projections
