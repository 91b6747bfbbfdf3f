#pragma once
// The users read model: one row per account, folded from its stream
// (user-<id>: registered, profile, email, role, deactivated, restored),
// its linked OAuth identities, and the staff-only notes about users, read
// from the restricted staff topic into a table that only staff routes read.
#include "lethe/projections/projection.hpp"

namespace lethe::projections {

class UsersProjection final : public Projection {
 public:
  std::string_view name() const override { return "users"; }
  std::vector<std::string> topics() const override { return {"users", "staff"}; }
  std::vector<std::string> tables() const override { return {"users", "user_oauth_identities", "user_notes"}; }
  ApplyResult apply(std::span<const Delivered> batch, infra::Tx tx) override;
  const ErasurePolicy& erasure_policy() const override;
  std::vector<DeclaredColumn> declared_columns() const override;
};

}  // namespace lethe::projections
