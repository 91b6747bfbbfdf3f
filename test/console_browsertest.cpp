#define BOOST_TEST_MODULE console
// The console in a real browser. The whole stack runs (serve, relay,
// projector) on a schema of the test's own; the test makes an admin, a
// customer with a plan, a card and usage, a second customer, and a plain
// user; both customers ask for their own erasure and confirm it. The
// schema's clock then moves 40 days on, past the legal deadline of one
// month. test/console/console_browser.py drives Debian's Chromium through
// the pages (sign in, find the request by email, see it overdue, open its
// map, carry it out, watch the receipts arrive, reveal a dead letter's
// masked payload, rebuild the users read model and watch it cut over, be
// refused as a plain user) and saves the screenshots the README shows
// (docs/console/). What the browser did is then checked on the server: the
// erasure, the reveal and the rebuild happened, by that admin, in the audit
// log.
#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <filesystem>

#include "support/api.hpp"

using namespace lethe;
using namespace std::chrono_literals;

namespace {

const std::string kPassword = "a good password";

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// A person's own erasure request, confirmed with their password: pending,
// waiting for an admin. Returns its id.
std::string ask_to_be_forgotten(test::Api& api, const test::Api::Person& who) {
  const auto asked =
      test::must(api.call("POST", "/me/erasure", "", who.token, {{"Content-Length", "0"}}), 201, "ask for erasure");
  test::must(api.call("POST", "/me/erasure/confirm",
                      test::json_object({{"token", asked.str("token")}, {"password", kPassword}}), who.token),
             200, "confirm the erasure");
  return asked.str("id");
}

}  // namespace

BOOST_AUTO_TEST_CASE(an_admin_carries_out_an_overdue_erasure_in_the_console_and_a_plain_user_is_refused) {
  test::Served s;
  auto& api = s.api;
  const auto owner = api.owner_key();
  const auto admin = api.person("ines.admin@example.org", "admin");
  const auto ada = api.person("ada.customer@example.org");
  const auto bob = api.person("bob.customer@example.org");
  const auto plain = api.person("paul.plain@example.org");

  // Ada's plan: a card on file, 100 units a month, 60 used.
  const auto path = "/users/" + ada.id;
  test::must(
      api.call("PUT", path + "/payment-method", R"({"brand":"visa","last4":"4242","expires":"12/30"})", ada.token), 200,
      "card");
  test::must(api.call("PUT", path + "/plan", R"({"plan":"pro","monthly_limit":100})", owner), 200, "plan");
  test::must(api.call("POST", path + "/usage", R"({"units":60})", owner), 201, "usage");

  // A message no projection can read, on the users topic: the users
  // projection sets it aside on the dead-letter topic.
  test::produce_raw(s.topics.topic("users"), "user-garbled", "\xff\xfenot an event");
  BOOST_REQUIRE(test::eventually([&] { return test::topic_end(s.topics.topic("dead-letters")) > 0; }, 60s));

  const auto request = ask_to_be_forgotten(api, ada);
  const auto other = ask_to_be_forgotten(api, bob);
  const auto seen = test::must(api.call("GET", "/erasure-requests/" + other + "?min_version=2", "", owner), 200,
                               "the second request, projected");
  // Within its month: not overdue. Forty days on, by the schema's clock, it is.
  BOOST_TEST(seen.json["overdue"].GetBool() == false);
  s.clock.advance(std::chrono::hours(24 * 40));
  const auto late = test::must(api.call("GET", "/erasure-requests/" + request, "", owner), 200, "the request, late");
  BOOST_TEST(late.str("status") == "pending");
  BOOST_TEST(late.json["overdue"].GetBool() == true);

  const auto shots =
      env_or("LETHE_CONSOLE_SCREENSHOTS", (std::filesystem::current_path() / "console-screenshots").string());
  const std::map<std::string, std::string> env{
      {"LETHE_CONSOLE_URL", "http://127.0.0.1:" + std::to_string(api.port())},
      {"LETHE_CONSOLE_ADMIN_EMAIL", "ines.admin@example.org"},
      {"LETHE_CONSOLE_CUSTOMER_EMAIL", "ada.customer@example.org"},
      {"LETHE_CONSOLE_CUSTOMER_ID", ada.id},
      {"LETHE_CONSOLE_REQUEST_ID", request},
      {"LETHE_CONSOLE_USER_EMAIL", "paul.plain@example.org"},
      {"LETHE_CONSOLE_PROJECTIONS", std::to_string(test::all_projections().size())},
      {"LETHE_CONSOLE_PASSWORD", kPassword},
      {"LETHE_CONSOLE_SCREENSHOTS", shots},
      {"LETHE_CHROMIUM", env_or("LETHE_CHROMIUM", "/usr/bin/chromium")},
  };
  const auto python = env_or("LETHE_REFERENCE_PYTHON", test::source_dir() + "/.lethe/venv/bin/python");
  const auto run = test::capture_env(env, python + " " + test::source_dir() + "/test/console/console_browser.py");
  BOOST_TEST_MESSAGE(run.output);
  BOOST_REQUIRE_MESSAGE(run.rc == 0, run.output);

  // What the browser did, as the server holds it: Ada's request carried
  // out by the admin, every projection's receipt in, her key gone; Bob's
  // request untouched and still overdue.
  const auto done = test::until_erasure_applied(api, request, owner);
  BOOST_TEST(done.str("status") == "complete");
  BOOST_TEST(done.str("erased_by") == admin.id);
  BOOST_TEST(!done.str("key_fingerprint").empty());
  const auto untouched = test::must(api.call("GET", "/erasure-requests/" + other, "", owner), 200, "bob's request");
  BOOST_TEST(untouched.str("status") == "pending");
  BOOST_TEST(untouched.json["overdue"].GetBool() == true);
  const auto audit = test::poll(api, "/audit-log?target_id=" + request + "&actor=" + admin.id, owner,
                                [](const test::Reply& r) { return r.json["entries"].Size() > 0; });
  BOOST_TEST(audit.body.find("user.erased") != std::string::npos, audit.body);
  // The dead letter the admin revealed, by that admin, in the audit log.
  const auto revealed = test::poll(api, "/audit-log?actor=" + admin.id, owner, [](const test::Reply& r) {
    return r.body.find("operations.dead_letter_revealed") != std::string::npos;
  });
  BOOST_TEST(revealed.body.find("\"target_kind\":\"dead_letter\"") != std::string::npos, revealed.body);
  // The rebuild the admin started: cut over, and on record as theirs.
  BOOST_TEST(s.db.scalar("SELECT string_agg(action, ',') FROM projection_versions WHERE projection = 'users'") ==
             "cut-over");
  const auto rebuilt = test::poll(api, "/audit-log?actor=" + admin.id, owner, [](const test::Reply& r) {
    return r.body.find("operations.projection_job_started") != std::string::npos;
  });
  BOOST_TEST(rebuilt.body.find("\"target_id\":\"users\"") != std::string::npos, rebuilt.body);
}
