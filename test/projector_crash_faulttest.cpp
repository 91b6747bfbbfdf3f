#define BOOST_TEST_MODULE projector_crash
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <random>
#include <thread>

#include "support/scenario.hpp"

using namespace lethe;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(sigkilled_projector_loses_nothing_and_applies_nothing_twice) {
  test::TestSchema db;
  test::TestTopics topics;
  const auto env = test::lethe_env(db, topics);
  test::Process relay({"relay"}, env);

  // Events keep flowing while the projector is killed again and again.
  std::atomic<int> written{0};
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    written = test::write_users(db, 600, 5, "u", 15ms);  // about ten seconds of traffic
    writing = false;
  });

  // Kill at random moments until the writer is done, at least six times.
  std::mt19937 rng(42);
  int kills = 0, mid_stream = 0;
  while (writing || kills < 6) {
    test::Process projector({"project", "users", "event_log", "--batch-size", "50", "--batch-wait-ms", "20"}, env);
    std::this_thread::sleep_for(std::chrono::milliseconds(700 + rng() % 1000));
    const auto projected = std::stoll(db.scalar("SELECT coalesce(sum(version), 0) FROM users"));
    projector.signal(SIGKILL);
    BOOST_TEST(projector.wait() == 128 + SIGKILL);
    ++kills;
    if (writing) ++mid_stream;
    BOOST_TEST_MESSAGE("kill " << kills << ": " << projected << " events applied so far");
  }
  writer.join();
  BOOST_TEST(mid_stream >= 3);  // the kills did land while events flowed
  BOOST_TEST_MESSAGE(written << " events written");
  std::string why;
  BOOST_REQUIRE_MESSAGE(test::relay_publishes(db, topics.topic("users"), written, 120s, &relay, why), why);

  // A last run catches up and exits.
  BOOST_REQUIRE(test::Process({"project", "users", "event_log", "--until-idle"}, env).wait() == 0);

  BOOST_TEST(db.scalar("SELECT count(*) FROM users") == "600");
  // Every user at its stream's last version and last event: nothing lost.
  BOOST_TEST(test::projected_versions(db) == test::expected_versions(db), boost::test_tools::per_element());
  // The event log keys rows by Kafka position with plain INSERTs: one row per
  // message on the topic means no message was applied twice or skipped by
  // the runtime itself (the users table's version check would hide that).
  const auto messages = test::read_topic(topics.topic("users"));
  const auto on_topic = messages.size();
  BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == std::to_string(on_topic));
  // Seen directly: the set of (partition, offset) pairs applied is the set
  // on the topic, each once.
  std::vector<std::string> positions;
  for (const auto& m : messages) positions.push_back(std::to_string(m.partition) + "|" + std::to_string(m.offset));
  std::sort(positions.begin(), positions.end());
  BOOST_TEST(db.rows("SELECT partition, kafka_offset FROM event_log") == positions);
  BOOST_TEST(db.scalar("SELECT count(DISTINCT event_id) FROM event_log") == std::to_string(written));
  BOOST_TEST(test::topic_end(topics.topic("dead-letters")) == 0);
  // And equal, row for row, to a projection built fresh from offset zero.
  const auto fresh = test::fresh_replay(topics);
  BOOST_TEST(test::users_table(db) == fresh, boost::test_tools::per_element());
}

namespace {

// What a projector left after it died right after its first batch (at the
// LETHE_FAULT point named) and a second run caught up: whether the event
// run exited 0, whether the event log holds each (partition, offset) of the
// topic exactly once, and the dead letters.
struct AfterDeath {
  int second_run = -1;
  bool each_message_once = false;
  std::int64_t dead_letters = -1;
};
AfterDeath die_after_the_first_batch(const std::string& fault) {
  test::TestSchema db;
  test::TestTopics topics;
  auto env = test::lethe_env(db, topics);
  test::write_users(db, 100, 2);
  BOOST_REQUIRE(test::Process({"relay", "--until-idle"}, env).wait() == 0);
  auto faulty = env;
  faulty["LETHE_FAULT"] = fault;
  BOOST_TEST(test::Process({"project", "event_log", "--batch-size", "50"}, faulty).wait() == 87);
  BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == "50");  // the first batch was committed
  const int second_run = test::Process({"project", "event_log", "--until-idle"}, env).wait();
  std::vector<std::string> positions;
  for (const auto& m : test::read_topic(topics.topic("users")))
    positions.push_back(std::to_string(m.partition) + "|" + std::to_string(m.offset));
  std::sort(positions.begin(), positions.end());
  return {second_run,
          db.rows("SELECT partition, kafka_offset FROM event_log") == positions &&
              db.scalar("SELECT count(*) FROM event_log") == std::to_string(positions.size()),
          test::topic_end(topics.topic("dead-letters"))};
}

}  // namespace

// Offsets commit with the batch: a projector that dies the moment after
// the commit resumes past that batch, applying nothing twice.
BOOST_AUTO_TEST_CASE(a_projector_dead_right_after_its_commit_applies_nothing_twice) {
  const auto after = die_after_the_first_batch("project.after_commit");
  BOOST_TEST(after.second_run == 0);
  BOOST_TEST(after.each_message_once);
  BOOST_TEST(after.dead_letters == 0);
}

// The negative control of the case above: a projector that stores its
// offsets apart from the batch and dies between the two reads the batch
// again. The event log's key refuses each of those messages a second time,
// and the run of refusals stops the projection: every check above fails.
BOOST_AUTO_TEST_CASE(a_projector_whose_offsets_commit_apart_applies_its_last_batch_twice) {
  const auto after = die_after_the_first_batch("project.offsets_apart");
  BOOST_TEST(after.second_run == 2);
  BOOST_TEST(!after.each_message_once);
}
