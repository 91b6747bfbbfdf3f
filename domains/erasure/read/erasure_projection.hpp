#pragma once
// The erasure requests read model: each request (stream erasure-<id>) with
// its status, the key fingerprint, what was handed over, every projection's
// receipt and every external task, for GET /erasure-requests. Its rows hold
// ids and times, never personal data.
#include "lethe/projections/projection.hpp"

namespace lethe::projections {

class ErasureProjection final : public Projection {
 public:
  std::string_view name() const override { return "erasure"; }
  std::vector<std::string> topics() const override { return {"erasure"}; }
  std::vector<std::string> tables() const override { return {"erasure_requests", "erasure_receipts", "erasure_tasks"}; }
  ApplyResult apply(std::span<const Delivered> batch, infra::Tx tx) override;
  const ErasurePolicy& erasure_policy() const override;
};

}  // namespace lethe::projections
