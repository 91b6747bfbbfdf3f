#include "shop.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "checks.hpp"
#include "codec.hpp"
#include "json_util.hpp"

namespace lethe::domain::shop {

namespace {

using users::Role;

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};

constexpr auto kEventTypes = codec::event_specs<Event>("shop");
constexpr std::string_view kProjections[] = {"shop"};
constexpr TopicSpec kTopics[] = {{"shop", 3, "catalogue, inventory, carts and orders"}};

const std::string kSpecsField = "selected_specs";

DomainError forbidden(std::string field, std::string message) {
  return {ErrorCode::forbidden, std::move(field), std::move(message)};
}
DomainError not_found(std::string field, std::string message) {
  return {ErrorCode::not_found, std::move(field), std::move(message)};
}
DomainError conflict(std::string field, std::string message) {
  return {ErrorCode::conflict, std::move(field), std::move(message)};
}
DomainError rule(std::string field, std::string message) {
  return {ErrorCode::rule_violated, std::move(field), std::move(message)};
}

Result<std::vector<Event>> one(Event e) {
  return std::vector<Event>{std::move(e)};
}

std::optional<std::int64_t> checked_add(std::int64_t a, std::int64_t b) {
  std::int64_t out = 0;
  if (__builtin_add_overflow(a, b, &out)) return std::nullopt;
  return out;
}
std::optional<std::int64_t> checked_mul(std::int64_t a, std::int64_t b) {
  std::int64_t out = 0;
  if (__builtin_mul_overflow(a, b, &out)) return std::nullopt;
  return out;
}

bool is_staff(const Actor& a) {
  return a.role == Role::staff || a.role == Role::admin || a.role == Role::owner;
}

// Auditors read everything and change nothing; anonymous callers change nothing.
std::optional<DomainError> check_may_change(const Actor& a) {
  if (!a.role) return forbidden("", "sign in first");
  if (*a.role == Role::auditor) return forbidden("", "an auditor changes nothing");
  return std::nullopt;
}

std::optional<DomainError> check_staff(const Actor& a, std::string_view what) {
  if (auto err = check_may_change(a)) return err;
  if (!is_staff(a)) return forbidden("", "only staff, admins and owners " + std::string(what));
  return std::nullopt;
}

std::optional<DomainError> check_id(std::string_view field, std::string_view value) {
  return checks::id(field, value, kMaxId);
}

std::optional<DomainError> check_slug(std::string_view slug) {
  if (auto err = checks::text("slug", slug, kMaxSlug)) return err;
  const bool allowed = std::all_of(slug.begin(), slug.end(),
                                   [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
  if (!allowed || slug.front() == '-' || slug.back() == '-')
    return invalid("slug", "slug must be lower-case letters, digits and '-', not starting or ending with '-'");
  return std::nullopt;
}

std::optional<DomainError> check_price(std::int64_t price) {
  if (price < 0 || price > kMaxPrice)
    return invalid("price", "price must be between 0 and " + std::to_string(kMaxPrice) + " minor units");
  return std::nullopt;
}

std::optional<DomainError> check_currency(std::string_view currency) {
  const bool ok = currency.size() == 3 &&
                  std::all_of(currency.begin(), currency.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
  if (!ok) return invalid("currency", "currency must be an ISO 4217 code: three upper-case letters, such as EUR");
  return std::nullopt;
}

std::optional<DomainError> check_quantity(std::int64_t quantity) {
  if (quantity < 1 || quantity > kMaxQuantity)
    return invalid("quantity", "quantity must be between 1 and " + std::to_string(kMaxQuantity));
  return std::nullopt;
}

// The checks shared by creating and updating a product.
template <class C>
std::optional<DomainError> check_product_fields(const C& c, const Category& category) {
  if (auto err = checks::text("name", c.name, kMaxName)) return err;
  if (auto err = check_price(c.price)) return err;
  if (auto err = check_currency(c.currency)) return err;
  if (auto err = check_id("category_id", c.category_id)) return err;
  if (!category.exists || category.category_id != c.category_id)
    return not_found("category_id", "no such category: " + c.category_id);
  return std::nullopt;
}

// A cart is its user's. Another customer is told it does not exist, so ids
// cannot be probed; staff, who may see every cart, are refused.
std::optional<DomainError> check_cart_user(const Cart& cart, const Actor& actor) {
  if (auto err = check_may_change(actor)) return err;
  if (!cart.exists || (!is_staff(actor) && cart.user_id != actor.id)) return not_found("cart_id", "no such cart");
  if (cart.user_id != actor.id) return forbidden("cart_id", "only the cart's user changes its lines");
  return std::nullopt;
}

std::optional<DomainError> check_cart_open(const Cart& cart) {
  if (cart.converted) return conflict("cart_id", "the cart was converted into order " + cart.order_id);
  if (cart.closed) return conflict("cart_id", "the cart is closed");
  return std::nullopt;
}

// Likewise an order: its user's, and every order is visible to staff.
std::optional<DomainError> check_order_visible(const Order& order, const Actor& actor) {
  if (auto err = check_may_change(actor)) return err;
  if (!order.exists || (!is_staff(actor) && order.user_id != actor.id)) return not_found("order_id", "no such order");
  return std::nullopt;
}

std::optional<DomainError> check_placed(const Order& order, std::string_view what) {
  if (order.status != OrderStatus::placed)
    return conflict("order_id", "the order is " + std::string(to_string(order.status)) + "; only a placed order " +
                                    std::string(what));
  return std::nullopt;
}

// ---- canonical_specs ----

std::string quoted(const char* s, std::size_t n) {
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  w.String(s, static_cast<rapidjson::SizeType>(n));
  return {buf.GetString(), buf.GetSize()};
}

// Builds the canonical text bottom-up while RapidJSON reads: numbers arrive
// as their text (kParseNumbersAsStringsFlag), an object's members are sorted
// when it closes. Returning false stops the reader; `error` says why.
class CanonicalWriter : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, CanonicalWriter> {
 public:
  std::optional<std::string> error;
  std::string result;

  bool Default() { return fail("unexpected JSON token"); }
  bool Null() { return value("null"); }
  bool Bool(bool b) { return value(b ? "true" : "false"); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) { return value(std::string(s, n)); }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (std::string_view(s, n).find('\0') != std::string_view::npos) return fail("a string holds a NUL character");
    return value(quoted(s, n));
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (std::string_view(s, n).find('\0') != std::string_view::npos) return fail("a key holds a NUL character");
    // A top-level "sealed" would pass for a value sealed already and be
    // stored in clear (domain::seal_personal leaves sealed values alone).
    if (frames_.size() == 1 && std::string_view(s, n) == "sealed")
      return fail("selected_specs may not have a top-level key named \"sealed\"");
    frames_.back().key.assign(s, n);
    return true;
  }
  bool StartObject() { return open(true); }
  bool EndObject(rapidjson::SizeType) {
    auto members = std::move(frames_.back().members);
    frames_.pop_back();
    std::sort(members.begin(), members.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string text = "{";
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (i > 0 && members[i].first == members[i - 1].first) return fail("duplicate key \"" + members[i].first + "\"");
      if (i > 0) text += ',';
      text += quoted(members[i].first.data(), members[i].first.size());
      text += ':';
      text += members[i].second;
    }
    text += '}';
    return value(std::move(text));
  }
  bool StartArray() { return open(false); }
  bool EndArray(rapidjson::SizeType) {
    auto items = std::move(frames_.back().items);
    frames_.pop_back();
    std::string text = "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i > 0) text += ',';
      text += items[i];
    }
    text += ']';
    return value(std::move(text));
  }

 private:
  struct Frame {
    bool object = false;
    std::string key;
    std::vector<std::pair<std::string, std::string>> members;
    std::vector<std::string> items;
  };
  std::vector<Frame> frames_;

  bool fail(std::string why) {
    if (!error) error = std::move(why);
    return false;
  }
  bool open(bool object) {
    if (frames_.empty() && !object) return fail("selected_specs must be a JSON object");
    if (frames_.size() >= static_cast<std::size_t>(kMaxSpecsDepth))
      return fail("selected_specs may nest at most " + std::to_string(kMaxSpecsDepth) + " levels");
    frames_.push_back(Frame{object, {}, {}, {}});
    return true;
  }
  bool value(std::string text) {
    if (frames_.empty()) {
      if (text.empty() || text.front() != '{') return fail("selected_specs must be a JSON object");
      result = std::move(text);
    } else if (frames_.back().object) {
      frames_.back().members.emplace_back(std::move(frames_.back().key), std::move(text));
    } else {
      frames_.back().items.push_back(std::move(text));
    }
    return true;
  }
};

// The codec stores a JSON field through RapidJSON's default parse, which
// reads numbers as doubles: {"w":1.50} reads back from the store as
// {"w":1.5}. Specs are compared in that stored form, so a line folded from
// its stored event still merges with the same specs sent again.
std::string stored_form(const std::string& canonical) {
  rapidjson::Document doc;
  doc.Parse(canonical.c_str(), canonical.size());
  if (doc.HasParseError()) return canonical;
  return codec::compact(doc);
}

std::string json_string(const rapidjson::Value& obj, const char* name) {
  const auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}
std::int64_t json_int(const rapidjson::Value& obj, const char* name) {
  const auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsInt64()) return 0;
  return it->value.GetInt64();
}

// order_placed's lines, as the order keeps them.
std::vector<OrderLine> parse_order_lines(const std::string& text) {
  std::vector<OrderLine> out;
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  if (doc.HasParseError() || !doc.IsArray()) return out;
  for (const auto& item : doc.GetArray()) {
    if (!item.IsObject()) continue;
    OrderLine line;
    line.line_id = json_string(item, "line_id");
    line.product_id = json_string(item, "product_id");
    line.name = json_string(item, "name");
    line.quantity = json_int(item, "quantity");
    line.unit_price = json_int(item, "unit_price");
    line.currency = json_string(item, "currency");
    const auto specs = item.FindMember("selected_specs");
    line.selected_specs = specs == item.MemberEnd() ? "{}" : codec::compact(specs->value);
    out.push_back(std::move(line));
  }
  return out;
}

std::string encode_order_lines(const std::vector<OrderLine>& lines) {
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  w.StartArray();
  for (const auto& l : lines) {
    w.StartObject();
    json::field(w, "line_id", l.line_id);
    json::field(w, "product_id", l.product_id);
    json::field(w, "name", l.name);
    json::field(w, "quantity", l.quantity);
    json::field(w, "unit_price", l.unit_price);
    json::field(w, "currency", l.currency);
    json::key(w, "selected_specs");
    const std::string& specs = l.selected_specs.empty() ? std::string("{}") : l.selected_specs;
    w.RawValue(specs.data(), specs.size(), rapidjson::kObjectType);
    w.EndObject();
  }
  w.EndArray();
  return {buf.GetString(), buf.GetSize()};
}

}  // namespace

const DomainSpec& spec() {
  static const DomainSpec s{"shop", kEventTypes, kProjections, kTopics};
  return s;
}

std::vector<std::string_view> event_types() {
  return type_names(spec());
}

std::string_view to_string(OrderStatus s) noexcept {
  switch (s) {
    case OrderStatus::placed:
      return "placed";
    case OrderStatus::cancelled:
      return "cancelled";
    case OrderStatus::fulfilled:
      return "fulfilled";
  }
  return "placed";
}

Result<std::string> canonical_specs(std::string_view json) {
  if (json.size() > kMaxSpecsBytes)
    return invalid(kSpecsField, "selected_specs must be at most " + std::to_string(kMaxSpecsBytes) + " bytes");
  // The reader stops at a NUL byte as at the end of the text.
  if (json.find('\0') != std::string_view::npos)
    return invalid(kSpecsField, "selected_specs must not contain NUL characters");
  const std::string text(json);
  rapidjson::StringStream in(text.c_str());
  rapidjson::Reader reader;
  CanonicalWriter out;
  constexpr unsigned kFlags = rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseValidateEncodingFlag;
  const auto parsed = reader.Parse<kFlags>(in, out);
  if (out.error) return invalid(kSpecsField, *out.error);
  if (parsed.IsError())
    return invalid(kSpecsField, std::string("selected_specs is not valid JSON: ") +
                                    rapidjson::GetParseError_En(parsed.Code()) + " (at byte " +
                                    std::to_string(parsed.Offset()) + ")");
  return std::move(out.result);
}

// ---- Categories ----

Result<std::vector<Event>> decide(const Category& state, const CreateCategory& c, const Actor& actor) {
  if (auto err = check_staff(actor, "create categories")) return *err;
  if (auto err = check_id("category_id", c.category_id)) return *err;
  if (state.exists) return DomainError{ErrorCode::already_exists, "category_id", "category exists already"};
  if (auto err = checks::text("name", c.name, kMaxName)) return *err;
  // Unique across categories: the write side's unique index, not this decision.
  if (auto err = check_slug(c.slug)) return *err;
  return one(CategoryCreated{c.category_id, c.name, c.slug, actor.id});
}

// ---- Products ----

Result<std::vector<Event>> decide(const Product& state, const CreateProduct& c, const Category& category,
                                  const Actor& actor) {
  if (auto err = check_staff(actor, "create products")) return *err;
  if (auto err = check_id("product_id", c.product_id)) return *err;
  if (state.exists) return DomainError{ErrorCode::already_exists, "product_id", "product exists already"};
  if (auto err = check_product_fields(c, category)) return *err;
  return one(ProductCreated{c.product_id, c.name, c.price, c.currency, c.category_id, c.active, actor.id});
}

Result<std::vector<Event>> decide(const Product& state, const UpdateProduct& c, const Category& category,
                                  const Actor& actor) {
  if (auto err = check_staff(actor, "update products")) return *err;
  if (!state.exists) return not_found("product_id", "no such product");
  if (auto err = check_product_fields(c, category)) return *err;
  if (c.name == state.name && c.price == state.price && c.currency == state.currency &&
      c.category_id == state.category_id && c.active == state.active)
    return DomainError{ErrorCode::no_change, "product_id", "the product is unchanged"};
  return one(ProductUpdated{state.product_id, c.name, c.price, c.currency, c.category_id, c.active});
}

Result<std::vector<Event>> decide(const Product& state, const AdjustInventory& c, const Actor& actor) {
  if (auto err = check_staff(actor, "adjust inventory")) return *err;
  if (!state.exists) return not_found("product_id", "no such product");
  if (c.delta == 0) return invalid("delta", "delta must not be zero");
  if (auto err = checks::text("reason", c.reason, kMaxReason)) return *err;
  const auto after = checked_add(state.stock, c.delta);
  if (!after) return rule("delta", "the stock would overflow");
  if (*after < 0)
    return rule("delta", "stock never goes negative: " + std::to_string(state.stock) + " in stock, delta " +
                             std::to_string(c.delta));
  return one(InventoryAdjusted{state.product_id, c.delta, c.reason, *after});
}

// ---- Carts ----

Result<std::vector<Event>> decide(const Cart& state, const OpenCart& c, const Actor& actor) {
  if (auto err = check_may_change(actor)) return *err;
  if (auto err = check_id("cart_id", c.cart_id)) return *err;
  // One open cart per user: a set rule the write side checks, not this decision.
  if (state.exists) return DomainError{ErrorCode::already_exists, "cart_id", "cart exists already"};
  return one(CartOpened{c.cart_id, actor.id});
}

Result<std::vector<Event>> decide(const Cart& state, const AddCartLine& c, const Product& product, const Actor& actor) {
  if (auto err = check_cart_user(state, actor)) return *err;
  if (auto err = check_cart_open(state)) return *err;
  if (auto err = check_id("line_id", c.line_id)) return *err;
  if (auto err = check_id("product_id", c.product_id)) return *err;
  if (auto err = check_quantity(c.quantity)) return *err;
  auto specs = canonical_specs(c.selected_specs);
  if (!specs) return specs.error();
  if (!product.exists || product.product_id != c.product_id)
    return rule("product_id", "no such product: " + c.product_id);
  if (!product.active) return rule("product_id", "product " + c.product_id + " is not for sale (inactive)");
  const auto key = stored_form(specs.value());
  for (const auto& [line_id, line] : state.lines) {
    if (line.product_id != c.product_id || stored_form(line.selected_specs) != key) continue;
    const auto sum = checked_add(line.quantity, c.quantity).value_or(kMaxQuantity + 1);
    if (sum > kMaxQuantity)
      return rule("quantity", "line " + line_id + " holds " + std::to_string(line.quantity) + "; adding " +
                                  std::to_string(c.quantity) + " would exceed " + std::to_string(kMaxQuantity));
    return one(CartLineQuantityChanged{state.cart_id, line_id, sum});
  }
  if (state.lines.contains(c.line_id))
    return DomainError{ErrorCode::already_exists, "line_id", "line " + c.line_id + " holds another product or specs"};
  if (state.lines.size() >= kMaxCartLines)
    return rule("line_id", "a cart holds at most " + std::to_string(kMaxCartLines) + " lines");
  return one(
      CartLineAdded{state.cart_id, c.line_id, c.product_id, c.quantity, Json{std::move(specs).value()}, state.user_id});
}

Result<std::vector<Event>> decide(const Cart& state, const ChangeCartLineQuantity& c, const Actor& actor) {
  if (auto err = check_cart_user(state, actor)) return *err;
  if (auto err = check_cart_open(state)) return *err;
  if (auto err = check_quantity(c.quantity)) return *err;
  const auto it = state.lines.find(c.line_id);
  if (it == state.lines.end()) return not_found("line_id", "no such line in the cart: " + c.line_id);
  if (it->second.quantity == c.quantity)
    return DomainError{ErrorCode::no_change, "quantity", "the line holds " + std::to_string(c.quantity) + " already"};
  return one(CartLineQuantityChanged{state.cart_id, c.line_id, c.quantity});
}

Result<std::vector<Event>> decide(const Cart& state, const RemoveCartLine& c, const Actor& actor) {
  if (auto err = check_cart_user(state, actor)) return *err;
  if (auto err = check_cart_open(state)) return *err;
  if (!state.lines.contains(c.line_id)) return not_found("line_id", "no such line in the cart: " + c.line_id);
  return one(CartLineRemoved{state.cart_id, c.line_id});
}

Result<Conversion> decide_conversion(const Cart& cart, const std::map<std::string, Product>& products,
                                     const std::string& order_id, const Actor& actor) {
  if (auto err = check_may_change(actor)) return *err;
  if (!cart.exists || (!is_staff(actor) && cart.user_id != actor.id)) return not_found("cart_id", "no such cart");
  if (auto err = check_cart_open(cart)) return *err;
  if (cart.lines.empty()) return rule("cart_id", "the cart is empty");
  if (auto err = check_id("order_id", order_id)) return *err;

  std::vector<OrderLine> lines;
  std::map<std::string, std::int64_t> needed;  // product id -> the sum of its lines
  std::int64_t total = 0;
  std::string currency;
  for (const auto& [line_id, line] : cart.lines) {
    const auto it = products.find(line.product_id);
    if (it == products.end() || !it->second.exists)
      return rule("product_id", "line " + line_id + ": no such product: " + line.product_id);
    const Product& p = it->second;
    if (!p.active) return rule("product_id", "product " + line.product_id + " (" + p.name + ") is not for sale");
    if (currency.empty()) currency = p.currency;
    if (p.currency != currency)
      return rule("currency", "an order has one currency; the cart mixes " + currency + " and " + p.currency);
    const auto line_total = checked_mul(p.price, line.quantity);
    const auto new_total = line_total ? checked_add(total, *line_total) : std::nullopt;
    const auto new_needed = checked_add(needed[line.product_id], line.quantity);
    if (!new_total || !new_needed) return rule("total", "the order's total would overflow");
    total = *new_total;
    needed[line.product_id] = *new_needed;
    lines.push_back(OrderLine{line_id, line.product_id, p.name, line.quantity, p.price, p.currency,
                              line.selected_specs.empty() ? "{}" : line.selected_specs});
  }

  Conversion out;
  for (const auto& [product_id, quantity] : needed) {
    const Product& p = products.at(product_id);
    if (p.stock < quantity)
      return rule("product_id", "product " + product_id + " (" + p.name + ") has " + std::to_string(p.stock) +
                                    " in stock; the cart needs " + std::to_string(quantity));
    out.products[product_id].push_back(StockReserved{product_id, order_id, quantity, p.stock - quantity});
  }
  out.cart.push_back(CartConverted{cart.cart_id, order_id});
  out.order.push_back(
      OrderPlaced{order_id, cart.cart_id, cart.user_id, Json{encode_order_lines(lines)}, total, currency});
  return out;
}

// ---- Orders ----

Result<std::vector<Event>> decide(const Order& state, const CancelOrder& c, const Actor& actor) {
  if (auto err = check_order_visible(state, actor)) return *err;
  if (auto err = check_placed(state, "can be cancelled")) return *err;
  if (auto err = checks::text("reason", c.reason, kMaxReason)) return *err;
  return one(OrderCancelled{state.order_id, c.reason, state.user_id});
}

Result<std::vector<Event>> decide(const Order& state, const FulfilOrder&, const Actor& actor) {
  if (auto err = check_order_visible(state, actor)) return *err;
  if (!is_staff(actor)) return forbidden("order_id", "only staff, admins and owners fulfil orders");
  if (auto err = check_placed(state, "can be fulfilled")) return *err;
  return one(OrderFulfilled{state.order_id});
}

Result<ProductEvents> decide_release(const Order& order, const std::map<std::string, Product>& products) {
  if (!order.exists) return not_found("order_id", "no such order");
  if (auto err = check_placed(order, "gives its stock back")) return *err;
  std::map<std::string, std::int64_t> quantities;
  for (const auto& line : order.lines) {
    const auto sum = checked_add(quantities[line.product_id], line.quantity);
    if (!sum) return rule("quantity", "the order's quantities overflow");
    quantities[line.product_id] = *sum;
  }
  ProductEvents out;
  for (const auto& [product_id, quantity] : quantities) {
    const auto it = products.find(product_id);
    if (it == products.end() || !it->second.exists) return not_found("product_id", "no such product: " + product_id);
    const auto after = checked_add(it->second.stock, quantity);
    if (!after) return rule("quantity", "the stock of product " + product_id + " would overflow");
    out[product_id].push_back(StockReleased{product_id, order.order_id, quantity, *after});
  }
  return out;
}

// ---- evolve ----

Category evolve(Category s, const Event& event) {
  if (const auto* e = std::get_if<CategoryCreated>(&event)) {
    s.exists = true;
    s.category_id = e->category_id;
    s.name = e->name;
    s.slug = e->slug;
    s.created_by = e->created_by;
  } else if (const auto* h = std::get_if<CategoryHandedOver>(&event)) {
    s.created_by = h->to_user_id;
  }
  ++s.version;
  return s;
}

std::optional<Event> hand_over(const Product& p, const std::string& from, const std::string& to) {
  if (!p.exists || p.created_by != from) return std::nullopt;
  return ProductHandedOver{p.product_id, from, to};
}

std::optional<Event> hand_over(const Category& c, const std::string& from, const std::string& to) {
  if (!c.exists || c.created_by != from) return std::nullopt;
  return CategoryHandedOver{c.category_id, from, to};
}

std::optional<Event> close_for_erasure(const Cart& cart) {
  if (!cart.exists || cart.converted || cart.closed) return std::nullopt;
  return CartClosed{cart.cart_id, cart.user_id, "erased"};
}

Product evolve(Product s, const Event& event) {
  std::visit(overloaded{
                 [&](const ProductCreated& e) {
                   s.exists = true;
                   s.product_id = e.product_id;
                   s.name = e.name;
                   s.price = e.price;
                   s.currency = e.currency;
                   s.category_id = e.category_id;
                   s.active = e.active;
                   s.created_by = e.created_by;
                 },
                 [&](const ProductUpdated& e) {
                   s.name = e.name;
                   s.price = e.price;
                   s.currency = e.currency;
                   s.category_id = e.category_id;
                   s.active = e.active;
                 },
                 // Each stock event records the stock it leaves.
                 [&](const InventoryAdjusted& e) { s.stock = e.stock_after; },
                 [&](const StockReserved& e) { s.stock = e.stock_after; },
                 [&](const StockReleased& e) { s.stock = e.stock_after; },
                 [&](const ProductHandedOver& e) { s.created_by = e.to_user_id; },
                 [&](const auto&) {},
             },
             event);
  ++s.version;
  return s;
}

Cart evolve(Cart s, const Event& event) {
  std::visit(overloaded{
                 [&](const CartOpened& e) {
                   s.exists = true;
                   s.cart_id = e.cart_id;
                   s.user_id = e.user_id;
                 },
                 [&](const CartLineAdded& e) {
                   s.lines[e.line_id] = CartLine{e.product_id, e.quantity, e.selected_specs.text};
                 },
                 [&](const CartLineQuantityChanged& e) {
                   const auto it = s.lines.find(e.line_id);
                   if (it != s.lines.end()) it->second.quantity = e.quantity;
                 },
                 [&](const CartLineRemoved& e) { s.lines.erase(e.line_id); },
                 [&](const CartConverted& e) {
                   s.converted = true;
                   s.order_id = e.order_id;
                 },
                 [&](const CartClosed&) { s.closed = true; },
                 [&](const auto&) {},
             },
             event);
  ++s.version;
  return s;
}

Order evolve(Order s, const Event& event) {
  std::visit(overloaded{
                 [&](const OrderPlaced& e) {
                   s.exists = true;
                   s.order_id = e.order_id;
                   s.cart_id = e.cart_id;
                   s.user_id = e.user_id;
                   s.status = OrderStatus::placed;
                   s.lines = parse_order_lines(e.lines.text);
                   s.total = e.total;
                   s.currency = e.currency;
                 },
                 [&](const OrderCancelled&) { s.status = OrderStatus::cancelled; },
                 [&](const OrderFulfilled&) { s.status = OrderStatus::fulfilled; },
                 [&](const auto&) {},
             },
             event);
  ++s.version;
  return s;
}

// ---- codec ----

LETHE_DEFINE_EVENT_CODEC("shop")

}  // namespace lethe::domain::shop
