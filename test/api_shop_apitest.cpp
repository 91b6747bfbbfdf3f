#define BOOST_TEST_MODULE api_shop
// The shop routes over HTTP against a running `lethe serve`, with the relay
// and the projections running: a catalogue, a cart with two spec variants
// of one product, its conversion (a second refused), the order and the
// stock in the read models, cancellation; who sees what; bad input.
#include <barrier>
#include <boost/test/unit_test.hpp>
#include <set>
#include <thread>

#include "support/api.hpp"
#include "support/fixtures.hpp"

using namespace lethe;
using test::Api;

namespace {

using test::Stack;

std::string pos(const test::Reply& r) {
  return std::to_string(r.num("position"));
}

// A category and a product with stock, made by staff: the product's id.
std::string product(Api& api, const std::string& staff, const std::string& slug, std::int64_t price,
                    std::int64_t stock) {
  auto cat = api.call("POST", "/categories", "{\"name\":\"Shirts\",\"slug\":\"" + slug + "\"}", staff);
  BOOST_REQUIRE_MESSAGE(cat.status == 201, cat.body);
  auto p = api.call("POST", "/products",
                    "{\"name\":\"Tee\",\"price\":" + std::to_string(price) +
                        ",\"currency\":\"EUR\",\"category_id\":\"" + cat.str("id") + "\"}",
                    staff);
  BOOST_REQUIRE_MESSAGE(p.status == 201, p.body);
  auto s = api.call("POST", "/products/" + p.str("id") + "/inventory",
                    "{\"delta\":" + std::to_string(stock) + ",\"reason\":\"first delivery\"}", staff);
  BOOST_REQUIRE_MESSAGE(s.status == 200, s.body);
  return p.str("id");
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_customer_fills_a_cart_with_two_variants_and_converts_it_once) {
  Stack s;
  auto& api = s.api;
  const auto ann = api.person("ann@example.org");
  const auto bob = api.person("bob@example.org");
  const auto sam = api.person("sam@example.org", "staff");
  const auto tee = product(api, sam.token, "shirts", 1500, 10);

  auto cart = api.call("POST", "/carts", "", ann.token);
  BOOST_REQUIRE_MESSAGE(cart.status == 201, cart.body);
  const auto cart_id = cart.str("id");
  BOOST_TEST(api.call("POST", "/carts", "", ann.token).status == 409);  // one open cart per user

  auto red_m = api.call("POST", "/carts/" + cart_id + "/lines",
                        "{\"product_id\":\"" + tee + R"(","quantity":2,"selected_specs":{"size":"M","color":"red"}})",
                        ann.token);
  BOOST_REQUIRE_MESSAGE(red_m.status == 201, red_m.body);
  auto large = api.call("POST", "/carts/" + cart_id + "/lines",
                        "{\"product_id\":\"" + tee + R"(","quantity":1,"selected_specs":{"size":"L"}})", ann.token);
  BOOST_REQUIRE_MESSAGE(large.status == 201, large.body);
  BOOST_TEST(large.str("id") != red_m.str("id"));
  // The same specs in another order and spacing merge into the first line.
  auto again = api.call("POST", "/carts/" + cart_id + "/lines",
                        "{\"product_id\":\"" + tee + R"(","quantity":1,"selected_specs":{ "color":"red","size":"M" }})",
                        ann.token);
  BOOST_REQUIRE_MESSAGE(again.status == 200, again.body);
  BOOST_TEST(again.str("id") == red_m.str("id"));

  auto seen = api.call("GET", "/carts/" + cart_id + "?min_position=" + pos(again), "", ann.token);
  BOOST_REQUIRE_MESSAGE(seen.status == 200, seen.body);
  BOOST_REQUIRE(seen.json["lines"].Size() == 2u);
  std::int64_t units = 0;
  for (const auto& l : seen.json["lines"].GetArray()) units += l["quantity"].GetInt64();
  BOOST_TEST(units == 4);
  BOOST_TEST(api.call("GET", "/carts/" + cart_id, "", bob.token).status == 404);  // not bob's
  BOOST_TEST(api.call("POST", "/carts/" + cart_id + "/convert", "", bob.token).status == 404);

  auto order = api.call("POST", "/carts/" + cart_id + "/convert", "", ann.token);
  BOOST_REQUIRE_MESSAGE(order.status == 201, order.body);
  auto second = api.call("POST", "/carts/" + cart_id + "/convert", "", ann.token);
  BOOST_TEST(second.status == 409);
  BOOST_TEST(second.str("field") == "cart_id");

  const auto order_id = order.str("id");
  auto placed = api.call("GET", "/orders/" + order_id + "?min_position=" + pos(order), "", ann.token);
  BOOST_REQUIRE_MESSAGE(placed.status == 200, placed.body);
  BOOST_TEST(placed.str("status") == "placed");
  BOOST_TEST(placed.num("total") == 6000);
  BOOST_TEST(placed.str("currency") == "EUR");
  BOOST_TEST(placed.json["lines"].Size() == 2u);
  // What ann asked for is hers: the answers open her specs, while the shop
  // topic and the read models' bytes hold them sealed.
  std::set<std::string> specs, placed_specs;
  for (const auto& l : seen.json["lines"].GetArray()) specs.insert(test::json_text(l["selected_specs"]));
  for (const auto& l : placed.json["lines"].GetArray()) placed_specs.insert(test::json_text(l["selected_specs"]));
  const std::set<std::string> asked{R"({"color":"red","size":"M"})", R"({"size":"L"})"};
  BOOST_TEST((specs == asked));
  BOOST_TEST((placed_specs == asked));
  std::size_t with_lines = 0;
  for (const auto& m : test::read_topic(s.topics.topic("shop"))) {
    BOOST_TEST(m.value.find("\"color\"") == std::string::npos, m.value);
    with_lines += m.value.find("selected_specs") != std::string::npos;
  }
  BOOST_TEST(with_lines == 3u);  // two lines added, one order placed
  BOOST_TEST(s.db.rows("SELECT selected_specs::text FROM shop_cart_lines WHERE selected_specs::text LIKE '%color%'"
                       " UNION ALL SELECT lines::text FROM shop_orders WHERE lines::text LIKE '%color%'")
                 .empty());
  BOOST_TEST(s.db.rows("SELECT 1 FROM shop_cart_lines WHERE selected_specs ? 'sealed'").size() == 2u);
  // The order, the product and the cart are on streams of their own (and
  // partitions): each arrives in the read model in its own time.
  auto stock = test::poll(api, "/products/" + tee, ann.token, [](const test::Reply& r) { return r.num("stock") == 6; });
  BOOST_TEST(stock.num("stock") == 6);
  auto converted = test::poll(api, "/carts/" + cart_id, ann.token,
                              [](const test::Reply& r) { return r.str("status") == "converted"; });
  BOOST_TEST(converted.str("status") == "converted");
  BOOST_TEST(converted.str("order_id") == order_id);
  // Another customer does not see it; staff do; lists are per customer.
  BOOST_TEST(api.call("GET", "/orders/" + order_id, "", bob.token).status == 404);
  BOOST_TEST(api.call("GET", "/orders/" + order_id, "", sam.token).status == 200);
  BOOST_TEST(api.call("GET", "/orders", "", ann.token).json["orders"].Size() == 1u);
  BOOST_TEST(api.call("GET", "/orders", "", bob.token).json["orders"].Size() == 0u);

  // A new cart may be opened now; cancelling gives the stock back.
  BOOST_TEST(api.call("POST", "/carts", "", ann.token).status == 201);
  auto cancelled = api.call("POST", "/orders/" + order_id + "/cancel", R"({"reason":"changed my mind"})", ann.token);
  BOOST_REQUIRE_MESSAGE(cancelled.status == 200, cancelled.body);
  BOOST_TEST(api.call("GET", "/products/" + tee + "?min_position=" + pos(cancelled), "", ann.token).num("stock") == 10);
  BOOST_TEST(api.call("POST", "/orders/" + order_id + "/fulfil", "", sam.token).status == 409);
}

BOOST_AUTO_TEST_CASE(concurrent_conversions_over_http_make_one_order) {
  Stack s;
  auto& api = s.api;
  const auto ann = api.person("ann@example.org");
  const auto sam = api.person("sam@example.org", "staff");
  const auto tee = product(api, sam.token, "shirts", 1000, 5);
  auto cart = api.call("POST", "/carts", "", ann.token);
  BOOST_REQUIRE(cart.status == 201);
  BOOST_REQUIRE(api.call("POST", "/carts/" + cart.str("id") + "/lines",
                         "{\"product_id\":\"" + tee + "\",\"quantity\":2}", ann.token)
                    .status == 201);
  constexpr int kRacers = 20;
  std::barrier start(kRacers);
  std::vector<int> statuses(kRacers);
  std::vector<std::thread> racers;
  for (int i = 0; i < kRacers; ++i)
    racers.emplace_back([&, i] {
      start.arrive_and_wait();
      statuses[static_cast<std::size_t>(i)] =
          api.call("POST", "/carts/" + cart.str("id") + "/convert", "", ann.token).status;
    });
  for (auto& t : racers) t.join();
  BOOST_TEST(std::count(statuses.begin(), statuses.end(), 201) == 1);
  BOOST_TEST(std::count(statuses.begin(), statuses.end(), 409) == kRacers - 1);
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events WHERE type = 'shop.order_placed'") == "1");
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events WHERE type = 'shop.stock_reserved'") == "1");
}

BOOST_AUTO_TEST_CASE(bad_shop_input_gets_a_clear_error_and_changes_nothing) {
  Stack s;
  auto& api = s.api;
  const auto ann = api.person("ann@example.org");
  const auto sam = api.person("sam@example.org", "staff");
  const auto tee = product(api, sam.token, "shirts", 1000, 1);
  auto cart = api.call("POST", "/carts", "", ann.token);
  BOOST_REQUIRE(cart.status == 201);
  const auto lines = "/carts/" + cart.str("id") + "/lines";
  const auto before = s.db.scalar("SELECT count(*) FROM events");
  struct Case {
    std::string path, body, token, field;
    int status;
  };
  const std::vector<Case> cases{
      {"/categories", R"({"name":"X","slug":"Not A Slug"})", sam.token, "slug", 400},
      {"/categories", R"({"name":"X","slug":"shirts"})", sam.token, "slug", 409},  // taken
      {"/products", R"({"name":"X","price":-1,"currency":"EUR","category_id":"c"})", sam.token, "price", 400},
      {"/products", R"({"name":"X","price":1.5,"currency":"EUR","category_id":"c"})", sam.token, "price", 400},
      {"/products", R"({"name":"X","price":100,"currency":"euro","category_id":"c"})", sam.token, "currency", 400},
      {"/products", R"({"name":"X","price":100,"currency":"EUR","category_id":"nope"})", sam.token, "category_id", 404},
      {"/products/" + tee + "/inventory", R"({"delta":-2,"reason":"breakage"})", sam.token, "delta", 422},
      {"/products/" + tee + "/inventory", R"({"delta":0,"reason":"nothing"})", sam.token, "delta", 400},
      {lines, "{\"product_id\":\"" + tee + "\",\"quantity\":0}", ann.token, "quantity", 400},
      {lines, "{\"product_id\":\"" + tee + "\",\"quantity\":1000}", ann.token, "quantity", 400},
      {lines, "{\"product_id\":\"" + tee + R"(","quantity":1,"selected_specs":"red"})", ann.token, "selected_specs",
       400},
      {lines, R"({"product_id":"nope","quantity":1})", ann.token, "product_id", 422},
      {"/carts/" + cart.str("id") + "/convert", "", ann.token, "cart_id", 422},  // empty
  };
  for (const auto& c : cases) {
    auto r = api.call("POST", c.path, c.body, c.token);
    BOOST_TEST(r.status == c.status, c.path << " " << c.body << ": " << r.status << " " << r.body);
    BOOST_TEST(r.str("field") == c.field, c.path << " " << c.body << ": " << r.body);
    BOOST_TEST(!r.str("message").empty());
  }
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events") == before);
}
