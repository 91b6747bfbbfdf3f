#define BOOST_TEST_MODULE relay_hardening
// The relay's failure modes that the foundation's tests did not reach: rows
// the broker refuses, a checkpoint from another cluster, a long schema name,
// a stale session holding the relay lock, a lost topic rebuilt from the
// event store; and the limits that keep every event publishable.
#include <signal.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <map>
#include <set>
#include <thread>

#include "lethe/infra/kafka.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/producers/event_store.hpp"
#include "lethe/producers/relay.hpp"
#include "lethe/producers/topics.hpp"
#include "support/events.hpp"
#include "support/scenario.hpp"

using namespace lethe;
using namespace std::chrono_literals;

namespace {

// test::append_users, then waits (30 s at most) until a running relay has
// published them, `before` published already; returns the number appended.
int append_published(const test::TestSchema& db, const std::string& prefix, int users, int renames, int before = 0) {
  const int n = test::append_users(db, prefix, users, renames);
  BOOST_REQUIRE(test::eventually(
      [&] { return db.scalar("SELECT published FROM relay_checkpoint") == std::to_string(before + n); },
      std::chrono::seconds(30)));
  return n;
}

// Per stream (message key), the versions found on the topic, in offset
// order within each partition; and whether every stream reads 1, 2, 3, ...
std::map<std::string, std::vector<long long>> versions_by_stream(const std::vector<test::Message>& messages) {
  std::map<std::string, std::vector<long long>> out;
  for (const auto& m : messages) {
    const auto at = m.value.find("\"stream_version\":");
    BOOST_REQUIRE(at != std::string::npos);
    out[m.key].push_back(std::stoll(m.value.substr(at + 17)));
  }
  return out;
}

bool every_stream_in_order(const std::map<std::string, std::vector<long long>>& streams) {
  for (const auto& [key, versions] : streams)
    for (std::size_t i = 0; i < versions.size(); ++i)
      if (versions[i] != static_cast<long long>(i) + 1) return false;
  return true;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Runs `lethe ARGS` against the test's schema and topics, capturing output.
test::Captured run_lethe(const test::TestSchema& db, const test::TestTopics& topics, const std::string& args) {
  std::string env;
  for (const auto& [k, v] : test::lethe_env(db, topics)) env += k + "='" + v + "' ";
  return test::capture("env " + env + test::lethe_bin() + " " + args);
}

}  // namespace

BOOST_AUTO_TEST_CASE(envelope_fields_that_a_client_influences_are_bounded_at_append) {
  test::TestSchema db;
  producers::EventStore store(db.conninfo());
  for (auto [field, mutate] : std::initializer_list<std::pair<const char*, void (*)(producers::NewEvent&)>>{
           {"actor", [](producers::NewEvent& e) { e.actor = std::string(100000, 'a'); }},
           {"correlation_id", [](producers::NewEvent& e) { e.correlation_id = std::string(201, 'c'); }},
           {"causation_id", [](producers::NewEvent& e) { e.causation_id = std::string(5000, 'c'); }},
           {"type", [](producers::NewEvent& e) { e.type = "user." + std::string(200, 't'); }}}) {
    auto events = test::user_history("bounded", 0);
    mutate(events[0]);
    try {
      store.append("user-bounded", 0, events);
      BOOST_ERROR("an oversized " << field << " was appended");
    } catch (const std::invalid_argument& e) {
      BOOST_TEST(contains(e.what(), field), e.what());
    }
  }
  // A stream id too long for the envelope.
  auto events = test::user_history("x", 0);
  BOOST_CHECK_THROW(store.append("user-" + std::string(300, 'x'), 0, events), std::invalid_argument);
  BOOST_TEST(db.scalar("SELECT count(*) FROM events") == "0");
}

BOOST_AUTO_TEST_CASE(a_row_the_broker_cannot_take_is_parked_and_the_relay_goes_on) {
  test::TestSchema db;
  test::TestTopics topics;
  const int before = test::append_users(db, "a", 20, 2);
  // A crafted row past the producer's message limit, as a row written around
  // the append's checks (an older lethe, a hand-made repair) would be.
  auto poison = test::user_history("poison", 0)[0];
  const std::string big_name(infra::kMaxMessageBytes + 1000, 'n');
  poison.payload = R"({"user_id":"poison","email":"p@example.org","name":")" + big_name + R"(","role":"user"})";
  {
    auto conn = infra::connect(db.conninfo());
    pqxx::work tx(*conn);
    tx.exec_params(
        "WITH e AS (INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, occurred_at,"
        " actor, correlation_id, causation_id, payload, prev_hash, hash)"
        " VALUES ($1, 'user-poison', 1, $2, 1, $3, 'test', 'c', 'c', $4, '', 'x') RETURNING global_position)"
        " INSERT INTO outbox (global_position, topic) SELECT global_position, 'users' FROM e",
        poison.event_id, poison.type, poison.occurred_at, poison.payload);
    tx.commit();
  }
  const int after = test::append_users(db, "b", 20, 2);

  // Before: the relay stopped on this row for good, and nothing after it
  // was ever published.
  const auto r = run_lethe(db, topics, "relay --until-idle --batch-size 25");
  BOOST_TEST(r.rc == 0, r.output);
  BOOST_TEST(contains(r.output, "parking event " + poison.event_id), r.output);
  BOOST_TEST(db.scalar("SELECT count(*) FROM relay_parked") == "1");
  BOOST_TEST(db.scalar("SELECT stream_id || ' ' || topic FROM relay_parked") == "user-poison users");
  BOOST_TEST(contains(db.scalar("SELECT reason FROM relay_parked"), "too large"));
  BOOST_TEST(db.scalar("SELECT published FROM relay_checkpoint") == std::to_string(before + after));
  const auto messages = test::read_topic(topics.topic("users"));
  BOOST_TEST(messages.size() == static_cast<std::size_t>(before + after));
  BOOST_TEST(every_stream_in_order(versions_by_stream(messages)));
}

BOOST_AUTO_TEST_CASE(a_checkpoint_from_another_cluster_is_refused_until_rebased) {
  test::TestSchema db;
  test::TestTopics topics;
  const int first = test::append_users(db, "r", 10, 1);
  BOOST_REQUIRE(run_lethe(db, topics, "relay --until-idle").rc == 0);
  BOOST_TEST(db.scalar("SELECT system_identifier FROM relay_checkpoint") ==
             db.scalar("SELECT system_identifier::text FROM pg_control_system()"));

  // A restore into another cluster: the checkpoint carries the old cluster's
  // identity and a transaction id this cluster has not reached, and the
  // events appended since sit below it. Before, the relay skipped them
  // silently.
  db.exec(
      "UPDATE relay_checkpoint SET system_identifier = '1234',"
      " tx_id = (pg_snapshot_xmax(pg_current_snapshot())::text::bigint + 1000000)::text::xid8");
  const int second = test::append_users(db, "s", 10, 3);
  auto r = run_lethe(db, topics, "relay --until-idle");
  BOOST_TEST(r.rc == 2, r.output);
  BOOST_TEST(contains(r.output, "another PostgreSQL cluster"), r.output);
  BOOST_TEST(contains(r.output, "lethe relay rebase"), r.output);

  // Same cluster, but the checkpoint ahead of its transaction ids.
  db.exec("UPDATE relay_checkpoint SET system_identifier = NULL");
  r = run_lethe(db, topics, "relay --until-idle");
  BOOST_TEST(r.rc == 2, r.output);
  BOOST_TEST(contains(r.output, "ahead of this cluster's transaction ids"), r.output);

  // The repair queues what the outbox holds again, in order.
  r = run_lethe(db, topics, "relay rebase");
  BOOST_TEST(r.rc == 0, r.output);
  r = run_lethe(db, topics, "relay --until-idle");
  BOOST_TEST(r.rc == 0, r.output);
  const auto streams = versions_by_stream(test::read_topic(topics.topic("users")));
  std::set<std::string> second_streams;
  for (const auto& [key, versions] : streams)
    if (key.rfind("user-s", 0) == 0) {
      second_streams.insert(key);
      BOOST_TEST(versions == (std::vector<long long>{1, 2, 3, 4}), key);
    }
  BOOST_TEST(second_streams.size() == 10u);
  std::size_t total = 0;
  for (const auto& [key, versions] : streams) total += versions.size();
  BOOST_TEST(total >= static_cast<std::size_t>(first + second));  // published ones may go twice
}

// The negative control of the case above: the same restore against a relay
// that trusts the checkpoint whichever cluster wrote it. The events
// appended since sit below the checkpoint, and it publishes none of them,
// without a word.
BOOST_AUTO_TEST_CASE(a_relay_that_trusts_a_checkpoint_from_another_cluster_loses_what_came_since) {
  test::TestSchema db;
  test::TestTopics topics;
  const int first = test::append_users(db, "r", 10, 1);
  BOOST_REQUIRE(test::relay_until_idle(db, topics) == first);
  db.exec(
      "UPDATE relay_checkpoint SET system_identifier = '1234',"
      " tx_id = (pg_snapshot_xmax(pg_current_snapshot())::text::bigint + 1000000)::text::xid8");
  test::append_users(db, "s", 10, 3);
  auto options = test::relay_options(db, topics);
  options.negative_control_trust_checkpoint = true;
  options.exit_when_idle = true;
  std::atomic<bool> stop{false};
  BOOST_TEST(producers::Relay(options).run(stop) == 0);
  BOOST_TEST(test::read_topic(topics.topic("users")).size() == static_cast<std::size_t>(first));
}

BOOST_AUTO_TEST_CASE(a_schema_name_of_63_bytes_still_appends_and_wakes_the_relay) {
  // The NOTIFY channel used to be 'lethe_outbox_' + schema: past 63 bytes
  // every append failed.
  test::TestSchema db("t_" + std::string(50, 'l') + test::random_suffix().substr(0, 11));
  BOOST_REQUIRE(db.name().size() == 63u);
  test::TestTopics topics;
  test::Process relay({"relay"}, test::lethe_env(db, topics));
  BOOST_REQUIRE(test::eventually(
      [&] { return db.scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lethe-relay'") != "0"; },
      30s));
  std::this_thread::sleep_for(1s);  // the relay now waits on its channel
  const int n = test::append_users(db, "long", 3, 1);
  // Woken by NOTIFY, well before its 500 ms fallback poll could matter.
  BOOST_TEST(test::eventually([&] { return db.scalar("SELECT published FROM relay_checkpoint") == std::to_string(n); },
                              10s, 20ms));
  relay.signal(SIGTERM);
  BOOST_TEST(relay.wait() == 0);
}

BOOST_AUTO_TEST_CASE(a_stale_session_still_holding_the_relay_lock_is_ended_on_reconnect) {
  test::TestSchema db;
  test::TestTopics topics;
  const int n = test::append_users(db, "st", 50, 3);
  // After its first batch the relay drops its connection the way a silent
  // network drop does: the server still sees the session, and its lock.
  auto env = test::lethe_env(db, topics);
  env["LETHE_FAULT"] = "relay.abandon_session";
  std::string envs;
  for (const auto& [k, v] : env) envs += k + "='" + v + "' ";
  const auto r = test::capture("env " + envs + test::lethe_bin() + " relay --until-idle --batch-size 40");
  BOOST_TEST(r.rc == 0, r.output);
  BOOST_TEST(contains(r.output, "ended our stale PostgreSQL session"), r.output);
  BOOST_TEST(db.scalar("SELECT published FROM relay_checkpoint") == std::to_string(n));
  BOOST_TEST(test::read_topic(topics.topic("users")).size() == static_cast<std::size_t>(n));
}

BOOST_AUTO_TEST_CASE(a_second_relay_on_one_schema_is_refused_and_the_first_publishes_each_event_once) {
  test::TestSchema db;
  test::TestTopics topics;
  test::Process first({"--log-level", "warn", "relay"}, test::lethe_env(db, topics));
  const int n = append_published(db, "one", 40, 2);
  // A second relay while the first runs: refused at once, saying why, with
  // the exit code of a misconfiguration; it publishes nothing.
  const auto before = test::topic_end(topics.topic("users"));
  const auto second = run_lethe(db, topics, "relay --until-idle");
  BOOST_TEST(second.rc == 2, second.output);
  BOOST_TEST(contains(second.output, "another relay holds the lock of this schema"), second.output);
  BOOST_TEST(test::topic_end(topics.topic("users")) == before);
  // The first goes on: what is appended next is published once, in order.
  const int m = append_published(db, "two", 40, 2, n);
  BOOST_TEST(first.running());
  const auto messages = test::read_topic(topics.topic("users"));
  BOOST_TEST(messages.size() == static_cast<std::size_t>(n + m));
  const auto streams = versions_by_stream(messages);
  BOOST_TEST(streams.size() == 80u);
  BOOST_TEST(every_stream_in_order(streams));
}

// The negative control of the case above: a relay that does not take the
// schema's lock (a test-only switch) is let in beside the running one.
BOOST_AUTO_TEST_CASE(a_relay_without_the_lock_runs_beside_another) {
  test::TestSchema db;
  test::TestTopics topics;
  test::Process first({"--log-level", "warn", "relay"}, test::lethe_env(db, topics));
  append_published(db, "one", 10, 0);
  auto options = test::relay_options(db, topics);
  options.negative_control_no_lock = true;
  options.exit_when_idle = true;
  std::atomic<bool> stop{false};
  BOOST_CHECK_NO_THROW(producers::Relay(options).run(stop));
  BOOST_TEST(first.running());
}

// The checkpoint in PostgreSQL is the truth even against the relay's own
// memory: a batch is counted only if the checkpoint is still where the relay
// left it. Moved back under a running relay (as an operator republishing
// would), it is reloaded and honoured, never overwritten; the same check
// keeps a batch from being counted twice.
BOOST_AUTO_TEST_CASE(a_checkpoint_moved_under_a_running_relay_is_reloaded_not_overwritten) {
  test::TestSchema db;
  test::TestTopics topics;
  auto options = test::relay_options(db, topics);
  options.prune_every_ms = 3600 * 1000;  // the outbox keeps every row, so a move back can be honoured
  options.idle_wait_ms = 50;
  std::atomic<bool> stop{false};
  std::thread relay([&] { producers::Relay(options).run(stop); });
  const int first = append_published(db, "one", 10, 0);
  db.exec("UPDATE relay_checkpoint SET tx_id = '0', global_position = 0");
  const int second = test::append_users(db, "two", 5, 0);
  // Everything after the moved checkpoint goes out: the first ten again,
  // then the five new ones, each counted once. (The batch refused for the
  // count was published already: the topic holds it once more.)
  const bool reached = test::eventually(
      [&] { return db.scalar("SELECT published FROM relay_checkpoint") == std::to_string(2 * first + second); },
      std::chrono::seconds(30));
  stop = true;
  relay.join();
  BOOST_TEST(reached, "published " << db.scalar("SELECT published FROM relay_checkpoint"));
  BOOST_TEST(db.scalar("SELECT global_position FROM relay_checkpoint") ==
             db.scalar("SELECT max(global_position) FROM events"));
  const auto messages = test::read_topic(topics.topic("users"));
  BOOST_TEST(messages.size() >= static_cast<std::size_t>(2 * first + second));
  BOOST_TEST(messages.size() <= static_cast<std::size_t>(2 * first + 2 * second));
}

// Transaction ids compared as numbers, never as text: a page whose entries
// cross a power of ten ("10" sorts before "9" as text) keeps its order and
// ends where it should. The page query once ordered by its text output
// column: the second version went out first, and the checkpoint stopped at
// the text-largest entry, so the rest of the page went out and was counted
// again (CI saw 2,102 published of 2,100).
BOOST_AUTO_TEST_CASE(a_page_whose_transaction_ids_cross_a_power_of_ten_keeps_its_order) {
  test::TestSchema db;
  test::TestTopics topics;
  const auto history = test::user_history("tens", 2);  // registered, renamed twice
  {
    auto conn = infra::connect(db.conninfo());
    pqxx::work tx(*conn);
    const char* tx_ids[] = {"9", "10", "11"};  // as old transactions of this cluster would be
    for (std::size_t v = 0; v < history.size(); ++v) {
      const auto& e = history[v];
      tx.exec_params(
          "WITH e AS (INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, occurred_at,"
          " actor, correlation_id, causation_id, payload, prev_hash, hash)"
          " VALUES ($1, 'user-tens', $2, $3, 1, $4, 'test', 'c', 'c', $5, '', 'x') RETURNING global_position)"
          " INSERT INTO outbox (tx_id, global_position, topic) SELECT $6::xid8, global_position, 'users' FROM e",
          e.event_id, static_cast<int>(v + 1), e.type, e.occurred_at, e.payload, tx_ids[v]);
    }
    tx.commit();
  }
  const auto r = run_lethe(db, topics, "relay --until-idle");
  BOOST_TEST(r.rc == 0, r.output);
  const auto streams = versions_by_stream(test::read_topic(topics.topic("users")));
  BOOST_TEST(streams.at("user-tens") == (std::vector<long long>{1, 2, 3}), boost::test_tools::per_element());
  BOOST_TEST(db.scalar("SELECT published FROM relay_checkpoint") == "3");
  BOOST_TEST(db.scalar("SELECT tx_id::text FROM relay_checkpoint") == "11");
}

BOOST_AUTO_TEST_CASE(connections_watch_for_silent_drops_on_both_ends) {
  test::TestSchema db;
  auto conn = infra::connect(db.conninfo(), "lethe-test");
  pqxx::nontransaction nt(*conn);
  BOOST_TEST(nt.exec("SHOW tcp_keepalives_idle")[0][0].c_str() == std::string("10"));
  BOOST_TEST(nt.exec("SHOW tcp_keepalives_count")[0][0].c_str() == std::string("3"));
  BOOST_TEST(nt.exec("SHOW tcp_user_timeout")[0][0].c_str() == std::string("30000"));
  BOOST_TEST(nt.exec("SHOW application_name")[0][0].c_str() == std::string("lethe-test"));
  // The client side: libpq's own keepalives, unless the operator chose.
  const auto uri = infra::with_keepalives("postgresql://u@h/db?keepalives_idle=60");
  BOOST_TEST(contains(uri, "keepalives_idle=60"));
  BOOST_TEST(!contains(uri, "keepalives_idle=10"));
  BOOST_TEST(contains(uri, "&tcp_user_timeout=30000"));
  BOOST_TEST(contains(infra::with_keepalives("host=h dbname=d"), " keepalives=1"));
}

BOOST_AUTO_TEST_CASE(a_deleted_topic_is_rebuilt_from_the_event_store) {
  test::TestSchema db;
  test::TestTopics topics;
  test::write_users(db, 60, 4);
  const auto env = test::lethe_env(db, topics);
  BOOST_REQUIRE(test::Process({"relay", "--until-idle"}, env).wait() == 0);
  BOOST_REQUIRE(test::Process({"project", "users", "--until-idle"}, env).wait() == 0);
  const auto before = test::users_table(db);
  BOOST_REQUIRE(before.size() == 60u);

  test::delete_topic(topics.topic("users"));
  test::create_local_topics(topics.prefix(), 3);
  BOOST_REQUIRE(test::read_topic(topics.topic("users")).empty());

  const auto r = run_lethe(db, topics, "republish --topic users");
  BOOST_TEST(r.rc == 0, r.output);
  const auto events = db.scalar("SELECT count(*) FROM events");
  BOOST_TEST(contains(r.output, "{\"published\":" + events + ",\"refused\":0}"), r.output);
  const auto messages = test::read_topic(topics.topic("users"));
  BOOST_TEST(std::to_string(messages.size()) == events);
  BOOST_TEST(every_stream_in_order(versions_by_stream(messages)));

  BOOST_REQUIRE(test::Process({"project", "users", "--replay", "--until-idle"}, env).wait() == 0);
  BOOST_TEST(test::users_table(db) == before, boost::test_tools::per_element());

  // One stream alone, from a position: only its events at or after it.
  const auto stream =
      db.scalar("SELECT stream_id FROM events GROUP BY stream_id HAVING count(*) >= 3 ORDER BY 1 LIMIT 1");
  BOOST_REQUIRE(!stream.empty());
  const auto from =
      db.scalar("SELECT global_position FROM events WHERE stream_id = '" + stream + "' AND stream_version = 3");
  const auto expected = std::stoi(db.scalar("SELECT count(*) FROM events WHERE stream_id = '" + stream + "'")) - 2;
  const auto one = run_lethe(db, topics, "republish --stream " + stream + " --from-position " + from);
  BOOST_TEST(contains(one.output, "{\"published\":" + std::to_string(expected) + ",\"refused\":0}"), one.output);
  const auto unknown = run_lethe(db, topics, "republish --topic nosuch");
  BOOST_TEST(unknown.rc == 2);
  BOOST_TEST(contains(unknown.output, "unknown topic 'nosuch'"), unknown.output);
}

BOOST_AUTO_TEST_CASE(stdout_carries_only_data_so_events_pipe_into_a_json_parser) {
  test::TestSchema db;
  test::TestTopics topics;
  test::append_users(db, "pipe", 1, 3);
  // Logs (the chain verified line) go to stderr, discarded here; every line
  // on stdout must parse as a JSON object.
  std::string env;
  for (const auto& [k, v] : test::lethe_env(db, topics)) env += k + "='" + v + "' ";
  for (const auto* format : {"text", "json"}) {
    const auto r = test::capture("env " + env + test::lethe_bin() + " --log-format " + format +
                                 " events user-pipe0 2>/dev/null | python3 -c 'import json, sys\n"
                                 "n = 0\n"
                                 "for line in sys.stdin:\n"
                                 "    assert \"payload\" in json.loads(line)\n"
                                 "    n += 1\n"
                                 "print(n)'");
    BOOST_TEST(r.rc == 0, r.output);
    BOOST_TEST(r.output == "4\n", format << ": " << r.output);
  }
  // And an error of an unreachable service is on stderr, not stdout.
  const auto down = test::capture("(env LETHE_PG='postgresql://postgres@127.0.0.1:1/none' " + test::lethe_bin() +
                                  " events user-pipe0 2>/dev/null)");
  BOOST_TEST(down.rc == 2);
  BOOST_TEST(down.output.empty(), down.output);
}

BOOST_AUTO_TEST_CASE(topics_default_to_three_replicas_and_say_so_on_a_single_broker) {
  const auto prefix = "t" + test::random_suffix() + ".";
  const auto r = test::capture("env LETHE_TOPIC_PREFIX=" + prefix + " " + test::lethe_bin() + " topics create");
  BOOST_TEST(r.rc == 2, r.output);
  BOOST_TEST(contains(r.output, "replication factor 3"), r.output);
  BOOST_TEST(contains(r.output, "--replication-factor 1 --min-insync-replicas 1"), r.output);
  const auto ok = test::capture("env LETHE_TOPIC_PREFIX=" + prefix + " " + test::lethe_bin() +
                                " topics create --replication-factor 1 --min-insync-replicas 1");
  BOOST_TEST(ok.rc == 0, ok.output);
  const auto described = test::capture("kcat -b " + infra::Config::from_env().brokers + " -L -t " + prefix + "users");
  BOOST_TEST(contains(described.output, "3 partitions"), described.output);
}
