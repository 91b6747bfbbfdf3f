#define BOOST_TEST_MODULE relay_kill
#include <boost/test/unit_test.hpp>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "support/scenario.hpp"

using namespace lethe;
using namespace std::chrono_literals;

namespace {

// 750 events, a relay in batches of 300 that dies at a test hook, and a
// restarted one that runs until idle.
struct RelayKilled {
  test::TestSchema db;
  test::TestTopics topics;
  std::map<std::string, std::string> env = test::lethe_env(db, topics);
  int written = test::write_users(db, 300, 3);

  RelayKilled(const std::string& hook, int rc) {
    BOOST_REQUIRE(written > 600);
    auto faulty = env;
    faulty["LETHE_FAULT"] = hook;
    BOOST_TEST(test::Process({"relay", "--batch-size", "300"}, faulty).wait() == rc);
  }

  // Restarts the relay until idle; the messages on the users topic, and
  // how many distinct events they carry.
  std::pair<std::size_t, std::size_t> restarted() {
    BOOST_TEST(test::Process({"relay", "--until-idle"}, env).wait() == 0);
    const auto messages = test::read_topic(topics.topic("users"));
    std::set<std::string> ids;
    for (const auto& m : messages) ids.insert(m.headers.at("event_id"));
    return {messages.size(), ids.size()};
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(relay_killed_between_delivery_and_checkpoint_republishes_and_projection_applies_once) {
  // Dies after Kafka acknowledged the first batch, before its checkpoint.
  // The second batch was handed to the producer while the first one's
  // acknowledgements came in (the hook lets it land too): two batches are
  // on the topic, and neither is checkpointed.
  RelayKilled k("relay.after_delivery", 86);
  const auto& db = k.db;
  const int written = k.written;
  BOOST_TEST(db.scalar("SELECT published FROM relay_checkpoint") == "0");
  BOOST_TEST(test::read_topic(k.topics.topic("users")).size() == 600u);

  // The restarted relay sends those batches again, then the rest.
  const auto [messages, events] = k.restarted();
  BOOST_TEST(messages == static_cast<std::size_t>(written + 600));  // at least once...
  BOOST_TEST(events == static_cast<std::size_t>(written));

  // ...and the read model holds each event's effect once.
  BOOST_REQUIRE(test::Process({"project", "users", "event_log", "--until-idle"}, k.env).wait() == 0);
  BOOST_TEST(test::projected_versions(db) == test::expected_versions(db), boost::test_tools::per_element());
  BOOST_TEST(db.scalar("SELECT sum(version) FROM users") == std::to_string(written));
  // The event log shows what was delivered: the republished batches twice.
  BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == std::to_string(written + 600));
  BOOST_TEST(db.scalar("SELECT count(DISTINCT event_id) FROM event_log") == std::to_string(written));
}

BOOST_AUTO_TEST_CASE(relay_killed_after_a_checkpoint_with_the_next_batch_unsent_loses_nothing) {
  // Dies once the first batch's checkpoint is stored; the second batch,
  // handed to the producer while the first was acknowledged, is purged
  // (unless Kafka took it already). The checkpoint must stand at the first
  // batch's last event, not the second's.
  RelayKilled k("relay.after_checkpoint", 87);
  BOOST_TEST(k.db.scalar("SELECT published FROM relay_checkpoint") == "300");
  BOOST_TEST(k.db.scalar("SELECT global_position FROM relay_checkpoint") ==
             k.db.scalar("SELECT global_position FROM events ORDER BY global_position OFFSET 299 LIMIT 1"));

  // The restarted relay sends everything after the checkpoint: every event
  // is on the topic, the second batch twice at most.
  const auto [messages, events] = k.restarted();
  BOOST_TEST(events == static_cast<std::size_t>(k.written));
  BOOST_TEST(messages >= static_cast<std::size_t>(k.written));
  BOOST_TEST(messages <= static_cast<std::size_t>(k.written + 300));
}
