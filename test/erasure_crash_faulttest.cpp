#define BOOST_TEST_MODULE erasure_crash
// The projector SIGKILLed in the middle of applying an erasure: the billing
// projection has appended its receipt inside its batch transaction and waits
// on a lock the test holds on billing_profiles when the process dies. The
// transaction dies with it, receipt and all; after a restart the erasure is
// applied once: the profile is gone and every projection, billing included,
// has exactly one receipt on the request stream.
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <optional>
#include <pqxx/pqxx>

#include "support/api.hpp"
#include "support/fixtures.hpp"

using namespace lethe;
using namespace std::chrono_literals;
using test::Api;

namespace {

// A batch waits long enough for the erasure's events, written and published
// together, to arrive in one batch: so the billing projection blocks on its
// policy after writing its receipt, not before.
struct Stack : test::Served {
  Stack() : test::Served({.project_args = {"--batch-wait-ms", "300"}}) {}
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_projector_killed_mid_erasure_applies_it_once_after_a_restart) {
  Stack s;
  auto& db = s.db;
  auto& api = s.api;
  const auto run = test::random_suffix();
  const auto ada = api.person("ada" + run + "@example.org", "admin");
  const auto vera = api.person("vera" + run + "@example.org");
  const std::string holder = "Vera Crash " + run;
  test::must(api.call("PUT", "/users/" + vera.id + "/billing-profile",
                      "{\"holder_name\":\"" + holder + "\",\"address\":\"2 Kill Road\",\"tax_id\":\"TX" + run + "\"}",
                      vera.token),
             200, "billing profile");
  BOOST_REQUIRE(test::eventually(
      [&] { return db.scalar("SELECT count(*) FROM billing_profiles WHERE user_id = '" + vera.id + "'") == "1"; },
      20s));

  // The test holds the billing read model: the projection's batch that
  // applies the erasure will wait on it. EXCLUSIVE, not ACCESS EXCLUSIVE:
  // the latter gives the holding transaction an xid (PostgreSQL logs it for
  // standbys), and the relay rightly waits for every transaction with an
  // xid, so the erasure would never reach Kafka. EXCLUSIVE blocks every
  // write to the table all the same.
  pqxx::connection holder_conn(db.conninfo());
  std::optional<pqxx::work> lock(std::in_place, holder_conn);
  lock->exec("LOCK TABLE billing_profiles IN EXCLUSIVE MODE");
  BOOST_REQUIRE(lock->exec("SELECT pg_current_xact_id_if_assigned() IS NULL")[0][0].as<bool>());

  const auto request_id =
      test::must(api.call("POST", "/users/" + vera.id + "/erasure", "", ada.token, {{"Content-Length", "0"}}), 202,
                 "erase")
          .str("id");
  const auto stream = "erasure-" + request_id;
  const auto billing_receipts = [&] {
    return db.scalar("SELECT count(*) FROM events WHERE stream_id = '" + stream +
                     "' AND type = 'erasure.applied' AND payload ->> 'projection' = 'billing'");
  };

  // The billing projection's transaction waits on the lock, having taken
  // the request stream's lock and written its receipt (a row in events).
  std::string pid;
  BOOST_REQUIRE_MESSAGE(test::eventually(
                            [&] {
                              pid = db.scalar(
                                  "SELECT pid FROM pg_locks WHERE relation = 'billing_profiles'::regclass"
                                  " AND NOT granted LIMIT 1");
                              return !pid.empty();
                            },
                            30s),
                        "the billing projection never waited on billing_profiles");
  BOOST_TEST(db.scalar("SELECT count(*) > 0 FROM pg_locks WHERE pid = " + pid +
                       " AND locktype = 'advisory' AND granted") == "t");
  BOOST_REQUIRE_MESSAGE(
      db.scalar("SELECT count(*) > 0 FROM pg_locks WHERE pid = " + pid +
                " AND relation = 'events'::regclass AND mode = 'RowExclusiveLock' AND granted") == "t",
      "the billing transaction waits without having written its receipt (were the request's "
      "events split over two batches?)");
  BOOST_TEST(db.scalar("SELECT backend_xid IS NOT NULL FROM pg_stat_activity WHERE pid = " + pid) == "t");
  BOOST_TEST(billing_receipts() == "0");  // not committed

  BOOST_TEST_MESSAGE("billing's transaction (backend " << pid << ") waits with its receipt written: SIGKILL");
  s.projector->signal(SIGKILL);
  BOOST_TEST(s.projector->wait() == 128 + SIGKILL);
  s.projector.reset();
  lock->abort();
  lock.reset();
  // Its backend, free of the lock, finds its client gone and rolls back.
  BOOST_REQUIRE(test::eventually(
      [&] { return db.scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid) == "0"; }, 30s));
  BOOST_TEST(billing_receipts() == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM billing_profiles WHERE user_id = '" + vera.id + "'") == "1");

  s.start_projector();
  const auto request = test::until_erasure_applied(api, request_id, ada.token);
  BOOST_TEST(request.status == 200);
  BOOST_TEST(request.json["receipts"].Size() == test::all_projections().size(), request.body);
  for (const auto& x : request.json["receipts"].GetArray())
    BOOST_TEST(!x["applied_at"].IsNull(), x["projection"].GetString() << " never applied");
  BOOST_TEST(db.scalar("SELECT count(*) FROM billing_profiles WHERE user_id = '" + vera.id + "'") == "0");

  // Exactly one receipt per projection, billing included.
  std::vector<std::string> once;
  for (const auto& p : test::all_projections()) once.push_back(p + "|1");
  BOOST_TEST(db.rows("SELECT payload ->> 'projection', count(*) FROM events WHERE stream_id = '" + stream +
                     "' AND type = 'erasure.applied' GROUP BY 1") == once,
             boost::test_tools::per_element());
  BOOST_TEST(test::topic_end(s.topics.topic("dead-letters")) == 0);
  // The hash chains hold, and nothing of her is left.
  BOOST_TEST(test::Process({"verify"}, s.env()).wait() == 0);
  BOOST_TEST(test::Process({"gdpr", "verify", vera.id, "--email", vera.email, "--name", holder}, s.env()).wait() == 0);
}
