#pragma once
// The files read model: a row per file's metadata, deletes kept as a flag.
// Batched: one load query, COPY into a staging table and one merge, guarded
// by stream version.
#include "lethe/projections/projection.hpp"

namespace lethe::projections {

class FilesProjection final : public Projection {
 public:
  std::string_view name() const override { return "files"; }
  std::vector<std::string> topics() const override { return {"files"}; }
  std::vector<std::string> tables() const override { return {"files"}; }
  ApplyResult apply(std::span<const Delivered> batch, infra::Tx tx) override;
  const ErasurePolicy& erasure_policy() const override;
  std::vector<DeclaredColumn> declared_columns() const override;
};

}  // namespace lethe::projections
