#include "shop_service.hpp"

#include <pqxx/pqxx>

#include "lethe/infra/pg.hpp"

namespace lethe::producers {

namespace shop = domain::shop;
using domain::DomainError;
using domain::ErrorCode;

namespace {

template <class State>
State load(CommandTx& tx, const std::string& stream) {
  return fold<State>(tx.read(stream), shop::decode_payload,
                     [](State s, const shop::Event& e) { return shop::evolve(std::move(s), e); });
}

std::optional<DomainError> check_id(const char* field, const std::string& id) {
  if (id.empty()) return domain::invalid(field, std::string(field) + " must not be empty");
  if (id.size() > shop::kMaxId)
    return domain::invalid(field, std::string(field) + " must be at most " + std::to_string(shop::kMaxId) + " bytes");
  return std::nullopt;
}

std::optional<DomainError> check_expected(const CommandTx& tx, std::int64_t version) {
  return check_if_match(tx.context(), version, "stream");
}

template <class State>
State fold_state(const std::vector<domain::Envelope>& events) {
  return fold<State>(events, shop::decode_payload,
                     [](State s, const shop::Event& e) { return shop::evolve(std::move(s), e); });
}

template <class State>
State evolve_state(State s, const shop::Event& e) {
  return shop::evolve(std::move(s), e);
}

// A cart or a product, from the service's cache when it has it.
template <class State>
State load(CommandTx& tx, StateCache<State>& cache, const std::string& stream, bool& cached) {
  return cached_state(tx, cache, stream, cached, fold_state<State>);
}

// Decides on one stream's state and appends what was decided there.
template <class State, class Decide>
std::optional<DomainError> on_stream(CommandTx& tx, const std::string& stream, Decide&& decide) {
  const auto state = load<State>(tx, stream);
  if (auto err = check_expected(tx, state.version)) return err;
  auto decided = decide(state, actor_in(tx.sql(), tx.context()));
  if (!decided) return decided.error();
  tx.append(stream, state.version, drafts_of(decided.value()));
  return std::nullopt;
}

// The products a decision needs, each read (and so its head known) before
// anything is written; std::map keeps them in id order, the order in which
// every multi-stream command appends to them (no two transactions wait on
// each other in a cycle).
std::map<std::string, shop::Product> load_products(CommandTx& tx, StateCache<shop::Product>& cache,
                                                   const std::vector<std::string>& ids, bool& cached) {
  std::map<std::string, shop::Product> out;
  for (const auto& id : ids)
    if (!out.contains(id)) out.emplace(id, load(tx, cache, domain::stream_of("product", id), cached));
  return out;
}

void append_products(CommandTx& tx, StateCache<shop::Product>& cache,
                     const std::map<std::string, shop::Product>& products, const shop::ProductEvents& events) {
  for (const auto& [id, evs] : events) {
    const auto stream = domain::stream_of("product", id);
    tx.append(stream, products.at(id).version, drafts_of(evs));
    remember(tx, cache, stream, products.at(id), evs, evolve_state<shop::Product>);
  }
}

// A cart command: the cart (cached), decided and appended, remembered.
template <class Decide>
std::optional<DomainError> on_cart(CommandTx& tx, StateCache<shop::Cart>& carts, const std::string& cart_id,
                                   bool cached, Decide&& decide) {
  const auto stream = domain::stream_of("cart", cart_id);
  const auto cart = load(tx, carts, stream, cached);
  if (auto err = check_expected(tx, cart.version)) return err;
  auto decided = decide(cart, actor_in(tx.sql(), tx.context()));
  if (!decided) {
    if (cached) decide_again(stream);
    return decided.error();
  }
  tx.append(stream, cart.version, drafts_of(decided.value()));
  remember(tx, carts, stream, cart, decided.value(), evolve_state<shop::Cart>);
  return std::nullopt;
}

}  // namespace

domain::Result<Written> ShopService::create_category(const shop::CreateCategory& c, const CommandContext& ctx) {
  if (auto err = check_id("category_id", c.category_id)) return *err;
  return run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    const auto stream = domain::stream_of("category", c.category_id);
    if (auto err = on_stream<shop::Category>(
            tx, stream, [&](const shop::Category& s, const shop::Actor& a) { return shop::decide(s, c, a); }))
      return err;
    try {
      infra::exec_hot(tx.sql(), "INSERT INTO category_slugs (slug, category_id) VALUES ($1, $2)", c.slug,
                      c.category_id);
    } catch (const pqxx::unique_violation&) {
      return DomainError{ErrorCode::conflict, "slug", "a category has the slug '" + c.slug + "' already"};
    }
    return std::nullopt;
  });
}

domain::Result<Written> ShopService::create_product(const shop::CreateProduct& c, const CommandContext& ctx) {
  if (auto err = check_id("product_id", c.product_id)) return *err;
  if (auto err = check_id("category_id", c.category_id)) return *err;
  // The product changes: the next cart command reads it again.
  products_.forget(domain::stream_of("product", c.product_id));
  return run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    const auto category = load<shop::Category>(tx, domain::stream_of("category", c.category_id));
    return on_stream<shop::Product>(
        tx, domain::stream_of("product", c.product_id),
        [&](const shop::Product& s, const shop::Actor& a) { return shop::decide(s, c, category, a); });
  });
}

domain::Result<Written> ShopService::update_product(const shop::UpdateProduct& c, const CommandContext& ctx) {
  if (auto err = check_id("product_id", c.product_id)) return *err;
  if (auto err = check_id("category_id", c.category_id)) return *err;
  // The product changes: the next cart command reads it again.
  products_.forget(domain::stream_of("product", c.product_id));
  return run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    const auto category = load<shop::Category>(tx, domain::stream_of("category", c.category_id));
    return on_stream<shop::Product>(
        tx, domain::stream_of("product", c.product_id),
        [&](const shop::Product& s, const shop::Actor& a) { return shop::decide(s, c, category, a); });
  });
}

domain::Result<Written> ShopService::adjust_inventory(const shop::AdjustInventory& c, const CommandContext& ctx) {
  if (auto err = check_id("product_id", c.product_id)) return *err;
  // The product changes: the next cart command reads it again.
  products_.forget(domain::stream_of("product", c.product_id));
  return run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    return on_stream<shop::Product>(
        tx, domain::stream_of("product", c.product_id),
        [&](const shop::Product& s, const shop::Actor& a) { return shop::decide(s, c, a); });
  });
}

domain::Result<Written> ShopService::open_cart(const shop::OpenCart& c, const CommandContext& ctx) {
  if (auto err = check_id("cart_id", c.cart_id)) return *err;
  return run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    if (auto err = on_cart(tx, carts_, c.cart_id, false,
                           [&](const shop::Cart& s, const shop::Actor& a) { return shop::decide(s, c, a); }))
      return err;
    try {
      infra::exec_hot(tx.sql(), "INSERT INTO open_carts (user_id, cart_id) VALUES ($1, $2)", tx.context().actor,
                      c.cart_id);
    } catch (const pqxx::unique_violation&) {
      return DomainError{ErrorCode::conflict, "cart_id", "you have an open cart already; convert it first"};
    }
    return std::nullopt;
  });
}

domain::Result<Written> ShopService::add_line(const shop::AddCartLine& c, const CommandContext& ctx) {
  if (auto err = check_id("cart_id", c.cart_id)) return *err;
  if (auto err = check_id("product_id", c.product_id)) return *err;
  return run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    bool cached = false;
    const auto product = load(tx, products_, domain::stream_of("product", c.product_id), cached);
    return on_cart(tx, carts_, c.cart_id, cached,
                   [&](const shop::Cart& s, const shop::Actor& a) { return shop::decide(s, c, product, a); });
  });
}

domain::Result<Written> ShopService::change_line(const shop::ChangeCartLineQuantity& c, const CommandContext& ctx) {
  if (auto err = check_id("cart_id", c.cart_id)) return *err;
  return run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    return on_cart(tx, carts_, c.cart_id, false,
                   [&](const shop::Cart& s, const shop::Actor& a) { return shop::decide(s, c, a); });
  });
}

domain::Result<Written> ShopService::remove_line(const shop::RemoveCartLine& c, const CommandContext& ctx) {
  if (auto err = check_id("cart_id", c.cart_id)) return *err;
  return run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    return on_cart(tx, carts_, c.cart_id, false,
                   [&](const shop::Cart& s, const shop::Actor& a) { return shop::decide(s, c, a); });
  });
}

domain::Result<Written> ShopService::convert(const std::string& cart_id, const std::string& order_id,
                                             const CommandContext& ctx) {
  if (auto err = check_id("cart_id", cart_id)) return *err;
  if (auto err = check_id("order_id", order_id)) return *err;
  return run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    // Every stream first: the cart, its products in id order, the new order.
    bool cached = false;
    const auto cart_stream = domain::stream_of("cart", cart_id);
    const auto cart = load(tx, carts_, cart_stream, cached);
    if (auto err = check_expected(tx, cart.version)) return err;
    std::vector<std::string> ids;
    for (const auto& [line_id, line] : cart.lines) ids.push_back(line.product_id);
    const auto products = load_products(tx, products_, ids, cached);
    const auto order_stream = domain::stream_of("order", order_id);
    const auto order = load<shop::Order>(tx, order_stream);
    if (order.exists) return DomainError{ErrorCode::already_exists, "order_id", "the order exists already"};
    auto decided = shop::decide_conversion(cart, products, order_id, actor_in(tx.sql(), tx.context()));
    if (!decided) {
      if (cached) decide_again(cart_stream);
      return decided.error();
    }
    const auto& conv = decided.value();
    tx.append(cart_stream, cart.version, drafts_of(conv.cart));
    remember(tx, carts_, cart_stream, cart, conv.cart, evolve_state<shop::Cart>);
    append_products(tx, products_, products, conv.products);
    tx.append(order_stream, 0, drafts_of(conv.order));
    // The user may open a new cart now.
    infra::exec_hot(tx.sql(), "DELETE FROM open_carts WHERE cart_id = $1", cart_id);
    return std::nullopt;
  });
}

domain::Result<Written> ShopService::cancel_order(const shop::CancelOrder& c, const CommandContext& ctx) {
  if (auto err = check_id("order_id", c.order_id)) return *err;
  return run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    const auto order_stream = domain::stream_of("order", c.order_id);
    const auto order = load<shop::Order>(tx, order_stream);
    if (auto err = check_expected(tx, order.version)) return err;
    std::vector<std::string> ids;
    for (const auto& line : order.lines) ids.push_back(line.product_id);
    bool cached = false;
    const auto products = load_products(tx, products_, ids, cached);
    auto cancelled = shop::decide(order, c, actor_in(tx.sql(), tx.context()));
    if (!cancelled) return cancelled.error();
    auto released = shop::decide_release(order, products);
    if (!released) {
      if (cached) decide_again(order_stream);
      return released.error();
    }
    tx.append(order_stream, order.version, drafts_of(cancelled.value()));
    append_products(tx, products_, products, released.value());
    return std::nullopt;
  });
}

domain::Result<Written> ShopService::fulfil_order(const shop::FulfilOrder& c, const CommandContext& ctx) {
  if (auto err = check_id("order_id", c.order_id)) return *err;
  return run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    return on_stream<shop::Order>(tx, domain::stream_of("order", c.order_id),
                                  [&](const shop::Order& s, const shop::Actor& a) { return shop::decide(s, c, a); });
  });
}

}  // namespace lethe::producers
