#pragma once
// The shop domain: categories, products with their stock, carts and orders.
// Pure: ids come in with the commands, and what a decision needs from other
// streams (the category of a product, the products of a cart) is loaded by
// the caller and passed in.
//
// Streams (every event goes to the topic "shop"): category-<id>,
// product-<id> (a product's stock lives on its own stream, so converting a
// cart appends to every product stream it touches, each at its own expected
// version, in one transaction), cart-<id>, order-<id>.
//
// Money is an integer amount in minor units with an ISO 4217 currency code
// (three upper-case letters), never floating point; a total that would
// overflow is refused (rule_violated), never wrapped.
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lethe/domain/event_fields.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/domain/registry.hpp"
#include "lethe/domain/result.hpp"
#include "users.hpp"

namespace lethe::domain::shop {

inline constexpr std::size_t kMaxId = 200;                    // every id, bytes
inline constexpr std::size_t kMaxName = 200;                  // category and product names, bytes
inline constexpr std::size_t kMaxSlug = 100;                  // bytes of [a-z0-9-]
inline constexpr std::size_t kMaxReason = 500;                // inventory adjustments, cancellations, bytes
inline constexpr std::int64_t kMaxPrice = 1'000'000'000'000;  // minor units
inline constexpr std::int64_t kMaxQuantity = 999;             // per cart line
inline constexpr std::size_t kMaxCartLines = 100;             // lines in one cart
inline constexpr std::size_t kMaxSpecsBytes = 4096;           // selected_specs as sent
inline constexpr int kMaxSpecsDepth = 8;                      // nested objects and arrays, the outer object included

// The canonical text of a cart line's selected_specs: a JSON object with the
// keys of every object sorted (byte order) at every level, no whitespace,
// arrays in their order, and numbers exactly as written (1.50 stays 1.50).
// Two texts that differ only in key order and whitespace give the same
// canonical text. Refused (invalid_argument, field "selected_specs"): not
// JSON, not an object, a duplicate key, invalid UTF-8, a NUL character,
// more than kMaxSpecsBytes or deeper than kMaxSpecsDepth.
// The payload codec reads a stored JSON field's numbers as doubles ({"w":1.50}
// reads back as {"w":1.5}), so the cart compares specs in that stored form.
Result<std::string> canonical_specs(std::string_view json);

// ---- Events (see lethe/domain/event_fields.hpp); none holds personal data ----
// Stream category-<category id>.
struct CategoryCreated {
  LETHE_EVENT("shop.category_created");
  std::string category_id, name, slug, created_by;
  static constexpr auto fields() {
    using E = CategoryCreated;
    return std::array<FieldSpec<E>, 4>{
        {{"category_id", &E::category_id}, {"name", &E::name}, {"slug", &E::slug}, {"created_by", &E::created_by}}};
  }
};
// Stream product-<product id>, from here to StockReleased.
struct ProductCreated {
  LETHE_EVENT("shop.product_created");
  std::string product_id, name;
  std::int64_t price = 0;  // minor units of currency
  std::string currency, category_id;
  bool active = false;
  std::string created_by;
  static constexpr auto fields() {
    using E = ProductCreated;
    return std::array<FieldSpec<E>, 7>{{{"product_id", &E::product_id},
                                        {"name", &E::name},
                                        {"price", &E::price},
                                        {"currency", &E::currency},
                                        {"category_id", &E::category_id},
                                        {"active", &E::active},
                                        {"created_by", &E::created_by}}};
  }
};
struct ProductUpdated {
  LETHE_EVENT("shop.product_updated");
  std::string product_id, name;
  std::int64_t price = 0;
  std::string currency, category_id;
  bool active = false;
  static constexpr auto fields() {
    using E = ProductUpdated;
    return std::array<FieldSpec<E>, 6>{{{"product_id", &E::product_id},
                                        {"name", &E::name},
                                        {"price", &E::price},
                                        {"currency", &E::currency},
                                        {"category_id", &E::category_id},
                                        {"active", &E::active}}};
  }
};
struct InventoryAdjusted {
  LETHE_EVENT("shop.inventory_adjusted");
  std::string product_id;
  std::int64_t delta = 0;  // non-zero, negative for a removal
  std::string reason;
  std::int64_t stock_after = 0;
  static constexpr auto fields() {
    using E = InventoryAdjusted;
    return std::array<FieldSpec<E>, 4>{{{"product_id", &E::product_id},
                                        {"delta", &E::delta},
                                        {"reason", &E::reason},
                                        {"stock_after", &E::stock_after}}};
  }
};
struct StockReserved {
  LETHE_EVENT("shop.stock_reserved");
  std::string product_id, order_id;
  std::int64_t quantity = 0, stock_after = 0;
  static constexpr auto fields() {
    using E = StockReserved;
    return std::array<FieldSpec<E>, 4>{{{"product_id", &E::product_id},
                                        {"order_id", &E::order_id},
                                        {"quantity", &E::quantity},
                                        {"stock_after", &E::stock_after}}};
  }
};
struct StockReleased {
  LETHE_EVENT("shop.stock_released");
  std::string product_id, order_id;
  std::int64_t quantity = 0, stock_after = 0;
  static constexpr auto fields() {
    using E = StockReleased;
    return std::array<FieldSpec<E>, 4>{{{"product_id", &E::product_id},
                                        {"order_id", &E::order_id},
                                        {"quantity", &E::quantity},
                                        {"stock_after", &E::stock_after}}};
  }
};
// Stream cart-<cart id>, from here to CartConverted.
struct CartOpened {
  LETHE_EVENT("shop.cart_opened");
  std::string cart_id, user_id;
  static constexpr auto fields() {
    using E = CartOpened;
    return std::array<FieldSpec<E>, 2>{{{"cart_id", &E::cart_id}, {"user_id", &E::user_id}}};
  }
};
struct CartLineAdded {
  LETHE_EVENT("shop.cart_line_added");
  std::string cart_id, line_id, product_id;
  std::int64_t quantity = 0;
  // canonical_specs() text, sealed under the cart's user's key (user_id;
  // absent on lines added before specs were sealed, which stay in clear)
  Json selected_specs;
  std::string user_id;
  static constexpr auto fields() {
    using E = CartLineAdded;
    return std::array<FieldSpec<E>, 6>{{{"cart_id", &E::cart_id},
                                        {"user_id", &E::user_id, true},
                                        {"line_id", &E::line_id},
                                        {"product_id", &E::product_id},
                                        {"quantity", &E::quantity},
                                        {"selected_specs", &E::selected_specs}}};
  }
};
struct CartLineQuantityChanged {
  LETHE_EVENT("shop.cart_line_quantity_changed");
  std::string cart_id, line_id;
  std::int64_t quantity = 0;
  static constexpr auto fields() {
    using E = CartLineQuantityChanged;
    return std::array<FieldSpec<E>, 3>{
        {{"cart_id", &E::cart_id}, {"line_id", &E::line_id}, {"quantity", &E::quantity}}};
  }
};
struct CartLineRemoved {
  LETHE_EVENT("shop.cart_line_removed");
  std::string cart_id, line_id;
  static constexpr auto fields() {
    using E = CartLineRemoved;
    return std::array<FieldSpec<E>, 2>{{{"cart_id", &E::cart_id}, {"line_id", &E::line_id}}};
  }
};
struct CartConverted {
  LETHE_EVENT("shop.cart_converted");
  std::string cart_id, order_id;
  static constexpr auto fields() {
    using E = CartConverted;
    return std::array<FieldSpec<E>, 2>{{{"cart_id", &E::cart_id}, {"order_id", &E::order_id}}};
  }
};
// The erasure of the cart's user closes it, open (never for a converted
// cart): it takes no further change. Carts hold no stock (stock is
// reserved when a cart becomes an order), so closing one releases nothing.
struct CartClosed {
  LETHE_EVENT("shop.cart_closed");
  std::string cart_id, user_id, reason;
  static constexpr auto fields() {
    using E = CartClosed;
    return std::array<FieldSpec<E>, 3>{{{"cart_id", &E::cart_id}, {"user_id", &E::user_id}, {"reason", &E::reason}}};
  }
};
// Stream order-<order id>, from here on.
struct OrderPlaced {
  LETHE_EVENT("shop.order_placed");
  std::string order_id, cart_id, user_id;
  // [{line_id, product_id, name, quantity, unit_price, currency,
  // selected_specs}]: names and prices frozen at conversion.
  Json lines;
  std::int64_t total = 0;
  std::string currency;
  static constexpr auto fields() {
    using E = OrderPlaced;
    return std::array<FieldSpec<E>, 6>{{{"order_id", &E::order_id},
                                        {"cart_id", &E::cart_id},
                                        {"user_id", &E::user_id},
                                        {"lines", &E::lines},
                                        {"total", &E::total},
                                        {"currency", &E::currency}}};
  }
};
// The reason is the order's user's personal data (it may name them or
// their circumstances): sealed under their key, named by user_id (absent
// from cancellations written before it was carried).
struct OrderCancelled {
  LETHE_EVENT("shop.order_cancelled");
  std::string order_id, reason, user_id;
  static constexpr auto fields() {
    using E = OrderCancelled;
    return std::array<FieldSpec<E>, 3>{
        {{"order_id", &E::order_id}, {"reason", &E::reason}, {"user_id", &E::user_id, true}}};
  }
};
struct OrderFulfilled {
  LETHE_EVENT("shop.order_fulfilled");
  std::string order_id;
  static constexpr auto fields() {
    return std::array<FieldSpec<OrderFulfilled>, 1>{{{"order_id", &OrderFulfilled::order_id}}};
  }
};

// When the person who created (or was handed) a product or category is
// erased, it goes to the admin who erases them (on its own stream).
struct ProductHandedOver {
  LETHE_EVENT("shop.product_handed_over");
  std::string product_id, from_user_id, to_user_id;
  static constexpr auto fields() {
    using E = ProductHandedOver;
    return std::array<FieldSpec<E>, 3>{
        {{"product_id", &E::product_id}, {"from_user_id", &E::from_user_id}, {"to_user_id", &E::to_user_id}}};
  }
};
struct CategoryHandedOver {
  LETHE_EVENT("shop.category_handed_over");
  std::string category_id, from_user_id, to_user_id;
  static constexpr auto fields() {
    using E = CategoryHandedOver;
    return std::array<FieldSpec<E>, 3>{
        {{"category_id", &E::category_id}, {"from_user_id", &E::from_user_id}, {"to_user_id", &E::to_user_id}}};
  }
};

using Event =
    std::variant<CategoryCreated, ProductCreated, ProductUpdated, InventoryAdjusted, StockReserved, StockReleased,
                 CartOpened, CartLineAdded, CartLineQuantityChanged, CartLineRemoved, CartConverted, CartClosed,
                 OrderPlaced, OrderCancelled, OrderFulfilled, ProductHandedOver, CategoryHandedOver>;

// The shop domain as the registry knows it: every event on the topic "shop",
// read by the projection "shop".
const DomainSpec& spec();
// Every event type this domain can emit, for schema checks and docs.
std::vector<std::string_view> event_types();

// ---- States, each folded from its own stream ----
struct Category {
  bool exists = false;
  std::string category_id, name, slug, created_by;
  std::int64_t version = 0;  // number of events folded
};

struct Product {
  bool exists = false;
  std::string product_id, name;
  std::int64_t price = 0;
  std::string currency, category_id;
  bool active = false;
  std::int64_t stock = 0;  // never negative
  std::string created_by;
  std::int64_t version = 0;
};

struct CartLine {
  std::string product_id;
  std::int64_t quantity = 0;
  std::string selected_specs;  // canonical text
};
struct Cart {
  bool exists = false;
  std::string cart_id, user_id;
  bool converted = false;
  bool closed = false;                    // by its user's erasure
  std::string order_id;                   // set when converted
  std::map<std::string, CartLine> lines;  // by line_id
  std::int64_t version = 0;
};

enum class OrderStatus { placed, cancelled, fulfilled };
std::string_view to_string(OrderStatus s) noexcept;

struct OrderLine {
  std::string line_id, product_id, name;
  std::int64_t quantity = 0, unit_price = 0;
  std::string currency, selected_specs;
};
struct Order {
  bool exists = false;
  std::string order_id, cart_id, user_id;
  OrderStatus status = OrderStatus::placed;
  std::vector<OrderLine> lines;  // in line_id order
  std::int64_t total = 0;
  std::string currency;
  std::int64_t version = 0;
};

// Every event folds into every state and counts one (the stream's version);
// events of another stream's kind change nothing else.
Category evolve(Category state, const Event& event);
Product evolve(Product state, const Event& event);
Cart evolve(Cart state, const Event& event);
Order evolve(Order state, const Event& event);

// ---- Commands and decisions ----
// Who may act: auditors and anonymous callers change nothing (forbidden).
// Catalogue and inventory are for staff, admins and owners. A cart is its
// user's: others are told it does not exist (staff, who may see every cart,
// are refused instead); likewise an order.
using users::Actor;

// Stream category-<id>. The slug is unique across categories: a set rule the
// write side checks (a unique index on the slug), not this decision.
struct CreateCategory {
  std::string category_id, name, slug;
};
Result<std::vector<Event>> decide(const Category& state, const CreateCategory& command, const Actor& actor);

// Stream product-<id>. `category` is the category the command names, loaded
// by the caller: refused (not_found "category_id") when it does not exist.
struct CreateProduct {
  std::string product_id, name;
  std::int64_t price = 0;
  std::string currency, category_id;
  bool active = true;
};
struct UpdateProduct {
  std::string product_id, name;
  std::int64_t price = 0;
  std::string currency, category_id;
  bool active = true;
};
struct AdjustInventory {
  std::string product_id;
  std::int64_t delta = 0;
  std::string reason;
};
Result<std::vector<Event>> decide(const Product& state, const CreateProduct& command, const Category& category,
                                  const Actor& actor);
Result<std::vector<Event>> decide(const Product& state, const UpdateProduct& command, const Category& category,
                                  const Actor& actor);
// Stock never goes negative: rule_violated "delta", the current stock named.
Result<std::vector<Event>> decide(const Product& state, const AdjustInventory& command, const Actor& actor);

// Stream cart-<id>. The actor opens a cart for themself. "One open cart per
// user" is a set rule the write side checks, not this decision.
struct OpenCart {
  std::string cart_id;
};
// selected_specs: any JSON object text; it is canonicalised. The same
// product with the same canonical specs merges into its line (a quantity
// change to the sum, at most kMaxQuantity); other specs make the new line
// line_id. `product` is the product named, loaded by the caller.
struct AddCartLine {
  std::string cart_id, line_id, product_id;
  std::int64_t quantity = 0;
  std::string selected_specs = "{}";
};
struct ChangeCartLineQuantity {
  std::string cart_id, line_id;
  std::int64_t quantity = 0;
};
struct RemoveCartLine {
  std::string cart_id, line_id;
};
Result<std::vector<Event>> decide(const Cart& state, const OpenCart& command, const Actor& actor);
Result<std::vector<Event>> decide(const Cart& state, const AddCartLine& command, const Product& product,
                                  const Actor& actor);
Result<std::vector<Event>> decide(const Cart& state, const ChangeCartLineQuantity& command, const Actor& actor);
Result<std::vector<Event>> decide(const Cart& state, const RemoveCartLine& command, const Actor& actor);

// Events to append to product streams, by product id.
using ProductEvents = std::map<std::string, std::vector<Event>>;

// One decision over a cart and every product it holds, appended as one
// transaction: each stream at the version its state was loaded at.
struct Conversion {
  std::vector<Event> cart;   // cart-<cart id>: cart_converted
  ProductEvents products;    // product-<id>: one stock_reserved per product, the sum of its lines
  std::vector<Event> order;  // order-<order id>: order_placed, names and prices frozen
};
// By the cart's user, or staff and above. Refused: a converted cart
// (conflict), an empty one, a product missing from `products` or inactive,
// stock short for any product, mixed currencies, a total that would
// overflow (rule_violated).
Result<Conversion> decide_conversion(const Cart& cart, const std::map<std::string, Product>& products,
                                     const std::string& order_id, const Actor& actor);

// Stream order-<id>. Cancel: the order's user, or staff and above, while it
// is placed. Fulfil: staff and above, while it is placed.
struct CancelOrder {
  std::string order_id, reason;
};
struct FulfilOrder {
  std::string order_id;
};
Result<std::vector<Event>> decide(const Order& state, const CancelOrder& command, const Actor& actor);
Result<std::vector<Event>> decide(const Order& state, const FulfilOrder& command, const Actor& actor);
// The stock a cancellation gives back: one stock_released per product of
// the order. Decide it from the same placed order as the cancellation and
// append both in one transaction, so a cancellation that loses a race
// releases nothing (an order no longer placed is refused: conflict).
Result<ProductEvents> decide_release(const Order& order, const std::map<std::string, Product>& products);

// The erasure's hand-over of a record the erased person owns (created_by is
// them) to the erasing admin; nullopt when they do not own it.
std::optional<Event> hand_over(const Product& p, const std::string& from, const std::string& to);
std::optional<Event> hand_over(const Category& c, const std::string& from, const std::string& to);
// The erasure of a cart's user closes the cart if it is open (reason
// "erased"); nothing for a converted or closed one.
std::optional<Event> close_for_erasure(const Cart& cart);

LETHE_DECLARE_EVENT_CODEC();

}  // namespace lethe::domain::shop
