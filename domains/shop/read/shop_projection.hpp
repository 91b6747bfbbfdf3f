#pragma once
// The shop read models: categories, products with their stock and every
// inventory movement, carts with their current lines, orders with their
// frozen lines. Batched like every projection: one query per table to load
// what the batch touches, a fold in memory, COPY and one merge per table.
#include "lethe/projections/projection.hpp"

namespace lethe::projections {

class ShopProjection final : public Projection {
 public:
  std::string_view name() const override { return "shop"; }
  std::vector<std::string> topics() const override { return {"shop"}; }
  std::vector<std::string> tables() const override {
    return {"shop_categories", "shop_products",   "shop_inventory_movements",
            "shop_carts",      "shop_cart_lines", "shop_orders"};
  }
  ApplyResult apply(std::span<const Delivered> batch, infra::Tx tx) override;
  const ErasurePolicy& erasure_policy() const override;
  std::vector<DeclaredColumn> declared_columns() const override;
};

}  // namespace lethe::projections
