// The samples of every event the shop domain can produce, by running its
// decisions: schemas_test validates each against its schema (the build
// gathers every domain folder's samples, test/support/samples.hpp).
#include <boost/test/unit_test.hpp>

#include "shop.hpp"
#include "support/samples.hpp"
#include "users.hpp"

namespace {

namespace sh = lethe::domain::shop;
namespace u = lethe::domain::users;
namespace d = lethe::domain;

// Every event the shop domain can produce, by running its decisions: a
// catalogue, a cart filled, merged, edited and converted, an order
// cancelled (with its stock released) and one fulfilled.
std::vector<sh::Event> every_shop_event() {
  std::vector<sh::Event> out;
  const u::Actor customer{"c1", u::Role::user}, staff{"s1", u::Role::staff};
  auto take = [&]<class State>(State& state, d::Result<std::vector<sh::Event>> r) {
    BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    for (auto& e : r.value()) {
      state = sh::evolve(state, e);
      out.push_back(e);
    }
  };
  sh::Category category;
  take(category, sh::decide(category, sh::CreateCategory{"cat-1", "Shirts", "shirts"}, staff));
  sh::Product tee, mug;
  take(tee, sh::decide(tee, sh::CreateProduct{"p1", "Tee", 1999, "EUR", "cat-1", true}, category, staff));
  take(tee, sh::decide(tee, sh::UpdateProduct{"p1", "Tee", 2499, "EUR", "cat-1", true}, category, staff));
  take(tee, sh::decide(tee, sh::AdjustInventory{"p1", 10, "delivery"}, staff));
  take(mug, sh::decide(mug, sh::CreateProduct{"p2", "Mug", 0, "EUR", "cat-1", true}, category, staff));
  take(mug, sh::decide(mug, sh::AdjustInventory{"p2", 3, "delivery"}, staff));
  sh::Cart cart;
  take(cart, sh::decide(cart, sh::OpenCart{"cart-1"}, customer));
  take(cart, sh::decide(cart, sh::AddCartLine{"cart-1", "l1", "p1", 2, R"({"size":"M","w":1.50})"}, tee, customer));
  take(cart, sh::decide(cart, sh::AddCartLine{"cart-1", "l2", "p1", 1, R"({"w":1.50,"size":"M"})"}, tee, customer));
  take(cart, sh::decide(cart, sh::AddCartLine{"cart-1", "l3", "p1", 1, R"({"size":"L"})"}, tee, customer));
  take(cart, sh::decide(cart, sh::AddCartLine{"cart-1", "l4", "p2", 1, "{}"}, mug, customer));
  take(cart, sh::decide(cart, sh::ChangeCartLineQuantity{"cart-1", "l4", 2}, customer));
  take(cart, sh::decide(cart, sh::AddCartLine{"cart-1", "l5", "p2", 1, R"({"print":"cat"})"}, mug, customer));
  take(cart, sh::decide(cart, sh::RemoveCartLine{"cart-1", "l5"}, customer));
  const std::map<std::string, sh::Product> products{{"p1", tee}, {"p2", mug}};
  auto conversion = sh::decide_conversion(cart, products, "order-1", customer);
  BOOST_REQUIRE_MESSAGE(conversion.ok(), (conversion.ok() ? std::string() : conversion.error().message));
  for (auto* events : {&conversion.value().cart, &conversion.value().order})
    out.insert(out.end(), events->begin(), events->end());
  std::map<std::string, sh::Product> reserved;
  for (const auto& [id, events] : conversion.value().products) {
    auto p = products.at(id);
    for (const auto& e : events) {
      p = sh::evolve(p, e);
      out.push_back(e);
    }
    reserved[id] = p;
  }
  sh::Order order;
  for (const auto& e : conversion.value().order) order = sh::evolve(order, e);
  auto fulfilled = order;
  take(fulfilled, sh::decide(order, sh::FulfilOrder{"order-1"}, staff));
  auto release = sh::decide_release(order, reserved);
  BOOST_REQUIRE(release.ok());
  take(order, sh::decide(order, sh::CancelOrder{"order-1", "changed my mind"}, customer));
  for (const auto& [id, events] : release.value()) out.insert(out.end(), events.begin(), events.end());
  // An erasure closes the erased person's open cart...
  sh::Cart left;
  take(left, sh::decide(left, sh::OpenCart{"cart-2"}, customer));
  const auto closed = sh::close_for_erasure(left);
  BOOST_REQUIRE(closed.has_value());
  out.push_back(*closed);
  BOOST_TEST(!sh::close_for_erasure(sh::evolve(left, *closed)).has_value());
  auto converted = cart;
  for (const auto& e : conversion.value().cart) converted = sh::evolve(converted, e);
  BOOST_TEST(!sh::close_for_erasure(converted).has_value());
  // ...and hands the erased creator's records to the erasing admin.
  for (const auto& handed :
       {sh::hand_over(tee, tee.created_by, "admin-1"), sh::hand_over(category, category.created_by, "admin-1")}) {
    BOOST_REQUIRE(handed.has_value());
    out.push_back(*handed);
  }
  return out;
}

}  // namespace

namespace lethe::test {

std::vector<EventSample> shop_event_samples() {
  return samples_of(every_shop_event());
}

}  // namespace lethe::test
