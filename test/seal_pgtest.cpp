#define BOOST_TEST_MODULE seal
// Seals take a sound cut of the log, and verify's memory stays within its
// page budget however large the payloads.
#include <sys/resource.h>

#include <boost/test/unit_test.hpp>
#include <future>
#include <thread>

#include "lethe/domain/envelope.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/ids.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/producers/audit.hpp"
#include "lethe/producers/event_store.hpp"
#include "lethe/producers/seals.hpp"
#include "support/events.hpp"
#include "support/fixtures.hpp"
#include "support/scenario.hpp"

using namespace lethe;
using namespace std::chrono_literals;

namespace {

domain::SealKey test_key() {
  return domain::parse_seal_key(std::string(32, 's')).value();
}

long max_child_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_CHILDREN, &u);
  return u.ru_maxrss;
}

}  // namespace

// First in this file: the peak RSS of children is the largest of every child
// this process has waited for.
BOOST_AUTO_TEST_CASE(verify_reads_pages_bounded_in_bytes_so_large_payloads_stay_within_budget) {
  test::TestSchema db;
  producers::EventStore store(db.conninfo());
  const std::string pad(400 * 1024, 'x');
  for (int i = 0; i < 100; ++i) {
    const auto id = "big" + std::to_string(i);
    std::vector<producers::NewEvent> one{
        test::new_event(domain::users::UserRegistered{id, id + "@example.org", pad, "user", ""})};
    store.append("user-" + id, 0, one);
  }
  const std::string env = "LETHE_PG='" + db.conninfo() + "' ";
  const auto bounded = test::capture(env + test::lethe_bin() + " verify --page-bytes 4194304");
  BOOST_TEST(bounded.rc == 0, bounded.output);
  BOOST_TEST(bounded.output.find("100 events") != std::string::npos, bounded.output);
  const long bounded_kib = max_child_rss_kib();
  // One page for all (as verify read before: 10,000 rows a page) holds the
  // 40 MiB of payloads at once.
  const auto unbounded = test::capture(env + test::lethe_bin() + " verify --page-bytes 4294967296");
  BOOST_TEST(unbounded.rc == 0, unbounded.output);
  const long unbounded_kib = max_child_rss_kib();
  BOOST_TEST_MESSAGE("peak RSS: " << bounded_kib << " KiB with 4 MiB pages, " << unbounded_kib << " KiB unbounded");
  BOOST_TEST(bounded_kib < 40 * 1024);
  BOOST_TEST(unbounded_kib > bounded_kib + 30 * 1024);
}

BOOST_AUTO_TEST_CASE(verify_finds_the_same_breaks_with_pages_of_one_row) {
  test::TestSchema db;
  producers::EventStore store(db.conninfo());
  for (const std::string id : {"a", "b", "c"}) {
    auto history = test::user_history(id, 3);
    store.append("user-" + id, 0, history);
  }
  db.exec("UPDATE events SET actor = 'mallory' WHERE stream_id = 'user-b' AND stream_version = 3");
  const auto whole = producers::verify_event_store(db.conninfo());
  const auto tiny = producers::verify_event_store(db.conninfo(), {}, {.page_rows = 10000, .page_bytes = 1});
  BOOST_TEST(whole.events == 12);
  BOOST_TEST(tiny.events == 12);
  BOOST_TEST(tiny.streams == 3);
  BOOST_REQUIRE(tiny.breaks.size() == 1u);
  BOOST_REQUIRE(whole.breaks.size() == 1u);
  BOOST_TEST(tiny.breaks[0].stream_id == "user-b");
  BOOST_TEST(tiny.breaks[0].stream_version == 3);
}

BOOST_AUTO_TEST_CASE(a_seal_waits_for_a_transaction_holding_a_lower_position_and_covers_it) {
  test::TestSchema db;
  const auto key = test_key();
  producers::EventStore store(db.conninfo());
  test::OpenAppend slow(db, "slow");  // position p, not committed
  auto later = test::user_history("fast", 1);
  const auto fast = store.append("user-fast", 0, later);  // positions above p, committed
  BOOST_REQUIRE(fast[0].global_position > slow.position());

  auto sealing = std::async(std::launch::async, [&] { return producers::seal_event_store(db.conninfo(), key); });
  // A seal now would cover (0, max] without position p, which commits later.
  BOOST_TEST((sealing.wait_for(1500ms) == std::future_status::timeout));
  slow.commit();
  const auto seal = sealing.get();
  BOOST_REQUIRE(seal.has_value());
  BOOST_TEST(seal->number == 1);
  BOOST_TEST(seal->event_count == 3);
  BOOST_TEST(seal->last_position == fast[1].global_position);
  const auto report = producers::verify_seals(db.conninfo(), key);
  BOOST_TEST(report.ok());
  BOOST_TEST(report.sealed_events == 3);
  BOOST_TEST(report.unsealed_events == 0);
  BOOST_TEST(!producers::seal_event_store(db.conninfo(), key).has_value(), "nothing new to seal");
}

BOOST_AUTO_TEST_CASE(a_seal_gives_up_after_its_wait_and_names_the_open_transaction) {
  test::TestSchema db;
  test::OpenAppend open(db, "open");
  try {
    producers::seal_event_store(db.conninfo(), test_key(), {.max_wait = 1000ms});
    BOOST_FAIL("expected the seal to give up");
  } catch (const infra::Unavailable& e) {
    const std::string what = e.what();
    BOOST_TEST(what.find("still open") != std::string::npos, what);
    BOOST_TEST(what.find("pid") != std::string::npos, what);
  }
  open.commit();
  BOOST_TEST(producers::seal_event_store(db.conninfo(), test_key()).has_value());
}

BOOST_AUTO_TEST_CASE(a_seal_written_without_the_key_is_reported_and_never_extended) {
  test::TestSchema db;
  const auto key = test_key();
  producers::EventStore store(db.conninfo());
  auto history = test::user_history("f", 1);
  store.append("user-f", 0, history);
  BOOST_REQUIRE(producers::seal_event_store(db.conninfo(), key).has_value());
  // Someone with write access rewrites the seal to match a change.
  db.exec("UPDATE seals SET digest = repeat('0', 64) WHERE seal_number = 1");
  auto more = test::user_history("g", 0);
  store.append("user-g", 0, more);
  BOOST_CHECK_THROW(producers::seal_event_store(db.conninfo(), key), std::runtime_error);
  BOOST_TEST(db.scalar("SELECT count(*) FROM seals") == "1");
  const auto report = producers::verify_seals(db.conninfo(), key);
  BOOST_REQUIRE(!report.ok());
  BOOST_TEST(report.problems[0].problem.find("HMAC") != std::string::npos);
  BOOST_TEST(report.unsealed_events == 1);
}
