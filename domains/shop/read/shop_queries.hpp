#pragma once
// The named queries of the shop read models (V105__shop.sql and after), run
// by the shop routes.
#include "lethe/projections/query.hpp"

namespace lethe::projections::shop_queries {

// Categories by name: $1 limit, $2 offset.
extern const Query kCategories;
// Products by name: active ones unless $1, of category $2 ('' any), $3 limit, $4 offset.
extern const Query kProducts;
// One product: $1 product id.
extern const Query kProduct;
// One cart: $1 cart id; its lines: $1 cart id.
extern const Query kCart;
extern const Query kCartLines;
// Orders, newest first: $1 user ('' any), $2 status ('' any), $3 limit, $4 offset.
extern const Query kOrders;
// One order: $1 order id.
extern const Query kOrder;
// Freshness ($1 id, $2 version) of a category, product, cart and order.
extern const Query kCategoryFresh;
extern const Query kProductFresh;
extern const Query kCartFresh;
extern const Query kOrderFresh;

}  // namespace lethe::projections::shop_queries
