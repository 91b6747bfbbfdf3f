#include "shop_projection.hpp"

#include <map>
#include <pqxx/pqxx>
#include <set>

#include "lethe/infra/keyring.hpp"
#include "lethe/infra/pg.hpp"
#include "shop.hpp"
#include "stream_batch.hpp"
#include "table.hpp"

namespace lethe::projections {

namespace shop = domain::shop;

namespace {

// Rows only move forward: a stale or repeated version never overwrites.
const table::Spec kCategories{"shop_categories",
                              {"category_id", table::text},
                              {{"name", table::text},
                               {"slug", table::text},
                               {"created_by", table::text, table::Mark::person},
                               {"created_at", table::timestamptz, table::kOnCreate},
                               {"version", table::bigint}}};
const table::Spec kProducts{"shop_products",
                            {"product_id", table::text},
                            {{"name", table::text},
                             {"price", table::bigint},
                             {"currency", table::text},
                             {"category_id", table::text},
                             {"active", table::boolean},
                             {"stock", table::bigint},
                             {"created_by", table::text, table::Mark::person},
                             {"created_at", table::timestamptz, table::kOnCreate},
                             {"updated_at", table::timestamptz},
                             {"version", table::bigint}}};
const table::Spec kCarts{"shop_carts",
                         {"cart_id", table::text},
                         {{"user_id", table::text, table::kOnCreate, table::Mark::person},
                          {"status", table::text},
                          {"order_id", table::text},
                          {"opened_at", table::timestamptz, table::kOnCreate},
                          {"updated_at", table::timestamptz},
                          {"version", table::bigint}}};
const table::Spec kOrders{"shop_orders",
                          {"order_id", table::text},
                          {{"cart_id", table::text, table::kOnCreate},
                           {"user_id", table::text, table::kOnCreate, table::Mark::person},
                           {"status", table::text},
                           {"total", table::bigint, table::kOnCreate},
                           {"currency", table::text, table::kOnCreate},
                           {"lines", table::jsonb, table::Mark::sealed, table::kOnCreate},
                           {"placed_at", table::timestamptz, table::kOnCreate},
                           {"updated_at", table::timestamptz},
                           {"version", table::bigint}}};
// Keyed by (product, stream version): applying one twice changes nothing.
const table::Spec kMovements{"shop_inventory_movements",
                             {"product_id", table::text},
                             {{"stream_version", table::bigint},
                              {"delta", table::bigint},
                              {"reason", table::text},
                              {"order_id", table::text},
                              {"stock_after", table::bigint},
                              {"created_by", table::text, table::Mark::person},
                              {"at", table::timestamptz}},
                             table::Moves::once};

// A cart's lines, written whole for every cart the batch touched.
struct LineRow {
  std::string product_id;
  std::int64_t quantity = 0;
  std::string specs;
};

// The aggregate a stream belongs to: its kind ("product") and id.
std::pair<std::string, std::string> kind_and_id(const std::string& stream) {
  const auto dash = stream.find('-');
  if (dash == std::string::npos) return {stream, ""};
  return {stream.substr(0, dash), stream.substr(dash + 1)};
}

}  // namespace

ApplyResult ShopProjection::apply(std::span<const Delivered> batch, infra::Tx tx) {
  ApplyResult result;
  // The only personal text on the topic (an order's cancel reason) is not
  // kept here: nothing is opened, no key is read.
  const auto decoded = stream_batch::decode_kept<shop::Event>(batch, "shop.", shop::decode_sealed, result);
  // What the batch touches, by kind; each kind loaded with one query.
  std::map<std::string, std::vector<std::string>> ids;  // kind -> ids
  for (const auto& d : decoded) {
    const auto [kind, id] = kind_and_id(batch[d.index].envelope.stream_id);
    ids[kind].push_back(id);
  }
  if (decoded.empty()) return result;

  table::Rows categories(kCategories), products(kProducts), carts(kCarts), orders(kOrders), movements(kMovements);
  categories.load(tx, ids["category"]);
  products.load(tx, ids["product"]);
  carts.load(tx, ids["cart"]);
  orders.load(tx, ids["order"]);
  std::map<std::string, std::map<std::string, LineRow>> lines;  // cart -> line id -> line
  if (ids.contains("cart"))
    for (const auto& r : tx.driver().exec_params("SELECT cart_id, line_id, product_id, quantity, selected_specs::text"
                                                 " FROM shop_cart_lines WHERE cart_id = ANY($1::text[])",
                                                 infra::pg_text_array(ids["cart"])))
      lines[r[0].c_str()][r[1].c_str()] = LineRow{r[2].c_str(), r[3].as<std::int64_t>(), r[4].c_str()};

  // The row of the event's stream when the event is its next version, else
  // nullptr (applied before: skipped; never created, or a gap: rejected).
  std::set<std::string> touched;  // carts whose lines are written again
  auto next = [&](table::Rows& rows, const std::string& id, bool creates, std::size_t index) -> table::Row* {
    auto& row = rows.row(id);
    if (!stream_batch::is_next(batch[index], index, row.version(), row.exists(), creates, result)) return nullptr;
    if (rows.spec().has("updated_at")) row.set("updated_at", batch[index].envelope.occurred_at);
    row.applied(batch[index].envelope.stream_version);
    ++result.applied;
    return &row;
  };
  auto movement = [&](const std::string& product_id, const domain::Envelope& env, std::int64_t delta,
                      const std::string& reason, const std::string& order_id, std::int64_t stock_after) {
    movements.add(product_id)
        .set("stream_version", env.stream_version)
        .set("delta", delta)
        .set("reason", reason)
        .set("order_id", stream_batch::opened(order_id))
        .set("stock_after", stock_after)
        .set("created_by", stream_batch::opened(env.actor))
        .set("at", env.occurred_at);
  };
  for (const auto& [index, ev] : decoded) {
    const auto& env = batch[index].envelope;
    const auto [kind, id] = kind_and_id(env.stream_id);
    std::visit(
        [&](const auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, shop::CategoryCreated>) {
            auto* c = next(categories, id, true, index);
            if (!c) return;
            c->set("name", e.name)
                .set("slug", e.slug)
                .set("created_by", stream_batch::opened(e.created_by))
                .set("created_at", env.occurred_at);
          } else if constexpr (std::is_same_v<T, shop::ProductCreated> || std::is_same_v<T, shop::ProductUpdated>) {
            auto* p = next(products, id, std::is_same_v<T, shop::ProductCreated>, index);
            if (!p) return;
            p->set("name", e.name)
                .set("price", e.price)
                .set("currency", e.currency)
                .set("category_id", e.category_id)
                .set("active", e.active);
            if constexpr (std::is_same_v<T, shop::ProductCreated>)
              p->set("created_by", stream_batch::opened(e.created_by))
                  .set("created_at", env.occurred_at)
                  .set("stock", std::int64_t{0});
          } else if constexpr (std::is_same_v<T, shop::InventoryAdjusted> || std::is_same_v<T, shop::StockReserved> ||
                               std::is_same_v<T, shop::StockReleased>) {
            auto* p = next(products, id, false, index);
            if (!p) return;
            p->set("stock", e.stock_after);
            if constexpr (std::is_same_v<T, shop::InventoryAdjusted>)
              movement(id, env, e.delta, e.reason, "", e.stock_after);
            else if constexpr (std::is_same_v<T, shop::StockReserved>)
              movement(id, env, -e.quantity, "reserved", e.order_id, e.stock_after);
            else
              movement(id, env, e.quantity, "released", e.order_id, e.stock_after);
          } else if constexpr (std::is_same_v<T, shop::CartOpened>) {
            auto* c = next(carts, id, true, index);
            if (!c) return;
            c->set("user_id", stream_batch::opened(e.user_id)).set("status", "open").set("opened_at", env.occurred_at);
            touched.insert(id);
          } else if constexpr (std::is_same_v<T, shop::CartLineAdded> ||
                               std::is_same_v<T, shop::CartLineQuantityChanged> ||
                               std::is_same_v<T, shop::CartLineRemoved> || std::is_same_v<T, shop::CartConverted> ||
                               std::is_same_v<T, shop::CartClosed>) {
            auto* c = next(carts, id, false, index);
            if (!c) return;
            touched.insert(id);
            auto& held = lines[id];
            if constexpr (std::is_same_v<T, shop::CartLineAdded>)
              held[e.line_id] = LineRow{e.product_id, e.quantity, e.selected_specs.text};
            else if constexpr (std::is_same_v<T, shop::CartLineQuantityChanged>)
              held[e.line_id].quantity = e.quantity;
            else if constexpr (std::is_same_v<T, shop::CartLineRemoved>)
              held.erase(e.line_id);
            else if constexpr (std::is_same_v<T, shop::CartClosed>)
              c->set("status", "closed");
            else
              c->set("status", "converted").set("order_id", e.order_id);
          } else if constexpr (std::is_same_v<T, shop::OrderPlaced>) {
            auto* o = next(orders, id, true, index);
            if (!o) return;
            o->set("cart_id", e.cart_id)
                .set("user_id", stream_batch::opened(e.user_id))
                .set("status", "placed")
                .set("total", e.total)
                .set("currency", e.currency)
                .set("lines", e.lines.text)
                .set("placed_at", env.occurred_at);
          } else if constexpr (std::is_same_v<T, shop::ProductHandedOver>) {
            if (auto* p = next(products, id, false, index)) p->set("created_by", e.to_user_id);
          } else if constexpr (std::is_same_v<T, shop::CategoryHandedOver>) {
            if (auto* c = next(categories, id, false, index)) c->set("created_by", e.to_user_id);
          } else if constexpr (std::is_same_v<T, shop::OrderCancelled> || std::is_same_v<T, shop::OrderFulfilled>) {
            if (auto* o = next(orders, id, false, index))
              o->set("status", std::is_same_v<T, shop::OrderCancelled> ? "cancelled" : "fulfilled");
          }
        },
        ev);
  }

  for (auto* rows : {&categories, &products, &movements, &carts, &orders}) rows->write(tx);
  // A touched cart's lines are written whole: what it held when the batch
  // began (loaded above), folded with the batch's events.
  if (!touched.empty()) {
    tx.driver().exec_params("DELETE FROM shop_cart_lines WHERE cart_id = ANY($1::text[])",
                            infra::pg_text_array({touched.begin(), touched.end()}));
    pqxx::stream_to copy(tx, "shop_cart_lines");
    for (const auto& id : touched)
      for (const auto& [line_id, l] : lines[id])
        copy << std::make_tuple(id, line_id, l.product_id, l.quantity, l.specs);
    copy.complete();
  }
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

std::vector<DeclaredColumn> ShopProjection::declared_columns() const {
  return table::declared({&kCategories, &kProducts, &kCarts, &kOrders, &kMovements});
}

std::vector<ReadModel> shop_read_models() {
  return {{"shop", []() -> std::unique_ptr<Projection> { return std::make_unique<ShopProjection>(); }}};
}

}  // namespace lethe::projections
