#pragma once
// The content read models: a row per post and per comment, edits folded in,
// deletes kept as a flag. Batched: one load query per table, COPY into
// staging tables and one merge per table, guarded by stream version.
#include "lethe/projections/projection.hpp"

namespace lethe::projections {

class ContentProjection final : public Projection {
 public:
  std::string_view name() const override { return "content"; }
  std::vector<std::string> topics() const override { return {"content"}; }
  std::vector<std::string> tables() const override { return {"content_posts", "content_comments"}; }
  ApplyResult apply(std::span<const Delivered> batch, infra::Tx tx) override;
  const ErasurePolicy& erasure_policy() const override;
  std::vector<DeclaredColumn> declared_columns() const override;
};

}  // namespace lethe::projections
