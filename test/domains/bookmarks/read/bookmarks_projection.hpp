#pragma once
// The bookmarks read model: a row per bookmark, through the declared table
// pipeline.
#include "lethe/projections/projection.hpp"

namespace lethe::projections {

class BookmarksProjection final : public Projection {
 public:
  std::string_view name() const override { return "bookmarks"; }
  std::vector<std::string> topics() const override { return {"bookmarks"}; }
  std::vector<std::string> tables() const override { return {"bookmarks"}; }
  ApplyResult apply(std::span<const Delivered> batch, infra::Tx tx) override;
  const ErasurePolicy& erasure_policy() const override;
  std::vector<DeclaredColumn> declared_columns() const override;
};

}  // namespace lethe::projections
