#define BOOST_TEST_MODULE billing_plans
// A customer's plan over HTTP, with the schema's clock moved by the test: a
// trial with its own limit, used up and expired; usage above a limit
// refused whole with what is left; a card on file needed for a plan; the
// monthly counter starting again at 0; the plan page a staff member reads;
// the erasure taking the page with the person.
#include <boost/test/unit_test.hpp>
#include <chrono>

#include "lethe/domain/personal.hpp"
#include "support/api.hpp"
#include "support/fixtures.hpp"

using namespace lethe;
using namespace std::chrono_literals;

namespace {

// The plan page once it reflects the write that answered `written`.
test::Reply page(const test::Served& s, const std::string& user, const test::Reply& written, const std::string& token) {
  return test::must(
      s.api.call("GET", "/users/" + user + "/plan?min_position=" + std::to_string(written.num("position")), "", token),
      200, "plan page");
}

// A service's API key.
struct Metered {
  std::string token;
};

std::string usage(std::int64_t units) {
  return "{\"units\":" + std::to_string(units) + "}";
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_trial_a_card_a_plan_and_a_month_of_usage) {
  test::Served s;
  auto& api = s.api;
  const auto ann = api.person("ann.plan@example.org");
  const auto sam = api.person("sam.plan@example.org", "staff");
  const auto adm = api.person("adm.plan@example.org", "admin");
  // The metering service signs in with an API key, which outlives the
  // month the clock moves below (a session lasts 12 hours).
  const auto meter_account = api.person("meter@example.org", "service");
  const auto meter = Metered{
      test::must(api.call("POST", "/users/" + meter_account.id + "/api-keys", R"({"name":"meter"})", api.owner_key()),
                 201, "meter key")
          .str("key")};
  const auto path = "/users/" + ann.id;

  // Nothing yet: a page of nulls, and no usage without a plan or a trial.
  auto empty = test::must(api.call("GET", path + "/plan", "", ann.token), 200, "empty page");
  BOOST_TEST(empty.json["plan"].IsNull());
  BOOST_TEST(empty.json["trial"].IsNull());
  BOOST_TEST(empty.json["payment_method"]["on_file"].GetBool() == false);
  test::exactly(api.call("POST", path + "/usage", usage(1), meter.token), 422, "no plan", "plan");

  // A trial of 10 units for 14 days, which she starts herself, once.
  test::must(api.call("POST", path + "/trial", R"({"plan":"pro","limit":10,"days":14})", ann.token), 201, "trial");
  test::exactly(api.call("POST", path + "/trial", R"({"plan":"pro","limit":10,"days":14})", ann.token), 409,
                "second trial", "plan");
  test::must(api.call("POST", path + "/usage", usage(6), meter.token), 201, "6 units");
  auto over = test::exactly(api.call("POST", path + "/usage", usage(5), meter.token), 422, "over the trial", "units");
  BOOST_TEST(over.str("message") == "the trial's limit of 10 units would be passed: 6 used, 4 left");
  // Only the billing right or a metering service records usage.
  test::exactly(api.call("POST", path + "/usage", usage(1), ann.token), 403, "her own usage", "Authorization");
  test::exactly(api.call("POST", path + "/usage", usage(1), sam.token), 403, "staff usage", "Authorization");
  const auto last = test::must(api.call("POST", path + "/usage", usage(4), meter.token), 201, "the last 4");
  auto p = page(s, ann.id, last, sam.token);
  BOOST_TEST(p.json["trial"]["state"].GetString() == std::string("used_up"));
  BOOST_TEST(p.json["trial"]["used"].GetInt64() == 10);
  BOOST_TEST(p.json["trial"]["left"].GetInt64() == 0);
  test::exactly(api.call("POST", path + "/usage", usage(1), meter.token), 422, "trial used up", "plan");

  // A plan needs a card on file; she puts hers, the admin sets the plan.
  test::exactly(api.call("PUT", path + "/plan", R"({"plan":"pro","monthly_limit":100})", adm.token), 422, "no card",
                "payment_method");
  test::exactly(
      api.call("PUT", path + "/payment-method", R"({"brand":"visa","last4":"42","expires":"12/29"})", ann.token), 400,
      "short last4", "last4");
  test::must(
      api.call("PUT", path + "/payment-method", R"({"brand":"visa","last4":"4242","expires":"12/29"})", ann.token), 200,
      "card");
  test::exactly(api.call("PUT", path + "/plan", R"({"plan":"pro","monthly_limit":100})", ann.token), 403,
                "her own plan", "Authorization");
  test::must(api.call("PUT", path + "/plan", R"({"plan":"pro","monthly_limit":100})", adm.token), 200, "plan");
  test::must(api.call("POST", path + "/usage", usage(60), meter.token), 201, "60 units");
  over = test::exactly(api.call("POST", path + "/usage", usage(41), adm.token), 422, "over the month", "units");
  BOOST_TEST(over.str("message") == "the monthly limit of 100 units would be passed: 60 used, 40 left");
  const auto full = test::must(api.call("POST", path + "/usage", usage(40), meter.token), 201, "exactly the limit");
  test::exactly(api.call("POST", path + "/usage", usage(1), meter.token), 422, "past the limit", "units");
  p = page(s, ann.id, full, sam.token);
  BOOST_TEST(p.json["plan"]["name"].GetString() == std::string("pro"));
  BOOST_TEST(p.json["plan"]["used"].GetInt64() == 100);
  BOOST_TEST(p.json["plan"]["left"].GetInt64() == 0);
  BOOST_TEST(p.json["payment_method"]["last4"].GetString() == std::string("4242"));
  const std::string month = p.json["plan"]["period"].GetString();
  // The card's digits are hers: sealed in the table.
  const auto stored = s.db.scalar("SELECT payment_last4 FROM billing_plans WHERE user_id = '" + ann.id + "'");
  BOOST_TEST(domain::is_sealed_text(stored), stored);
  BOOST_TEST(stored.find("4242") == std::string::npos);

  // A month later the counter starts again at 0.
  s.clock.advance(std::chrono::hours(24 * 32));
  p = test::must(api.call("GET", path + "/plan", "", api.owner_key()), 200, "next month");
  BOOST_TEST(p.json["plan"]["period"].GetString() != month);
  BOOST_TEST(p.json["plan"]["used"].GetInt64() == 0);
  const auto next = test::must(api.call("POST", path + "/usage", usage(30), meter.token), 201, "a new month");
  BOOST_TEST(page(s, ann.id, next, api.owner_key()).json["plan"]["used"].GetInt64() == 30);

  // Erased: her page goes, and no usage names her again.
  auto erased =
      test::must(api.call("POST", path + "/erasure", "", api.owner_key(), {{"Content-Length", "0"}}), 202, "erase");
  BOOST_REQUIRE(test::until_erasure_applied(api, erased.str("id"), api.owner_key()).status == 200);
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM billing_plans WHERE user_id = '" + ann.id + "'") == "0");
  test::exactly(api.call("POST", path + "/usage", usage(1), meter.token), 410, "erased", "user_id");
}

BOOST_AUTO_TEST_CASE(a_trial_past_its_end_reads_expired_and_ends_at_the_next_usage) {
  test::Served s;
  auto& api = s.api;
  const auto bob = api.person("bob.plan@example.org");
  const auto adm = api.person("adm2.plan@example.org", "admin");
  const auto path = "/users/" + bob.id;
  test::must(
      api.call("PUT", path + "/payment-method", R"({"brand":"amex","last4":"0005","expires":"01/30"})", bob.token), 200,
      "card");
  test::must(api.call("PUT", path + "/plan", R"({"plan":"basic","monthly_limit":50})", adm.token), 200, "plan");
  const auto trial =
      test::must(api.call("POST", path + "/trial", R"({"plan":"pro","limit":1000,"days":1})", bob.token), 201, "trial");
  BOOST_TEST(page(s, bob.id, trial, bob.token).json["trial"]["state"].GetString() == std::string("running"));
  const auto during = test::must(api.call("POST", path + "/usage", usage(500), adm.token), 201, "during the trial");
  BOOST_TEST(page(s, bob.id, during, bob.token).json["plan"]["used"].GetInt64() == 0);  // the trial's, not the plan's

  s.clock.advance(std::chrono::hours(25));  // her session and the admin's have ended too
  const auto& owner = api.owner_key();
  BOOST_TEST(
      test::must(api.call("GET", path + "/plan", "", owner), 200, "after its end").json["trial"]["state"].GetString() ==
      std::string("expired"));
  // Past its end, usage counts against the plan, and the trial ends.
  test::exactly(api.call("POST", path + "/usage", usage(51), owner), 422, "over the plan", "units");
  const auto after = test::must(api.call("POST", path + "/usage", usage(50), owner), 201, "after the trial");
  const auto p = page(s, bob.id, after, owner);
  BOOST_TEST(p.json["plan"]["used"].GetInt64() == 50);
  BOOST_TEST(p.json["trial"]["used"].GetInt64() == 500);
  BOOST_TEST(s.db.scalar("SELECT trial_state FROM billing_plans WHERE user_id = '" + bob.id + "'") == "expired");
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events WHERE stream_id = 'billingplan-" + bob.id +
                         "' AND type = 'billing.trial_ended'") == "1");
}
