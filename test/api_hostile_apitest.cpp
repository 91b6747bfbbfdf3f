#define BOOST_TEST_MODULE api_hostile
// What an anonymous attacker can send to `lethe serve`, each of which once
// crashed it, grew it without bound or held its workers: deep JSON, bodies
// without a length, compressed bodies, header floods, slow clients, too many
// connections, bytes that are not UTF-8. Every one gets a 4xx JSON answer
// (or its connection closed), the server's memory stays bounded, and it goes
// on answering /health and signed-in requests.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "support/api.hpp"
#include "support/fixtures.hpp"
#include "support/slow_clients.hpp"

using namespace lethe;

namespace {

constexpr auto kRequestTimeoutMs = 3000;

// Resident memory of a process in MiB.
double rss_mib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return -1;
}

struct Hostile {
  test::TestSchema db;
  test::Api api{db, nullptr, {"--request-timeout-ms", std::to_string(kRequestTimeoutMs), "--threads", "4"}};
  bool alive() { return api.process().running() && api.call("GET", "/health").status == 200; }
  double rss() { return rss_mib(api.process().pid()); }
};

bool is_json_error(const test::Reply& r) {
  return r.json.IsObject() && !r.str("error").empty() && r.json.HasMember("field") && r.json.HasMember("message");
}

std::string post(const std::string& path, const std::string& body, const std::string& extra_headers = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
}

}  // namespace

BOOST_AUTO_TEST_CASE(deeply_nested_json_is_400_and_the_server_lives) {
  Hostile h;
  // A megabyte of '[' once overflowed a worker thread's stack.
  const std::string brackets(1 << 20, '[');
  auto r = test::raw_http(h.api.port(), post("/sessions", brackets), {brackets});
  BOOST_TEST(r.status == 400, "1 MiB of [: got " << r.status << " " << r.body);
  BOOST_TEST(r.str("error") == "invalid_json", r.body);
  BOOST_TEST(h.alive());
  // Balanced, so a recursive parser would build it whole (and free it by
  // recursion): refused by depth before any document is built.
  const std::string deep = "{\"email\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  r = test::raw_http(h.api.port(), post("/users", deep), {deep});
  BOOST_TEST(r.status == 400, "100,000 levels: got " << r.status << " " << r.body);
  BOOST_TEST(r.str("message").find("deeper than 32") != std::string::npos, r.body);
  // 32 levels are read, and then judged by the schema (email is a string).
  const std::string ok_depth = "{\"email\":" + std::string(31, '[') + std::string(31, ']') + ",\"name\":\"N\"}";
  r = test::raw_http(h.api.port(), post("/users", ok_depth), {ok_depth});
  BOOST_TEST(r.status == 400, r.body);
  BOOST_TEST(r.str("error") == "invalid_argument", r.body);
  BOOST_TEST(r.str("field") == "email", r.body);
  BOOST_TEST(h.alive());
}

BOOST_AUTO_TEST_CASE(a_post_without_content_length_has_an_empty_body) {
  Hostile h;
  const auto vera = h.api.person("vera@example.org");
  // What `curl -X POST URL -H 'Authorization: ...'` sends: no length, no body.
  const auto r = test::raw_http(h.api.port(),
                                "POST /carts HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                "Authorization: Bearer " +
                                    vera.token + "\r\n\r\n");
  BOOST_TEST(r.status == 201, r.body);
  const auto cart = r.str("id");
  BOOST_TEST(h.api
                 .call("GET", "/carts/" + cart + "?min_position=" + std::to_string(r.num("position")) + "&wait_ms=0",
                       "", vera.token)
                 .status != 0);
  BOOST_TEST(h.db.scalar("SELECT count(*) FROM events WHERE stream_id = 'cart-" + cart + "'") == "1");
}

BOOST_AUTO_TEST_CASE(a_stream_without_a_length_is_not_buffered) {
  Hostile h;
  const auto before = h.rss();
  // No Content-Length, no chunked framing, then 64 MiB: the request has no
  // body (HTTP/1.1), and what follows is not HTTP.
  const std::vector<std::string> flood(64, std::string(1 << 20, 'x'));
  const auto r = test::raw_http(h.api.port(), "POST /sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", flood);
  BOOST_TEST((r.status == 400 || r.status == 0), r.status << " " << r.body);
  const auto after = h.rss();
  BOOST_TEST_MESSAGE("RSS " << before << " MiB before, " << after << " MiB after 64 MiB without a length");
  BOOST_TEST(after - before < 32, "grew from " << before << " to " << after << " MiB");
  BOOST_TEST(h.alive());
}

BOOST_AUTO_TEST_CASE(compressed_and_chunked_bodies_are_refused_before_they_are_read) {
  Hostile h;
  const auto before = h.rss();
  // A gzip bomb is refused by its header: nothing is inflated.
  const std::string gz(200 * 1024, '\x1f');
  auto r = test::raw_http(h.api.port(), post("/users", gz, "Content-Encoding: gzip\r\n"), {gz});
  BOOST_TEST(r.status == 415, r.body);
  BOOST_TEST(r.str("field") == "Content-Encoding", r.body);
  BOOST_TEST(is_json_error(r), r.body);
  // A chunked body is refused whatever its size.
  r = test::raw_http(h.api.port(), "POST /users HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                     test::chunked(std::string(8 << 20, ' ')));
  BOOST_TEST(r.status == 411, r.body);
  BOOST_TEST(h.rss() - before < 32);
  BOOST_TEST(h.alive());
}

BOOST_AUTO_TEST_CASE(header_floods_are_431_and_bounded) {
  Hostile h;
  const auto before = h.rss();
  // 10,000 header lines of 1 KiB: 10 MiB of headers.
  std::vector<std::string> lines;
  for (int i = 0; i < 10000; ++i)
    lines.push_back("X-Flood-" + std::to_string(i) + ": " + std::string(1000, 'a') + "\r\n");
  lines.push_back("\r\n");
  auto r = test::raw_http(h.api.port(), "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n", lines);
  BOOST_TEST(r.status == 431, r.status << " " << r.body);
  BOOST_TEST(is_json_error(r), r.body);
  // Many short header lines, within the byte bound: refused by count.
  std::string many = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (int i = 0; i < 200; ++i) many += "X-" + std::to_string(i) + ": 1\r\n";
  r = test::raw_http(h.api.port(), many + "\r\n");
  BOOST_TEST(r.status == 431, r.status << " " << r.body);
  // A request line of 100 KiB.
  r = test::raw_http(h.api.port(), "GET /users/" + std::string(100 * 1024, 'u') + " HTTP/1.1\r\n\r\n");
  BOOST_TEST(r.status == 431, r.status << " " << r.body);
  BOOST_TEST(h.rss() - before < 32, "grew from " << before << " to " << h.rss() << " MiB");
  BOOST_TEST(h.alive());
}

BOOST_AUTO_TEST_CASE(a_thousand_slow_clients_hold_no_worker) {
  Hostile h;  // 4 worker threads
  const auto vera = h.api.person("slow@example.org");
  const auto opened = std::chrono::steady_clock::now();
  // Each connection sends one byte of a request line every 500 ms.
  test::SlowClients slow(h.api.port(), 1000, std::chrono::milliseconds(500));
  int health_failed = 0, reads_failed = 0;
  const auto health = test::p99_ms_of(
      100, [&] { return h.api.call("GET", "/health").status == 200; }, &health_failed);
  const auto reads = test::p99_ms_of(
      100, [&] { return h.api.call("GET", "/tickets", "", vera.token).status == 200; }, &reads_failed);
  BOOST_TEST_MESSAGE("with 1,000 slow clients: /health p99 " << health << " ms, GET /tickets p99 " << reads << " ms");
  BOOST_TEST(health_failed == 0);
  BOOST_TEST(reads_failed == 0);
  BOOST_TEST(health < 100.0);
  BOOST_TEST(reads < 100.0);
  // A request must arrive whole within --request-timeout-ms: the server has
  // closed every slow connection by then.
  std::this_thread::sleep_until(opened + std::chrono::milliseconds(kRequestTimeoutMs + 1500));
  const auto closed = slow.closed_by_server();
  BOOST_TEST(closed == 1000, closed << " of 1000 slow connections closed by the server");
  BOOST_TEST(h.alive());
}

BOOST_AUTO_TEST_CASE(connections_beyond_the_limit_are_closed_at_once) {
  test::TestSchema db;
  test::Api api(db, nullptr, {"--max-connections", "16", "--request-timeout-ms", "1000"});
  std::vector<int> held;
  for (int i = 0; i < 40; ++i) held.push_back(test::connect_local(api.port(), 2));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int closed = 0;
  for (int fd : held) {
    char buf[16];
    closed += ::recv(fd, buf, sizeof buf, MSG_DONTWAIT) == 0;
  }
  BOOST_TEST(closed >= 24, closed << " of 40 idle connections closed at once");
  BOOST_TEST(closed <= 25, closed << " of 40 idle connections closed at once (at most 16 kept)");
  for (int fd : held) ::close(fd);
  BOOST_TEST(test::eventually([&] { return api.call("GET", "/health").status == 200; }, std::chrono::seconds(5)));
}

BOOST_AUTO_TEST_CASE(paths_and_queries_that_are_not_utf8_are_400) {
  Hostile h;
  const auto get = [&](const std::string& target) {
    return test::raw_http(h.api.port(), "GET " + target +
                                            " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                            "Authorization: Bearer " +
                                            h.api.owner_key() + "\r\n\r\n");
  };
  const std::vector<std::pair<std::string, std::string>> cases{{"/users/%FF", "path"},
                                                               {"/users/%C3%28", "path"},
                                                               {"/users/%00", "path"},
                                                               {"/users/%zz", "path"},
                                                               {"/users/%4", "path"},
                                                               {"/tickets?status=%C3%28", "status"},
                                                               {"/tickets?status=%00", "status"},
                                                               {"/tickets?%FF=1", "query"}};
  for (const auto& [target, field] : cases) {
    const auto r = get(target);
    BOOST_TEST(r.status == 400, target << ": got " << r.status << " " << r.body);
    BOOST_TEST(r.str("field") == field, target << ": " << r.body);
  }
  // Valid escapes still work: %2D is '-', so this is the owner's id, and
  // the answer is the same as for the plain path (404 from the read model,
  // which no projector fills here: the path was routed and decoded).
  auto id = h.api.owner_id();
  const auto dash = id.find('-');
  const auto escaped = get("/users/" + id.substr(0, dash) + "%2D" + id.substr(dash + 1));
  const auto plain = get("/users/" + id);
  BOOST_TEST(escaped.status == plain.status, escaped.body);
  BOOST_TEST(escaped.body == plain.body);
  BOOST_TEST(escaped.str("field") == "id", escaped.body);
  BOOST_TEST(h.alive());
}

BOOST_AUTO_TEST_CASE(a_wrong_method_is_405_with_allow) {
  Hostile h;
  auto r = h.api.call("DELETE", "/me", "", h.api.owner_key());
  BOOST_TEST(r.status == 405, r.body);
  BOOST_TEST(r.header("Allow") == "GET", r.header("Allow"));
  BOOST_TEST(r.str("error") == "method_not_allowed", r.body);
  r = h.api.call("PUT", "/users/" + h.api.owner_id(), "{}", h.api.owner_key());
  BOOST_TEST(r.status == 405, r.body);
  const auto allow = r.header("Allow");
  BOOST_TEST((allow.find("GET") != std::string::npos && allow.find("PATCH") != std::string::npos), allow);
  // A path no method has is 404.
  BOOST_TEST(h.api.call("DELETE", "/no-such-route").status == 404);
}

BOOST_AUTO_TEST_CASE(anonymous_registrations_and_logins_are_limited_per_address_and_for_everyone) {
  test::TestSchema db;
  const test::SchemaClock clock(db);
  test::Api api(db, nullptr, {"--anonymous-per-address-per-minute", "5", "--anonymous-per-minute", "20"});
  // The limits count per minute: start at the first second of one (on the
  // schema's clock), so the test does not straddle two.
  clock.to_second_of_minute(1);
  int n = 0;
  const auto register_from = [&](const std::string& source) {
    const auto body = "{\"email\":\"anon" + std::to_string(++n) + "@example.org\",\"name\":\"A\"}";
    return test::raw_http(api.port(), post("/users", body), {body}, source);
  };
  for (int i = 0; i < 5; ++i) BOOST_TEST(register_from("127.0.0.1").status == 202);
  auto r = register_from("127.0.0.1");
  BOOST_TEST(r.status == 429, r.body);
  BOOST_TEST(r.str("error") == "rate_limited", r.body);
  const auto retry = r.header("Retry-After").empty() ? -1 : std::stoi(r.header("Retry-After"));
  BOOST_TEST((retry >= 1 && retry <= 60), "Retry-After: " << r.header("Retry-After"));
  // A login from the same address counts too (6 and 7 of everyone's 20).
  const std::string login = R"({"email":"anon1@example.org","password":"whatever it is"})";
  BOOST_TEST(test::raw_http(api.port(), post("/sessions", login), {login}, "127.0.0.1").status == 429);
  // Signed in, the owner is not limited.
  BOOST_TEST(api.call("POST", "/users", R"({"email":"by-owner@example.org","name":"O"})", api.owner_key()).status ==
             201);
  // Another server on the same database shares the count (8 of 20).
  auto twin = api.twin();
  BOOST_TEST(twin->call("POST", "/users", R"({"email":"twin@example.org","name":"T"})").status == 429);
  // Other addresses have their own count, until everyone's is spent.
  for (const auto* source : {"127.0.0.2", "127.0.0.3"})
    for (int i = 0; i < 5; ++i) BOOST_TEST(register_from(source).status == 202, source);
  BOOST_TEST(register_from("127.0.0.4").status == 202);
  BOOST_TEST(register_from("127.0.0.4").status == 202);  // 20 of 20
  r = register_from("127.0.0.4");
  BOOST_TEST(r.status == 429, r.body);
  // No address is kept in clear: the counts are by blind index.
  BOOST_TEST(db.scalar("SELECT count(*) FROM request_limits WHERE position('127.0.0'::bytea IN bucket) > 0") == "0");
  BOOST_TEST(std::stoi(db.scalar("SELECT count(*) FROM request_limits")) == 5);  // 4 addresses and everyone
  // The next minute counts afresh.
  clock.advance(std::chrono::seconds(60));
  BOOST_TEST(register_from("127.0.0.1").status == 202);
}

BOOST_AUTO_TEST_CASE(a_login_for_an_email_nobody_has_leaves_no_event_and_its_state_is_pruned) {
  test::TestSchema db;
  const test::SchemaClock clock(db);
  test::Api api(db, nullptr, {"--login-window-seconds", "600"});
  const auto vera = api.person("vera@example.org");
  const auto events = [&] { return db.scalar("SELECT count(*) FROM events WHERE type = 'user.login_failed'"); };
  for (int i = 0; i < 10; ++i) {
    const auto r = api.call("POST", "/sessions",
                            "{\"email\":\"nobody" + std::to_string(i) + "@example.org\",\"password\":\"guess\"}");
    BOOST_TEST(r.status == 401, r.body);
  }
  BOOST_TEST(events() == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM login_failures") == "10");
  // A wrong password for someone who has an account is an event for auditors.
  BOOST_TEST(api.call("POST", "/sessions", R"({"email":"vera@example.org","password":"not hers at all"})").status ==
             401);
  BOOST_TEST(events() == "1");
  // Within the window, a login keeps what it counted.
  clock.advance(std::chrono::seconds(598));
  BOOST_TEST(api.call("POST", "/sessions", R"({"email":"vera@example.org","password":"a good password"})").status ==
             201);
  BOOST_TEST(db.scalar("SELECT count(*) FROM login_failures") == "10");
  // Once the window has passed, the next login prunes what it kept for
  // emails nobody has; Vera's lock row stays (she has an account).
  clock.advance(std::chrono::seconds(3));
  BOOST_TEST(api.call("POST", "/sessions", R"({"email":"vera@example.org","password":"a good password"})").status ==
             201);
  BOOST_TEST(db.scalar("SELECT count(*) FROM login_failures") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM login_limits") == "1");
}

BOOST_AUTO_TEST_CASE(wrong_current_passwords_count_against_the_login_limit) {
  test::TestSchema db;
  test::Api api(db, nullptr, {"--login-max-failures", "3"});
  const auto vera = api.person("vera@example.org");
  const auto change = [&](const std::string& current) {
    return api.call("PUT", "/users/" + vera.id + "/password",
                    "{\"current_password\":\"" + current + "\",\"new_password\":\"another good one\"}", vera.token);
  };
  // A stolen session guessing the password: three wrong guesses, then 429.
  for (int i = 0; i < 3; ++i) BOOST_TEST(change("guess number " + std::to_string(i)).status == 403);
  auto r = change("guess number 4");
  BOOST_TEST(r.status == 429, r.body);
  BOOST_TEST(!r.header("Retry-After").empty());
  // The same limit as a login's: the right password is refused too, for now.
  BOOST_TEST(change("a good password").status == 429);
  BOOST_TEST(api.call("POST", "/sessions", R"({"email":"vera@example.org","password":"a good password"})").status ==
             429);
  // An admin setting a password guesses nothing and is not limited.
  BOOST_TEST(
      api.call("PUT", "/users/" + vera.id + "/password", R"({"new_password":"set by the owner"})", api.owner_key())
          .status == 200);
}

BOOST_AUTO_TEST_CASE(waiting_queries_hold_no_worker_and_are_capped_per_caller) {
  test::TestSchema db;
  test::Api api(db, nullptr, {"--threads", "2"});
  // No projector runs: a written version is never reflected, so every wait
  // below runs to its end.
  std::vector<test::Api::Person> people;
  for (int i = 0; i < 3; ++i) people.push_back(api.person("waiter" + std::to_string(i) + "@example.org"));
  const auto wait = [&](const test::Api::Person& p) {
    return api.call("GET", "/users/" + p.id + "?min_version=1&wait_ms=2000", "", p.token);
  };
  std::vector<test::Reply> replies(6), others(2);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < replies.size(); ++i) threads.emplace_back([&, i] { replies[i] = wait(people[0]); });
  for (std::size_t i = 0; i < others.size(); ++i) threads.emplace_back([&, i] { others[i] = wait(people[1 + i]); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Six waits are in progress on a server of two workers: they hold none,
  // so other requests are answered at once.
  int failed = 0;
  const auto p99 = test::p99_ms_of(
      20, [&] { return api.call("GET", "/tickets", "", people[2].token).status == 200; }, &failed);
  BOOST_TEST(failed == 0);
  BOOST_TEST(p99 < 500.0, "GET /tickets p99 " << p99 << " ms beside six waits on two workers");
  for (auto& t : threads) t.join();
  int limited = 0, stale = 0;
  for (const auto& r : replies) {
    limited += r.status == 429;
    stale += r.header("X-Lethe-Stale") == "true";
  }
  BOOST_TEST(limited == 2, limited << " of 6 waits of one caller refused");
  BOOST_TEST(stale == 4);
  for (const auto& r : others) BOOST_TEST(r.header("X-Lethe-Stale") == "true", r.status << " " << r.body);
}

BOOST_AUTO_TEST_CASE(a_stolen_session_cannot_confirm_its_owners_erasure_without_the_password) {
  test::TestSchema db;
  test::Api api(db, nullptr, {"--login-max-failures", "3"});
  const auto vera = api.person("vera@example.org");
  const auto asked = api.call("POST", "/me/erasure", "", vera.token, {{"Content-Length", "0"}});
  BOOST_REQUIRE_MESSAGE(asked.status == 201, asked.body);
  const auto confirm = [&](const std::string& password) {
    return api.call("POST", "/me/erasure/confirm",
                    "{\"token\":\"" + asked.str("token") + "\",\"password\":\"" + password + "\"}", vera.token);
  };
  // The token came to the session; without the password it is not enough.
  BOOST_TEST(api.call("POST", "/me/erasure/confirm", "{\"token\":\"" + asked.str("token") + "\"}", vera.token).status ==
             400);
  for (int i = 0; i < 3; ++i) {
    const auto r = confirm("guess " + std::to_string(i));
    BOOST_TEST(r.status == 403, r.body);
    BOOST_TEST(r.str("field") == "password", r.body);
  }
  // Guesses count against the login limit: then even the right one waits.
  BOOST_TEST(confirm("a good password").status == 429);
  BOOST_TEST(db.scalar("SELECT count(*) FROM events WHERE type = 'erasure.confirmed'") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM credentials WHERE user_id = '" + vera.id + "' AND kind = 'session'") ==
             "1");
}
