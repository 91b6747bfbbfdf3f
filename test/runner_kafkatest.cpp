#define BOOST_TEST_MODULE runner
// The consumer runtime's guards: a broken projection stops instead of
// dead-lettering everything, a split batch sends each dead letter once, a
// recreated topic is refused, and batches stay within their byte bound.
#include <signal.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <vector>

#include "lethe/infra/errors.hpp"
#include "lethe/infra/kafka.hpp"
#include "lethe/producers/topics.hpp"
#include "support/events.hpp"
#include "support/fixtures.hpp"
#include "support/scenario.hpp"
#include "wiring.hpp"

using namespace lethe;

namespace {

// A registration PostgreSQL refuses (month 13): well-formed JSON, only the
// database notices, inside COPY.
std::string refused_registration(const std::string& id) {
  auto bad = test::user_history(id, 0)[0];
  bad.occurred_at = "2026-13-45T08:00:00.000000Z";
  return test::envelope_json(bad, "user-" + id, 1);
}

std::string registration(const std::string& id) {
  return test::envelope_json(test::user_history(id, 0)[0], "user-" + id, 1);
}

// The users projection, in-process, until caught up. A long batch wait
// makes every message already on the topic land in the first batch.
consumers::RunStats project(const test::TestSchema& db, const test::TestTopics& topics,
                            const std::function<void(consumers::RunnerOptions&)>& tune = {}) {
  consumers::RunnerOptions o;
  o.receipts = app::event_store_receipts();
  o.conninfo = db.conninfo();
  o.brokers = infra::Config::from_env().brokers;
  o.topic_prefix = topics.prefix();
  o.group_prefix = topics.prefix();
  o.batch_size = 100;
  o.batch_wait_ms = 2000;
  o.exit_when_idle = true;
  if (tune) tune(o);
  std::atomic<bool> stop{false};
  return consumers::ProjectionRunner(o, projections::make_projection("users")).run(stop);
}

// Runs the projection and returns the message of the Misconfigured error it
// must stop with ("" if it did not stop).
std::string stop_reason(const test::TestSchema& db, const test::TestTopics& topics,
                        const std::function<void(consumers::RunnerOptions&)>& tune = {}) {
  try {
    project(db, topics, tune);
  } catch (const infra::Misconfigured& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<std::string> offsets(const test::TestSchema& db) {
  return db.rows("SELECT topic, partition, next_offset, last_fingerprint FROM projection_offsets");
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_runner_without_a_receipt_log_refuses_to_start) {
  test::TestSchema db;
  test::TestTopics topics;
  test::produce_raw(topics.topic("users"), "user-g0", registration("g0"));
  const auto reason = stop_reason(db, topics, [](consumers::RunnerOptions& o) { o.receipts = {}; });
  BOOST_TEST(contains(reason, "no receipt log wired"), reason);
  BOOST_TEST(db.scalar("SELECT count(*) FROM users") == "0");
  // The control: wired, the same run projects the registration.
  BOOST_TEST(stop_reason(db, topics) == "");
  BOOST_TEST(db.scalar("SELECT count(*) FROM users") == "1");
}

namespace {

// Users projected, then a migration adds a NOT NULL column the projection
// knows nothing of, and more events arrive.
struct UnfilledColumn {
  test::TestSchema db;
  test::TestTopics topics;
  std::vector<std::string> offsets_before, users_before;
  UnfilledColumn() {
    test::write_users(db, 10, 2, "a");
    test::relay_until_idle(db, topics);
    BOOST_REQUIRE(test::project_until_idle(db, topics).applied > 0);
    offsets_before = offsets(db);
    users_before = test::users_table(db);
    db.exec("ALTER TABLE users ADD COLUMN x text NOT NULL DEFAULT 'old'");
    db.exec("ALTER TABLE users ALTER COLUMN x DROP DEFAULT");
    test::write_users(db, 10, 2, "b");
    test::relay_until_idle(db, topics);
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_column_the_projection_does_not_fill_stops_it_with_offsets_kept_and_fixing_it_resumes) {
  UnfilledColumn u;
  auto& db = u.db;
  auto& topics = u.topics;
  const auto& offsets_before = u.offsets_before;
  const auto& users_before = u.users_before;

  // Through the binary: exit code 2 and a line that names the projection,
  // the SQLSTATE and what to do.
  std::string env;
  for (const auto& [k, v] : test::lethe_env(db, topics)) env += k + "='" + v + "' ";
  const auto r = test::capture(env + test::lethe_bin() + " project users --until-idle");
  BOOST_TEST_MESSAGE(r.output);
  BOOST_TEST(r.rc == 2, r.output);
  BOOST_TEST(contains(r.output, "projection users stopped"), r.output);
  BOOST_TEST(contains(r.output, "SQLSTATE"), r.output);
  BOOST_TEST(contains(r.output, "\"x\""), r.output);  // PostgreSQL names the column
  BOOST_TEST(contains(r.output, "offsets are kept"), r.output);
  BOOST_TEST(offsets(db) == offsets_before, boost::test_tools::per_element());
  BOOST_TEST(db.rows("SELECT user_id, email, name, role, registered_at, updated_at, version, last_event_id"
                     " FROM users") == users_before,
             boost::test_tools::per_element());
  BOOST_TEST(test::topic_end(topics.topic("dead-letters")) == 0);

  // Fixed: every event applies, the read model equals the event store.
  db.exec("ALTER TABLE users DROP COLUMN x");
  const auto stats = test::project_until_idle(db, topics);
  BOOST_TEST(stats.dead_lettered == 0);
  BOOST_TEST(test::projected_versions(db) == test::expected_versions(db), boost::test_tools::per_element());
  BOOST_TEST(test::topic_end(topics.topic("dead-letters")) == 0);
}

// The negative control of the case above: a runner that takes a refusal
// about the schema for one message's fault (a test-only switch) sends good
// events to the dead letters, one after another, and moves its offsets past
// them.
BOOST_AUTO_TEST_CASE(a_runner_blind_to_schema_refusals_dead_letters_good_events) {
  UnfilledColumn u;
  struct Blind {
    Blind() { consumers::negative_control_blind_to_schema = true; }
    ~Blind() { consumers::negative_control_blind_to_schema = false; }
  } blind;
  stop_reason(u.db, u.topics);
  BOOST_TEST(test::topic_end(u.topics.topic("dead-letters")) > 0);
  BOOST_TEST((offsets(u.db) != u.offsets_before));
}

BOOST_AUTO_TEST_CASE(a_not_null_column_added_under_a_running_projector_stops_it_with_offsets_kept) {
  test::TestSchema db;
  test::TestTopics topics;
  const auto env = test::lethe_env(db, topics);
  test::write_users(db, 10, 1, "a");
  test::relay_until_idle(db, topics);
  test::Process projector({"project", "users"}, env);
  BOOST_REQUIRE(test::eventually([&] { return test::projected_versions(db) == test::expected_versions(db); },
                                 std::chrono::seconds(60)));
  const auto offsets_before = offsets(db);

  // The migration lands while the projector runs: its session's staging
  // table still has the old columns, so the new column arrives NULL.
  db.exec("ALTER TABLE users ADD COLUMN x text NOT NULL DEFAULT 'old'");
  db.exec("ALTER TABLE users ALTER COLUMN x DROP DEFAULT");
  test::write_users(db, 10, 1, "b");
  test::relay_until_idle(db, topics);
  int rc = -1;
  BOOST_REQUIRE(projector.wait_for(std::chrono::seconds(60), &rc));
  BOOST_TEST(rc == 2);
  BOOST_TEST(offsets(db) == offsets_before, boost::test_tools::per_element());
  BOOST_TEST(db.scalar("SELECT count(*) FROM users WHERE user_id LIKE 'b%'") == "0");
  BOOST_TEST(test::topic_end(topics.topic("dead-letters")) == 0);

  db.exec("ALTER TABLE users DROP COLUMN x");
  BOOST_TEST(test::project_until_idle(db, topics).dead_lettered == 0);
  BOOST_TEST(test::projected_versions(db) == test::expected_versions(db), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_run_of_refused_messages_stops_the_projection_before_any_of_them_is_dead_lettered) {
  test::TestSchema db;
  test::TestTopics topics(1);
  const auto topic = topics.topic("users");
  test::produce_raw(topic, "user-g0", registration("g0"));
  for (int i = 0; i < 4; ++i)
    test::produce_raw(topic, "user-bad" + std::to_string(i), refused_registration("bad" + std::to_string(i)));
  test::produce_raw(topic, "user-g1", registration("g1"));

  const auto reason = stop_reason(db, topics, [](auto& o) { o.max_consecutive_refusals = 3; });
  BOOST_TEST(contains(reason, "4 messages in a row"), reason);
  BOOST_TEST(contains(reason, "offsets are kept"), reason);
  // g0 went in before the run; the run itself left no trace.
  BOOST_TEST(db.rows("SELECT user_id FROM users") == std::vector<std::string>{"g0"});
  BOOST_TEST(db.scalar("SELECT next_offset FROM projection_offsets") == "1");
  BOOST_TEST(test::topic_end(topics.topic("dead-letters")) == 0);

  // Allowed a longer run, the same messages are set aside and g1 applies.
  const auto stats = project(db, topics, [](auto& o) { o.max_consecutive_refusals = 4; });
  BOOST_TEST(stats.applied == 1);
  BOOST_TEST(stats.dead_lettered == 4);
  BOOST_TEST(db.rows("SELECT user_id FROM users") == (std::vector<std::string>{"g0", "g1"}));
  BOOST_TEST(db.scalar("SELECT next_offset FROM projection_offsets") == "6");
  std::vector<std::string> sources;
  for (const auto& m : test::read_topic(topics.topic("dead-letters"))) sources.push_back(m.headers.at("source_offset"));
  BOOST_TEST(sources == (std::vector<std::string>{"1", "2", "3", "4"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(an_undecodable_message_in_a_split_batch_is_dead_lettered_once) {
  test::TestSchema db;
  test::TestTopics topics(1);
  const auto topic = topics.topic("users");
  test::produce_raw(topic, "user-g0", registration("g0"));
  test::produce_raw(topic, "user-junk", "{this is not json");
  test::produce_raw(topic, "user-bad", refused_registration("bad"));
  test::produce_raw(topic, "user-g1", registration("g1"));

  const auto stats = project(db, topics);
  BOOST_TEST(stats.split_batches == 1);  // the four shared a batch, which was split
  BOOST_TEST(stats.applied == 2);
  BOOST_TEST(stats.dead_lettered == 2);
  BOOST_TEST(db.rows("SELECT user_id FROM users") == (std::vector<std::string>{"g0", "g1"}));
  BOOST_TEST(db.scalar("SELECT next_offset FROM projection_offsets") == "4");
  const auto dead = test::read_topic(topics.topic("dead-letters"));
  std::multiset<std::string> sources;
  for (const auto& m : dead) sources.insert(m.headers.at("source_offset"));
  BOOST_TEST(sources == (std::multiset<std::string>{"1", "2"}), boost::test_tools::per_element());
}

namespace {

// Projects 5 registrations from a one-partition topic, then deletes and
// recreates the topic with `after` other registrations while the projector
// is down: the next run must stop with the refusal that holds `says`,
// nothing applied, offsets kept, nothing dead-lettered; the replay the
// refusal names then rebuilds from the new topic.
// Five registrations projected; then the users topic is deleted and made
// again with `after` other registrations. Returns the offsets stored before.
std::vector<std::string> project_then_recreate(const test::TestSchema& db, const test::TestTopics& topics, int after) {
  const auto topic = topics.topic("users");
  for (int i = 0; i < 5; ++i)
    test::produce_raw(topic, "user-r" + std::to_string(i), registration("r" + std::to_string(i)));
  BOOST_REQUIRE(project(db, topics).applied == 5);
  const auto offsets_before = offsets(db);
  BOOST_REQUIRE(offsets_before.size() == 1u);
  test::delete_topic(topic);
  test::create_local_topics(topics.prefix(), 1);
  for (int i = 0; i < after; ++i)
    test::produce_raw(topic, "user-s" + std::to_string(i), registration("s" + std::to_string(i)));
  return offsets_before;
}

void a_recreated_topic_is_refused_until_replayed(int after, const std::string& says) {
  test::TestSchema db;
  test::TestTopics topics(1);
  const auto topic = topics.topic("users");
  const auto offsets_before = project_then_recreate(db, topics, after);

  const auto reason = stop_reason(db, topics);
  BOOST_TEST(contains(reason, topic + "[0]" + says), reason);
  BOOST_TEST(contains(reason, "lethe project users --replay"), reason);
  BOOST_TEST(db.scalar("SELECT count(*) FROM users WHERE user_id LIKE 's%'") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM users") == "5");
  BOOST_TEST(offsets(db) == offsets_before, boost::test_tools::per_element());
  BOOST_TEST(test::topic_end(topics.topic("dead-letters")) == 0);

  consumers::reset_projection(db.conninfo(), *projections::make_projection("users"));
  BOOST_TEST(project(db, topics).applied == after);
  BOOST_TEST(db.scalar("SELECT count(*) FROM users WHERE user_id LIKE 's%'") == std::to_string(after));
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_topic_recreated_with_more_events_than_the_stored_offset_is_refused_until_replayed) {
  // More events than before, all different: the last one applied is not there.
  a_recreated_topic_is_refused_until_replayed(8, "");
}

BOOST_AUTO_TEST_CASE(a_topic_recreated_with_fewer_events_than_the_stored_offset_is_refused_until_replayed) {
  // Its end (3) is before the stored offset (5): read from there, everything
  // new would be skipped as applied.
  a_recreated_topic_is_refused_until_replayed(3, " ends at offset 3, before the stored offset 5");
}

// The negative control of the case above: a runner that trusts its stored
// offsets (a test-only switch) reads the shorter recreated topic from
// offset 5, finds nothing there, and ends without a word: the three new
// events are never applied.
BOOST_AUTO_TEST_CASE(a_runner_that_trusts_its_offsets_skips_a_recreated_topic_without_a_word) {
  test::TestSchema db;
  test::TestTopics topics(1);
  project_then_recreate(db, topics, 3);
  struct Trusting {
    Trusting() { consumers::negative_control_trust_offsets = true; }
    ~Trusting() { consumers::negative_control_trust_offsets = false; }
  } trusting;
  BOOST_TEST(stop_reason(db, topics) == "");
  BOOST_TEST(db.scalar("SELECT count(*) FROM users WHERE user_id LIKE 's%'") == "0");
}

BOOST_AUTO_TEST_CASE(a_restarted_projection_checks_the_last_message_applied_and_goes_on) {
  test::TestSchema db;
  test::TestTopics topics;
  test::write_users(db, 30, 2, "c");
  test::relay_until_idle(db, topics);
  project(db, topics);
  BOOST_TEST(db.scalar("SELECT count(*) FROM projection_offsets WHERE last_fingerprint IS NULL") == "0");
  test::write_users(db, 30, 2, "d");
  test::relay_until_idle(db, topics);
  const auto stats = project(db, topics);
  BOOST_TEST(stats.dead_lettered == 0);
  BOOST_TEST(test::projected_versions(db) == test::expected_versions(db), boost::test_tools::per_element());
}

namespace {

// 12 events of a type the users projection ignores, 256 KiB of payload each,
// projected with `batch_max_bytes` as the bound.
struct LargeEvents {
  test::TestSchema db;
  test::TestTopics topics{1};
  static constexpr int kEvents = 12;
  LargeEvents() {
    const auto topic = topics.topic("users");
    for (int i = 0; i < kEvents; ++i) {
      auto e = test::user_history("big" + std::to_string(i), 0)[0];
      e.type = "test.large";
      e.payload = R"({"blob":")" + std::string(256 * 1024, 'x') + R"("})";
      test::produce_raw(topic, "big-" + std::to_string(i), test::envelope_json(e, "big-" + std::to_string(i), 1));
    }
  }
  consumers::RunStats project_bounded(std::int64_t bound) {
    return project(db, topics, [bound](auto& o) { o.batch_max_bytes = bound; });
  }
};
constexpr std::int64_t kBound = 1 << 20;

}  // namespace

BOOST_AUTO_TEST_CASE(a_batch_stops_filling_at_its_byte_bound) {
  LargeEvents large;
  const auto stats = large.project_bounded(kBound);
  BOOST_TEST(stats.skipped == LargeEvents::kEvents);
  BOOST_TEST(stats.batches >= 3);
  // It may pass the bound by the one message that crosses it, no more.
  BOOST_TEST(stats.largest_batch_bytes <= kBound + 300 * 1024, stats.largest_batch_bytes);
  BOOST_TEST(stats.largest_batch_bytes >= kBound, stats.largest_batch_bytes);
  BOOST_TEST(large.db.scalar("SELECT next_offset FROM projection_offsets") == std::to_string(LargeEvents::kEvents));
}

// The negative control of the case above: the same messages with the bound
// as good as gone (a runner that ignores it). A batch then takes more than
// the bound and the message that crosses it, and the checks above fail.
BOOST_AUTO_TEST_CASE(without_its_byte_bound_a_batch_takes_more_than_the_bound_allows) {
  LargeEvents large;
  const auto stats = large.project_bounded(std::int64_t{1} << 40);
  BOOST_TEST(stats.skipped == LargeEvents::kEvents);
  BOOST_TEST(stats.largest_batch_bytes > kBound + 300 * 1024, stats.largest_batch_bytes);
}

BOOST_AUTO_TEST_CASE(a_foreign_key_the_projection_runs_ahead_of_stops_it_and_resumes_once_the_rows_exist) {
  test::TestSchema db;
  test::TestTopics topics(1);
  db.exec("CREATE TABLE roles (role text PRIMARY KEY)");
  db.exec("ALTER TABLE users ADD FOREIGN KEY (role) REFERENCES roles (role)");
  test::produce_raw(topics.topic("users"), "user-f0", registration("f0"));
  test::produce_raw(topics.topic("users"), "user-f1", registration("f1"));

  const auto reason = stop_reason(db, topics);
  BOOST_TEST(contains(reason, "SQLSTATE 23503"), reason);
  BOOST_TEST(db.scalar("SELECT count(*) FROM projection_offsets") == "0");
  BOOST_TEST(test::topic_end(topics.topic("dead-letters")) == 0);

  db.exec("INSERT INTO roles VALUES ('user')");
  BOOST_TEST(project(db, topics).applied == 2);
  BOOST_TEST(db.scalar("SELECT next_offset FROM projection_offsets") == "2");
}

// Two processes with the same --instance: the running one holds the
// instance's lock in PostgreSQL, so the second waits for it, is refused with
// an error that says why, and the first goes on; the read model ends as the
// events say, nothing dead-lettered.
BOOST_AUTO_TEST_CASE(a_second_projector_with_the_same_instance_is_refused_and_the_first_goes_on) {
  test::TestSchema db;
  test::TestTopics topics;
  const int n = test::write_users(db, 20, 1, "e");
  test::relay_until_idle(db, topics);
  const auto log = "/tmp/lethe-fence-" + test::random_suffix() + "-first";
  auto first = std::make_unique<test::Process>(
      test::Program{"/bin/sh"},
      std::vector<std::string>{
          "-c", "exec '" + test::lethe_bin() + "' --log-level info project users --instance 0 >'" + log + "' 2>&1"},
      test::lethe_env(db, topics));
  const auto applied = [&](const std::string& want) {
    return test::eventually([&] { return db.scalar("SELECT coalesce(sum(version), 0) FROM users") == want; },
                            std::chrono::seconds(60));
  };
  BOOST_REQUIRE(applied(std::to_string(n)));
  const auto second =
      test::capture_env(test::lethe_env(db, topics), "'" + test::lethe_bin() + "' project users --instance 0");
  BOOST_TEST(second.rc == 2, second.output);
  BOOST_TEST(contains(second.output, "another process runs as --instance 0"), second.output);
  BOOST_TEST(first->running());
  const int m = test::write_users(db, 20, 1, "f");
  test::relay_until_idle(db, topics);
  BOOST_TEST(applied(std::to_string(n + m)));
  first->signal(SIGTERM);
  BOOST_TEST(first->wait(std::chrono::seconds(30)) == 0);
  std::ifstream in(log);
  const std::string said((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  BOOST_TEST(!contains(said, "fenced"), said);
  BOOST_TEST(test::projected_versions(db) == test::expected_versions(db), boost::test_tools::per_element());
  BOOST_TEST(test::topic_end(topics.topic("dead-letters")) == 0);
  std::remove(log.c_str());
}

// A fence from Kafka while the runner holds its instance's lock can only be
// librdkafka's own (a static member fenced by itself once its session timed
// out, librdkafka#3437; the chaos test's frozen broker met it). The runner
// rejoins with a new consumer instead of exiting, and applies each event
// once. A test hook takes the first message read for such a fence.
BOOST_AUTO_TEST_CASE(a_fence_while_the_runner_holds_its_instance_is_its_own_and_it_rejoins) {
  test::TestSchema db;
  test::TestTopics topics;
  test::write_users(db, 20, 1, "g");
  test::relay_until_idle(db, topics);
  auto env = test::lethe_env(db, topics);
  env["LETHE_FAULT"] = "project.self_fence";
  const auto r = test::capture_env(env, "'" + test::lethe_bin() + "' --log-level info project users --until-idle");
  BOOST_TEST(r.rc == 0, r.output);
  BOOST_TEST(contains(r.output, "rejoining with a new consumer"), r.output);
  BOOST_TEST(test::projected_versions(db) == test::expected_versions(db), boost::test_tools::per_element());
  BOOST_TEST(test::topic_end(topics.topic("dead-letters")) == 0);
}

namespace {

// A consumer of the group that never joins it: for asking and setting the
// offsets committed to Kafka on its behalf.
std::unique_ptr<RdKafka::KafkaConsumer> group_handle(const std::string& group) {
  auto conf = infra::kafka_conf({{"bootstrap.servers", infra::Config::from_env().brokers}, {"group.id", group}});
  std::string err;
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  BOOST_REQUIRE_MESSAGE(c, err);
  return c;
}

// The users topic's partitions, as "partition=offset" text: what Kafka
// holds committed for the group (-1001: nothing), or what PostgreSQL holds.
std::vector<std::string> kafka_committed(RdKafka::KafkaConsumer& c, const std::string& topic, int partitions) {
  std::vector<RdKafka::TopicPartition*> parts;
  for (int p = 0; p < partitions; ++p) parts.push_back(RdKafka::TopicPartition::create(topic, p));
  BOOST_REQUIRE(c.committed(parts, 10000) == RdKafka::ERR_NO_ERROR);
  std::vector<std::string> out;
  for (const auto* p : parts) out.push_back(std::to_string(p->partition()) + "=" + std::to_string(p->offset()));
  RdKafka::TopicPartition::destroy(parts);
  return out;
}

}  // namespace

// Advisory offsets: after a run, the consumer group in Kafka holds the
// offsets PostgreSQL holds (so that consumer-group tools show the lag), and
// they are never read back: with every partition's committed offset set to
// 0 behind its back, the next run still starts where PostgreSQL says and
// applies nothing twice.
BOOST_AUTO_TEST_CASE(the_group_in_kafka_holds_advisory_offsets_that_are_never_read_back) {
  test::TestSchema db;
  test::TestTopics topics;
  const int n = test::write_users(db, 30, 2, "k");
  test::relay_until_idle(db, topics);
  const auto stats = test::project_until_idle(db, topics);
  BOOST_TEST(stats.applied == n);
  const auto topic = topics.topic("users");
  const auto group = group_handle(topics.prefix() + "projection.users");
  const auto in_postgres = db.rows(
      "SELECT partition || '=' || next_offset FROM projection_offsets WHERE projection = 'users' AND topic = '" +
      topic + "' ORDER BY partition");
  BOOST_REQUIRE(in_postgres.size() == 3u);
  BOOST_TEST(kafka_committed(*group, topic, 3) == in_postgres, boost::test_tools::per_element());

  std::vector<RdKafka::TopicPartition*> zero;
  for (int p = 0; p < 3; ++p) zero.push_back(RdKafka::TopicPartition::create(topic, p, 0));
  // Kafka takes a commit from outside the group once the group is empty:
  // the projector's static membership ends with its session (10 s).
  BOOST_REQUIRE(test::eventually([&] { return group->commitSync(zero) == RdKafka::ERR_NO_ERROR; },
                                 std::chrono::seconds(60), std::chrono::milliseconds(500)));
  RdKafka::TopicPartition::destroy(zero);
  BOOST_TEST(kafka_committed(*group, topic, 3) == (std::vector<std::string>{"0=0", "1=0", "2=0"}),
             boost::test_tools::per_element());
  const int m = test::write_users(db, 10, 1, "l");
  test::relay_until_idle(db, topics);
  const auto again = test::project_until_idle(db, topics);
  BOOST_TEST(again.applied == m);  // only the new events: nothing from offset 0
  BOOST_TEST(again.skipped == 0);
  BOOST_TEST(test::projected_versions(db) == test::expected_versions(db), boost::test_tools::per_element());
  BOOST_TEST(test::topic_end(topics.topic("dead-letters")) == 0);
  group->close();
}
