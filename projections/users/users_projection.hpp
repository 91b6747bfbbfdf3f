#pragma once
// The users read model: one row per registered user, kept by folding
// user.registered, user.profile_changed and user.role_changed.
#include "lethe/projections/projection.hpp"

namespace lethe::projections {

class UsersProjection final : public Projection {
 public:
  std::string_view name() const override { return "users"; }
  std::vector<std::string> topics() const override { return {"users"}; }
  std::vector<std::string> tables() const override { return {"users"}; }
  ApplyResult apply(std::span<const Delivered> batch, pqxx::dbtransaction& tx) override;
};

}  // namespace lethe::projections
