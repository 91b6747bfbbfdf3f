#pragma once
// The email log read model: a row per logged email, the subject opened with
// the recipient's key (NULL once it is gone). Batched: one key query, one
// load query, COPY into a staging table and one merge, guarded by stream
// version.
#include "lethe/projections/projection.hpp"

namespace lethe::projections {

class EmailProjection final : public Projection {
 public:
  std::string_view name() const override { return "email"; }
  std::vector<std::string> topics() const override { return {"email"}; }
  std::vector<std::string> tables() const override { return {"email_logs"}; }
  ApplyResult apply(std::span<const Delivered> batch, infra::Tx tx) override;
  const ErasurePolicy& erasure_policy() const override;
  std::vector<DeclaredColumn> declared_columns() const override;
};

}  // namespace lethe::projections
