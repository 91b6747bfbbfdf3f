#define BOOST_TEST_MODULE postgres_restart
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <thread>

#include "support/scenario.hpp"

using namespace lethe;
using namespace std::chrono_literals;

namespace {
void restart_postgres() {
  const auto script = test::source_dir() + "/scripts/postgres";
  const auto stop = test::capture(script + " stop");
  BOOST_REQUIRE_MESSAGE(stop.rc == 0, stop.output);
  std::this_thread::sleep_for(1s);  // both services notice the loss while it is down
  const auto start = test::capture(script + " start");
  BOOST_REQUIRE_MESSAGE(start.rc == 0, start.output);
}
}  // namespace

BOOST_AUTO_TEST_CASE(relay_and_projector_ride_out_a_postgres_restart_and_lose_nothing) {
  test::TestSchema db;
  test::TestTopics topics;
  const auto env = test::lethe_env(db, topics);
  // A backlog first, then the services, small batches: the first restart
  // lands while both are busy.
  int written = test::write_users(db, 1500, 3, "a");
  test::Process relay({"relay", "--batch-size", "100"}, env);
  test::Process projector({"project", "users", "event_log", "--batch-size", "10", "--batch-wait-ms", "5"}, env);
  BOOST_REQUIRE(test::eventually([&] { return db.scalar("SELECT count(*) FROM event_log") != "0"; }, 60s, 20ms));
  const auto at = std::stoll(db.scalar("SELECT count(*) FROM event_log"));
  BOOST_TEST_MESSAGE("restart mid-stream at " << at << " of " << written);
  BOOST_REQUIRE(at < written);
  restart_postgres();

  // And once more while both are idle, waiting on PostgreSQL and Kafka.
  BOOST_REQUIRE(test::eventually(
      [&] { return db.scalar("SELECT count(DISTINCT event_id) FROM event_log") == std::to_string(written); },
      180s));  // a batch republished after the restart is logged twice: count events, not rows
  BOOST_TEST_MESSAGE("restart while idle");
  restart_postgres();

  written += test::write_users(db, 200, 3, "b");
  // Both projections run in the projector, each at its own pace.
  BOOST_REQUIRE(test::eventually(
      [&] {
        return db.scalar("SELECT count(DISTINCT event_id) FROM event_log") == std::to_string(written) &&
               test::projected_versions(db) == test::expected_versions(db);
      },
      180s, 500ms));
  BOOST_TEST(relay.running());
  BOOST_TEST(projector.running());
  BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") ==
             std::to_string(test::read_topic(topics.topic("users")).size()));
  BOOST_TEST(test::topic_end(topics.topic("dead-letters")) == 0);

  relay.signal(SIGTERM);
  projector.signal(SIGTERM);
  BOOST_TEST(relay.wait() == 0);
  BOOST_TEST(projector.wait() == 0);
}
