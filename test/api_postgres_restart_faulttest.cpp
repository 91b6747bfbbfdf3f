#define BOOST_TEST_MODULE api_postgres_restart
// `lethe serve` under traffic while PostgreSQL stops and starts: requests
// in flight or during the outage get 503 JSON (never a hang, never a
// crash), the server reconnects by itself, and afterwards every command
// that was answered 2xx is in the store exactly once. Then SIGTERM lets a
// request in flight finish before the process exits 0.
#include <signal.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "support/api.hpp"
#include "support/fixtures.hpp"
#include "support/restart_load.hpp"

using namespace lethe;

namespace {

void postgres(const std::string& verb) {
  const auto r = test::capture(test::source_dir() + "/scripts/postgres " + verb);
  BOOST_REQUIRE_MESSAGE(r.rc == 0, "scripts/postgres " << verb << ": " << r.output);
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_api_answers_503_while_postgres_is_down_and_recovers_by_itself) {
  test::TestSchema db;
  test::Api api(db);
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::set<std::string> created;  // ids answered 201
  std::map<int, int> statuses;
  std::vector<std::string> odd;  // answers that are neither 201 nor a 503 JSON with Retry-After
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c)
    clients.emplace_back([&, c] {
      for (int i = 0; !stop.load(); ++i) {
        const auto email = "c" + std::to_string(c) + "n" + std::to_string(i) + "@example.org";
        const auto r = api.call("POST", "/users", "{\"email\":\"" + email + "\",\"name\":\"Load\"}", api.owner_key());
        std::lock_guard lock(mutex);
        ++statuses[r.status];
        if (r.status == 201) created.insert(r.str("id"));
        // Boost.Test is not thread-safe: odd answers are checked after the join.
        const bool json_503 = r.status == 503 && !r.header("Retry-After").empty() &&
                              (r.str("error") == "unavailable" || r.str("error") == "commit_in_doubt");
        if (r.status != 201 && !json_503) odd.push_back(std::to_string(r.status) + " " + r.body);
        if (r.status != 201) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
  std::this_thread::sleep_for(std::chrono::seconds(2));
  postgres("stop");
  std::this_thread::sleep_for(std::chrono::seconds(1));
  // Liveness needs no database; readiness says what is down.
  const auto health = api.call("GET", "/health");
  const auto ready = api.call("GET", "/ready");
  std::this_thread::sleep_for(std::chrono::seconds(1));
  postgres("start");
  BOOST_TEST(health.status == 200);
  BOOST_TEST(ready.status == 503);
  BOOST_TEST(ready.str("status") == "not_ready");
  // The next requests work again, without restarting the server.
  BOOST_TEST(test::eventually(
      [&] {
        std::lock_guard lock(mutex);
        return statuses[503] > 0 && created.size() > 0;
      },
      std::chrono::seconds(30)));
  const auto before = [&] {
    std::lock_guard lock(mutex);
    return created.size();
  }();
  BOOST_TEST(test::eventually(
      [&] {
        std::lock_guard lock(mutex);
        return created.size() > before + 20;
      },
      std::chrono::seconds(30)));
  stop = true;
  for (auto& t : clients) t.join();
  BOOST_TEST(api.process().running());
  BOOST_TEST_MESSAGE("answers: " << statuses[201] << " x 201, " << statuses[503] << " x 503, " << statuses[0]
                                 << " without an answer");
  BOOST_TEST(odd.empty(), (odd.empty() ? "" : odd.front()));
  BOOST_TEST(statuses[0] == 0);  // no hang, no dropped connection
  BOOST_TEST(statuses[503] > 0);
  // Every 201 is in the store once; a 503 may have committed or not, but
  // nothing is there twice.
  const auto stored = db.rows("SELECT substr(stream_id, 6) FROM events WHERE type = 'user.registered'");
  std::set<std::string> stored_ids(stored.begin(), stored.end());
  BOOST_TEST(stored.size() == stored_ids.size());
  for (const auto& id : created) BOOST_TEST(stored_ids.count(id) == 1u, id);
}

BOOST_AUTO_TEST_CASE(once_postgres_is_back_every_request_succeeds) {
  test::TestSchema db;
  test::Api api(db, nullptr, {"--threads", "8"});
  const auto vera = api.person("vera@example.org");
  const auto run = test::load_through_postgres_restart(api, vera.token);
  BOOST_TEST_MESSAGE("before PostgreSQL was back: " << run.before_ok << " answered 2xx, " << run.before_failed
                                                    << " refused; after: " << run.after_ok << " 2xx, "
                                                    << run.after_failed.size() << " failed");
  BOOST_TEST(run.before_failed > 0);  // the outage was seen
  BOOST_TEST(run.after_ok > 50);
  BOOST_TEST(run.after_failed.empty(), run.after_failed.size()
                                           << " failed after PostgreSQL was back, first: "
                                           << (run.after_failed.empty() ? "" : run.after_failed.front()));
  BOOST_TEST(api.process().running());
}

BOOST_AUTO_TEST_CASE(sigterm_lets_a_request_in_flight_finish) {
  test::TestSchema db;
  test::Api api(db);
  // A read that waits (read-your-writes on a version nothing will write)
  // is in flight when SIGTERM arrives; it still gets its answer.
  auto r = api.call("POST", "/users", R"({"email":"term@example.org","name":"T"})", api.owner_key());
  BOOST_REQUIRE(r.status == 201);
  test::Reply slow;
  std::thread t(
      [&] { slow = api.call("GET", "/users/" + r.str("id") + "?min_version=1&wait_ms=1500", "", api.owner_key()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  api.process().signal(SIGTERM);
  t.join();
  BOOST_TEST(slow.status == 404);  // what the read model has (nothing: no projector here)
  BOOST_TEST(slow.header("X-Lethe-Stale") == "true");
  BOOST_TEST(api.process().wait(std::chrono::seconds(20)) == 0);
}
