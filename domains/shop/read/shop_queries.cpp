#include "shop_queries.hpp"

namespace lethe::projections::shop_queries {

#define LETHE_CATEGORY_COLUMNS "category_id, name, slug, created_by, " LETHE_UTC_TEXT("created_at") ", version"
#define LETHE_PRODUCT_COLUMNS                                                                   \
  "product_id, name, price, currency, category_id, active, stock, created_by, " LETHE_UTC_TEXT( \
      "created_at") ", " LETHE_UTC_TEXT("updated_at") ", version"
#define LETHE_ORDER_COLUMNS                                                                     \
  "order_id, cart_id, user_id, status, total, currency, lines::text AS lines, " LETHE_UTC_TEXT( \
      "placed_at") ", " LETHE_UTC_TEXT("updated_at") ", version"

const Query kCategories{"shop.categories", "SELECT " LETHE_CATEGORY_COLUMNS
                                           " FROM shop_categories ORDER BY name, category_id LIMIT $1 OFFSET $2"};
const Query kProducts{"shop.products", "SELECT " LETHE_PRODUCT_COLUMNS
                                       " FROM shop_products WHERE ($1 OR active) AND ($2 = '' OR category_id = $2)"
                                       " ORDER BY name, product_id LIMIT $3 OFFSET $4"};
const Query kProduct{"shop.product", "SELECT " LETHE_PRODUCT_COLUMNS " FROM shop_products WHERE product_id = $1"};
const Query kCart{"shop.cart", "SELECT cart_id, user_id, status, order_id, " LETHE_UTC_TEXT(
                                   "opened_at") ", " LETHE_UTC_TEXT("updated_at") ", version FROM shop_carts"
                                                                                  " WHERE cart_id = $1"};
const Query kCartLines{"shop.cart_lines",
                       "SELECT line_id, product_id, quantity, selected_specs::text AS specs"
                       " FROM shop_cart_lines WHERE cart_id = $1 ORDER BY line_id",
                       {"specs"}};
const Query kOrders{"shop.orders",
                    "SELECT " LETHE_ORDER_COLUMNS
                    " FROM shop_orders WHERE ($1 = '' OR user_id = $1) AND ($2 = '' OR status = $2)"
                    " ORDER BY placed_at DESC, order_id LIMIT $3 OFFSET $4",
                    {"lines"}};
const Query kOrder{"shop.order", "SELECT " LETHE_ORDER_COLUMNS " FROM shop_orders WHERE order_id = $1", {"lines"}};
const Query kCategoryFresh{"shop.category_fresh",
                           "SELECT EXISTS (SELECT 1 FROM shop_categories WHERE category_id = $1 AND version >= $2)"};
const Query kProductFresh{"shop.product_fresh",
                          "SELECT EXISTS (SELECT 1 FROM shop_products WHERE product_id = $1 AND version >= $2)"};
const Query kCartFresh{"shop.cart_fresh",
                       "SELECT EXISTS (SELECT 1 FROM shop_carts WHERE cart_id = $1 AND version >= $2)"};
const Query kOrderFresh{"shop.order_fresh",
                        "SELECT EXISTS (SELECT 1 FROM shop_orders WHERE order_id = $1 AND version >= $2)"};

#undef LETHE_CATEGORY_COLUMNS
#undef LETHE_PRODUCT_COLUMNS
#undef LETHE_ORDER_COLUMNS

}  // namespace lethe::projections::shop_queries
