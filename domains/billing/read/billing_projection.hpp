#pragma once
// The billing read models: a row per billing profile (personal fields
// opened, NULL once the person's key is gone), per subscription and per
// transaction (with its refunded and credited sums), and each refund and
// credit note. Batched: one key query, one load query per table, COPY into
// staging tables and one merge per table, guarded by stream version.
#include "lethe/projections/projection.hpp"

namespace lethe::projections {

class BillingProjection final : public Projection {
 public:
  std::string_view name() const override { return "billing"; }
  std::vector<std::string> topics() const override { return {"billing"}; }
  std::vector<std::string> tables() const override {
    return {"billing_profiles", "billing_subscriptions", "billing_transactions",
            "billing_refunds",  "billing_credit_notes",  "billing_plans"};
  }
  ApplyResult apply(std::span<const Delivered> batch, infra::Tx tx) override;
  const ErasurePolicy& erasure_policy() const override;
  std::vector<DeclaredColumn> declared_columns() const override;
};

}  // namespace lethe::projections
