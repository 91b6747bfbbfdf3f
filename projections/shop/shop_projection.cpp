#include "shop/shop_projection.hpp"

#include <map>
#include <pqxx/pqxx>
#include <unordered_map>

#include "lethe/domain/shop.hpp"
#include "lethe/infra/keyring.hpp"
#include "lethe/infra/pg.hpp"
#include "stream_batch.hpp"

namespace lethe::projections {

namespace shop = domain::shop;

namespace {

constexpr const char* kStageSql =
    "CREATE TEMP TABLE IF NOT EXISTS shop_categories_stage (LIKE shop_categories) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS shop_products_stage (LIKE shop_products) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS shop_inventory_movements_stage (LIKE shop_inventory_movements)"
    " ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS shop_carts_stage (LIKE shop_carts) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS shop_orders_stage (LIKE shop_orders) ON COMMIT DELETE ROWS";

// Rows only move forward: a stale or repeated version never overwrites.
// An empty string in a stage stands for NULL (no id is ever empty).
constexpr const char* kMergeCategories =
    "INSERT INTO shop_categories SELECT category_id, name, slug, NULLIF(created_by, ''), created_at, version"
    " FROM shop_categories_stage ON CONFLICT (category_id) DO UPDATE SET name = EXCLUDED.name,"
    " slug = EXCLUDED.slug, created_by = EXCLUDED.created_by, version = EXCLUDED.version"
    " WHERE shop_categories.version < EXCLUDED.version";
constexpr const char* kMergeProducts =
    "INSERT INTO shop_products SELECT product_id, name, price, currency, category_id, active, stock,"
    " NULLIF(created_by, ''), created_at, updated_at, version FROM shop_products_stage"
    " ON CONFLICT (product_id) DO UPDATE SET name = EXCLUDED.name, price = EXCLUDED.price,"
    " currency = EXCLUDED.currency, category_id = EXCLUDED.category_id, active = EXCLUDED.active,"
    " stock = EXCLUDED.stock, created_by = EXCLUDED.created_by, updated_at = EXCLUDED.updated_at,"
    " version = EXCLUDED.version WHERE shop_products.version < EXCLUDED.version";
constexpr const char* kMergeMovements =
    "INSERT INTO shop_inventory_movements SELECT product_id, stream_version, delta, reason, NULLIF(order_id, ''),"
    " stock_after, NULLIF(created_by, ''), at FROM shop_inventory_movements_stage ON CONFLICT DO NOTHING";
constexpr const char* kMergeCarts =
    "INSERT INTO shop_carts SELECT cart_id, NULLIF(user_id, ''), status, NULLIF(order_id, ''), opened_at,"
    " updated_at, version FROM shop_carts_stage ON CONFLICT (cart_id) DO UPDATE SET status = EXCLUDED.status,"
    " order_id = EXCLUDED.order_id, updated_at = EXCLUDED.updated_at, version = EXCLUDED.version"
    " WHERE shop_carts.version < EXCLUDED.version";
constexpr const char* kMergeOrders =
    "INSERT INTO shop_orders SELECT order_id, cart_id, NULLIF(user_id, ''), status, total, currency, lines,"
    " placed_at, updated_at, version FROM shop_orders_stage ON CONFLICT (order_id) DO UPDATE SET"
    " status = EXCLUDED.status, updated_at = EXCLUDED.updated_at, version = EXCLUDED.version"
    " WHERE shop_orders.version < EXCLUDED.version";

struct Base {
  std::int64_t version = 0;
  bool exists = false;
  bool dirty = false;
};
struct CategoryRow : Base {
  std::string name, slug, created_by, created_at;
};
struct ProductRow : Base {
  std::string name, currency, category_id, created_by, created_at, updated_at;
  std::int64_t price = 0, stock = 0;
  bool active = false;
};
struct LineRow {
  std::string product_id;
  std::int64_t quantity = 0;
  std::string specs;
};
struct CartRow : Base {
  std::string user_id, status, order_id, opened_at, updated_at;
  std::map<std::string, LineRow> lines;
};
struct OrderRow : Base {
  std::string cart_id, user_id, status, currency, lines, placed_at, updated_at;
  std::int64_t total = 0;
};
struct Movement {
  std::string product_id;
  std::int64_t stream_version, delta;
  std::string reason, order_id;
  std::int64_t stock_after;
  std::string created_by, at;
};

// The aggregate a stream belongs to: its kind ("product") and id.
std::pair<std::string, std::string> kind_and_id(const std::string& stream) {
  const auto dash = stream.find('-');
  if (dash == std::string::npos) return {stream, ""};
  return {stream.substr(0, dash), stream.substr(dash + 1)};
}

}  // namespace

ApplyResult ShopProjection::apply(std::span<const Delivered> batch, pqxx::dbtransaction& tx) {
  ApplyResult result;
  const auto decoded = stream_batch::decode<shop::Event>(batch, "shop.", shop::decode_sealed, tx, result);
  // What the batch touches, by kind; each kind loaded with one query.
  std::map<std::string, std::vector<std::string>> ids;  // kind -> ids
  for (const auto& d : decoded) {
    const auto [kind, id] = kind_and_id(batch[d.index].envelope.stream_id);
    ids[kind].push_back(id);
  }
  if (decoded.empty()) return result;

  std::unordered_map<std::string, CategoryRow> categories;
  std::unordered_map<std::string, ProductRow> products;
  std::unordered_map<std::string, CartRow> carts;
  std::unordered_map<std::string, OrderRow> orders;
  if (ids.contains("category"))
    for (const auto& r : tx.exec_params("SELECT category_id, name, slug, coalesce(created_by, ''), created_at::text,"
                                        " version FROM shop_categories WHERE category_id = ANY($1::text[])",
                                        infra::pg_text_array(ids["category"]))) {
      auto& c = categories[r[0].c_str()];
      c.name = r[1].c_str();
      c.slug = r[2].c_str();
      c.created_by = r[3].c_str();
      c.created_at = r[4].c_str();
      c.version = r[5].as<std::int64_t>();
      c.exists = true;
    }
  if (ids.contains("product"))
    for (const auto& r : tx.exec_params("SELECT product_id, name, price, currency, category_id, active, stock,"
                                        " coalesce(created_by, ''), created_at::text, updated_at::text, version"
                                        " FROM shop_products WHERE product_id = ANY($1::text[])",
                                        infra::pg_text_array(ids["product"]))) {
      auto& p = products[r[0].c_str()];
      p.name = r[1].c_str();
      p.price = r[2].as<std::int64_t>();
      p.currency = r[3].c_str();
      p.category_id = r[4].c_str();
      p.active = r[5].as<bool>();
      p.stock = r[6].as<std::int64_t>();
      p.created_by = r[7].c_str();
      p.created_at = r[8].c_str();
      p.updated_at = r[9].c_str();
      p.version = r[10].as<std::int64_t>();
      p.exists = true;
    }
  if (ids.contains("cart")) {
    const auto cart_ids = infra::pg_text_array(ids["cart"]);
    for (const auto& r : tx.exec_params("SELECT cart_id, coalesce(user_id, ''), status, coalesce(order_id, ''),"
                                        " opened_at::text, updated_at::text, version FROM shop_carts"
                                        " WHERE cart_id = ANY($1::text[])",
                                        cart_ids)) {
      auto& c = carts[r[0].c_str()];
      c.user_id = r[1].c_str();
      c.status = r[2].c_str();
      c.order_id = r[3].c_str();
      c.opened_at = r[4].c_str();
      c.updated_at = r[5].c_str();
      c.version = r[6].as<std::int64_t>();
      c.exists = true;
    }
    for (const auto& r : tx.exec_params("SELECT cart_id, line_id, product_id, quantity, selected_specs::text"
                                        " FROM shop_cart_lines WHERE cart_id = ANY($1::text[])",
                                        cart_ids))
      carts[r[0].c_str()].lines[r[1].c_str()] = LineRow{r[2].c_str(), r[3].as<std::int64_t>(), r[4].c_str()};
  }
  if (ids.contains("order"))
    for (const auto& r : tx.exec_params("SELECT order_id, cart_id, coalesce(user_id, ''), status, total, currency,"
                                        " lines::text, placed_at::text, updated_at::text, version FROM shop_orders"
                                        " WHERE order_id = ANY($1::text[])",
                                        infra::pg_text_array(ids["order"]))) {
      auto& o = orders[r[0].c_str()];
      o.cart_id = r[1].c_str();
      o.user_id = r[2].c_str();
      o.status = r[3].c_str();
      o.total = r[4].as<std::int64_t>();
      o.currency = r[5].c_str();
      o.lines = r[6].c_str();
      o.placed_at = r[7].c_str();
      o.updated_at = r[8].c_str();
      o.version = r[9].as<std::int64_t>();
      o.exists = true;
    }

  std::vector<Movement> movements;
  // The next version of its stream, or skipped (applied before) or
  // rejected (never created, or a gap).
  auto next = [&](Base& row, const domain::Envelope&, bool creates, std::size_t index) {
    if (!stream_batch::is_next(batch[index], index, row.version, row.exists, creates, result)) return false;
    row.exists = row.dirty = true;
    row.version = batch[index].envelope.stream_version;
    ++result.applied;
    return true;
  };
  for (const auto& [index, ev] : decoded) {
    const auto& env = batch[index].envelope;
    const auto [kind, id] = kind_and_id(env.stream_id);
    std::visit(
        [&](const auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, shop::CategoryCreated>) {
            auto& c = categories[id];
            if (!next(c, env, true, index)) return;
            c.name = e.name;
            c.slug = e.slug;
            c.created_by = e.created_by;
            c.created_at = env.occurred_at;
          } else if constexpr (std::is_same_v<T, shop::ProductCreated> || std::is_same_v<T, shop::ProductUpdated>) {
            auto& p = products[id];
            if (!next(p, env, std::is_same_v<T, shop::ProductCreated>, index)) return;
            p.name = e.name;
            p.price = e.price;
            p.currency = e.currency;
            p.category_id = e.category_id;
            p.active = e.active;
            if constexpr (std::is_same_v<T, shop::ProductCreated>) {
              p.created_by = e.created_by;
              p.created_at = env.occurred_at;
            }
            p.updated_at = env.occurred_at;
          } else if constexpr (std::is_same_v<T, shop::InventoryAdjusted> || std::is_same_v<T, shop::StockReserved> ||
                               std::is_same_v<T, shop::StockReleased>) {
            auto& p = products[id];
            if (!next(p, env, false, index)) return;
            p.stock = e.stock_after;
            p.updated_at = env.occurred_at;
            if constexpr (std::is_same_v<T, shop::InventoryAdjusted>)
              movements.push_back(
                  {id, env.stream_version, e.delta, e.reason, "", e.stock_after, env.actor, env.occurred_at});
            else if constexpr (std::is_same_v<T, shop::StockReserved>)
              movements.push_back({id, env.stream_version, -e.quantity, "reserved", e.order_id, e.stock_after,
                                   env.actor, env.occurred_at});
            else
              movements.push_back({id, env.stream_version, e.quantity, "released", e.order_id, e.stock_after, env.actor,
                                   env.occurred_at});
          } else if constexpr (std::is_same_v<T, shop::CartOpened>) {
            auto& c = carts[id];
            if (!next(c, env, true, index)) return;
            c.user_id = e.user_id;
            c.status = "open";
            c.opened_at = c.updated_at = env.occurred_at;
          } else if constexpr (std::is_same_v<T, shop::CartLineAdded> ||
                               std::is_same_v<T, shop::CartLineQuantityChanged> ||
                               std::is_same_v<T, shop::CartLineRemoved> || std::is_same_v<T, shop::CartConverted>) {
            auto& c = carts[id];
            if (!next(c, env, false, index)) return;
            c.updated_at = env.occurred_at;
            if constexpr (std::is_same_v<T, shop::CartLineAdded>)
              c.lines[e.line_id] = LineRow{e.product_id, e.quantity, e.selected_specs.text};
            else if constexpr (std::is_same_v<T, shop::CartLineQuantityChanged>)
              c.lines[e.line_id].quantity = e.quantity;
            else if constexpr (std::is_same_v<T, shop::CartLineRemoved>)
              c.lines.erase(e.line_id);
            else {
              c.status = "converted";
              c.order_id = e.order_id;
            }
          } else if constexpr (std::is_same_v<T, shop::OrderPlaced>) {
            auto& o = orders[id];
            if (!next(o, env, true, index)) return;
            o.cart_id = e.cart_id;
            o.user_id = e.user_id;
            o.status = "placed";
            o.total = e.total;
            o.currency = e.currency;
            o.lines = e.lines.text;
            o.placed_at = o.updated_at = env.occurred_at;
          } else if constexpr (std::is_same_v<T, shop::ProductHandedOver>) {
            auto& p = products[id];
            if (!next(p, env, false, index)) return;
            p.created_by = e.to_user_id;
            p.updated_at = env.occurred_at;
          } else if constexpr (std::is_same_v<T, shop::CategoryHandedOver>) {
            auto& c = categories[id];
            if (!next(c, env, false, index)) return;
            c.created_by = e.to_user_id;
          } else if constexpr (std::is_same_v<T, shop::OrderCancelled> || std::is_same_v<T, shop::OrderFulfilled>) {
            auto& o = orders[id];
            if (!next(o, env, false, index)) return;
            o.status = std::is_same_v<T, shop::OrderCancelled> ? "cancelled" : "fulfilled";
            o.updated_at = env.occurred_at;
          }
        },
        ev);
  }

  tx.exec(kStageSql);
  auto copy_into = [&](const char* stage, auto&& write_rows, const char* merge) {
    pqxx::stream_to copy(tx, stage);
    const bool any = write_rows(copy);
    copy.complete();
    if (any) tx.exec(merge);
  };
  copy_into(
      "shop_categories_stage",
      [&](pqxx::stream_to& copy) {
        bool any = false;
        for (const auto& [id, c] : categories)
          if (c.dirty) {
            copy << std::make_tuple(id, c.name, c.slug, c.created_by, c.created_at, c.version);
            any = true;
          }
        return any;
      },
      kMergeCategories);
  copy_into(
      "shop_products_stage",
      [&](pqxx::stream_to& copy) {
        bool any = false;
        for (const auto& [id, p] : products)
          if (p.dirty) {
            copy << std::make_tuple(id, p.name, p.price, p.currency, p.category_id, p.active, p.stock, p.created_by,
                                    p.created_at, p.updated_at, p.version);
            any = true;
          }
        return any;
      },
      kMergeProducts);
  copy_into(
      "shop_inventory_movements_stage",
      [&](pqxx::stream_to& copy) {
        for (const auto& m : movements)
          copy << std::make_tuple(m.product_id, m.stream_version, m.delta, m.reason, m.order_id, m.stock_after,
                                  m.created_by, m.at);
        return !movements.empty();
      },
      kMergeMovements);
  std::vector<std::string> touched_carts;
  copy_into(
      "shop_carts_stage",
      [&](pqxx::stream_to& copy) {
        for (const auto& [id, c] : carts)
          if (c.dirty) {
            copy << std::make_tuple(id, c.user_id, c.status, c.order_id, c.opened_at, c.updated_at, c.version);
            touched_carts.push_back(id);
          }
        return !touched_carts.empty();
      },
      kMergeCarts);
  if (!touched_carts.empty()) {
    // A touched cart's lines are written whole: what it held when the batch
    // began (loaded above), folded with the batch's events.
    tx.exec_params("DELETE FROM shop_cart_lines WHERE cart_id = ANY($1::text[])", infra::pg_text_array(touched_carts));
    pqxx::stream_to copy(tx, "shop_cart_lines");
    for (const auto& id : touched_carts)
      for (const auto& [line_id, l] : carts[id].lines)
        copy << std::make_tuple(id, line_id, l.product_id, l.quantity, l.specs);
    copy.complete();
  }
  copy_into(
      "shop_orders_stage",
      [&](pqxx::stream_to& copy) {
        bool any = false;
        for (const auto& [id, o] : orders)
          if (o.dirty) {
            copy << std::make_tuple(id, o.cart_id, o.user_id, o.status, o.total, o.currency, o.lines, o.placed_at,
                                    o.updated_at, o.version);
            any = true;
          }
        return any;
      },
      kMergeOrders);
  return result;
}

// How this read model forgets a person (see ErasureRule); its migrations
// mark the columns it must cover.
const ErasurePolicy& ShopProjection::erasure_policy() const {
  static const ErasurePolicy policy{
      {"shop_cart_lines",
       "cart_id",
       Erase::delete_row,
       {},
       "cart_id IN (SELECT cart_id FROM shop_carts WHERE user_id = $1)",
       "the lines of their carts",
       "'cart-' || cart_id"},
      {"shop_carts", "user_id", Erase::delete_row, {}, {}, "their carts", "'cart-' || cart_id"},
      {"shop_orders", "user_id", Erase::set_null, {}, {}, "financial records stay, without the person"},
      // Handed to the erasing admin first (shop.*_handed_over); NULL only
      // while a replay has not reached that event yet.
      {"shop_categories", "created_by", Erase::set_null},
      {"shop_products", "created_by", Erase::set_null},
      {"shop_inventory_movements", "created_by", Erase::set_null},
  };
  return policy;
}

}  // namespace lethe::projections
