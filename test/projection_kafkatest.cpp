#define BOOST_TEST_MODULE projection
#include <atomic>
#include <boost/test/unit_test.hpp>

#include "support/events.hpp"
#include "support/fixtures.hpp"
#include "support/scenario.hpp"

using namespace lethe;

namespace {

// A test-only switch of the projections, on for one case (off again on
// every way out, failed checks included).
struct SwitchedOn {
  std::atomic<bool>& flag;
  explicit SwitchedOn(std::atomic<bool>& f) : flag(f) { flag = true; }
  ~SwitchedOn() { flag = false; }
  SwitchedOn(const SwitchedOn&) = delete;
  SwitchedOn& operator=(const SwitchedOn&) = delete;
};

}  // namespace

namespace {}  // namespace

BOOST_AUTO_TEST_CASE(events_flow_from_append_through_kafka_to_the_read_model) {
  test::TestSchema db;
  test::TestTopics topics;
  producers::EventStore store(db.conninfo());
  for (int i = 0; i < 20; ++i) {
    auto h = test::user_history("u" + std::to_string(i), i % 3);
    store.append("user-u" + std::to_string(i), 0, h);
  }
  test::relay_until_idle(db, topics);
  const auto stats = test::project_until_idle(db, topics);
  BOOST_TEST(stats.applied == 20 + (0 + 1 + 2) * 6 + 0 + 1);  // i%3 renames for i = 0..19
  BOOST_TEST(db.scalar("SELECT count(*) FROM users") == "20");
  BOOST_TEST(db.scalar("SELECT name FROM users WHERE user_id = 'u5'") == "Name 2 of u5");
  BOOST_TEST(db.scalar("SELECT version FROM users WHERE user_id = 'u5'") == "3");
  BOOST_TEST(db.scalar("SELECT email FROM users WHERE user_id = 'u0'") == "user-u0@example.org");
  // Offsets stored with the rows cover every message of the topic.
  BOOST_TEST(db.scalar("SELECT sum(next_offset) FROM projection_offsets WHERE projection = 'users'") ==
             std::to_string(test::read_topic(topics.topic("users")).size()));
  // A second run starts from the stored offsets: nothing to apply.
  BOOST_TEST(test::project_until_idle(db, topics).applied == 0);
}

BOOST_AUTO_TEST_CASE(malformed_messages_go_to_dead_letters_and_the_next_good_event_applies) {
  test::TestSchema db;
  test::TestTopics topics(1);  // one partition: the good event comes strictly after the bad ones
  const auto topic = topics.topic("users");
  test::produce_raw(topic, "user-bad", "{this is not json");
  auto bad_payload = test::new_event(domain::users::UserRegistered{"b2", "x@example.org", "X", "user", ""});
  bad_payload.payload = R"({"user_id":"b2","name":"X","role":"user"})";  // no email
  test::produce_raw(topic, "user-b2", test::envelope_json(bad_payload, "user-b2", 1));
  auto good = test::user_history("g1", 0);
  test::produce_raw(topic, "user-g1", test::envelope_json(good[0], "user-g1", 1));

  const auto stats = test::project_until_idle(db, topics);
  BOOST_TEST(stats.applied == 1);
  BOOST_TEST(stats.dead_lettered == 2);
  BOOST_TEST(db.scalar("SELECT count(*) FROM users") == "1");
  BOOST_TEST(db.scalar("SELECT user_id FROM users") == "g1");
  BOOST_TEST(db.scalar("SELECT next_offset FROM projection_offsets") == "3");

  const auto dead = test::read_topic(topics.topic("dead-letters"));
  BOOST_REQUIRE(dead.size() == 2u);
  BOOST_TEST(dead[0].value == "{this is not json");
  BOOST_TEST(dead[0].key == "user-bad");
  BOOST_TEST(dead[0].headers.at("source_topic") == topic);
  BOOST_TEST(dead[0].headers.at("source_partition") == "0");
  BOOST_TEST(dead[0].headers.at("source_offset") == "0");
  BOOST_TEST(dead[0].headers.at("projection") == "users");
  BOOST_TEST(dead[0].headers.at("reason").find("undecodable envelope") != std::string::npos);
  BOOST_TEST(dead[1].headers.at("source_offset") == "1");
  BOOST_TEST(dead[1].headers.at("reason").find("email") != std::string::npos, dead[1].headers.at("reason"));
}

namespace {

// What a relay that died before its checkpoint produces (some events twice),
// projected in batches of two so that the duplicates span batches: the
// projector's counts and the users row.
struct Republished {
  consumers::RunStats stats;
  std::vector<std::string> row;
};
Republished project_republished() {
  test::TestSchema db;
  test::TestTopics topics(1);
  const auto topic = topics.topic("users");
  auto h = test::user_history("d1", 2);
  const auto first = test::envelope_json(h[0], "user-d1", 1);
  const auto second = test::envelope_json(h[1], "user-d1", 2);
  const auto third = test::envelope_json(h[2], "user-d1", 3);
  for (const auto* v : {&first, &second, &first, &second, &third, &second}) test::produce_raw(topic, "user-d1", *v);
  const auto stats = test::project_until_idle(db, topics, 2);
  BOOST_TEST(test::topic_end(topics.topic("dead-letters")) == 0);
  return {stats, db.rows("SELECT name, version FROM users")};
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_republished_event_is_applied_once) {
  const auto r = project_republished();
  BOOST_TEST(r.stats.applied == 3);
  BOOST_TEST(r.stats.skipped == 3);
  BOOST_TEST(r.row == std::vector<std::string>{"Name 2 of d1|3"});
}

// The negative control of the case above: the same deliveries through
// projections without their version guard (a test-only switch) apply the
// repeated events again, and the case's checks fail: the row ends on the
// stale rename, at a version that went back.
BOOST_AUTO_TEST_CASE(without_the_version_guard_a_republished_event_is_applied_again) {
  const SwitchedOn reapply(projections::negative_control_reapply);
  const auto r = project_republished();
  BOOST_TEST(r.stats.applied == 6);
  BOOST_TEST(r.stats.skipped == 0);
  BOOST_TEST(r.row == std::vector<std::string>{"Name 1 of d1|2"});
}

namespace {

// v1, then v3 (v2 missing), then v2, v3, v4 as a relay republish would,
// projected one message a batch.
consumers::RunStats project_past_a_gap(const test::TestSchema& db, const test::TestTopics& topics) {
  const auto topic = topics.topic("users");
  auto h = test::user_history("v1", 3);
  for (const auto& [index, version] : std::vector<std::pair<int, int>>{{0, 1}, {2, 3}, {1, 2}, {2, 3}, {3, 4}})
    test::produce_raw(topic, "user-v1", test::envelope_json(h[static_cast<std::size_t>(index)], "user-v1", version));
  return test::project_until_idle(db, topics, 1);
}

}  // namespace

BOOST_AUTO_TEST_CASE(an_event_past_a_version_gap_goes_to_dead_letters_instead_of_hiding_the_gap) {
  test::TestSchema db;
  test::TestTopics topics(1);
  const auto stats = project_past_a_gap(db, topics);
  BOOST_TEST(stats.applied == 4);
  BOOST_TEST(stats.dead_lettered == 1);
  BOOST_TEST(db.rows("SELECT name, version FROM users") == std::vector<std::string>{"Name 3 of v1|4"});
  const auto dead = test::read_topic(topics.topic("dead-letters"));
  BOOST_REQUIRE(dead.size() == 1u);
  BOOST_TEST(dead[0].headers.at("reason").find("version gap") != std::string::npos, dead[0].headers.at("reason"));
  BOOST_TEST(dead[0].headers.at("source_offset") == "1");
}

// The negative control of the case above: a projection that applies across
// the gap (a test-only switch). Version 2 then arrives "at or below" the
// row's version and is skipped as applied before: it is lost without a
// dead letter, and the checks above fail.
BOOST_AUTO_TEST_CASE(a_projection_that_applies_across_a_gap_loses_the_missing_version_silently) {
  test::TestSchema db;
  test::TestTopics topics(1);
  const SwitchedOn across_gaps(projections::negative_control_ignore_gaps);
  const auto stats = project_past_a_gap(db, topics);
  BOOST_TEST(stats.applied == 3);
  BOOST_TEST(stats.dead_lettered == 0);
  BOOST_TEST(test::topic_end(topics.topic("dead-letters")) == 0);
}

BOOST_AUTO_TEST_CASE(a_row_the_database_refuses_is_dead_lettered_alone_and_the_batch_goes_on) {
  test::TestSchema db;
  test::TestTopics topics(1);
  const auto topic = topics.topic("users");
  // Well-formed JSON, but month 13: only PostgreSQL notices, inside COPY.
  auto bad = test::user_history("bad", 0)[0];
  bad.occurred_at = "2026-13-45T08:00:00.000000Z";
  test::produce_raw(topic, "user-g0", test::envelope_json(test::user_history("g0", 0)[0], "user-g0", 1));
  test::produce_raw(topic, "user-bad", test::envelope_json(bad, "user-bad", 1));
  test::produce_raw(topic, "user-g1", test::envelope_json(test::user_history("g1", 0)[0], "user-g1", 1));
  const auto stats = test::project_until_idle(db, topics, 100);
  BOOST_TEST(stats.split_batches == 1);  // the three shared a batch, which was split
  BOOST_TEST(stats.applied == 2);
  BOOST_TEST(stats.dead_lettered == 1);
  BOOST_TEST(db.rows("SELECT user_id FROM users") == (std::vector<std::string>{"g0", "g1"}));
  BOOST_TEST(db.scalar("SELECT next_offset FROM projection_offsets") == "3");
  const auto dead = test::read_topic(topics.topic("dead-letters"));
  BOOST_REQUIRE(dead.size() == 1u);
  BOOST_TEST(dead[0].key == "user-bad");
  BOOST_TEST(dead[0].headers.at("reason").find("database refused it") != std::string::npos,
             dead[0].headers.at("reason"));
}

// Sealed columns are never read back (a projection holds no key): a row a
// later batch loads does not know them, and its merge must keep those it
// does not set. One event per batch: a rename knows the name only, an email
// change the email only, a role change neither.
BOOST_AUTO_TEST_CASE(a_row_loaded_by_a_later_batch_keeps_the_sealed_columns_it_does_not_set) {
  namespace u = domain::users;
  test::TestSchema db;
  test::TestTopics topics(1);
  const auto topic = topics.topic("users");
  auto h = test::user_history("k1", 1);
  h.push_back(test::new_event(u::UserEmailChanged{"k1", "second@example.org"}));
  h.push_back(test::new_event(u::UserRoleChanged{"k1", "staff", "user"}));
  for (std::size_t i = 0; i < h.size(); ++i)
    test::produce_raw(topic, "user-k1", test::envelope_json(h[i], "user-k1", static_cast<std::int64_t>(i) + 1));
  const auto stats = test::project_until_idle(db, topics, 1);
  BOOST_TEST(stats.applied == 4);
  BOOST_TEST(db.rows("SELECT email, name, role, version FROM users") ==
             std::vector<std::string>{"second@example.org|Name 1 of k1|staff|4"});
}
