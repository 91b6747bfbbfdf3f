#define BOOST_TEST_MODULE broker_restart
#include <boost/test/unit_test.hpp>

#include <set>

#include "lethe/producers/event_store.hpp"
#include "support/events.hpp"
#include "support/scenario.hpp"

using namespace lethe;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(broker_restart_while_relaying_loses_and_duplicates_nothing) {
  test::TestSchema db;
  test::TestTopics topics;
  const auto env = test::lethe_env(db, topics);
  int written = 0;
  {
    producers::EventStore store(db.conninfo());
    for (int i = 0; i < 400; ++i) {  // 400 streams of 100 events: 40,000 events
      const auto id = "b" + std::to_string(i);
      auto history = test::user_history(id, 99);
      store.append("user-" + id, 0, history);
      written += static_cast<int>(history.size());
    }
  }
  // Small batches so the relay is mid-flight when the broker goes down.
  test::Process relay({"relay", "--batch-size", "200"}, env);
  BOOST_REQUIRE(test::eventually([&] { return db.scalar("SELECT published FROM relay_checkpoint") != "0"; }, 60s));
  const auto kafka = test::source_dir() + "/scripts/kafka";
  const auto stop = test::capture(kafka + " stop");
  BOOST_TEST_MESSAGE("broker stopped at " << db.scalar("SELECT published FROM relay_checkpoint") << " published: "
                                          << stop.output);
  BOOST_REQUIRE(stop.rc == 0);
  // The restart must land mid-stream, or this test proves nothing.
  BOOST_REQUIRE(std::stoll(db.scalar("SELECT published FROM relay_checkpoint")) < written);
  const auto start = test::capture(kafka + " start");
  BOOST_REQUIRE_MESSAGE(start.rc == 0, start.output);

  BOOST_REQUIRE(test::eventually(
      [&] { return db.scalar("SELECT published FROM relay_checkpoint") == std::to_string(written); }, 240s));
  const auto messages = test::read_topic(topics.topic("users"));
  std::set<std::string> ids;
  for (const auto& m : messages) ids.insert(m.headers.at("event_id"));
  BOOST_TEST(ids.size() == static_cast<std::size_t>(written));       // nothing lost
  BOOST_TEST(messages.size() == static_cast<std::size_t>(written));  // nothing twice
}
