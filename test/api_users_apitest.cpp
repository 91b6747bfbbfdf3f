#define BOOST_TEST_MODULE api_users
// The users routes over HTTP against a running `lethe serve`, with the relay
// and the users projection running, so that queries see what commands wrote.
#include <barrier>
#include <boost/test/unit_test.hpp>
#include <thread>

#include "lethe/infra/access.hpp"
#include "lethe/infra/pg.hpp"
#include "support/api.hpp"
#include "support/fixtures.hpp"

using namespace lethe;
using test::Api;

namespace {

// The write side, the HTTP API, the relay and the projector.
using test::Stack;

std::string json_body(std::initializer_list<std::pair<const char*, std::string>> fields) {
  std::string out = "{";
  for (const auto& [k, v] : fields) out += (out.size() > 1 ? "," : "") + std::string("\"") + k + "\":\"" + v + "\"";
  return out + "}";
}

std::string pos(const test::Reply& r) {
  return std::to_string(r.num("position"));
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_user_registers_logs_in_and_manages_their_account) {
  Stack s;
  auto& api = s.api;
  // Registering herself, Ann is told only that it was accepted; her id
  // comes with her first sign-in.
  auto reg = api.call("POST", "/users",
                      json_body({{"email", "Ann@Example.ORG"}, {"name", "Ann"}, {"password", "ann's password"}}));
  BOOST_REQUIRE_MESSAGE(reg.status == 202, reg.body);
  BOOST_TEST(reg.body == R"({"status":"accepted"})");
  BOOST_TEST(reg.header("X-Correlation-Id") != "");

  auto login = api.call("POST", "/sessions", json_body({{"email", "Ann@EXAMPLE.org"}, {"password", "ann's password"}}));
  BOOST_REQUIRE_MESSAGE(login.status == 201, login.body);
  auto token = login.str("token");
  const auto id = login.str("user_id");
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events WHERE type = 'user.registered' AND stream_id = 'user-" + id +
                         "'") == "1");
  const auto other_session =
      api.call("POST", "/sessions", json_body({{"email", "Ann@EXAMPLE.org"}, {"password", "ann's password"}}))
          .str("token");

  // Read-your-writes: the query waits until the projection has the write.
  auto me = api.call("GET", "/me?min_version=1", "", token);
  BOOST_REQUIRE_MESSAGE(me.status == 200, me.body);
  BOOST_TEST(me.header("X-Lethe-Stale") == "");
  BOOST_TEST(me.str("email") == "Ann@example.org");  // the domain part normalised, the local part kept
  BOOST_TEST(me.str("name") == "Ann");
  BOOST_TEST(me.str("role") == "user");

  // If-Match: the version last seen; a stale one is a conflict and changes nothing.
  auto renamed = api.call("PATCH", "/users/" + id, json_body({{"name", "Ann B."}}), token, {{"If-Match", "\"1\""}});
  BOOST_REQUIRE_MESSAGE(renamed.status == 200, renamed.body);
  BOOST_TEST(renamed.num("stream_version") == 2);
  auto stale = api.call("PATCH", "/users/" + id, json_body({{"name", "Ann C."}}), token, {{"If-Match", "\"1\""}});
  BOOST_TEST(stale.status == 409);
  BOOST_TEST(stale.str("field") == "if-match");
  auto after = api.call("GET", "/users/" + id + "?min_version=2", "", token);
  BOOST_TEST(after.str("name") == "Ann B.");
  BOOST_TEST(after.header("ETag") == "\"2\"");

  // Password: the current one is needed for your own.
  BOOST_TEST(
      api.call("PUT", "/users/" + id + "/password", json_body({{"new_password", "new password!"}}), token).status ==
      403);
  BOOST_TEST(api.call("PUT", "/users/" + id + "/password",
                      json_body({{"current_password", "ann's password"}, {"new_password", "new password!"}}), token)
                 .status == 200);
  // A new password ends every other session; the one that asked stays.
  BOOST_TEST(api.call("GET", "/users/" + id + "/api-keys", "", token).status == 200);
  BOOST_TEST(api.call("GET", "/users/" + id + "/api-keys", "", other_session).status == 401);

  // API keys: shown once, listed by prefix, revoked.
  auto key = api.call("POST", "/users/" + id + "/api-keys", json_body({{"name", "laptop"}}), token);
  BOOST_REQUIRE_MESSAGE(key.status == 201, key.body);
  const auto secret = key.str("key");
  BOOST_TEST(api.call("GET", "/me", "", secret).status == 200);
  auto keys = api.call("GET", "/users/" + id + "/api-keys", "", token);
  BOOST_REQUIRE(keys.status == 200);
  BOOST_TEST(keys.body.find(secret) == std::string::npos);
  BOOST_TEST(keys.body.find(key.str("prefix")) != std::string::npos);
  BOOST_TEST(keys.body.find("\"last_used_at\":\"") != std::string::npos);
  BOOST_TEST(api.call("DELETE", "/users/" + id + "/api-keys/" + key.str("id"), "", token).status == 200);
  BOOST_TEST(api.call("GET", "/me", "", secret).status == 401);
  // The list is paged like every other: a second key, one per page.
  BOOST_REQUIRE(api.call("POST", "/users/" + id + "/api-keys", json_body({{"name", "phone"}}), token).status == 201);
  auto first = api.call("GET", "/users/" + id + "/api-keys?limit=1", "", token);
  BOOST_TEST(first.json["api_keys"].Size() == 1u);
  BOOST_TEST(first.num("next_offset") == 1);
  auto second = api.call("GET", "/users/" + id + "/api-keys?limit=1&offset=1", "", token);
  BOOST_TEST(second.json["api_keys"].Size() == 1u);
  BOOST_TEST(std::string(second.json["api_keys"][0]["key_id"].GetString()) !=
             std::string(first.json["api_keys"][0]["key_id"].GetString()));
  auto all = api.call("GET", "/users/" + id + "/api-keys", "", token);
  BOOST_TEST(all.json["api_keys"].Size() == 2u);
  BOOST_TEST(all.json["next_offset"].IsNull());
  BOOST_TEST(api.call("GET", "/users/" + id + "/api-keys?limit=501", "", token).status == 400);

  // OAuth identities, recorded and listed.
  auto linked = api.call("POST", "/users/" + id + "/oauth-identities",
                         json_body({{"provider", "github"}, {"subject", "gh-4711"}}), token);
  BOOST_REQUIRE(linked.status == 201);
  auto ids = api.call("GET", "/users/" + id + "/oauth-identities?min_position=" + pos(linked), "", token);
  BOOST_TEST(ids.body.find("gh-4711") != std::string::npos);

  // Logout ends the session at once.
  BOOST_TEST(api.call("DELETE", "/sessions/current", "", token).status == 200);
  BOOST_TEST(api.call("GET", "/me", "", token).status == 401);
}

BOOST_AUTO_TEST_CASE(staff_notes_are_for_staff_only) {
  Stack s;
  auto user = s.api.person("uma@example.org");
  auto staff = s.api.person("stan@example.org", "staff");
  auto note = s.api.call("POST", "/users/" + user.id + "/notes", json_body({{"text", "asked for a refund twice"}}),
                         staff.token);
  BOOST_REQUIRE_MESSAGE(note.status == 201, note.body);
  BOOST_TEST(s.api.call("GET", "/users/" + user.id + "/notes", "", user.token).status == 403);
  BOOST_TEST(s.api.call("POST", "/users/" + user.id + "/notes", json_body({{"text", "x"}}), user.token).status == 403);
  auto notes = s.api.call("GET", "/users/" + user.id + "/notes?min_position=" + pos(note), "", staff.token);
  BOOST_TEST(notes.status == 200);
  BOOST_TEST(notes.header("X-Lethe-Stale") == "");
  BOOST_TEST(notes.body.find("asked for a refund twice") != std::string::npos);
  // The note went to the restricted topic, not the users topic.
  BOOST_TEST(
      test::eventually([&] { return !test::read_topic(s.topics.topic("staff")).empty(); }, std::chrono::seconds(20)));
  for (const auto& m : test::read_topic(s.topics.topic("users")))
    BOOST_TEST(m.value.find("user.note_added") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_deactivated_user_is_locked_out_at_once_and_restore_respects_the_email) {
  Stack s;
  auto& api = s.api;
  auto dan = api.person("dan@example.org");
  auto key = api.call("POST", "/users/" + dan.id + "/api-keys", json_body({{"name", "cli"}}), dan.token).str("key");
  // A route that reads the write side only: it answers the moment a token works.
  const auto as = [&](const std::string& token) {
    return api.call("GET", "/users/" + dan.id + "/api-keys", "", token).status;
  };
  BOOST_REQUIRE(as(key) == 200);
  BOOST_REQUIRE(as(dan.token) == 200);
  auto admin = api.person("ada@example.org", "admin");

  BOOST_TEST(api.call("POST", "/users/" + admin.id + "/deactivate", "", admin.token).status == 403);  // not themself
  auto off = api.call("POST", "/users/" + dan.id + "/deactivate", "", admin.token);
  BOOST_REQUIRE_MESSAGE(off.status == 200, off.body);
  // Session, API key and login: all refused at once, no projection involved.
  BOOST_TEST(as(dan.token) == 401);
  BOOST_TEST(as(key) == 401);
  BOOST_TEST(api.call("POST", "/sessions", json_body({{"email", "dan@example.org"}, {"password", "a good password"}}))
                 .status == 401);
  // Lists leave them out unless asked.
  auto list = api.call("GET", "/users?min_position=" + pos(off), "", admin.token);
  BOOST_TEST(list.body.find(dan.id) == std::string::npos);
  BOOST_TEST(api.call("GET", "/users?include_deleted=true", "", admin.token).body.find(dan.id) != std::string::npos);

  // The email is free; once taken, restore is refused.
  auto dan2 = api.call("POST", "/users", json_body({{"email", "dan@example.org"}, {"name", "Dan Two"}}), admin.token);
  BOOST_REQUIRE_MESSAGE(dan2.status == 201, dan2.body);
  auto refused = api.call("POST", "/users/" + dan.id + "/restore", "", admin.token);
  BOOST_TEST(refused.status == 409);
  BOOST_TEST(refused.str("field") == "email");
  BOOST_TEST(api.call("POST", "/users/" + dan2.str("id") + "/deactivate", "", admin.token).status == 200);
  BOOST_TEST(api.call("POST", "/users/" + dan.id + "/restore", "", admin.token).status == 200);
  BOOST_TEST(as(key) == 200);  // keys work again; sessions stay ended
  BOOST_TEST(as(dan.token) == 401);
}

BOOST_AUTO_TEST_CASE(sessions_and_api_keys_expire_on_the_schemas_clock_to_the_second) {
  using std::chrono::seconds;
  test::TestSchema db;
  const test::SchemaClock clock(db);
  Api api(db, nullptr, {"--session-ttl-seconds", "3600"});
  auto eve = api.person("eve@example.org");
  const auto key =
      test::must(api.call("POST", "/users/" + eve.id + "/api-keys",
                          json_body({{"name", "cron"}, {"expires_at", clock.now(seconds(7200))}}), eve.token),
                 201, "a key for two hours")
          .str("key");
  const auto as = [&](const std::string& token) {
    return api.call("GET", "/users/" + eve.id + "/api-keys", "", token);
  };
  const auto refused = [&](const std::string& token, const std::string& what) {
    test::exactly(as(token), 401, what, "Authorization");
  };
  // The session is cut to whole seconds at login: it lives between 3599 and
  // 3600 s. Two seconds before that, both work.
  clock.advance(seconds(3598));
  test::exactly(as(eve.token), 200, "the session at 3598 s");
  test::exactly(as(key), 200, "the key at 3598 s");
  clock.advance(seconds(3));
  refused(eve.token, "the session at 3601 s");
  test::exactly(as(key), 200, "the key outlives the session");
  // Signing in again gives a session that works, on the same clock.
  const auto login = [&](const std::string& what) {
    return test::must(api.call("POST", "/sessions",
                               json_body({{"email", "eve@example.org"}, {"password", "a good password"}})),
                      201, what)
        .str("token");
  };
  test::exactly(as(login("login after the session expired")), 200, "the new session");
  // The key's expiry was given to the second.
  clock.advance(seconds(3597));
  test::exactly(as(key), 200, "the key at 7198 s");
  clock.advance(seconds(3));
  refused(key, "the key at 7201 s");
  // A time in the past by the schema's clock (an hour ahead of PostgreSQL's
  // own, by now) is refused as an expiry.
  test::exactly(api.call("POST", "/users/" + eve.id + "/api-keys",
                         json_body({{"name", "late"}, {"expires_at", clock.now(seconds(-60))}}), login("login")),
                422, "an expiry a minute ago", "expires_at");
}

BOOST_AUTO_TEST_CASE(twenty_concurrent_registrations_with_one_email_over_http_make_one_account) {
  test::TestSchema db;
  Api api(db);
  constexpr int kRacers = 20;
  std::barrier start(kRacers);
  std::vector<int> statuses(kRacers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRacers; ++i)
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      statuses[i] =
          api.call("POST", "/users", json_body({{"email", "same@example.org"}, {"name", "Racer " + std::to_string(i)}}),
                   api.owner_key())
              .status;
    });
  for (auto& t : threads) t.join();
  BOOST_TEST(std::count(statuses.begin(), statuses.end(), 201) == 1);
  BOOST_TEST(std::count(statuses.begin(), statuses.end(), 409) == kRacers - 1);
  BOOST_TEST(db.scalar("SELECT count(*) FROM events WHERE type = 'user.registered'") == "2");  // with the owner
}

BOOST_AUTO_TEST_CASE(registration_tells_nobody_but_admins_which_emails_have_accounts) {
  test::TestSchema db;
  Api api(db);
  const auto kim = api.person("kim@example.org");
  const auto sam = api.person("sam@example.org", "staff");
  const auto events = [&] { return db.scalar("SELECT count(*) FROM events"); };
  // Anonymous: the taken email and a new one get the same answer.
  const auto before = events();
  const auto taken =
      api.call("POST", "/users",
               json_body({{"email", "kim@EXAMPLE.org"}, {"name", "Not Kim"}, {"password", "an intruder's pass"}}));
  BOOST_TEST(taken.status == 202);
  BOOST_TEST(events() == before);  // nothing written for the taken email
  const auto fresh = api.call(
      "POST", "/users", json_body({{"email", "lee@example.org"}, {"name", "Lee"}, {"password", "a good password"}}));
  BOOST_TEST(fresh.status == 202);
  BOOST_TEST(fresh.body == taken.body);
  BOOST_TEST(fresh.body == R"({"status":"accepted"})");
  // Signed in as staff, the same.
  const auto by_staff = api.call("POST", "/users", json_body({{"email", "kim@example.org"}, {"name", "K"}}), sam.token);
  BOOST_TEST(by_staff.status == 202);
  BOOST_TEST(by_staff.body == taken.body);
  // Kim's account is untouched; Lee's exists and is Lee's.
  BOOST_TEST(api.call("POST", "/sessions", json_body({{"email", "kim@example.org"}, {"password", "a good password"}}))
                 .str("user_id") == kim.id);
  BOOST_TEST(
      api.call("POST", "/sessions", json_body({{"email", "kim@example.org"}, {"password", "an intruder's pass"}}))
          .status == 401);
  const auto lee =
      api.call("POST", "/sessions", json_body({{"email", "lee@example.org"}, {"password", "a good password"}}));
  BOOST_TEST_REQUIRE(lee.status == 201);
  BOOST_TEST(db.scalar("SELECT count(*) FROM events WHERE type = 'user.registered' AND stream_id = 'user-" +
                       lee.str("user_id") + "'") == "1");
  // An owner or admin is told: 409, the field named.
  const auto by_owner =
      api.call("POST", "/users", json_body({{"email", "kim@example.org"}, {"name", "K"}}), api.owner_key());
  BOOST_TEST(by_owner.status == 409);
  BOOST_TEST(by_owner.str("field") == "email");
  // Bad input is still refused, whoever asks.
  BOOST_TEST(api.call("POST", "/users", json_body({{"email", "not an email"}, {"name", "N"}})).status == 400);
}

BOOST_AUTO_TEST_CASE(the_login_limit_holds_across_two_server_processes) {
  test::TestSchema db;
  Api a(db);
  auto b = a.twin();
  a.person("lia@example.org");
  const auto wrong = json_body({{"email", "lia@example.org"}, {"password", "not her password"}});
  const auto right = json_body({{"email", "lia@EXAMPLE.org"}, {"password", "a good password"}});
  for (int i = 0; i < 5; ++i)
    BOOST_TEST((i % 2 ? b->call("POST", "/sessions", wrong) : a.call("POST", "/sessions", wrong)).status == 401);
  for (const Api* server : {&a, b.get()}) {
    auto limited = server->call("POST", "/sessions", right);  // even the right password
    BOOST_TEST(limited.status == 429);
    BOOST_TEST(limited.str("error") == "rate_limited");
    const auto retry = std::stoi(limited.header("Retry-After"));
    BOOST_TEST(retry > 0);
    BOOST_TEST(retry <= 15 * 60);
  }
  // Another email is not limited.
  BOOST_TEST(a.call("POST", "/sessions", json_body({{"email", "owner@example.org"}, {"password", "x"}})).status == 401);
  BOOST_TEST(db.scalar("SELECT count(*) FROM events WHERE type = 'user.login_failed'") == "6");
}

BOOST_AUTO_TEST_CASE(correlation_ids_are_honoured_and_bounded) {
  test::TestSchema db;
  Api api(db);
  auto r = api.call("POST", "/users", json_body({{"email", "cid@example.org"}, {"name", "C"}}), api.owner_key(),
                    {{"X-Correlation-Id", "order-flow-42"}});
  BOOST_REQUIRE(r.status == 201);
  BOOST_TEST(r.header("X-Correlation-Id") == "order-flow-42");
  BOOST_TEST(db.scalar("SELECT correlation_id FROM events WHERE stream_id = 'user-" + r.str("id") + "'") ==
             "order-flow-42");
  const auto before = db.scalar("SELECT count(*) FROM events");
  auto long_id = api.call("POST", "/users", json_body({{"email", "cid2@example.org"}, {"name", "C"}}), "",
                          {{"X-Correlation-Id", std::string(201, 'c')}});
  BOOST_TEST(long_id.status == 400);
  BOOST_TEST(long_id.str("field") == "X-Correlation-Id");
  // Headers beyond the server's limit (16 KiB): 431 JSON, and the server goes on.
  auto huge = api.call("GET", "/health", "", "", {{"X-Filler", std::string(20000, 'f')}});
  BOOST_TEST(huge.status == 431);
  BOOST_TEST(huge.str("error") == "headers_too_large");
  BOOST_TEST(db.scalar("SELECT count(*) FROM events") == before);
  BOOST_TEST(api.call("GET", "/health").status == 200);
}

BOOST_AUTO_TEST_CASE(a_query_that_cannot_wait_long_enough_says_it_is_stale) {
  test::TestSchema db;
  Api api(db);  // no relay, no projector: nothing reaches the read model
  auto r = api.call("POST", "/users", json_body({{"email", "slow@example.org"}, {"name", "S"}}), api.owner_key());
  BOOST_REQUIRE(r.status == 201);
  auto q = api.call("GET", "/users/" + r.str("id") + "?min_version=1&wait_ms=200", "", api.owner_key());
  BOOST_TEST(q.header("X-Lethe-Stale") == "true");
  BOOST_TEST(q.status == 404);  // what the read model has: nothing yet
  // A version never written is not waited for: answered at once with what
  // the read model has (nothing: no such user yet), not stale.
  auto never = api.call("GET", "/users/" + r.str("id") + "?min_version=99", "", api.owner_key());
  BOOST_TEST(never.status == 404);
  BOOST_TEST(never.str("field") == "id");
  BOOST_TEST(never.header("X-Lethe-Stale") == "");
  // /ready shows an operator why: the relay's backlog holds the owner's
  // two events (registered, API key issued) and this registration.
  auto ready = api.call("GET", "/ready", "", api.owner_key());
  BOOST_TEST(ready.status == 200);
  BOOST_TEST(ready.str("postgres") == "ok");
  BOOST_TEST(ready.num("relay_backlog") == 3);
  // Anyone else learns ready or not, and nothing of the system's state.
  auto anonymous = api.call("GET", "/ready");
  BOOST_TEST(anonymous.status == 200);
  BOOST_TEST(anonymous.body == R"({"status":"ready"})");
}

BOOST_AUTO_TEST_CASE(a_flood_of_logins_does_not_starve_other_requests) {
  test::TestSchema db;
  Api api(db, nullptr, {"--threads", "24", "--password-slots", "1"});
  constexpr int kFlood = 40;
  for (int i = 0; i < kFlood; ++i)
    BOOST_REQUIRE(api.call("POST", "/users",
                           json_body({{"email", "flo" + std::to_string(i) + "@example.org"},
                                      {"name", "Flo"},
                                      {"password", "a good password"}}))
                      .status == 202);
  // 40 people log in at once against one hashing slot (and at most 8
  // waiting for it): the surplus is told to come back (503 busy) instead of
  // holding server threads.
  std::barrier start(kFlood + 1);
  std::vector<test::Reply> replies(kFlood);
  std::vector<std::thread> flood;
  for (int i = 0; i < kFlood; ++i)
    flood.emplace_back([&, i] {
      start.arrive_and_wait();
      replies[i] =
          api.call("POST", "/sessions",
                   json_body({{"email", "flo" + std::to_string(i) + "@example.org"}, {"password", "a good password"}}));
    });
  start.arrive_and_wait();
  // Meanwhile other requests are answered at once.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto t0 = std::chrono::steady_clock::now();
  auto health = api.call("GET", "/health");
  auto keys = api.call("GET", "/users/" + api.owner_id() + "/api-keys", "", api.owner_key());
  const auto waited = std::chrono::steady_clock::now() - t0;
  for (auto& t : flood) t.join();
  BOOST_TEST(health.status == 200);
  BOOST_TEST(keys.status == 200);
  BOOST_TEST(std::chrono::duration_cast<std::chrono::milliseconds>(waited).count() < 1000);
  int ok = 0, busy = 0;
  for (const auto& r : replies) {
    if (r.status == 201) ++ok;
    if (r.status == 503 && r.str("error") == "busy" && !r.header("Retry-After").empty()) ++busy;
    if (r.status != 201 && r.status != 503) BOOST_TEST_MESSAGE("other: " << r.status << " " << r.body);
  }
  BOOST_TEST(ok >= 1);
  BOOST_TEST(busy >= 1);
  BOOST_TEST(ok + busy == kFlood);
}

BOOST_AUTO_TEST_CASE(bootstrap_runs_once_and_its_key_is_an_owners) {
  test::TestSchema db;
  Api api(db);  // bootstrapped once by the fixture
  const auto again = test::capture("(LETHE_PG='" + db.conninfo() + "' " + test::lethe_bin() +
                                   " bootstrap --email other@example.org --name Other 2>&1)");
  BOOST_TEST(again.rc == 1);
  BOOST_TEST(again.output.find("an owner exists already") != std::string::npos, again.output);
  BOOST_TEST(db.scalar("SELECT count(*) FROM accounts WHERE role = 'owner'") == "1");
  // The printed key authenticates as the owner, and is stored only as a hash.
  auto keys = api.call("GET", "/users/" + api.owner_id() + "/api-keys", "", api.owner_key());
  BOOST_REQUIRE(keys.status == 200);
  BOOST_TEST(keys.body.find("\"name\":\"bootstrap\"") != std::string::npos);
  BOOST_TEST(keys.body.find(api.owner_key()) == std::string::npos);
  BOOST_TEST(
      api.call("PUT", "/users/" + api.owner_id() + "/role", json_body({{"role", "admin"}}), api.owner_key()).status ==
      403);  // nobody changes their own role
}

BOOST_AUTO_TEST_CASE(a_lock_held_elsewhere_gives_503_not_a_hang) {
  test::TestSchema db;
  Api api(db, nullptr, {"--lock-timeout-ms", "300"});
  BOOST_REQUIRE(api.call("POST", "/users",
                         json_body({{"email", "lou@example.org"}, {"name", "Lou"}, {"password", "a good password"}}))
                    .status == 202);
  // Another session holds the email's login row (a stuck console, say).
  auto conn = infra::connect(db.conninfo());
  pqxx::work holder(*conn);
  const auto index = infra::email_index("lou@example.org");
  holder.exec_params("INSERT INTO login_limits (email_index) VALUES ($1) ON CONFLICT DO NOTHING",
                     pqxx::binarystring(index));
  holder.exec_params("SELECT 1 FROM login_limits WHERE email_index = $1 FOR UPDATE", pqxx::binarystring(index));
  const auto login = json_body({{"email", "lou@example.org"}, {"password", "a good password"}});
  const auto t0 = std::chrono::steady_clock::now();
  auto blocked = api.call("POST", "/sessions", login);
  const auto waited = std::chrono::steady_clock::now() - t0;
  BOOST_TEST(blocked.status == 503);
  BOOST_TEST(blocked.str("error") == "timeout");
  BOOST_TEST(blocked.header("Retry-After") != "");
  BOOST_TEST(std::chrono::duration_cast<std::chrono::milliseconds>(waited).count() < 3000);
  holder.abort();
  BOOST_TEST(api.call("POST", "/sessions", login).status == 201);  // the same thread, its connection still good
}
