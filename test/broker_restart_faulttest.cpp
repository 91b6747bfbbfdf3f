#define BOOST_TEST_MODULE broker_faults
#include <signal.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "lethe/infra/pg.hpp"
#include "lethe/producers/event_store.hpp"
#include "support/events.hpp"
#include "support/scenario.hpp"

using namespace lethe;
using namespace std::chrono_literals;

namespace {

// Fills the outbox with 40,000 events (400 streams of 100), runs `lethe
// relay` with small batches, applies `disrupt` once publishing is under way
// but not finished, and checks the topic: every event exactly once.
void relay_through(const std::function<void()>& disrupt) {
  test::TestSchema db;
  test::TestTopics topics;
  const auto env = test::lethe_env(db, topics);
  const int written = test::append_users(db, "b", 400, 99);
  test::Process relay({"relay", "--batch-size", "200"}, env);
  BOOST_REQUIRE(
      test::eventually([&] { return db.scalar("SELECT published FROM relay_checkpoint") != "0"; }, 60s, 10ms));
  // The fault must land mid-stream, or this test proves nothing.
  BOOST_REQUIRE(std::stoll(db.scalar("SELECT published FROM relay_checkpoint")) < written);
  disrupt();
  BOOST_TEST_MESSAGE("disrupted at " << db.scalar("SELECT published FROM relay_checkpoint") << " of " << written);

  BOOST_REQUIRE(test::eventually(
      [&] { return db.scalar("SELECT published FROM relay_checkpoint") == std::to_string(written); }, 240s));
  BOOST_TEST(relay.running());
  const auto messages = test::read_topic(topics.topic("users"));
  std::set<std::string> ids;
  // Each stream's versions on its partition, in offset order: 1, 2, 3, ...
  std::map<std::string, long long> last_version;
  std::size_t out_of_order = 0;
  for (const auto& m : messages) {
    ids.insert(m.headers.at("event_id"));
    const auto at = m.value.find("\"stream_version\":");
    BOOST_REQUIRE(at != std::string::npos);
    const long long version = std::stoll(m.value.substr(at + 17));
    auto& last = last_version[m.key];
    if (version != last + 1) ++out_of_order;
    last = version;
  }
  BOOST_TEST(ids.size() == static_cast<std::size_t>(written));       // nothing lost
  BOOST_TEST(messages.size() == static_cast<std::size_t>(written));  // nothing twice
  BOOST_TEST(out_of_order == 0u);                                    // every stream in order
}

void freeze_broker(pid_t broker, std::chrono::seconds how_long) {
  // SIGSTOP: the broker hangs with its sockets open, the nastier failure.
  test::Thaw thaw{broker};
  BOOST_REQUIRE(::kill(broker, SIGSTOP) == 0);
  std::this_thread::sleep_for(how_long);
}

std::string kafka_script() {
  return test::source_dir() + "/scripts/kafka";
}

}  // namespace

BOOST_AUTO_TEST_CASE(broker_restart_while_relaying_loses_and_duplicates_nothing) {
  relay_through([] {
    const auto stop = test::capture(kafka_script() + " stop");
    BOOST_REQUIRE_MESSAGE(stop.rc == 0, stop.output);
    const auto start = test::capture(kafka_script() + " start");
    BOOST_REQUIRE_MESSAGE(start.rc == 0, start.output);
  });
}

BOOST_AUTO_TEST_CASE(broker_frozen_while_relaying_loses_and_duplicates_nothing) {
  const pid_t broker = test::broker_pid();
  BOOST_REQUIRE(broker > 0);
  relay_through([broker] { freeze_broker(broker, 8s); });
}

// The producer used to give each message 120 s (message.timeout.ms): a
// longer outage expired queued messages while later ones of the same
// partition went out, and the batch's resend put versions out of order.
// Now nothing expires; the relay waits for the broker.
BOOST_AUTO_TEST_CASE(broker_frozen_past_the_old_delivery_timeout_keeps_every_stream_in_order) {
  const pid_t broker = test::broker_pid();
  BOOST_REQUIRE(broker > 0);
  relay_through([broker] { freeze_broker(broker, 130s); });
}

namespace {

constexpr long long kBad = 5, kAll = 11;  // offsets 0-4 and 6-10 are good events

// What a projector did with a batch holding a malformed message while the
// broker was frozen for 8 s (the batch held by a table lock until the
// freeze), and once it was thawed.
struct FrozenDeadLetter {
  long long most_offset_frozen = 0, most_rows_frozen = 0;  // the highest seen while frozen
  bool ran_through_the_freeze = false;
  long long offset_after = 0, rows_after = 0;
  std::vector<test::Message> dead;
  bool running_after = false;
};

FrozenDeadLetter apply_a_dead_letter_while_frozen(pid_t broker, const std::string& fault = "") {
  test::TestSchema db;
  test::TestTopics topics(1);
  const auto topic = topics.topic("users");
  for (long long i = 0; i < kAll; ++i) {
    if (i == kBad) {
      test::produce_raw(topic, "user-bad", "{this is not an envelope");
      continue;
    }
    const auto id = "f" + std::to_string(i);
    test::produce_raw(topic, "user-" + id, test::envelope_json(test::user_history(id, 0)[0], "user-" + id, 1));
  }
  const auto stored = [&] {
    return std::stoll(db.scalar("SELECT coalesce(max(next_offset), 0) FROM projection_offsets"));
  };
  const auto rows = [&] { return std::stoll(db.scalar("SELECT count(*) FROM users")); };

  auto conn = infra::connect(db.conninfo());
  std::optional<pqxx::work> lock(std::in_place, *conn);
  lock->exec("LOCK TABLE users IN EXCLUSIVE MODE");
  auto env = test::lethe_env(db, topics);
  if (!fault.empty()) env["LETHE_FAULT"] = fault;
  test::Process projector({"project", "users", "--batch-wait-ms", "5"}, env);
  // The projector has its batch and waits on the lock.
  BOOST_REQUIRE(test::eventually(
      [&] {
        return db.scalar("SELECT count(*) FROM pg_locks WHERE relation = 'users'::regclass AND NOT granted") != "0";
      },
      60s, 10ms));
  FrozenDeadLetter out;
  {
    test::Thaw thaw{broker};
    BOOST_REQUIRE(::kill(broker, SIGSTOP) == 0);
    lock->commit();
    lock.reset();
    for (int i = 0; i < 16; ++i) {
      std::this_thread::sleep_for(500ms);
      out.most_offset_frozen = std::max(out.most_offset_frozen, stored());
      out.most_rows_frozen = std::max(out.most_rows_frozen, rows());
    }
    out.ran_through_the_freeze = projector.running();
  }
  test::eventually([&] { return stored() == kAll; }, 120s);
  out.offset_after = stored();
  out.rows_after = rows();
  out.dead = test::read_topic(topics.topic("dead-letters"));
  out.running_after = projector.running();
  return out;
}

}  // namespace

// A dead letter must be on Kafka before the offsets that pass it commit.
// The projector takes a batch with a malformed message in it, PostgreSQL
// holds the batch (a table lock) until the broker is frozen, and then the
// dead letter cannot be acknowledged: for as long as the broker stays
// frozen, the stored offset must not pass the malformed message, and no row
// of the batch may commit. Thawed, everything goes through once.
BOOST_AUTO_TEST_CASE(offsets_wait_for_the_dead_letter_while_the_broker_is_frozen) {
  const pid_t broker = test::broker_pid();
  BOOST_REQUIRE(broker > 0);
  const auto r = apply_a_dead_letter_while_frozen(broker);
  // Frozen for 8 s: the batch is applied, rolled back for its dead letter,
  // and the dead letter waits for an acknowledgement.
  BOOST_TEST(r.most_offset_frozen <= kBad, "offset " << r.most_offset_frozen << " passed the dead letter at " << kBad);
  BOOST_TEST(r.most_rows_frozen <= kBad);
  BOOST_TEST(r.ran_through_the_freeze);
  BOOST_TEST(r.offset_after == kAll);
  BOOST_TEST(r.rows_after == kAll - 1);
  BOOST_REQUIRE(r.dead.size() == 1u);  // once, not again for the retried batch
  BOOST_TEST(r.dead[0].headers.at("source_offset") == std::to_string(kBad));
  BOOST_TEST(r.dead[0].value == "{this is not an envelope");
  BOOST_TEST(r.running_after);
}

// The negative control of the case above: a projector that sends its dead
// letters after the batch commits (LETHE_FAULT=project.dead_letters_after_commit)
// moves its offset past the malformed message while the broker is frozen
// and the dead letter is not on Kafka: had it died then, the message would
// be gone without a trace.
BOOST_AUTO_TEST_CASE(a_projector_that_sends_dead_letters_after_its_commit_passes_them_while_frozen) {
  const pid_t broker = test::broker_pid();
  BOOST_REQUIRE(broker > 0);
  const auto r = apply_a_dead_letter_while_frozen(broker, "project.dead_letters_after_commit");
  BOOST_TEST(r.most_offset_frozen == kAll);
  BOOST_TEST(r.most_rows_frozen == kAll - 1);
}
