#include "lethe/infra/ids.hpp"
#include "route_kit.hpp"
#include "shop.hpp"
#include "shop_queries.hpp"
#include "shop_service.hpp"

namespace lethe::api {

namespace {

namespace q = projections::shop_queries;

namespace shop = domain::shop;

// Staff, admins, owners and auditors see every cart and order and inactive
// products; a customer sees their own carts and orders (another's: 404) and
// the active catalogue.
bool sees_all(const Call& c) {
  return c.who && c.who->role != domain::users::Role::user;
}

void category_json(Json& j, const pqxx::row& r) {
  j.begin()
      .str("id", r["category_id"].c_str())
      .str("name", r["name"].c_str())
      .str("slug", r["slug"].c_str())
      .str_or_null("created_by", text_or_empty(r["created_by"]))
      .str("created_at", r["created_at"].c_str())
      .num("version", r["version"].as<std::int64_t>())
      .end();
}

void product_json(Json& j, const pqxx::row& r) {
  j.begin()
      .str("id", r["product_id"].c_str())
      .str("name", r["name"].c_str())
      .num("price", r["price"].as<std::int64_t>())
      .str("currency", r["currency"].c_str())
      .str("category_id", r["category_id"].c_str())
      .boolean("active", r["active"].as<bool>())
      .num("stock", r["stock"].as<std::int64_t>())
      .str_or_null("created_by", text_or_empty(r["created_by"]))
      .str("created_at", r["created_at"].c_str())
      .str("updated_at", r["updated_at"].c_str())
      .num("version", r["version"].as<std::int64_t>())
      .end();
}

void order_json(Json& j, const pqxx::row& r, Opened& opened) {
  j.begin()
      .str("id", r["order_id"].c_str())
      .str("cart_id", r["cart_id"].c_str())
      .str_or_null("user_id", text_or_empty(r["user_id"]))
      .str("status", r["status"].c_str())
      .num("total", r["total"].as<std::int64_t>())
      .str("currency", r["currency"].c_str())
      .raw("lines", opened.json(r["lines"]))
      .str("placed_at", r["placed_at"].c_str())
      .str("updated_at", r["updated_at"].c_str())
      .num("version", r["version"].as<std::int64_t>())
      .end();
}

void etag(Call& c, const pqxx::row& r) {
  c.res.set_header("ETag", "\"" + std::string(r["version"].c_str()) + "\"");
}

// ---- Catalogue and inventory ----

void create_category(Call& c) {
  const auto id = infra::new_uuid();
  const auto w = ok_or_throw(c.service<producers::ShopService>().create_category(
      shop::CreateCategory{id, c.field("name"), c.field("slug")}, c.ctx));
  c.written(201, id, w);
}

void list_categories(Call& c) {
  await_reflection(c);
  const auto page = page_of(c);
  pqxx::read_transaction tx(reads(c));
  const auto rows = run(tx, q::kCategories, page.limit, page.offset);
  Json j;
  j.begin().begin_array("categories");
  for (const auto& r : rows) category_json(j, r);
  j.end_array();
  page_json(j, page, rows.size());
  c.json(200, j.end().text());
}

void create_product(Call& c) {
  const auto id = infra::new_uuid();
  const auto w = ok_or_throw(c.service<producers::ShopService>().create_product(
      shop::CreateProduct{id, c.field("name"), c.int_field("price"), c.field("currency"), c.field("category_id"),
                          c.optional_bool("active").value_or(true)},
      c.ctx));
  c.written(201, id, w);
}

void update_product(Call& c) {
  const auto w = ok_or_throw(c.service<producers::ShopService>().update_product(
      shop::UpdateProduct{c.params.at(0), c.field("name"), c.int_field("price"), c.field("currency"),
                          c.field("category_id"), c.optional_bool("active").value_or(true)},
      with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

void adjust_inventory(Call& c) {
  const auto w = ok_or_throw(c.service<producers::ShopService>().adjust_inventory(
      shop::AdjustInventory{c.params.at(0), c.int_field("delta"), c.field("reason")}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

void list_products(Call& c) {
  await_reflection(c);
  const auto page = page_of(c);
  pqxx::read_transaction tx(reads(c));
  const auto rows = run(tx, q::kProducts, sees_all(c), c.req.get_param_value("category_id"), page.limit, page.offset);
  Json j;
  j.begin().begin_array("products");
  for (const auto& r : rows) product_json(j, r);
  j.end_array();
  page_json(j, page, rows.size());
  c.json(200, j.end().text());
}

void get_product(Call& c) {
  const auto& id = c.params.at(0);
  await_reflection(c, domain::stream_of("product", id));
  pqxx::read_transaction tx(reads(c));
  const auto rows = run(tx, q::kProduct, id);
  ensure_found(c, !rows.empty() && (sees_all(c) || rows[0]["active"].as<bool>()), "product");
  Json j;
  product_json(j, rows[0]);
  etag(c, rows[0]);
  c.json(200, j.text());
}

// ---- Carts ----

void open_cart(Call& c) {
  const auto id = infra::new_uuid();
  const auto w = ok_or_throw(c.service<producers::ShopService>().open_cart(shop::OpenCart{id}, c.ctx));
  c.written(201, id, w);
}

void get_cart(Call& c) {
  const auto& id = c.params.at(0);
  await_reflection(c, domain::stream_of("cart", id));
  pqxx::read_transaction tx(reads(c));
  const auto rows = run(tx, q::kCart, id);
  ensure_found(c, !rows.empty() && (sees_all(c) || text_or_empty(rows[0]["user_id"]) == c.who->user_id), "cart");
  const auto& r = rows[0];
  Json j;
  j.begin()
      .str("id", r["cart_id"].c_str())
      .str_or_null("user_id", text_or_empty(r["user_id"]))
      .str("status", r["status"].c_str())
      .str_or_null("order_id", text_or_empty(r["order_id"]))
      .str("opened_at", r["opened_at"].c_str())
      .str("updated_at", r["updated_at"].c_str())
      .num("version", r["version"].as<std::int64_t>())
      .begin_array("lines");
  const auto lines = run(tx, q::kCartLines, id);
  Opened opened(tx);
  opened.add(q::kCartLines, lines);
  for (const auto& l : lines)
    j.begin()
        .str("id", l["line_id"].c_str())
        .str("product_id", l["product_id"].c_str())
        .num("quantity", l["quantity"].as<std::int64_t>())
        .raw("selected_specs", opened.json(l["specs"]))
        .end();
  j.end_array().end();
  etag(c, r);
  c.json(200, j.text());
}

void add_cart_line(Call& c) {
  const auto line_id = infra::new_uuid();
  const auto w = ok_or_throw(c.service<producers::ShopService>().add_line(
      shop::AddCartLine{c.params.at(0), line_id, c.field("product_id"), c.int_field("quantity"),
                        c.json_field("selected_specs", "{}")},
      with_if_match(c)));
  // A line merged into an existing one answers with that line's id.
  std::string id = line_id;
  if (!w.empty() && w.back().type == shop::CartLineQuantityChanged::kType) {
    auto ev = shop::decode_payload(w.back().type, w.back().schema_version, w.back().payload);
    if (ev) id = std::get<shop::CartLineQuantityChanged>(ev.value()).line_id;
  }
  c.written(w.back().type == shop::CartLineAdded::kType ? 201 : 200, id, w);
}

void change_cart_line(Call& c) {
  const auto w = ok_or_throw(c.service<producers::ShopService>().change_line(
      shop::ChangeCartLineQuantity{c.params.at(0), c.params.at(1), c.int_field("quantity")}, with_if_match(c)));
  c.written(200, c.params.at(1), w);
}

void remove_cart_line(Call& c) {
  const auto w = ok_or_throw(c.service<producers::ShopService>().remove_line(
      shop::RemoveCartLine{c.params.at(0), c.params.at(1)}, with_if_match(c)));
  c.written(200, c.params.at(1), w);
}

void convert_cart(Call& c) {
  const auto order_id = infra::new_uuid();
  const auto w = ok_or_throw(c.service<producers::ShopService>().convert(c.params.at(0), order_id, with_if_match(c)));
  c.written(201, order_id, w);
}

// ---- Orders ----

void list_orders(Call& c) {
  await_reflection(c);
  const auto page = page_of(c);
  const auto user = sees_all(c) ? c.req.get_param_value("user_id") : c.who->user_id;
  const auto status = c.req.get_param_value("status");
  pqxx::read_transaction tx(reads(c));
  const auto rows = run(tx, q::kOrders, user, status, page.limit, page.offset);
  Opened opened(tx);
  opened.add(q::kOrders, rows);
  Json j;
  j.begin().begin_array("orders");
  for (const auto& r : rows) order_json(j, r, opened);
  j.end_array();
  page_json(j, page, rows.size());
  c.json(200, j.end().text());
}

void get_order(Call& c) {
  const auto& id = c.params.at(0);
  await_reflection(c, domain::stream_of("order", id));
  pqxx::read_transaction tx(reads(c));
  const auto rows = run(tx, q::kOrder, id);
  ensure_found(c, !rows.empty() && (sees_all(c) || text_or_empty(rows[0]["user_id"]) == c.who->user_id), "order");
  Opened opened(tx);
  opened.add(q::kOrder, rows);
  Json j;
  order_json(j, rows[0], opened);
  etag(c, rows[0]);
  c.json(200, j.text());
}

void cancel_order(Call& c) {
  const auto w = ok_or_throw(c.service<producers::ShopService>().cancel_order(
      shop::CancelOrder{c.params.at(0), c.field("reason")}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

void fulfil_order(Call& c) {
  const auto w = ok_or_throw(
      c.service<producers::ShopService>().fulfil_order(shop::FulfilOrder{c.params.at(0)}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

}  // namespace

DomainRoutes shop_routes() {
  return {{
              {"POST", "/categories", kStaffUp, create_category},
              {"GET", "/categories", kSignedIn, list_categories},
              {"POST", "/products", kStaffUp, create_product},
              {"GET", "/products", kSignedIn, list_products},
              {"GET", "/products/{id}", kSignedIn, get_product},
              {"PUT", "/products/{id}", kStaffUp, update_product},
              {"POST", "/products/{id}/inventory", kStaffUp, adjust_inventory},
              {"POST", "/carts", kActors, open_cart},
              {"GET", "/carts/{id}", kSignedIn, get_cart},
              {"POST", "/carts/{id}/lines", kActors, add_cart_line},
              {"PUT", "/carts/{id}/lines/{line_id}", kActors, change_cart_line},
              {"DELETE", "/carts/{id}/lines/{line_id}", kActors, remove_cart_line},
              {"POST", "/carts/{id}/convert", kActors, convert_cart},
              {"GET", "/orders", kSignedIn, list_orders},
              {"GET", "/orders/{id}", kSignedIn, get_order},
              {"POST", "/orders/{id}/cancel", kActors, cancel_order},
              {"POST", "/orders/{id}/fulfil", kStaffUp, fulfil_order},
          },
          {
              {"category-", q::kCategoryFresh},
              {"product-", q::kProductFresh},
              {"cart-", q::kCartFresh},
              {"order-", q::kOrderFresh},
          }};
}

}  // namespace lethe::api
