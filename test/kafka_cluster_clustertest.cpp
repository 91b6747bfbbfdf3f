#define BOOST_TEST_MODULE kafka_cluster
// lethe on a cluster of three brokers (scripts/kafka-cluster), with topics
// as `lethe topics create` makes them by default: three replicas,
// min.insync.replicas 2. The relay publishes 40,000 events while one broker
// is SIGKILLed and later started again: every event reaches its topic once,
// each stream in order, and the projector applies them all. With two of the
// three brokers down, a write cannot be acknowledged by two replicas: the
// relay waits and loses nothing, and goes on once a second broker is back.
#include <signal.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "lethe/producers/event_store.hpp"
#include "support/events.hpp"
#include "support/scenario.hpp"

using namespace lethe;
using namespace std::chrono_literals;

namespace {

std::string cluster_script() {
  return test::source_dir() + "/scripts/kafka-cluster";
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The cluster, from a clean slate, for this test alone; the process's
// LETHE_BROKERS points at it (the topic reads of the fixtures follow).
struct Cluster {
  std::string bootstrap;
  Cluster() {
    test::capture(cluster_script() + " reset");
    const auto started = test::capture(cluster_script() + " start");
    BOOST_REQUIRE_MESSAGE(started.rc == 0, started.output);
    bootstrap = trimmed(test::capture(cluster_script() + " bootstrap").output);
    ::setenv("LETHE_BROKERS", bootstrap.c_str(), 1);
  }
  ~Cluster() { test::capture(cluster_script() + " reset"); }
  static std::string node(int n) { return "kafka-cluster/node" + std::to_string(n); }
  void start_again() {
    const auto started = test::capture(cluster_script() + " start");
    BOOST_REQUIRE_MESSAGE(started.rc == 0, started.output);
  }
};

// Per stream, whether its versions on the topic run 1, 2, 3, ... once each.
std::size_t streams_out_of_order(const std::vector<test::Message>& messages) {
  std::map<std::string, long long> last;
  std::size_t bad = 0;
  for (const auto& m : messages) {
    const auto at = m.value.find("\"stream_version\":");
    const long long version = std::stoll(m.value.substr(at + 17));
    auto& l = last[m.key];
    if (version != l + 1) ++bad;
    l = version;
  }
  return bad;
}

}  // namespace

BOOST_AUTO_TEST_CASE(three_replicas_a_broker_killed_under_load_and_two_down_lose_nothing) {
  Cluster cluster;
  test::TestSchema db;
  const std::string prefix = "t" + test::random_suffix() + ".";
  const std::map<std::string, std::string> env{
      {"LETHE_PG", db.conninfo()}, {"LETHE_BROKERS", cluster.bootstrap}, {"LETHE_TOPIC_PREFIX", prefix}};

  // Topics as production makes them: the defaults, three replicas and two in sync.
  const auto created = test::capture_env(env, test::lethe_bin() + " topics create");
  BOOST_REQUIRE_MESSAGE(created.rc == 0, created.output);
  // kcat -L: "partition 0, leader 2, replicas: 2,3,1, isrs: 2,3,1" per
  // partition, once every broker's metadata knows the new topic.
  std::string layout;
  const auto partitions_with_three_replicas = [&] {
    layout = test::capture("kcat -b " + cluster.bootstrap + " -L -t " + prefix + "users").output;
    std::istringstream lines(layout);
    int three = 0;
    for (std::string line; std::getline(lines, line);) {
      const auto at = line.find("replicas: ");
      if (at == std::string::npos) continue;
      const auto replicas = line.substr(at + 10, line.find(", isrs") - at - 10);
      three += std::count(replicas.begin(), replicas.end(), ',') == 2 ? 1 : 0;
    }
    return three;
  };
  BOOST_TEST(test::eventually([&] { return partitions_with_three_replicas() == 3; }, 30s), layout);
  BOOST_TEST(created.output.find("min.insync.replicas 2") != std::string::npos, created.output);

  int written = test::append_users(db, "c", 400, 99);
  const auto published = [&] { return std::stoll(db.scalar("SELECT published FROM relay_checkpoint")); };
  test::Process relay({"relay", "--batch-size", "200"}, env);
  BOOST_REQUIRE(test::eventually([&] { return published() > 0; }, 60s, 10ms));
  BOOST_REQUIRE(published() < written);  // the kill lands mid-stream

  // One broker killed under load: two replicas stay in sync, writes go on.
  const pid_t second = test::broker_pid(Cluster::node(2));
  BOOST_REQUIRE(second > 0);
  BOOST_REQUIRE(::kill(second, SIGKILL) == 0);
  BOOST_TEST_MESSAGE("broker 2 killed at " << published() << " of " << written);
  BOOST_REQUIRE(test::eventually([&] { return published() == written; }, 180s));

  // Two of three down: no write can be acknowledged by two replicas. The
  // relay waits; nothing counts as published.
  const pid_t third = test::broker_pid(Cluster::node(3));
  BOOST_REQUIRE(::kill(third, SIGKILL) == 0);
  written += test::append_users(db, "late", 1, 9);
  std::this_thread::sleep_for(10s);
  BOOST_TEST(published() == written - 10);
  BOOST_TEST(relay.running());
  // Both back: the waiting batch goes out.
  cluster.start_again();
  BOOST_REQUIRE(test::eventually([&] { return published() == written; }, 180s));
  BOOST_TEST(relay.running());

  const auto messages = test::read_topic(prefix + "users");
  std::set<std::string> ids;
  for (const auto& m : messages) ids.insert(m.headers.at("event_id"));
  BOOST_TEST(ids.size() == static_cast<std::size_t>(written));       // nothing lost
  BOOST_TEST(messages.size() == static_cast<std::size_t>(written));  // nothing twice
  BOOST_TEST(streams_out_of_order(messages) == 0u);                  // every stream in order

  BOOST_REQUIRE(test::Process({"project", "users", "--until-idle"}, env).wait() == 0);
  BOOST_TEST(test::projected_versions(db) == test::expected_versions(db), boost::test_tools::per_element());
}
