#define BOOST_TEST_MODULE shop
#include "shop.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "lethe/domain/envelope.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/domain/registry.hpp"

// Every rule and every refusal of the shop domain (pure decisions, evolve,
// canonical specs and the payload codec). A refusal is checked as
// "<code>:<field>", so that the ErrorCode and the field are asserted at once.

namespace d = lethe::domain;
namespace sh = lethe::domain::shop;
namespace u = lethe::domain::users;
using d::ErrorCode;

namespace {

const u::Actor kOwner{"owner-1", u::Role::owner}, kAdmin{"admin-1", u::Role::admin}, kStaff{"staff-1", u::Role::staff},
    kCustomer{"cust-1", u::Role::user}, kOther{"cust-2", u::Role::user}, kAuditor{"aud-1", u::Role::auditor},
    kAnonymous{"", std::nullopt};
constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

std::string str(std::string_view s) {
  return std::string(s);
}

template <class T>
std::string outcome(const d::Result<T>& r) {
  if (r.ok()) return "ok";
  return str(d::to_string(r.error().code)) + ":" + r.error().field;
}
std::string refused(ErrorCode code, const std::string& field) {
  return str(d::to_string(code)) + ":" + field;
}
template <class T>
std::string message(const d::Result<T>& r) {
  return r.ok() ? std::string() : r.error().message;
}

template <class T>
T accepted_(d::Result<T> r, const char* what) {
  BOOST_REQUIRE_MESSAGE(r.ok(), what << " was refused: " << outcome(r) << " (" << message(r) << ")");
  return std::move(r).value();
}
#define ACCEPTED(expr) accepted_((expr), #expr)

// The one event of a decision, of type E.
template <class E>
E only(const std::vector<sh::Event>& events) {
  BOOST_REQUIRE_EQUAL(events.size(), 1U);
  const auto* e = std::get_if<E>(&events[0]);
  BOOST_REQUIRE_MESSAGE(e, "expected " << str(E::kType) << ", got " << str(sh::type_of(events[0])));
  return *e;
}

template <class State>
State fold(State s, const std::vector<sh::Event>& events) {
  for (const auto& e : events) s = sh::evolve(std::move(s), e);
  return s;
}

std::string canonical(std::string_view json) {
  return ACCEPTED(sh::canonical_specs(json));
}

sh::Category category(const std::string& id = "cat-1") {
  return fold(sh::Category{}, ACCEPTED(sh::decide(sh::Category{}, sh::CreateCategory{id, "Shirts", "shirts"}, kStaff)));
}

// A product of category cat-1, named "Product <id>", with this stock.
sh::Product product(const std::string& id, std::int64_t price, std::int64_t stock, const std::string& currency = "EUR",
                    bool active = true) {
  auto p =
      fold(sh::Product{},
           ACCEPTED(sh::decide(sh::Product{}, sh::CreateProduct{id, "Product " + id, price, currency, "cat-1", active},
                               category(), kStaff)));
  if (stock != 0) p = fold(p, ACCEPTED(sh::decide(p, sh::AdjustInventory{id, stock, "delivery"}, kStaff)));
  return p;
}

sh::Cart open_cart(const u::Actor& who = kCustomer) {
  return fold(sh::Cart{}, ACCEPTED(sh::decide(sh::Cart{}, sh::OpenCart{"cart-1"}, who)));
}

sh::Cart add(sh::Cart c, const std::string& line_id, const sh::Product& p, std::int64_t quantity,
             const std::string& specs = "{}") {
  return fold(c, ACCEPTED(sh::decide(c, sh::AddCartLine{c.cart_id, line_id, p.product_id, quantity, specs}, p,
                                     u::Actor{c.user_id, u::Role::user})));
}

std::map<std::string, sh::Product> by_id(const std::vector<sh::Product>& products) {
  std::map<std::string, sh::Product> out;
  for (const auto& p : products) out[p.product_id] = p;
  return out;
}

// A placed order of cust-1: p1 x2 {"size":"M"}, p1 x3 {"size":"L"}, p2 x1,
// and the products as they stand after the reservation.
struct Placed {
  sh::Order order;
  std::map<std::string, sh::Product> products;
};
Placed placed_order() {
  const auto p1 = product("p1", 1999, 10), p2 = product("p2", 500, 4);
  auto cart = open_cart();
  cart = add(cart, "l1", p1, 2, R"({"size":"M"})");
  cart = add(cart, "l2", p1, 3, R"({"size":"L"})");
  cart = add(cart, "l3", p2, 1);
  const auto conversion = ACCEPTED(sh::decide_conversion(cart, by_id({p1, p2}), "order-1", kCustomer));
  Placed out{fold(sh::Order{}, conversion.order), {}};
  out.products["p1"] = fold(p1, conversion.products.at("p1"));
  out.products["p2"] = fold(p2, conversion.products.at("p2"));
  return out;
}

// Calls f(std::in_place_type<Alternative>) for every alternative of a
// variant, so that a new event type cannot be left out.
template <class Variant, class F>
void for_each_alternative(F&& f) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (f(std::in_place_type<std::variant_alternative_t<I, Variant>>), ...);
  }
  (std::make_index_sequence<std::variant_size_v<Variant>>{});
}

const std::string kJsonValue = R"({"k":[1,"v",{"n":null}],"t":true})";

// An event of type E with every field set: strings that need escaping,
// distinct integers (negative ones too), true, a nested JSON value.
template <class E>
E filled() {
  E ev{};
  std::int64_t i = 0;
  for (const auto& f : E::fields()) {
    ++i;
    std::visit(
        [&](auto member) {
          using T = std::decay_t<decltype(ev.*member)>;
          if constexpr (std::is_same_v<T, std::string>)
            ev.*member = std::string(f.name) + " \"q\" \xc3\xa9 \\ / \t\n<" + str(E::kType) + ">";
          else if constexpr (std::is_same_v<T, std::int64_t>)
            ev.*member = -1234567890123 * i;
          else if constexpr (std::is_same_v<T, bool>)
            ev.*member = true;
          else
            ev.*member = d::Json{kJsonValue};
        },
        f.member);
  }
  return ev;
}

// The JSON text of a field of E, valid for its type.
template <class E>
std::string valid_value(const d::FieldSpec<E>& f) {
  return std::visit(
      [](auto member) -> std::string {
        using T = std::decay_t<decltype(std::declval<E>().*member)>;
        if constexpr (std::is_same_v<T, std::string>)
          return "\"v\"";
        else if constexpr (std::is_same_v<T, std::int64_t>)
          return "7";
        else if constexpr (std::is_same_v<T, bool>)
          return "false";
        else
          return "{}";
      },
      f.member);
}
// A JSON text of the wrong type for the field, or "" when any value fits (a JSON field).
template <class E>
std::string wrong_value(const d::FieldSpec<E>& f) {
  return std::visit(
      [](auto member) -> std::string {
        using T = std::decay_t<decltype(std::declval<E>().*member)>;
        if constexpr (std::is_same_v<T, std::string>)
          return "42";
        else if constexpr (std::is_same_v<T, std::int64_t>)
          return "\"7\"";
        else if constexpr (std::is_same_v<T, bool>)
          return "\"yes\"";
        else
          return "";
      },
      f.member);
}
// A payload of E: every field valid, `skip` left out, `wrong` of the wrong type.
template <class E>
std::string payload_of(std::string_view skip, std::string_view wrong = {}) {
  std::string json = "{";
  for (const auto& f : E::fields()) {
    if (f.name == skip) continue;
    if (json.size() > 1) json += ',';
    json += '"' + std::string(f.name) + "\":" + (f.name == wrong ? wrong_value(f) : valid_value(f));
  }
  return json + "}";
}

}  // namespace

// ---------------------------------------------------------------- canonical specs

BOOST_AUTO_TEST_CASE(canonical_specs_sort_keys_at_every_level_and_drop_whitespace) {
  const auto a = canonical(R"({"b":1,"a":{"y":2,"x":1}})");
  const auto b = canonical(R"( { "a" : {"x":1,"y":2}, "b":1 } )");
  BOOST_TEST(a == R"({"a":{"x":1,"y":2},"b":1})");
  BOOST_TEST(b == a);
  BOOST_TEST(canonical("\n{\t\"color\" :\r\n \"red\" }\n") == R"({"color":"red"})");
  // Objects inside arrays are sorted too; deeper levels as well.
  BOOST_TEST(canonical(R"({"z":[{"b":1,"a":[{"d":4,"c":3}]}],"m":{"k":{"j":{"b":null,"a":false}}}})") ==
             R"({"m":{"k":{"j":{"a":false,"b":null}}},"z":[{"a":[{"c":3,"d":4}],"b":1}]})");
  // Keys sort by byte order: upper case before lower case, "a" before "aa".
  BOOST_TEST(canonical(R"({"aa":1,"b":2,"a":3,"B":4})") == R"({"B":4,"a":3,"aa":1,"b":2})");
  BOOST_TEST(canonical("{}") == "{}");
  BOOST_TEST(canonical(R"({"e":{},"f":[]})") == R"({"e":{},"f":[]})");
}

BOOST_AUTO_TEST_CASE(canonical_specs_keep_arrays_in_order_and_values_exact) {
  BOOST_TEST(canonical(R"({"a":[3,1,2]})") == R"({"a":[3,1,2]})");
  BOOST_TEST(canonical(R"({"a":[3,1,2]})") != canonical(R"({"a":[1,2,3]})"));
  // Numbers exactly as written.
  BOOST_TEST(canonical(R"({"w":1.50})") == R"({"w":1.50})");
  BOOST_TEST(canonical(R"({"w":1.50})") != canonical(R"({"w":1.5})"));
  BOOST_TEST(canonical(R"({"n":1e2,"m":-0,"p":1E+2})") == R"({"m":-0,"n":1e2,"p":1E+2})");
  BOOST_TEST(canonical(R"({"big":123456789012345678901234567890})") == R"({"big":123456789012345678901234567890})");
  // A number and a string are not the same value.
  BOOST_TEST(canonical(R"({"a":1})") != canonical(R"({"a":"1"})"));
  BOOST_TEST(canonical(R"({"t":true,"f":false,"n":null})") == R"({"f":false,"n":null,"t":true})");
  // Escapes are normalised: \u00e9 and a raw é are the same text; quotes stay escaped.
  BOOST_TEST(canonical(R"({"c":"\u00e9"})") == "{\"c\":\"\xc3\xa9\"}");
  BOOST_TEST(canonical("{\"c\":\"\xc3\xa9\"}") == "{\"c\":\"\xc3\xa9\"}");
  BOOST_TEST(canonical(R"({"q":"a\"b\\c\n"})") == R"({"q":"a\"b\\c\n"})");
  BOOST_TEST(canonical(R"({"\u0061":1})") == R"({"a":1})");
}

BOOST_AUTO_TEST_CASE(canonical_specs_refuse_what_is_not_a_bounded_json_object) {
  const auto bad = refused(ErrorCode::invalid_argument, "selected_specs");
  // Not an object.
  for (const char* text : {"[]", R"(["a"])", R"("size")", "1", "null", "true"})
    BOOST_TEST(outcome(sh::canonical_specs(text)) == bad, text);
  // Not JSON.
  for (const char* text :
       {"", " ", "{", R"({"a":1,})", "{'a':1}", R"({"a":1} {})", R"({"a":NaN})", R"({a:1})", R"({"a":1}x)"})
    BOOST_TEST(outcome(sh::canonical_specs(text)) == bad, text);
  // Duplicate keys, at the top, nested, and spelt differently.
  for (const char* text : {R"({"a":1,"a":2})", R"({"a":1,"b":2,"a":1})", R"({"o":{"k":1,"k":1}})",
                           R"({"l":[{"x":1,"x":2}]})", R"({"a":1,"\u0061":2})"})
    BOOST_TEST(outcome(sh::canonical_specs(text)) == bad, text);
  BOOST_TEST(message(sh::canonical_specs(R"({"a":1,"a":2})")).find("duplicate key \"a\"") != std::string::npos);
  // A top-level "sealed" would pass for specs sealed already and be stored
  // in clear; nested, it is just a key.
  BOOST_TEST(outcome(sh::canonical_specs(R"({"sealed":"xchacha20poly1305","engraving":"For Rosa"})")) == bad);
  BOOST_TEST(outcome(sh::canonical_specs(R"({"box":{"sealed":true}})")) == "ok");
  // NUL characters, raw or escaped, in values and keys; invalid UTF-8.
  BOOST_TEST(outcome(sh::canonical_specs(std::string_view("{}\0{", 4))) == bad);
  BOOST_TEST(outcome(sh::canonical_specs(std::string_view("{\"a\":\"x\0\"}", 10))) == bad);
  BOOST_TEST(outcome(sh::canonical_specs(R"({"a":"x\u0000y"})")) == bad);
  BOOST_TEST(outcome(sh::canonical_specs(R"({"a\u0000":1})")) == bad);
  BOOST_TEST(outcome(sh::canonical_specs("{\"a\":\"\xff\"}")) == bad);
  // Size: kMaxSpecsBytes is accepted, one byte more is not.
  const std::string prefix = R"({"s":")";
  const std::string fits = prefix + std::string(sh::kMaxSpecsBytes - prefix.size() - 2, 'x') + "\"}";
  BOOST_TEST_REQUIRE(fits.size() == sh::kMaxSpecsBytes);
  BOOST_TEST(outcome(sh::canonical_specs(fits)) == "ok");
  BOOST_TEST(outcome(sh::canonical_specs(fits.substr(0, 6) + "x" + fits.substr(6))) == bad);
  // Depth: kMaxSpecsDepth levels are accepted, one more is not.
  auto nested = [](int levels) {
    std::string open, close;
    for (int i = 1; i < levels; ++i) {
      open += R"({"n":)";
      close += "}";
    }
    return open + "{}" + close;
  };
  BOOST_TEST(outcome(sh::canonical_specs(nested(sh::kMaxSpecsDepth))) == "ok");
  BOOST_TEST(outcome(sh::canonical_specs(nested(sh::kMaxSpecsDepth + 1))) == bad);
  BOOST_TEST(outcome(sh::canonical_specs(R"({"a":[[[[[[[[1]]]]]]]]})")) == bad);  // arrays count too
}

// ---------------------------------------------------------------- categories

BOOST_AUTO_TEST_CASE(creating_a_category_records_who_created_it) {
  const auto events = ACCEPTED(sh::decide(sh::Category{}, sh::CreateCategory{"cat-1", "Shirts", "t-shirts-2"}, kAdmin));
  const auto e = only<sh::CategoryCreated>(events);
  BOOST_TEST(e.category_id == "cat-1");
  BOOST_TEST(e.name == "Shirts");
  BOOST_TEST(e.slug == "t-shirts-2");
  BOOST_TEST(e.created_by == "admin-1");
  const auto s = fold(sh::Category{}, events);
  BOOST_TEST(s.exists);
  BOOST_TEST(s.slug == "t-shirts-2");
  BOOST_TEST(s.created_by == "admin-1");
  BOOST_TEST(s.version == 1);
  // A second creation of the same category.
  BOOST_TEST(outcome(sh::decide(s, sh::CreateCategory{"cat-1", "Shirts", "shirts"}, kAdmin)) ==
             refused(ErrorCode::already_exists, "category_id"));
}

BOOST_AUTO_TEST_CASE(categories_are_created_by_staff_admins_and_owners_only) {
  const sh::CreateCategory c{"cat-1", "Shirts", "shirts"};
  for (const auto& a : {kStaff, kAdmin, kOwner}) BOOST_TEST(outcome(sh::decide(sh::Category{}, c, a)) == "ok", a.id);
  for (const auto& a : {kCustomer, kAuditor, kAnonymous})
    BOOST_TEST(outcome(sh::decide(sh::Category{}, c, a)) == refused(ErrorCode::forbidden, ""), a.id);
}

BOOST_AUTO_TEST_CASE(category_names_and_slugs_are_checked) {
  auto create = [](const std::string& name, const std::string& slug) {
    return outcome(sh::decide(sh::Category{}, sh::CreateCategory{"cat-1", name, slug}, kStaff));
  };
  BOOST_TEST(create("", "shirts") == refused(ErrorCode::invalid_argument, "name"));
  BOOST_TEST(create(std::string(201, 'n'), "shirts") == refused(ErrorCode::invalid_argument, "name"));
  BOOST_TEST(create(std::string(200, 'n'), "shirts") == "ok");
  for (const std::string slug : {"a", "shirts", "t-shirts", "a1-b2-c3", "0"})
    BOOST_TEST(create("S", slug) == "ok", slug);
  BOOST_TEST(create("S", std::string(100, 'a')) == "ok");
  for (const auto& slug : std::vector<std::string>{"", "Shirts", "t_shirts", "-shirts", "shirts-", "-", "t shirts",
                                                   "t.shirts", "caf\xc3\xa9", std::string(101, 'a')})
    BOOST_TEST(create("S", slug) == refused(ErrorCode::invalid_argument, "slug"), slug);
  BOOST_TEST(outcome(sh::decide(sh::Category{}, sh::CreateCategory{"", "S", "s"}, kStaff)) ==
             refused(ErrorCode::invalid_argument, "category_id"));
  BOOST_TEST(outcome(sh::decide(sh::Category{}, sh::CreateCategory{std::string(201, 'i'), "S", "s"}, kStaff)) ==
             refused(ErrorCode::invalid_argument, "category_id"));
}

// ---------------------------------------------------------------- products

BOOST_AUTO_TEST_CASE(creating_a_product_records_price_currency_category_and_creator) {
  const auto events = ACCEPTED(
      sh::decide(sh::Product{}, sh::CreateProduct{"p1", "Tee", 1999, "EUR", "cat-1", true}, category(), kStaff));
  const auto e = only<sh::ProductCreated>(events);
  BOOST_TEST(e.product_id == "p1");
  BOOST_TEST(e.name == "Tee");
  BOOST_TEST(e.price == 1999);
  BOOST_TEST(e.currency == "EUR");
  BOOST_TEST(e.category_id == "cat-1");
  BOOST_TEST(e.active);
  BOOST_TEST(e.created_by == "staff-1");
  const auto p = fold(sh::Product{}, events);
  BOOST_TEST(p.exists);
  BOOST_TEST(p.price == 1999);
  BOOST_TEST(p.stock == 0);
  BOOST_TEST(p.active);
  BOOST_TEST(p.created_by == "staff-1");
  BOOST_TEST(p.version == 1);
  BOOST_TEST(outcome(sh::decide(p, sh::CreateProduct{"p1", "Tee", 1999, "EUR", "cat-1", true}, category(), kStaff)) ==
             refused(ErrorCode::already_exists, "product_id"));
  // Created inactive.
  const auto off = only<sh::ProductCreated>(ACCEPTED(
      sh::decide(sh::Product{}, sh::CreateProduct{"p2", "Old", 0, "USD", "cat-1", false}, category(), kOwner)));
  BOOST_TEST(!off.active);
}

BOOST_AUTO_TEST_CASE(products_are_managed_by_staff_admins_and_owners_only) {
  const sh::CreateProduct create{"p1", "Tee", 1999, "EUR", "cat-1", true};
  const sh::UpdateProduct update{"p1", "Tee", 2999, "EUR", "cat-1", true};
  const auto p = product("p1", 1999, 0);
  for (const auto& a : {kStaff, kAdmin, kOwner}) {
    BOOST_TEST(outcome(sh::decide(sh::Product{}, create, category(), a)) == "ok", a.id);
    BOOST_TEST(outcome(sh::decide(p, update, category(), a)) == "ok", a.id);
  }
  for (const auto& a : {kCustomer, kAuditor, kAnonymous}) {
    BOOST_TEST(outcome(sh::decide(sh::Product{}, create, category(), a)) == refused(ErrorCode::forbidden, ""), a.id);
    BOOST_TEST(outcome(sh::decide(p, update, category(), a)) == refused(ErrorCode::forbidden, ""), a.id);
  }
}

BOOST_AUTO_TEST_CASE(product_fields_are_checked_on_create_and_update) {
  const auto cat = category();
  const auto existing = product("p1", 1999, 0);
  auto create = [&](const std::string& name, std::int64_t price, const std::string& currency,
                    const std::string& category_id, const sh::Category& c) {
    return outcome(
        sh::decide(sh::Product{}, sh::CreateProduct{"p1", name, price, currency, category_id, true}, c, kStaff));
  };
  auto update = [&](const std::string& name, std::int64_t price, const std::string& currency,
                    const std::string& category_id, const sh::Category& c) {
    return outcome(sh::decide(existing, sh::UpdateProduct{"p1", name, price, currency, category_id, true}, c, kStaff));
  };
  for (const auto& run : {std::function(create), std::function(update)}) {
    BOOST_TEST(run("", 1, "EUR", "cat-1", cat) == refused(ErrorCode::invalid_argument, "name"));
    BOOST_TEST(run(std::string(201, 'n'), 1, "EUR", "cat-1", cat) == refused(ErrorCode::invalid_argument, "name"));
    BOOST_TEST(run("Tee", -1, "EUR", "cat-1", cat) == refused(ErrorCode::invalid_argument, "price"));
    BOOST_TEST(run("Tee", sh::kMaxPrice + 1, "EUR", "cat-1", cat) == refused(ErrorCode::invalid_argument, "price"));
    BOOST_TEST(run("Tee", kInt64Max, "EUR", "cat-1", cat) == refused(ErrorCode::invalid_argument, "price"));
    BOOST_TEST(run("Tee", 0, "EUR", "cat-1", cat) == "ok");
    BOOST_TEST(run("Tee", sh::kMaxPrice, "EUR", "cat-1", cat) == "ok");
    for (const std::string currency : {"", "eur", "Eur", "EU", "EURO", "E1R", "EU "})
      BOOST_TEST(run("Tee", 1, currency, "cat-1", cat) == refused(ErrorCode::invalid_argument, "currency"), currency);
    BOOST_TEST(run("Tee", 1, "JPY", "cat-1", cat) == "ok");
    BOOST_TEST(run("Tee", 1, "EUR", "", cat) == refused(ErrorCode::invalid_argument, "category_id"));
    // The category the caller loaded does not exist, or is another one.
    BOOST_TEST(run("Tee", 1, "EUR", "cat-1", sh::Category{}) == refused(ErrorCode::not_found, "category_id"));
    BOOST_TEST(run("Tee", 1, "EUR", "cat-9", cat) == refused(ErrorCode::not_found, "category_id"));
  }
  BOOST_TEST(outcome(sh::decide(sh::Product{}, sh::CreateProduct{"", "Tee", 1, "EUR", "cat-1", true}, cat, kStaff)) ==
             refused(ErrorCode::invalid_argument, "product_id"));
}

BOOST_AUTO_TEST_CASE(updating_a_product_changes_it_and_refuses_a_missing_or_unchanged_one) {
  const auto cat2 = category("cat-2");
  auto p = product("p1", 1999, 7);
  const auto e = only<sh::ProductUpdated>(
      ACCEPTED(sh::decide(p, sh::UpdateProduct{"p1", "Tee v2", 2499, "USD", "cat-2", false}, cat2, kStaff)));
  BOOST_TEST(e.product_id == "p1");
  BOOST_TEST(e.name == "Tee v2");
  BOOST_TEST(e.price == 2499);
  BOOST_TEST(e.currency == "USD");
  BOOST_TEST(e.category_id == "cat-2");
  BOOST_TEST(!e.active);
  const auto version = p.version;
  p = sh::evolve(p, e);
  BOOST_TEST(p.name == "Tee v2");
  BOOST_TEST(p.price == 2499);
  BOOST_TEST(p.currency == "USD");
  BOOST_TEST(p.category_id == "cat-2");
  BOOST_TEST(!p.active);
  BOOST_TEST(p.stock == 7);  // an update leaves the stock alone
  BOOST_TEST(p.created_by == "staff-1");
  BOOST_TEST(p.version == version + 1);
  BOOST_TEST(outcome(sh::decide(p, sh::UpdateProduct{"p1", "Tee v2", 2499, "USD", "cat-2", false}, cat2, kStaff)) ==
             refused(ErrorCode::no_change, "product_id"));
  BOOST_TEST(outcome(sh::decide(sh::Product{}, sh::UpdateProduct{"p9", "T", 1, "EUR", "cat-2", true}, cat2, kStaff)) ==
             refused(ErrorCode::not_found, "product_id"));
}

// ---------------------------------------------------------------- inventory

BOOST_AUTO_TEST_CASE(inventory_adjustments_record_the_stock_they_leave) {
  auto p = product("p1", 100, 0);
  const auto in =
      only<sh::InventoryAdjusted>(ACCEPTED(sh::decide(p, sh::AdjustInventory{"p1", 5, "delivery"}, kStaff)));
  BOOST_TEST(in.product_id == "p1");
  BOOST_TEST(in.delta == 5);
  BOOST_TEST(in.reason == "delivery");
  BOOST_TEST(in.stock_after == 5);
  p = sh::evolve(p, in);
  BOOST_TEST(p.stock == 5);
  const auto out =
      only<sh::InventoryAdjusted>(ACCEPTED(sh::decide(p, sh::AdjustInventory{"p1", -5, "broken"}, kAdmin)));
  BOOST_TEST(out.delta == -5);
  BOOST_TEST(out.stock_after == 0);  // down to zero is fine
  p = sh::evolve(p, out);
  BOOST_TEST(p.stock == 0);
  BOOST_TEST(outcome(sh::decide(p, sh::AdjustInventory{"p1", 1, "found one"}, kOwner)) == "ok");
}

BOOST_AUTO_TEST_CASE(stock_never_goes_negative) {
  const auto p = product("p1", 100, 3);
  const auto r = sh::decide(p, sh::AdjustInventory{"p1", -4, "stocktake"}, kStaff);
  BOOST_TEST(outcome(r) == refused(ErrorCode::rule_violated, "delta"));
  BOOST_TEST(message(r).find("3 in stock") != std::string::npos, message(r));
  BOOST_TEST(outcome(sh::decide(product("p2", 100, 0), sh::AdjustInventory{"p2", -1, "x"}, kStaff)) ==
             refused(ErrorCode::rule_violated, "delta"));
  BOOST_TEST(outcome(sh::decide(p, sh::AdjustInventory{"p1", std::numeric_limits<std::int64_t>::min(), "x"}, kStaff)) ==
             refused(ErrorCode::rule_violated, "delta"));
  // Nor overflows.
  const auto full = product("p3", 100, kInt64Max);
  BOOST_TEST(full.stock == kInt64Max);
  BOOST_TEST(outcome(sh::decide(full, sh::AdjustInventory{"p3", 1, "x"}, kStaff)) ==
             refused(ErrorCode::rule_violated, "delta"));
}

BOOST_AUTO_TEST_CASE(inventory_adjustments_are_checked) {
  const auto p = product("p1", 100, 3);
  BOOST_TEST(outcome(sh::decide(p, sh::AdjustInventory{"p1", 0, "nothing"}, kStaff)) ==
             refused(ErrorCode::invalid_argument, "delta"));
  BOOST_TEST(outcome(sh::decide(p, sh::AdjustInventory{"p1", 1, ""}, kStaff)) ==
             refused(ErrorCode::invalid_argument, "reason"));
  BOOST_TEST(outcome(sh::decide(p, sh::AdjustInventory{"p1", 1, std::string(501, 'r')}, kStaff)) ==
             refused(ErrorCode::invalid_argument, "reason"));
  BOOST_TEST(outcome(sh::decide(p, sh::AdjustInventory{"p1", 1, std::string(500, 'r')}, kStaff)) == "ok");
  BOOST_TEST(outcome(sh::decide(sh::Product{}, sh::AdjustInventory{"p9", 1, "x"}, kStaff)) ==
             refused(ErrorCode::not_found, "product_id"));
  for (const auto& a : {kCustomer, kAuditor, kAnonymous})
    BOOST_TEST(outcome(sh::decide(p, sh::AdjustInventory{"p1", 1, "x"}, a)) == refused(ErrorCode::forbidden, ""), a.id);
}

// ---------------------------------------------------------------- carts

BOOST_AUTO_TEST_CASE(a_user_opens_a_cart_for_themself) {
  const auto e = only<sh::CartOpened>(ACCEPTED(sh::decide(sh::Cart{}, sh::OpenCart{"cart-1"}, kCustomer)));
  BOOST_TEST(e.cart_id == "cart-1");
  BOOST_TEST(e.user_id == "cust-1");
  const auto c = sh::evolve(sh::Cart{}, e);
  BOOST_TEST(c.exists);
  BOOST_TEST(c.user_id == "cust-1");
  BOOST_TEST(!c.converted);
  BOOST_TEST(c.lines.empty());
  BOOST_TEST(c.version == 1);
  BOOST_TEST(outcome(sh::decide(sh::Cart{}, sh::OpenCart{"cart-2"}, kStaff)) == "ok");
  BOOST_TEST(outcome(sh::decide(c, sh::OpenCart{"cart-1"}, kCustomer)) ==
             refused(ErrorCode::already_exists, "cart_id"));
  BOOST_TEST(outcome(sh::decide(sh::Cart{}, sh::OpenCart{""}, kCustomer)) ==
             refused(ErrorCode::invalid_argument, "cart_id"));
  for (const auto& a : {kAuditor, kAnonymous})
    BOOST_TEST(outcome(sh::decide(sh::Cart{}, sh::OpenCart{"cart-1"}, a)) == refused(ErrorCode::forbidden, ""), a.id);
}

BOOST_AUTO_TEST_CASE(adding_a_line_stores_canonical_specs) {
  const auto p1 = product("p1", 1999, 0);  // no stock needed to fill a cart
  const auto cart = open_cart();
  const auto e = only<sh::CartLineAdded>(ACCEPTED(sh::decide(
      cart, sh::AddCartLine{"cart-1", "l1", "p1", 2, R"( {"size": "M", "color": {"b": 2, "a": 1}} )"}, p1, kCustomer)));
  BOOST_TEST(e.cart_id == "cart-1");
  BOOST_TEST(e.line_id == "l1");
  BOOST_TEST(e.product_id == "p1");
  BOOST_TEST(e.quantity == 2);
  BOOST_TEST(e.selected_specs.text == R"({"color":{"a":1,"b":2},"size":"M"})");
  const auto c = sh::evolve(cart, e);
  BOOST_TEST_REQUIRE(c.lines.size() == 1U);
  BOOST_TEST(c.lines.at("l1").product_id == "p1");
  BOOST_TEST(c.lines.at("l1").quantity == 2);
  BOOST_TEST(c.lines.at("l1").selected_specs == R"({"color":{"a":1,"b":2},"size":"M"})");
  BOOST_TEST(c.version == 2);
}

BOOST_AUTO_TEST_CASE(adding_a_line_refusals) {
  const auto p1 = product("p1", 1999, 5);
  const auto cart = open_cart();
  auto try_add = [&](const sh::Cart& c, const sh::AddCartLine& cmd, const sh::Product& p, const u::Actor& a) {
    return outcome(sh::decide(c, cmd, p, a));
  };
  const sh::AddCartLine ok{"cart-1", "l1", "p1", 1, "{}"};
  // Only the cart's user: another customer is told it does not exist, staff are refused.
  BOOST_TEST(try_add(cart, ok, p1, kCustomer) == "ok");
  BOOST_TEST(try_add(cart, ok, p1, kOther) == refused(ErrorCode::not_found, "cart_id"));
  BOOST_TEST(try_add(cart, ok, p1, kStaff) == refused(ErrorCode::forbidden, "cart_id"));
  BOOST_TEST(try_add(cart, ok, p1, kOwner) == refused(ErrorCode::forbidden, "cart_id"));
  BOOST_TEST(try_add(cart, ok, p1, kAuditor) == refused(ErrorCode::forbidden, ""));
  BOOST_TEST(try_add(cart, ok, p1, kAnonymous) == refused(ErrorCode::forbidden, ""));
  BOOST_TEST(try_add(sh::Cart{}, ok, p1, kCustomer) == refused(ErrorCode::not_found, "cart_id"));
  // Quantity 1..999.
  for (const std::int64_t q : {0L, -1L, 1000L, kInt64Max})
    BOOST_TEST(try_add(cart, sh::AddCartLine{"cart-1", "l1", "p1", q, "{}"}, p1, kCustomer) ==
                   refused(ErrorCode::invalid_argument, "quantity"),
               q);
  for (const std::int64_t q : {1L, 999L})
    BOOST_TEST(try_add(cart, sh::AddCartLine{"cart-1", "l1", "p1", q, "{}"}, p1, kCustomer) == "ok", q);
  // Specs must be a JSON object.
  for (const char* specs : {"", "[]", R"("M")", "{", R"({"a":1,"a":1})"})
    BOOST_TEST(try_add(cart, sh::AddCartLine{"cart-1", "l1", "p1", 1, specs}, p1, kCustomer) ==
                   refused(ErrorCode::invalid_argument, "selected_specs"),
               specs);
  // Ids.
  BOOST_TEST(try_add(cart, sh::AddCartLine{"cart-1", "", "p1", 1, "{}"}, p1, kCustomer) ==
             refused(ErrorCode::invalid_argument, "line_id"));
  BOOST_TEST(try_add(cart, sh::AddCartLine{"cart-1", "l1", "", 1, "{}"}, sh::Product{}, kCustomer) ==
             refused(ErrorCode::invalid_argument, "product_id"));
  // The product must exist and be active.
  BOOST_TEST(try_add(cart, sh::AddCartLine{"cart-1", "l1", "p9", 1, "{}"}, sh::Product{}, kCustomer) ==
             refused(ErrorCode::rule_violated, "product_id"));
  BOOST_TEST(try_add(cart, sh::AddCartLine{"cart-1", "l1", "p9", 1, "{}"}, p1, kCustomer) ==
             refused(ErrorCode::rule_violated, "product_id"));
  const auto inactive = product("p2", 100, 5, "EUR", false);
  BOOST_TEST(try_add(cart, sh::AddCartLine{"cart-1", "l1", "p2", 1, "{}"}, inactive, kCustomer) ==
             refused(ErrorCode::rule_violated, "product_id"));
  // A converted cart takes no line.
  auto converted = add(cart, "l1", p1, 1);
  converted = fold(converted, ACCEPTED(sh::decide_conversion(converted, by_id({p1}), "order-1", kCustomer)).cart);
  BOOST_TEST(converted.converted);
  BOOST_TEST(try_add(converted, sh::AddCartLine{"cart-1", "l2", "p1", 1, "{}"}, p1, kCustomer) ==
             refused(ErrorCode::conflict, "cart_id"));
}

BOOST_AUTO_TEST_CASE(the_same_product_with_the_same_specs_merges_into_its_line) {
  const auto p1 = product("p1", 1999, 0);
  auto cart = add(open_cart(), "l1", p1, 2, R"({"size":"M","fit":{"waist":32,"leg":34}})");
  // Same specs, other key order and whitespace, another line id: merged into l1.
  const auto r = ACCEPTED(
      sh::decide(cart, sh::AddCartLine{"cart-1", "l2", "p1", 3, R"({ "fit" : { "leg":34, "waist":32 }, "size":"M" })"},
                 p1, kCustomer));
  const auto e = only<sh::CartLineQuantityChanged>(r);
  BOOST_TEST(e.cart_id == "cart-1");
  BOOST_TEST(e.line_id == "l1");
  BOOST_TEST(e.quantity == 5);
  cart = fold(cart, r);
  BOOST_TEST(cart.lines.size() == 1U);
  BOOST_TEST(cart.lines.at("l1").quantity == 5);
  // Up to 999 in all, not beyond.
  cart = fold(cart, ACCEPTED(sh::decide(
                        cart, sh::AddCartLine{"cart-1", "l3", "p1", 994, R"({"size":"M","fit":{"leg":34,"waist":32}})"},
                        p1, kCustomer)));
  BOOST_TEST(cart.lines.at("l1").quantity == 999);
  BOOST_TEST(
      outcome(sh::decide(cart, sh::AddCartLine{"cart-1", "l4", "p1", 1, R"({"fit":{"leg":34,"waist":32},"size":"M"})"},
                         p1, kCustomer)) == refused(ErrorCode::rule_violated, "quantity"));
  BOOST_TEST(cart.lines.size() == 1U);
}

BOOST_AUTO_TEST_CASE(other_specs_or_another_product_make_separate_lines) {
  const auto p1 = product("p1", 1999, 0), p2 = product("p2", 500, 0);
  auto cart = add(open_cart(), "l1", p1, 2, R"({"size":"M"})");
  const auto other_specs = only<sh::CartLineAdded>(
      ACCEPTED(sh::decide(cart, sh::AddCartLine{"cart-1", "l2", "p1", 1, R"({"size":"L"})"}, p1, kCustomer)));
  BOOST_TEST(other_specs.line_id == "l2");
  BOOST_TEST(other_specs.selected_specs.text == R"({"size":"L"})");
  cart = sh::evolve(cart, other_specs);
  // A nested difference is a difference; so is an array's order.
  cart = add(cart, "l3", p1, 1, R"({"size":"M","extra":["a","b"]})");
  cart = add(cart, "l4", p1, 1, R"({"size":"M","extra":["b","a"]})");
  // The same specs on another product.
  cart = add(cart, "l5", p2, 1, R"({"size":"M"})");
  BOOST_TEST(cart.lines.size() == 5U);
  BOOST_TEST(cart.lines.at("l1").quantity == 2);
  BOOST_TEST(cart.lines.at("l5").product_id == "p2");
  // A new line may not reuse the id of a line holding something else.
  BOOST_TEST(outcome(sh::decide(cart, sh::AddCartLine{"cart-1", "l1", "p1", 1, R"({"size":"XL"})"}, p1, kCustomer)) ==
             refused(ErrorCode::already_exists, "line_id"));
}

BOOST_AUTO_TEST_CASE(a_cart_holds_at_most_its_maximum_of_lines) {
  const auto p1 = product("p1", 1999, 0);
  auto cart = open_cart();
  for (std::size_t i = 0; i < sh::kMaxCartLines; ++i)
    cart = add(cart, "l" + std::to_string(i), p1, 1, R"({"n":)" + std::to_string(i) + "}");
  BOOST_TEST(cart.lines.size() == sh::kMaxCartLines);
  BOOST_TEST(outcome(sh::decide(cart, sh::AddCartLine{"cart-1", "one-more", "p1", 1, R"({"n":-1})"}, p1, kCustomer)) ==
             refused(ErrorCode::rule_violated, "line_id"));
  // Adding to a line it holds still works: the count is of lines.
  BOOST_TEST(outcome(sh::decide(cart, sh::AddCartLine{"cart-1", "l0", "p1", 1, R"({"n":0})"}, p1, kCustomer)) == "ok");
}

BOOST_AUTO_TEST_CASE(a_line_read_back_from_the_store_still_merges) {
  // The payload codec reads numbers as doubles ({"w":1.50} comes back as
  // {"w":1.5}); the merge compares specs as stored, so it still holds.
  const auto p1 = product("p1", 1999, 0);
  const auto cart = open_cart();
  const auto added =
      ACCEPTED(sh::decide(cart, sh::AddCartLine{"cart-1", "l1", "p1", 2, R"({"w":1.50,"n":1e2})"}, p1, kCustomer));
  BOOST_TEST_REQUIRE(added.size() == 1U);
  const auto stored =
      ACCEPTED(sh::decode_payload(sh::type_of(added[0]), sh::version_of(added[0]), sh::encode_payload(added[0])));
  const auto reloaded = sh::evolve(cart, stored);
  const auto again =
      ACCEPTED(sh::decide(reloaded, sh::AddCartLine{"cart-1", "l2", "p1", 1, R"({"n":1e2, "w":1.50})"}, p1, kCustomer));
  const auto e = only<sh::CartLineQuantityChanged>(again);
  BOOST_TEST(e.line_id == "l1");
  BOOST_TEST(e.quantity == 3);
  // Other numbers are other specs.
  BOOST_TEST(std::holds_alternative<sh::CartLineAdded>(
      ACCEPTED(sh::decide(reloaded, sh::AddCartLine{"cart-1", "l2", "p1", 1, R"({"n":1e2,"w":1.51})"}, p1, kCustomer))
          .at(0)));
}

BOOST_AUTO_TEST_CASE(changing_a_line_quantity) {
  const auto p1 = product("p1", 1999, 0);
  auto cart = add(open_cart(), "l1", p1, 2);
  const auto e = only<sh::CartLineQuantityChanged>(
      ACCEPTED(sh::decide(cart, sh::ChangeCartLineQuantity{"cart-1", "l1", 7}, kCustomer)));
  BOOST_TEST(e.line_id == "l1");
  BOOST_TEST(e.quantity == 7);
  cart = sh::evolve(cart, e);
  BOOST_TEST(cart.lines.at("l1").quantity == 7);
  auto change = [&](const sh::Cart& c, const std::string& line, std::int64_t q, const u::Actor& a) {
    return outcome(sh::decide(c, sh::ChangeCartLineQuantity{"cart-1", line, q}, a));
  };
  BOOST_TEST(change(cart, "l1", 1, kCustomer) == "ok");
  BOOST_TEST(change(cart, "l1", 999, kCustomer) == "ok");
  for (const std::int64_t q : {0L, -3L, 1000L})
    BOOST_TEST(change(cart, "l1", q, kCustomer) == refused(ErrorCode::invalid_argument, "quantity"), q);
  BOOST_TEST(change(cart, "l9", 3, kCustomer) == refused(ErrorCode::not_found, "line_id"));
  BOOST_TEST(change(cart, "l1", 7, kCustomer) == refused(ErrorCode::no_change, "quantity"));
  BOOST_TEST(change(cart, "l1", 3, kOther) == refused(ErrorCode::not_found, "cart_id"));
  BOOST_TEST(change(cart, "l1", 3, kStaff) == refused(ErrorCode::forbidden, "cart_id"));
  BOOST_TEST(change(cart, "l1", 3, kAuditor) == refused(ErrorCode::forbidden, ""));
  BOOST_TEST(change(cart, "l1", 3, kAnonymous) == refused(ErrorCode::forbidden, ""));
  BOOST_TEST(change(sh::Cart{}, "l1", 3, kCustomer) == refused(ErrorCode::not_found, "cart_id"));
  const auto converted =
      fold(cart, ACCEPTED(sh::decide_conversion(cart, by_id({product("p1", 1999, 10)}), "order-1", kCustomer)).cart);
  BOOST_TEST(change(converted, "l1", 3, kCustomer) == refused(ErrorCode::conflict, "cart_id"));
  // Closed by its user's erasure: it takes no further change, and is not
  // closed twice; a converted cart is not closed at all.
  const auto closed = sh::close_for_erasure(cart);
  BOOST_REQUIRE(closed.has_value());
  const auto& shut_event = std::get<sh::CartClosed>(*closed);
  BOOST_TEST(shut_event.cart_id == "cart-1");
  BOOST_TEST(shut_event.user_id == kCustomer.id);
  BOOST_TEST(shut_event.reason == "erased");
  const auto shut = sh::evolve(cart, *closed);
  BOOST_TEST(change(shut, "l1", 3, kCustomer) == refused(ErrorCode::conflict, "cart_id"));
  BOOST_TEST(outcome(sh::decide_conversion(shut, by_id({product("p1", 1999, 10)}), "order-1", kCustomer)) ==
             refused(ErrorCode::conflict, "cart_id"));
  BOOST_TEST(!sh::close_for_erasure(shut).has_value());
  BOOST_TEST(!sh::close_for_erasure(converted).has_value());
}

BOOST_AUTO_TEST_CASE(removing_a_line) {
  const auto p1 = product("p1", 1999, 0);
  auto cart = add(add(open_cart(), "l1", p1, 2, R"({"size":"M"})"), "l2", p1, 1, R"({"size":"L"})");
  const auto e = only<sh::CartLineRemoved>(ACCEPTED(sh::decide(cart, sh::RemoveCartLine{"cart-1", "l1"}, kCustomer)));
  BOOST_TEST(e.cart_id == "cart-1");
  BOOST_TEST(e.line_id == "l1");
  cart = sh::evolve(cart, e);
  BOOST_TEST(cart.lines.size() == 1U);
  BOOST_TEST(cart.lines.count("l2") == 1U);
  auto remove = [&](const sh::Cart& c, const std::string& line, const u::Actor& a) {
    return outcome(sh::decide(c, sh::RemoveCartLine{"cart-1", line}, a));
  };
  BOOST_TEST(remove(cart, "l1", kCustomer) == refused(ErrorCode::not_found, "line_id"));
  BOOST_TEST(remove(cart, "l2", kOther) == refused(ErrorCode::not_found, "cart_id"));
  BOOST_TEST(remove(cart, "l2", kAdmin) == refused(ErrorCode::forbidden, "cart_id"));
  BOOST_TEST(remove(cart, "l2", kAuditor) == refused(ErrorCode::forbidden, ""));
  BOOST_TEST(remove(sh::Cart{}, "l2", kCustomer) == refused(ErrorCode::not_found, "cart_id"));
  const auto converted =
      fold(cart, ACCEPTED(sh::decide_conversion(cart, by_id({product("p1", 1999, 10)}), "order-1", kCustomer)).cart);
  BOOST_TEST(remove(converted, "l2", kCustomer) == refused(ErrorCode::conflict, "cart_id"));
  // Removing the line that a later add would merge into makes that add a new line.
  const auto readded = only<sh::CartLineAdded>(
      ACCEPTED(sh::decide(cart, sh::AddCartLine{"cart-1", "l3", "p1", 4, R"({"size":"M"})"}, p1, kCustomer)));
  BOOST_TEST(readded.line_id == "l3");
}

// ---------------------------------------------------------------- conversion

BOOST_AUTO_TEST_CASE(conversion_reserves_the_sum_per_product_and_freezes_current_prices) {
  auto p1 = product("p1", 1999, 10);
  const auto p2 = product("p2", 500, 1);
  auto cart = open_cart();
  cart = add(cart, "l1", p1, 2, R"({"size":"M"})");
  cart = add(cart, "l2", p1, 3, R"({"size":"L"})");
  cart = add(cart, "l3", p2, 1);
  // The price changes after the lines were added: the order takes the current one.
  p1 = fold(p1,
            ACCEPTED(sh::decide(p1, sh::UpdateProduct{"p1", "Tee", 2499, "EUR", "cat-1", true}, category(), kStaff)));
  const auto c = ACCEPTED(sh::decide_conversion(cart, by_id({p1, p2}), "order-1", kCustomer));

  const auto converted = only<sh::CartConverted>(c.cart);
  BOOST_TEST(converted.cart_id == "cart-1");
  BOOST_TEST(converted.order_id == "order-1");

  // One reservation per product, of the sum of its lines.
  BOOST_TEST(c.products.size() == 2U);
  const auto r1 = only<sh::StockReserved>(c.products.at("p1"));
  BOOST_TEST(r1.product_id == "p1");
  BOOST_TEST(r1.order_id == "order-1");
  BOOST_TEST(r1.quantity == 5);
  BOOST_TEST(r1.stock_after == 5);
  const auto r2 = only<sh::StockReserved>(c.products.at("p2"));
  BOOST_TEST(r2.quantity == 1);
  BOOST_TEST(r2.stock_after == 0);  // the last unit

  const auto placed = only<sh::OrderPlaced>(c.order);
  BOOST_TEST(placed.order_id == "order-1");
  BOOST_TEST(placed.cart_id == "cart-1");
  BOOST_TEST(placed.user_id == "cust-1");
  BOOST_TEST(placed.total == 5 * 2499 + 500);
  BOOST_TEST(placed.currency == "EUR");
  // The lines as the payload carries them: an array of objects, specs an object.
  rapidjson::Document doc;
  doc.Parse(placed.lines.text.c_str());
  BOOST_TEST_REQUIRE(doc.IsArray());
  BOOST_TEST_REQUIRE(doc.Size() == 3U);
  BOOST_TEST(doc[0]["selected_specs"].IsObject());
  BOOST_TEST(std::string(doc[0]["selected_specs"]["size"].GetString()) == "M");
  BOOST_TEST(
      placed.lines.text ==
      R"([{"line_id":"l1","product_id":"p1","name":"Tee","quantity":2,"unit_price":2499,"currency":"EUR","selected_specs":{"size":"M"}},)"
      R"({"line_id":"l2","product_id":"p1","name":"Tee","quantity":3,"unit_price":2499,"currency":"EUR","selected_specs":{"size":"L"}},)"
      R"({"line_id":"l3","product_id":"p2","name":"Product p2","quantity":1,"unit_price":500,"currency":"EUR","selected_specs":{}}])");

  // Folded: the order keeps its frozen lines; the streams move on.
  const auto order = fold(sh::Order{}, c.order);
  BOOST_TEST(order.exists);
  BOOST_TEST(order.user_id == "cust-1");
  BOOST_TEST((order.status == sh::OrderStatus::placed));
  BOOST_TEST(order.total == 12995);
  BOOST_TEST_REQUIRE(order.lines.size() == 3U);
  BOOST_TEST(order.lines[1].line_id == "l2");
  BOOST_TEST(order.lines[1].product_id == "p1");
  BOOST_TEST(order.lines[1].name == "Tee");
  BOOST_TEST(order.lines[1].quantity == 3);
  BOOST_TEST(order.lines[1].unit_price == 2499);
  BOOST_TEST(order.lines[1].currency == "EUR");
  BOOST_TEST(order.lines[1].selected_specs == R"({"size":"L"})");
  const auto p1_after = fold(p1, c.products.at("p1"));
  BOOST_TEST(p1_after.stock == 5);
  BOOST_TEST(p1_after.version == p1.version + 1);
  const auto cart_after = fold(cart, c.cart);
  BOOST_TEST(cart_after.converted);
  BOOST_TEST(cart_after.order_id == "order-1");
  // A later price change does not touch the placed order.
  const auto repriced = fold(
      p1_after,
      ACCEPTED(sh::decide(p1_after, sh::UpdateProduct{"p1", "Tee", 9999, "EUR", "cat-1", true}, category(), kStaff)));
  BOOST_TEST(repriced.price == 9999);
  BOOST_TEST(order.lines[0].unit_price == 2499);
}

BOOST_AUTO_TEST_CASE(staff_may_convert_a_customers_cart_for_them) {
  const auto p1 = product("p1", 100, 3);
  const auto cart = add(open_cart(), "l1", p1, 2);
  for (const auto& a : {kStaff, kAdmin, kOwner}) {
    const auto c = ACCEPTED(sh::decide_conversion(cart, by_id({p1}), "order-1", a));
    BOOST_TEST(only<sh::OrderPlaced>(c.order).user_id == "cust-1");
  }
}

BOOST_AUTO_TEST_CASE(conversion_refusals) {
  const auto p1 = product("p1", 100, 3), p2 = product("p2", 200, 3);
  const auto cart = add(add(open_cart(), "l1", p1, 2), "l2", p2, 1);
  const auto products = by_id({p1, p2});
  auto convert = [](const sh::Cart& c, const std::map<std::string, sh::Product>& ps, const u::Actor& a,
                    const std::string& order_id = "order-1") { return sh::decide_conversion(c, ps, order_id, a); };
  BOOST_TEST(outcome(convert(cart, products, kCustomer)) == "ok");
  // Who: the cart's user or staff; another customer is told it does not exist.
  BOOST_TEST(outcome(convert(cart, products, kOther)) == refused(ErrorCode::not_found, "cart_id"));
  BOOST_TEST(outcome(convert(cart, products, kAuditor)) == refused(ErrorCode::forbidden, ""));
  BOOST_TEST(outcome(convert(cart, products, kAnonymous)) == refused(ErrorCode::forbidden, ""));
  BOOST_TEST(outcome(convert(sh::Cart{}, products, kCustomer)) == refused(ErrorCode::not_found, "cart_id"));
  BOOST_TEST(outcome(convert(cart, products, kCustomer, "")) == refused(ErrorCode::invalid_argument, "order_id"));
  // An empty cart, also one emptied by removing its lines.
  BOOST_TEST(outcome(convert(open_cart(), products, kCustomer)) == refused(ErrorCode::rule_violated, "cart_id"));
  const auto emptied = fold(cart, {sh::CartLineRemoved{"cart-1", "l1"}, sh::CartLineRemoved{"cart-1", "l2"}});
  BOOST_TEST(outcome(convert(emptied, products, kCustomer)) == refused(ErrorCode::rule_violated, "cart_id"));
  // A second conversion.
  const auto converted = fold(cart, ACCEPTED(convert(cart, products, kCustomer)).cart);
  BOOST_TEST(outcome(convert(converted, products, kCustomer)) == refused(ErrorCode::conflict, "cart_id"));
  BOOST_TEST(outcome(convert(converted, products, kStaff, "order-2")) == refused(ErrorCode::conflict, "cart_id"));
  // A product missing or inactive.
  BOOST_TEST(outcome(convert(cart, by_id({p1}), kCustomer)) == refused(ErrorCode::rule_violated, "product_id"));
  auto with_missing = products;
  with_missing["p2"] = sh::Product{};
  BOOST_TEST(outcome(convert(cart, with_missing, kCustomer)) == refused(ErrorCode::rule_violated, "product_id"));
  auto with_inactive = products;
  with_inactive["p2"].active = false;
  const auto inactive = convert(cart, with_inactive, kCustomer);
  BOOST_TEST(outcome(inactive) == refused(ErrorCode::rule_violated, "product_id"));
  BOOST_TEST(message(inactive).find("p2") != std::string::npos, message(inactive));
  // Mixed currencies.
  auto mixed = products;
  mixed["p2"].currency = "USD";
  const auto mixed_r = convert(cart, mixed, kCustomer);
  BOOST_TEST(outcome(mixed_r) == refused(ErrorCode::rule_violated, "currency"));
  BOOST_TEST(message(mixed_r).find("USD") != std::string::npos, message(mixed_r));
}

BOOST_AUTO_TEST_CASE(conversion_refuses_short_stock_naming_the_product) {
  const auto p1 = product("p1", 100, 4), p2 = product("p2", 200, 1);
  // Each line fits the stock alone; together the two lines of p1 do not.
  const auto cart =
      add(add(add(open_cart(), "l1", p1, 3, R"({"c":"red"})"), "l2", p1, 2, R"({"c":"blue"})"), "l3", p2, 1);
  const auto r = sh::decide_conversion(cart, by_id({p1, p2}), "order-1", kCustomer);
  BOOST_TEST(outcome(r) == refused(ErrorCode::rule_violated, "product_id"));
  BOOST_TEST(message(r).find("p1") != std::string::npos, message(r));
  BOOST_TEST(message(r).find("4 in stock") != std::string::npos, message(r));
  BOOST_TEST(message(r).find("needs 5") != std::string::npos, message(r));
  // No stock at all.
  const auto none = sh::decide_conversion(add(open_cart(), "l1", product("p3", 1, 0), 1), by_id({product("p3", 1, 0)}),
                                          "order-1", kCustomer);
  BOOST_TEST(outcome(none) == refused(ErrorCode::rule_violated, "product_id"));
  BOOST_TEST(message(none).find("p3") != std::string::npos, message(none));
  // Exactly the stock is fine, and leaves zero.
  const auto exact = ACCEPTED(sh::decide_conversion(add(open_cart(), "l1", p1, 4), by_id({p1}), "order-1", kCustomer));
  BOOST_TEST(only<sh::StockReserved>(exact.products.at("p1")).stock_after == 0);
}

BOOST_AUTO_TEST_CASE(conversion_refuses_a_total_that_would_overflow) {
  const auto p = product("p1", sh::kMaxPrice, kInt64Max);
  // Built as folded state: more lines of the highest price and quantity
  // than an int64 total holds (9232 of them fit, 9233 do not).
  auto cart_of = [&](int lines) {
    sh::Cart c = open_cart();
    for (int i = 0; i < lines; ++i)
      c = sh::evolve(std::move(c), sh::CartLineAdded{"cart-1", "l" + std::to_string(100000 + i), "p1", sh::kMaxQuantity,
                                                     d::Json{"{\"i\":" + std::to_string(i) + "}"}, "u1"});
    return c;
  };
  const auto fits = sh::decide_conversion(cart_of(9232), by_id({p}), "order-1", kCustomer);
  BOOST_TEST_REQUIRE(outcome(fits) == "ok");
  BOOST_TEST(only<sh::OrderPlaced>(fits.value().order).total == 9232 * sh::kMaxQuantity * sh::kMaxPrice);
  BOOST_TEST(outcome(sh::decide_conversion(cart_of(9233), by_id({p}), "order-1", kCustomer)) ==
             refused(ErrorCode::rule_violated, "total"));
}

// ---------------------------------------------------------------- orders

BOOST_AUTO_TEST_CASE(cancelling_an_order) {
  const auto [order, products] = placed_order();
  for (const auto& a : {kCustomer, kStaff, kAdmin, kOwner}) {
    const auto e =
        only<sh::OrderCancelled>(ACCEPTED(sh::decide(order, sh::CancelOrder{"order-1", "changed my mind"}, a)));
    BOOST_TEST(e.order_id == "order-1");
    BOOST_TEST(e.reason == "changed my mind");
  }
  const auto cancelled = sh::evolve(order, sh::OrderCancelled{"order-1", "x", "cust-1"});
  BOOST_TEST((cancelled.status == sh::OrderStatus::cancelled));
  BOOST_TEST(cancelled.version == order.version + 1);
  auto cancel = [](const sh::Order& o, const u::Actor& a, const std::string& reason = "r") {
    return outcome(sh::decide(o, sh::CancelOrder{"order-1", reason}, a));
  };
  BOOST_TEST(cancel(cancelled, kCustomer) == refused(ErrorCode::conflict, "order_id"));
  BOOST_TEST(cancel(cancelled, kStaff) == refused(ErrorCode::conflict, "order_id"));
  const auto fulfilled = sh::evolve(order, sh::OrderFulfilled{"order-1"});
  BOOST_TEST(cancel(fulfilled, kCustomer) == refused(ErrorCode::conflict, "order_id"));
  BOOST_TEST(cancel(fulfilled, kStaff) == refused(ErrorCode::conflict, "order_id"));
  BOOST_TEST(cancel(order, kOther) == refused(ErrorCode::not_found, "order_id"));
  BOOST_TEST(cancel(order, kAuditor) == refused(ErrorCode::forbidden, ""));
  BOOST_TEST(cancel(order, kAnonymous) == refused(ErrorCode::forbidden, ""));
  BOOST_TEST(cancel(sh::Order{}, kStaff) == refused(ErrorCode::not_found, "order_id"));
  BOOST_TEST(cancel(order, kCustomer, "") == refused(ErrorCode::invalid_argument, "reason"));
  BOOST_TEST(cancel(order, kCustomer, std::string(501, 'r')) == refused(ErrorCode::invalid_argument, "reason"));
}

BOOST_AUTO_TEST_CASE(a_cancellation_releases_the_reserved_stock_per_product) {
  const auto [order, products] = placed_order();
  BOOST_TEST(products.at("p1").stock == 5);
  BOOST_TEST(products.at("p2").stock == 3);
  const auto released = ACCEPTED(sh::decide_release(order, products));
  BOOST_TEST(released.size() == 2U);
  const auto e1 = only<sh::StockReleased>(released.at("p1"));
  BOOST_TEST(e1.product_id == "p1");
  BOOST_TEST(e1.order_id == "order-1");
  BOOST_TEST(e1.quantity == 5);  // both lines of p1
  BOOST_TEST(e1.stock_after == 10);
  const auto e2 = only<sh::StockReleased>(released.at("p2"));
  BOOST_TEST(e2.quantity == 1);
  BOOST_TEST(e2.stock_after == 4);
  BOOST_TEST(fold(products.at("p1"), released.at("p1")).stock == 10);
  // Only a placed order gives stock back; every product must be known.
  BOOST_TEST(outcome(sh::decide_release(sh::evolve(order, sh::OrderCancelled{"order-1", "x", "cust-1"}), products)) ==
             refused(ErrorCode::conflict, "order_id"));
  BOOST_TEST(outcome(sh::decide_release(sh::evolve(order, sh::OrderFulfilled{"order-1"}), products)) ==
             refused(ErrorCode::conflict, "order_id"));
  BOOST_TEST(outcome(sh::decide_release(sh::Order{}, products)) == refused(ErrorCode::not_found, "order_id"));
  auto without_p2 = products;
  without_p2.erase("p2");
  BOOST_TEST(outcome(sh::decide_release(order, without_p2)) == refused(ErrorCode::not_found, "product_id"));
}

BOOST_AUTO_TEST_CASE(fulfilling_an_order) {
  const auto [order, products] = placed_order();
  for (const auto& a : {kStaff, kAdmin, kOwner})
    BOOST_TEST(only<sh::OrderFulfilled>(ACCEPTED(sh::decide(order, sh::FulfilOrder{"order-1"}, a))).order_id ==
               "order-1");
  const auto fulfilled = sh::evolve(order, sh::OrderFulfilled{"order-1"});
  BOOST_TEST((fulfilled.status == sh::OrderStatus::fulfilled));
  auto fulfil = [](const sh::Order& o, const u::Actor& a) {
    return outcome(sh::decide(o, sh::FulfilOrder{"order-1"}, a));
  };
  BOOST_TEST(fulfil(fulfilled, kStaff) == refused(ErrorCode::conflict, "order_id"));
  BOOST_TEST(fulfil(sh::evolve(order, sh::OrderCancelled{"order-1", "x", "cust-1"}), kStaff) ==
             refused(ErrorCode::conflict, "order_id"));
  BOOST_TEST(fulfil(order, kCustomer) == refused(ErrorCode::forbidden, "order_id"));
  BOOST_TEST(fulfil(order, kOther) == refused(ErrorCode::not_found, "order_id"));
  BOOST_TEST(fulfil(order, kAuditor) == refused(ErrorCode::forbidden, ""));
  BOOST_TEST(fulfil(order, kAnonymous) == refused(ErrorCode::forbidden, ""));
  BOOST_TEST(fulfil(sh::Order{}, kStaff) == refused(ErrorCode::not_found, "order_id"));
  BOOST_TEST(str(sh::to_string(sh::OrderStatus::fulfilled)) == "fulfilled");
}

// ---------------------------------------------------------------- evolve, codec, registry

BOOST_AUTO_TEST_CASE(evolve_counts_every_event_on_every_state) {
  int folded = 0;
  for_each_alternative<sh::Event>([&]<class E>(std::in_place_type_t<E>) {
    BOOST_TEST_CONTEXT(str(E::kType)) {
      const sh::Event e{E{}};
      BOOST_TEST(sh::evolve(sh::Category{}, e).version == 1);
      BOOST_TEST(sh::evolve(sh::Product{}, e).version == 1);
      BOOST_TEST(sh::evolve(sh::Cart{}, e).version == 1);
      BOOST_TEST(sh::evolve(sh::Order{}, e).version == 1);
      ++folded;
    }
  });
  BOOST_TEST(folded == static_cast<int>(std::variant_size_v<sh::Event>));
  // An event of another stream's kind changes nothing but the count.
  const auto p = product("p1", 100, 3);
  const auto q = sh::evolve(p, sh::CartOpened{"cart-1", "cust-1"});
  BOOST_TEST(q.stock == 3);
  BOOST_TEST(q.price == 100);
  BOOST_TEST(q.version == p.version + 1);
}

BOOST_AUTO_TEST_CASE(payload_codec_round_trips_every_event_type) {
  int checked = 0;
  for_each_alternative<sh::Event>([&]<class E>(std::in_place_type_t<E>) {
    BOOST_TEST_CONTEXT(str(E::kType)) {
      const E ev = filled<E>();
      const sh::Event e{ev};
      BOOST_TEST(str(sh::type_of(e)) == str(E::kType));
      BOOST_TEST(sh::version_of(e) == 1);
      const auto json = sh::encode_payload(e);
      for (const auto& f : E::fields())
        BOOST_TEST(json.find('"' + std::string(f.name) + "\":") != std::string::npos, f.name);
      const auto back = sh::decode_payload(E::kType, E::kVersion, json);
      BOOST_TEST_REQUIRE(outcome(back) == "ok");
      BOOST_TEST_REQUIRE(std::holds_alternative<E>(back.value()));
      const auto& got = std::get<E>(back.value());
      for (const auto& f : E::fields())
        std::visit([&](auto member) { BOOST_TEST((got.*member == ev.*member), f.name); }, f.member);
      BOOST_TEST(sh::encode_payload(back.value()) == json);
      ++checked;
    }
  });
  BOOST_TEST(checked == 17);
  // JSON fields travel as values, not strings.
  const auto placed = sh::encode_payload(sh::OrderPlaced{"o", "c", "u", d::Json{"[]"}, 0, "EUR"});
  BOOST_TEST(placed == R"({"order_id":"o","cart_id":"c","user_id":"u","lines":[],"total":0,"currency":"EUR"})");
  const auto line = sh::encode_payload(sh::CartLineAdded{"c", "l", "p", 2, d::Json{R"({"a":"b"})"}, "u"});
  BOOST_TEST(line ==
             R"({"cart_id":"c","user_id":"u","line_id":"l","product_id":"p","quantity":2,"selected_specs":{"a":"b"}})");
}

BOOST_AUTO_TEST_CASE(payload_decoding_refuses_unknown_types_versions_and_bad_fields) {
  // Unknown type or schema version: an error naming "type".
  for (const char* type : {"shop.exploded", "", "user.registered", "ticket.opened", "shop"})
    BOOST_TEST(outcome(sh::decode_payload(type, 1, "{}")) == refused(ErrorCode::invalid_argument, "type"), type);
  for_each_alternative<sh::Event>([&]<class E>(std::in_place_type_t<E>) {
    BOOST_TEST_CONTEXT(str(E::kType)) {
      const auto full = payload_of<E>("");
      BOOST_TEST(outcome(sh::decode_payload(E::kType, E::kVersion, full)) == "ok");
      for (const int v : {2, 0, -1})
        BOOST_TEST(outcome(sh::decode_payload(E::kType, v, full)) == refused(ErrorCode::invalid_argument, "type"), v);
      for (const auto& f : E::fields()) {
        // Every field but an optional one is required and named when missing.
        BOOST_TEST(outcome(sh::decode_payload(E::kType, E::kVersion, payload_of<E>(f.name))) ==
                       (f.optional ? std::string("ok") : refused(ErrorCode::invalid_argument, f.name)),
                   "without " << f.name);
        // And when of the wrong type (a JSON field takes any value).
        if (!wrong_value(f).empty())
          BOOST_TEST(outcome(sh::decode_payload(E::kType, E::kVersion, payload_of<E>("", f.name))) ==
                         refused(ErrorCode::invalid_argument, f.name),
                     "wrong type in " << f.name);
      }
    }
  });
  BOOST_TEST(outcome(sh::decode_payload("shop.order_fulfilled", 1, "not json")) ==
             refused(ErrorCode::invalid_argument, ""));
  BOOST_TEST(outcome(sh::decode_payload("shop.stock_reserved", 1,
                                        R"({"product_id":"p","order_id":"o","quantity":1.5,"stock_after":1})")) ==
             refused(ErrorCode::invalid_argument, "quantity"));
}

BOOST_AUTO_TEST_CASE(every_event_type_is_registered_on_the_shop_topic) {
  const auto& spec = sh::spec();
  BOOST_TEST(str(spec.name) == "shop");
  BOOST_TEST((std::find(spec.projections.begin(), spec.projections.end(), "shop") != spec.projections.end()));
  BOOST_TEST((std::find(d::domains().begin(), d::domains().end(), &spec) != d::domains().end()));
  const auto types = sh::event_types();
  BOOST_TEST(types.size() == std::variant_size_v<sh::Event>);
  BOOST_TEST(spec.events.size() == std::variant_size_v<sh::Event>);
  for_each_alternative<sh::Event>([&]<class E>(std::in_place_type_t<E>) {
    BOOST_TEST_CONTEXT(str(E::kType)) {
      BOOST_TEST(str(E::kType).rfind("shop.", 0) == 0U);
      BOOST_TEST(std::count(types.begin(), types.end(), E::kType) == 1);
      const auto* registered = d::find_event_type(E::kType, E::kVersion);
      BOOST_TEST_REQUIRE(registered);
      BOOST_TEST(str(registered->topic) == "shop");
      BOOST_TEST(d::topic_of(E::kType) == "shop");
      // The personal shop fields, each its user's: an order's cancel reason,
      // and the specs of a cart line and of each line of an order.
      const auto personal = d::personal_fields(E::kType, E::kVersion);
      const auto only = [&](const char* field) {
        BOOST_TEST_REQUIRE(personal.size() == 1u);
        BOOST_TEST(str(personal[0].field) == field);
        BOOST_TEST(str(personal[0].subject_field) == "user_id");
      };
      if constexpr (std::is_same_v<E, sh::OrderCancelled>) {
        only("reason");
      } else if constexpr (std::is_same_v<E, sh::CartLineAdded>) {
        only("selected_specs");
      } else if constexpr (std::is_same_v<E, sh::OrderPlaced>) {
        only("lines[].selected_specs");
      } else {
        BOOST_TEST(personal.empty());
      }
    }
  });
}
