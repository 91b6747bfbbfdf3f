#define BOOST_TEST_MODULE shop_service
// The shop's command service against PostgreSQL: the set rules (a unique
// slug, one open cart per user) in the write side, and the cart conversion
// as one atomic decision over the cart, its products and the new order:
// 20 concurrent conversions of one cart make one order and take the stock
// once; two carts racing for the last unit make one order.
#include <array>
#include <barrier>
#include <boost/test/unit_test.hpp>
#include <thread>

#include "lethe/infra/access.hpp"
#include "lethe/producers/event_store.hpp"
#include "shop_service.hpp"
#include "support/fixtures.hpp"
#include "user_service.hpp"

using namespace lethe;
namespace sh = domain::shop;
namespace u = domain::users;
using producers::CommandContext;

namespace {

infra::PasswordPool& passwords() {
  static infra::PasswordPool pool(2);
  return pool;
}

struct Shop {
  test::TestSchema db;
  producers::EventStore store{db.conninfo()};
  producers::UserService users{store, passwords()};
  producers::ShopService shop{store};

  Shop() {
    for (const auto& [id, role] :
         std::vector<std::pair<std::string, std::string>>{{"staff-1", "staff"}, {"ann", "user"}, {"bob", "user"}}) {
      auto r = users.register_user(u::RegisterUser{id, id + "@example.org", "Name of " + id, role, ""}, "",
                                   CommandContext{"system:test"});
      BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    }
  }
  // A category and a product with `stock` units, made by staff.
  void product(const std::string& id, std::int64_t price, std::int64_t stock) {
    const CommandContext staff{"staff-1"};
    if (db.scalar("SELECT count(*) FROM events WHERE stream_id = 'category-c1'") == "0")
      BOOST_REQUIRE(shop.create_category(sh::CreateCategory{"c1", "Shirts", "shirts"}, staff).ok());
    auto made = shop.create_product(sh::CreateProduct{id, "Tee " + id, price, "EUR", "c1", true}, staff);
    BOOST_REQUIRE_MESSAGE(made.ok(), (made.ok() ? std::string() : made.error().message));
    if (stock > 0) BOOST_REQUIRE(shop.adjust_inventory(sh::AdjustInventory{id, stock, "delivery"}, staff).ok());
  }
  std::int64_t events() const { return std::stoll(db.scalar("SELECT count(*) FROM events")); }
  std::int64_t stock_of(const std::string& product) const {
    // The last stock_after on the product's stream.
    return std::stoll(
        db.scalar("SELECT coalesce((payload::jsonb ->> 'stock_after')::bigint, 0) FROM events WHERE stream_id = "
                  "'product-" +
                  product + "' ORDER BY stream_version DESC LIMIT 1"));
  }
};

std::string outcome(const domain::Result<producers::Written>& r) {
  return r.ok() ? "ok" : std::string(domain::to_string(r.error().code)) + ":" + r.error().field;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_slug_belongs_to_one_category) {
  Shop s;
  const CommandContext staff{"staff-1"};
  BOOST_TEST(outcome(s.shop.create_category(sh::CreateCategory{"c1", "Shirts", "shirts"}, staff)) == "ok");
  const auto before = s.events();
  BOOST_TEST(outcome(s.shop.create_category(sh::CreateCategory{"c2", "More shirts", "shirts"}, staff)) ==
             "conflict:slug");
  BOOST_TEST(s.events() == before);  // the refused category appended nothing
  BOOST_TEST(outcome(s.shop.create_category(sh::CreateCategory{"c3", "Hats", "hats"}, staff)) == "ok");
  // A customer manages no catalogue.
  BOOST_TEST(outcome(s.shop.create_category(sh::CreateCategory{"c4", "Mine", "mine"}, CommandContext{"ann"})) ==
             "forbidden:");
}

BOOST_AUTO_TEST_CASE(one_open_cart_per_user_until_it_is_converted) {
  Shop s;
  s.product("p1", 1500, 10);
  const CommandContext ann{"ann"};
  BOOST_REQUIRE(s.shop.open_cart(sh::OpenCart{"cart-a"}, ann).ok());
  const auto before = s.events();
  BOOST_TEST(outcome(s.shop.open_cart(sh::OpenCart{"cart-b"}, ann)) == "conflict:cart_id");
  BOOST_TEST(s.events() == before);
  BOOST_TEST(outcome(s.shop.open_cart(sh::OpenCart{"cart-b"}, CommandContext{"bob"})) == "ok");
  // Converted, it frees the way for the next one.
  BOOST_REQUIRE(s.shop.add_line(sh::AddCartLine{"cart-a", "l1", "p1", 2, "{}"}, ann).ok());
  BOOST_REQUIRE(s.shop.convert("cart-a", "order-a", ann).ok());
  BOOST_TEST(outcome(s.shop.open_cart(sh::OpenCart{"cart-c"}, ann)) == "ok");
}

BOOST_AUTO_TEST_CASE(a_conversion_reserves_stock_freezes_prices_and_a_second_is_refused) {
  Shop s;
  s.product("p1", 1500, 10);
  s.product("p2", 700, 3);
  const CommandContext ann{"ann"};
  BOOST_REQUIRE(s.shop.open_cart(sh::OpenCart{"cart-a"}, ann).ok());
  // Two spec variants of p1 (separate lines), the same specs again (merged).
  BOOST_REQUIRE(s.shop.add_line(sh::AddCartLine{"cart-a", "l1", "p1", 2, R"({"size":"M","color":"red"})"}, ann).ok());
  BOOST_REQUIRE(s.shop.add_line(sh::AddCartLine{"cart-a", "l2", "p1", 1, R"({"size":"L"})"}, ann).ok());
  BOOST_REQUIRE(
      s.shop.add_line(sh::AddCartLine{"cart-a", "l3", "p1", 1, R"({ "color" : "red", "size" : "M" })"}, ann).ok());
  BOOST_REQUIRE(s.shop.add_line(sh::AddCartLine{"cart-a", "l4", "p2", 3, "{}"}, ann).ok());
  // A price change before the conversion is what the order freezes.
  BOOST_REQUIRE(
      s.shop.update_product(sh::UpdateProduct{"p1", "Tee p1", 1600, "EUR", "c1", true}, CommandContext{"staff-1"})
          .ok());
  auto converted = s.shop.convert("cart-a", "order-a", ann);
  BOOST_REQUIRE_MESSAGE(converted.ok(), outcome(converted));
  // One transaction: the cart, each product once, the order.
  std::set<std::string> streams;
  for (const auto& e : converted.value()) streams.insert(e.stream_id);
  BOOST_TEST(streams == (std::set<std::string>{"cart-cart-a", "order-order-a", "product-p1", "product-p2"}));
  BOOST_TEST(s.stock_of("p1") == 6);  // 10 - (3 + 1)
  BOOST_TEST(s.stock_of("p2") == 0);
  BOOST_TEST(s.db.scalar("SELECT payload::jsonb ->> 'total' FROM events WHERE stream_id = 'order-order-a'") ==
             "8500");  // 4 x 1600 + 3 x 700
  const auto before = s.events();
  BOOST_TEST(outcome(s.shop.convert("cart-a", "order-b", ann)) == "conflict:cart_id");
  BOOST_TEST(s.events() == before);
  // Cancelling gives the stock back in the same transaction.
  BOOST_REQUIRE(s.shop.cancel_order(sh::CancelOrder{"order-a", "changed my mind"}, ann).ok());
  BOOST_TEST(s.stock_of("p1") == 10);
  BOOST_TEST(s.stock_of("p2") == 3);
  BOOST_TEST(outcome(s.shop.cancel_order(sh::CancelOrder{"order-a", "again"}, ann)) == "conflict:order_id");
}

BOOST_AUTO_TEST_CASE(refusals_of_a_conversion_append_nothing) {
  Shop s;
  s.product("p1", 1500, 1);
  const CommandContext ann{"ann"}, bob{"bob"};
  BOOST_REQUIRE(s.shop.open_cart(sh::OpenCart{"cart-a"}, ann).ok());
  const auto before = s.events();
  BOOST_TEST(outcome(s.shop.convert("cart-a", "o1", ann)) == "rule_violated:cart_id");  // empty
  BOOST_REQUIRE(s.shop.add_line(sh::AddCartLine{"cart-a", "l1", "p1", 2, "{}"}, ann).ok());
  BOOST_TEST(outcome(s.shop.convert("cart-a", "o1", ann)).starts_with("rule_violated:"));  // 2 wanted, 1 in stock
  BOOST_TEST(outcome(s.shop.convert("cart-a", "o1", bob)) == "not_found:cart_id");         // not bob's cart
  BOOST_TEST(s.events() == before + 1);                                                    // only the line
  BOOST_TEST(s.stock_of("p1") == 1);
}

BOOST_AUTO_TEST_CASE(twenty_concurrent_conversions_of_one_cart_make_one_order) {
  Shop s;
  s.product("p1", 1500, 50);
  s.product("p2", 900, 50);
  const CommandContext ann{"ann"};
  BOOST_REQUIRE(s.shop.open_cart(sh::OpenCart{"cart-a"}, ann).ok());
  BOOST_REQUIRE(s.shop.add_line(sh::AddCartLine{"cart-a", "l1", "p1", 3, "{}"}, ann).ok());
  BOOST_REQUIRE(s.shop.add_line(sh::AddCartLine{"cart-a", "l2", "p2", 2, "{}"}, ann).ok());
  constexpr int kRacers = 20;
  std::barrier start(kRacers);
  std::vector<std::string> outcomes(kRacers);
  std::vector<std::thread> racers;
  for (int i = 0; i < kRacers; ++i)
    racers.emplace_back([&, i] {
      producers::EventStore store(s.db.conninfo());
      producers::ShopService shop(store);
      start.arrive_and_wait();
      try {
        outcomes[static_cast<std::size_t>(i)] =
            outcome(shop.convert("cart-a", "order-" + std::to_string(i), CommandContext{"ann"}));
      } catch (const std::exception& e) {
        outcomes[static_cast<std::size_t>(i)] = std::string("threw: ") + e.what();
      }
    });
  for (auto& t : racers) t.join();
  int won = 0, refused = 0;
  for (const auto& o : outcomes) {
    if (o == "ok") ++won;
    if (o == "conflict:cart_id") ++refused;
    BOOST_TEST((o == "ok" || o == "conflict:cart_id"), o);
  }
  BOOST_TEST(won == 1);
  BOOST_TEST(refused == kRacers - 1);
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events WHERE type = 'shop.order_placed'") == "1");
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events WHERE type = 'shop.stock_reserved'") == "2");
  BOOST_TEST(s.stock_of("p1") == 47);
  BOOST_TEST(s.stock_of("p2") == 48);
}

namespace {

// Ann and Bob each convert a cart holding the last unit of p1. Both read the
// stock before either writes (inserts into the event store are held back
// until both wait): the outcome of each ("ok" or the error's code).
std::array<std::string, 2> two_carts_race_for_the_last_unit(Shop& s) {
  s.product("p1", 1500, 1);
  for (const auto* who : {"ann", "bob"}) {
    BOOST_REQUIRE(s.shop.open_cart(sh::OpenCart{std::string("cart-") + who}, CommandContext{who}).ok());
    BOOST_REQUIRE(
        s.shop.add_line(sh::AddCartLine{std::string("cart-") + who, "l1", "p1", 1, "{}"}, CommandContext{who}).ok());
  }
  std::array<std::string, 2> results;
  test::HeldWrites held(s.db, "events");
  std::vector<std::thread> racers;
  for (int i = 0; i < 2; ++i)
    racers.emplace_back([&, i] {
      const std::string who = i == 0 ? "ann" : "bob";
      producers::EventStore store(s.db.conninfo());
      producers::ShopService shop(store);
      results[static_cast<std::size_t>(i)] = outcome(shop.convert("cart-" + who, "order-" + who, CommandContext{who}));
    });
  BOOST_TEST(held.release_when_waiting(2));
  for (auto& t : racers) t.join();
  return results;
}

}  // namespace

BOOST_AUTO_TEST_CASE(two_carts_racing_for_the_last_unit_make_one_order) {
  Shop s;
  const auto results = two_carts_race_for_the_last_unit(s);
  const int won = (results[0] == "ok") + (results[1] == "ok");
  BOOST_TEST(won == 1, results[0] << " / " << results[1]);
  // The loser's conversion is decided again on fresh state: out of stock.
  for (const auto& r : results) BOOST_TEST((r == "ok" || r.starts_with("rule_violated:")), r);
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events WHERE type = 'shop.order_placed'") == "1");
  BOOST_TEST(s.stock_of("p1") == 0);
}

// The negative control of the case above: the same race against an event
// store without its unique key on (stream, version). Both conversions
// append version 2 of the product: two orders for one unit.
BOOST_AUTO_TEST_CASE(without_the_version_key_two_carts_sell_the_last_unit_twice) {
  Shop s;
  s.db.exec("ALTER TABLE events DROP CONSTRAINT events_stream_id_stream_version_key");
  const auto results = two_carts_race_for_the_last_unit(s);
  BOOST_TEST(results[0] == "ok");
  BOOST_TEST(results[1] == "ok");
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events WHERE type = 'shop.order_placed'") == "2");
}
