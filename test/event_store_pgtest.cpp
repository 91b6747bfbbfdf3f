#define BOOST_TEST_MODULE event_store
#include <atomic>
#include <barrier>
#include <boost/test/unit_test.hpp>
#include <functional>
#include <thread>

#include "lethe/infra/access.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/ids.hpp"
#include "lethe/infra/migrations.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/producers/audit.hpp"
#include "lethe/producers/event_store.hpp"
#include "support/fixtures.hpp"
#include "user_service.hpp"

using namespace lethe;
using producers::ConcurrencyConflict;
using producers::EventStore;
using producers::NewEvent;

namespace {
NewEvent registered(const std::string& id) {
  return NewEvent{infra::new_uuid(),
                  "user.registered",
                  1,
                  R"({"user_id":")" + id + R"(","email":"a@b.org","name":"A","role":"user"})",
                  infra::utc_now(),
                  "test",
                  "c",
                  "c"};
}
NewEvent renamed(const std::string& id, const std::string& name) {
  return NewEvent{infra::new_uuid(),
                  "user.profile_changed",
                  1,
                  R"({"user_id":")" + id + R"(","name":")" + name + R"("})",
                  infra::utc_now(),
                  "test",
                  "c",
                  "c"};
}
}  // namespace

BOOST_AUTO_TEST_CASE(one_classification_of_postgresql_errors) {
  using lethe::infra::classify_pg;
  using F = lethe::infra::PgFailure;
  BOOST_TEST((classify_pg("57014") == F::timeout));
  BOOST_TEST((classify_pg("55P03") == F::lock));
  for (const auto* s : {"42703", "42P01", "42804", "23502", "23503", "22P04"})
    BOOST_TEST((classify_pg(s) == F::schema), s);
  for (const auto* s : {"23505", "23514", "22001", "22P02", "22003"}) BOOST_TEST((classify_pg(s) == F::constraint), s);
  BOOST_TEST((classify_pg("LE410") == F::erased));
  for (const auto* s : {"08006", "08001", "57P01", "57P03"}) BOOST_TEST((classify_pg(s) == F::connection), s);
  for (const auto* s : {"40001", "XX000", ""}) BOOST_TEST((classify_pg(s) == F::other), s);
}

BOOST_AUTO_TEST_CASE(append_assigns_versions_positions_and_a_verifiable_chain) {
  test::TestSchema db;
  EventStore store(db.conninfo());
  std::vector<NewEvent> batch{registered("1"), renamed("1", "B"), renamed("1", "C")};
  const auto out = store.append("user-1", 0, batch);
  BOOST_REQUIRE(out.size() == 3u);
  const auto back = store.read_stream("user-1");
  BOOST_REQUIRE(back.size() == 3u);
  std::string prev;
  for (std::size_t i = 0; i < back.size(); ++i) {
    BOOST_TEST(back[i].stream_version == static_cast<std::int64_t>(i + 1));
    BOOST_TEST(back[i].global_position == out[i].global_position);
    BOOST_TEST(back[i].payload == batch[i].payload);
    BOOST_TEST(domain::verify_link(back[i], prev));
    prev = back[i].hash;
  }
  BOOST_TEST(db.scalar("SELECT count(*) FROM outbox") == "3");
}

BOOST_AUTO_TEST_CASE(append_at_a_stale_version_is_a_conflict_and_writes_nothing) {
  test::TestSchema db;
  EventStore store(db.conninfo());
  std::vector<NewEvent> first{registered("1")};
  store.append("user-1", 0, first);
  std::vector<NewEvent> second{renamed("1", "B"), renamed("1", "C")};
  try {
    store.append("user-1", 0, second);
    BOOST_FAIL("expected a conflict");
  } catch (const ConcurrencyConflict& c) {
    BOOST_TEST(c.expected() == 0);
    BOOST_TEST(c.actual() == 1);
  }
  BOOST_TEST(db.scalar("SELECT count(*) FROM events") == "1");
  BOOST_TEST(db.scalar("SELECT count(*) FROM outbox") == "1");
}

// No dual write: an outbox row that cannot commit takes its event with it.
// A deferred constraint trigger refuses the second outbox row at COMMIT,
// after both events were inserted: nothing of the append stays, and the
// stream goes on from the version before it.
BOOST_AUTO_TEST_CASE(an_outbox_row_refused_at_commit_leaves_no_event) {
  test::TestSchema db;
  EventStore store(db.conninfo());
  std::vector<NewEvent> first{registered("1")};
  store.append("user-1", 0, first);
  db.exec(
      "CREATE FUNCTION refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS"
      " $$ BEGIN IF (SELECT count(*) FROM outbox) > 2 THEN RAISE EXCEPTION 'refused by the test'; END IF;"
      " RETURN NULL; END $$;"
      " CREATE CONSTRAINT TRIGGER refuse_outbox AFTER INSERT ON outbox DEFERRABLE INITIALLY DEFERRED"
      " FOR EACH ROW EXECUTE FUNCTION refuse_outbox()");
  std::vector<NewEvent> two{renamed("1", "B"), renamed("1", "C")};
  BOOST_CHECK_THROW(store.append("user-1", 1, two), std::exception);
  BOOST_TEST(db.scalar("SELECT string_agg(stream_version::text, ',') FROM events") == "1");
  BOOST_TEST(db.scalar("SELECT count(*) FROM outbox") == "1");
  // Without the trigger the same append goes in at the same version.
  db.exec("DROP TRIGGER refuse_outbox ON outbox");
  EventStore again(db.conninfo());
  again.append("user-1", 1, two);
  BOOST_TEST(db.scalar("SELECT string_agg(stream_version::text, ',' ORDER BY stream_version) FROM events") == "1,2,3");
}

namespace {

struct Race {
  int wins = 0, conflicts = 0, other = 0;
};

// 50 writers append to one stream at the version they all read: each reads
// the head before any of them inserts (inserts are held back until all 50
// wait), so every one of them takes the race.
Race fifty_appends_at_one_version(const test::TestSchema& db) {
  {
    EventStore store(db.conninfo());
    std::vector<NewEvent> first{registered("1")};
    store.append("user-1", 0, first);
  }
  constexpr int kWriters = 50;
  std::vector<std::unique_ptr<EventStore>> stores;
  for (int i = 0; i < kWriters; ++i) stores.push_back(std::make_unique<EventStore>(db.conninfo()));
  std::atomic<int> wins{0}, conflicts{0}, other{0};
  test::HeldWrites held(db, "events");
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      std::vector<NewEvent> ev{renamed("1", "writer-" + std::to_string(i))};
      try {
        stores[static_cast<std::size_t>(i)]->append("user-1", 1, ev);
        ++wins;
      } catch (const ConcurrencyConflict&) {
        ++conflicts;
      } catch (...) {
        ++other;
      }
    });
  }
  BOOST_TEST(held.release_when_waiting(kWriters));
  for (auto& t : threads) t.join();
  return {wins.load(), conflicts.load(), other.load()};
}

}  // namespace

BOOST_AUTO_TEST_CASE(fifty_concurrent_appends_at_one_expected_version_exactly_one_wins) {
  test::TestSchema db;
  const auto race = fifty_appends_at_one_version(db);
  BOOST_TEST(race.wins == 1);
  BOOST_TEST(race.conflicts == 49);
  BOOST_TEST(race.other == 0);
  BOOST_TEST(db.scalar("SELECT string_agg(stream_version::text, ',' ORDER BY stream_version) FROM events") == "1,2");
  BOOST_TEST(db.scalar("SELECT count(*) FROM outbox") == "2");
}

// The negative control of the case above: the same race against an event
// store without its unique key on (stream, version). Every writer read
// version 1 and every one of them commits a version 2: 49 lost updates.
BOOST_AUTO_TEST_CASE(without_the_version_key_fifty_appends_at_one_version_all_commit) {
  test::TestSchema db;
  db.exec("ALTER TABLE events DROP CONSTRAINT events_stream_id_stream_version_key");
  const auto race = fifty_appends_at_one_version(db);
  BOOST_TEST(race.wins == 50);
  BOOST_TEST(race.conflicts == 0);
  BOOST_TEST(db.scalar("SELECT count(*) FROM events WHERE stream_version = 2") == "50");
}

BOOST_AUTO_TEST_CASE(concurrent_writers_leave_no_gap_and_no_duplicate_version) {
  test::TestSchema db;
  constexpr int kThreads = 8, kPerThread = 40, kStreams = 3;
  std::vector<std::thread> threads;
  std::atomic<int> written{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      EventStore store(db.conninfo());
      for (int i = 0; i < kPerThread; ++i) {
        const std::string stream = "user-" + std::to_string(i % kStreams);
        for (;;) {  // read the head, append after it, retry on conflict
          const auto version = static_cast<std::int64_t>(store.read_stream(stream).size());
          std::vector<NewEvent> ev{version == 0 ? registered(stream) : renamed(stream, "n" + std::to_string(i))};
          try {
            store.append(stream, version, ev);
            ++written;
            break;
          } catch (const ConcurrencyConflict&) {
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  BOOST_TEST(written.load() == kThreads * kPerThread);
  // Per stream: versions are exactly 1..n.
  BOOST_TEST(db.scalar("SELECT count(*) FROM (SELECT stream_id FROM events GROUP BY stream_id"
                       " HAVING max(stream_version) <> count(*) OR min(stream_version) <> 1"
                       " OR count(DISTINCT stream_version) <> count(*)) bad") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM events") == std::to_string(kThreads * kPerThread));
}

BOOST_AUTO_TEST_CASE(concurrent_commands_are_decided_again_after_a_conflict) {
  test::TestSchema db;
  infra::PasswordPool passwords;
  {
    EventStore store(db.conninfo());
    producers::UserService svc(store, passwords);
    BOOST_REQUIRE(svc.register_user(domain::users::RegisterUser{"9", "n@example.org", "N", "user", ""}, "", {}).ok());
  }
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      EventStore store(db.conninfo());
      producers::UserService svc(store, passwords);
      if (svc.handle(domain::users::ChangeProfile{"9", "name-" + std::to_string(i), std::nullopt}, {}).ok()) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  BOOST_TEST(ok.load() == 2);
  BOOST_TEST(db.scalar("SELECT max(stream_version) FROM events WHERE stream_id = 'user-9'") == "3");
}

BOOST_AUTO_TEST_CASE(migrations_apply_once_and_are_recorded) {
  test::TestSchema db;  // migrated once by the fixture
  auto conn = infra::connect(db.conninfo());
  BOOST_TEST(infra::migrate(*conn) == 0);
  BOOST_TEST(db.scalar("SELECT count(*) FROM schema_migrations") == std::to_string(infra::migrations().size()));
  BOOST_TEST(infra::migrations().front().name == "V001__event_store.sql");
}

// The one catalog read of tables' columns (the projector's declaration
// check and the rebuild's shape comparison both use it): by a plain name on
// the search path and by a quoted schema-qualified one, with format_type's
// names and the comments, in the tables' order; a missing table has none.
BOOST_AUTO_TEST_CASE(table_columns_reads_types_and_comments_by_plain_or_quoted_name) {
  test::TestSchema db;
  db.exec("CREATE TABLE \"Odd Name\" (id text PRIMARY KEY, at timestamptz, tags text[])");
  db.exec("COMMENT ON COLUMN \"Odd Name\".at IS 'lethe:personal'");
  auto conn = infra::connect(db.conninfo());
  pqxx::read_transaction tx(*conn);
  const auto quoted = tx.quote_name(db.name()) + "." + tx.quote_name("Odd Name");
  std::vector<std::string> seen;
  for (const auto& c : infra::table_columns(tx, {quoted, "no_such_table", "users"}))
    if (c.table == "Odd Name" || c.column == "registered_at")
      seen.push_back(c.table + "." + c.column + " " + c.type + " '" + c.comment + "'");
  const std::vector<std::string> expected{
      "Odd Name.id text ''",
      "Odd Name.at timestamp with time zone 'lethe:personal'",
      "Odd Name.tags text[] ''",
      "users.registered_at timestamp with time zone ''",
  };
  BOOST_TEST(seen == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(an_unreachable_database_gives_one_line_naming_it) {
  try {
    EventStore store("postgresql://postgres:secret@127.0.0.1:1/lethe?connect_timeout=2");
    BOOST_FAIL("expected an error");
  } catch (const infra::Unavailable& e) {
    const std::string what = e.what();
    BOOST_TEST(what.find("127.0.0.1:1") != std::string::npos);
    BOOST_TEST(what.find("scripts/postgres start") != std::string::npos);
    BOOST_TEST(what.find("secret") == std::string::npos);
    BOOST_TEST(what.find('\n') == std::string::npos);
    BOOST_TEST(e.is_retryable());
  }
}

BOOST_AUTO_TEST_CASE(append_refuses_events_no_projection_could_store_and_writes_nothing) {
  test::TestSchema db;
  EventStore store(db.conninfo());
  std::vector<std::function<void(NewEvent&)>> spoil{
      [](NewEvent& e) { e.event_id = "not-a-uuid"; },
      [](NewEvent& e) { e.occurred_at = "2026-11-25T08:00:00+00:00"; },
      [](NewEvent& e) { e.payload = R"({"user_id":"1","email":"a@b.org","name":"A\u0000B","role":"user"})"; },
      [](NewEvent& e) { e.payload = "[1,2]"; },
      [](NewEvent& e) { e.payload = std::string(producers::kMaxPayloadBytes + 1, ' '); },
  };
  for (std::size_t i = 0; i < spoil.size(); ++i) {
    std::vector<NewEvent> batch{registered("1"), renamed("1", "B")};
    spoil[i](batch[1]);
    BOOST_CHECK_THROW(store.append("user-1", 0, batch), std::invalid_argument);
  }
  BOOST_TEST(db.scalar("SELECT count(*) FROM events") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM outbox") == "0");
}

BOOST_AUTO_TEST_CASE(verify_finds_a_tampered_payload_a_dropped_event_and_a_relinked_chain) {
  test::TestSchema db;
  EventStore store(db.conninfo());
  for (const auto* id : {"a", "b", "c", "d"}) {
    auto history = std::vector<NewEvent>{registered(id), renamed(id, "x"), renamed(id, "y")};
    store.append(std::string("user-") + id, 0, history);
  }
  auto report = producers::verify_event_store(db.conninfo());
  BOOST_TEST(report.ok());
  BOOST_TEST(report.streams == 4);
  BOOST_TEST(report.events == 12);

  // Tampering with content, dropping an event, and recomputing one hash
  // without fixing the next link: each is caught, at its place.
  db.exec(
      "UPDATE events SET payload = '{\"user_id\":\"a\",\"name\":\"evil\"}' "
      "WHERE stream_id = 'user-a' AND stream_version = 2");
  db.exec(
      "DELETE FROM outbox WHERE global_position IN (SELECT global_position FROM events "
      "WHERE stream_id = 'user-b' AND stream_version = 2)");
  db.exec("DELETE FROM events WHERE stream_id = 'user-b' AND stream_version = 2");
  db.exec("UPDATE events SET hash = repeat('0', 64) WHERE stream_id = 'user-c' AND stream_version = 1");
  report = producers::verify_event_store(db.conninfo());
  BOOST_REQUIRE(report.breaks.size() == 3u);
  BOOST_TEST(report.breaks[0].stream_id == "user-a");
  BOOST_TEST(report.breaks[0].stream_version == 2);
  BOOST_TEST(report.breaks[0].problem.find("content") != std::string::npos);
  BOOST_TEST(report.breaks[1].stream_id == "user-b");
  BOOST_TEST(report.breaks[1].stream_version == 3);
  BOOST_TEST(report.breaks[1].problem.find("version gap") != std::string::npos);
  BOOST_TEST(report.breaks[2].stream_id == "user-c");
  BOOST_TEST(report.breaks[2].stream_version == 1);
}
