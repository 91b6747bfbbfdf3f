#define BOOST_TEST_MODULE late_topics
// A projector started before its topics exist (an operator who runs
// `lethe project` first, or a broker still spreading metadata after a
// restart) picks them up within seconds once they appear, not at
// librdkafka's default metadata refresh of five minutes.
#include <boost/test/unit_test.hpp>
#include <thread>

#include "support/fixtures.hpp"
#include "support/scenario.hpp"

using namespace lethe;

BOOST_AUTO_TEST_CASE(a_projector_started_before_its_topics_picks_them_up) {
  test::TestSchema db;
  const std::string prefix = "t" + test::random_suffix() + ".";
  const std::map<std::string, std::string> env{{"LETHE_PG", db.conninfo()},
                                               {"LETHE_TOPIC_PREFIX", prefix},
                                               {"LETHE_BROKERS", infra::Config::from_env().brokers}};
  test::Process projector({"project", "users", "--batch-wait-ms", "20"}, env);
  std::this_thread::sleep_for(std::chrono::seconds(2));  // subscribed to topics nobody has made yet
  BOOST_REQUIRE(projector.running());
  test::create_local_topics(prefix);
  const int events = test::write_users(db, 20, 2);
  test::Process relay({"relay"}, env);
  BOOST_TEST(test::eventually(
      [&] { return db.scalar("SELECT coalesce(sum(version), 0) FROM users") == std::to_string(events); },
      std::chrono::seconds(30)));
  BOOST_TEST(test::projected_versions(db) == test::expected_versions(db));
}
