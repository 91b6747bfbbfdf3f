#define BOOST_TEST_MODULE api_erasure_rules
// The rules of erasure, over HTTP against `lethe serve` with the real relay,
// projector, Kafka and PostgreSQL: who may erase whom (the route table, the
// self, the privileged roles, the last owner, unknown and erased people),
// the rate limit per admin, the self-service token flow (ask, confirm, be
// signed out, be carried out), an expired token, and that the erasure's own
// events name nobody. Every refusal answers with the rule (status, field,
// message) and leaves the person as they were.
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <future>
#include <map>
#include <thread>

#include "support/api.hpp"
#include "support/fixtures.hpp"

using namespace lethe;
using test::Api;

namespace {

using Stack = test::Served;

test::Reply required(test::Reply&& r, int status, const std::string& what) {
  BOOST_REQUIRE_MESSAGE(r.status == status, what << ": " << r.status << " " << r.body);
  return std::move(r);
}

// A POST with no body.
test::Reply post(const Api& api, const std::string& path, const std::string& token) {
  return api.call("POST", path, "", token, {{"Content-Length", "0"}});
}

test::Reply erase(const Api& api, const std::string& user_id, const std::string& token) {
  return post(api, "/users/" + user_id + "/erasure", token);
}

test::Reply confirm(const Api& api, const std::string& token, const std::string& erasure_token) {
  return api.call("POST", "/me/erasure/confirm",
                  "{\"token\":\"" + erasure_token + "\",\"password\":\"a good password\"}", token);
}

// A refusal that names its rule: the status, the field at fault and a
// phrase of the message.
void refused(const test::Reply& r, int status, const std::string& field, const std::string& phrase,
             const std::string& what) {
  BOOST_TEST(r.status == status, what << ": " << r.status << " " << r.body);
  BOOST_TEST(r.str("field") == field, what << ": " << r.body);
  BOOST_TEST(r.str("message").find(phrase) != std::string::npos, what << ": " << r.body);
}

// Refused by the route table for the caller's role.
void refused_by_route(const test::Reply& r, const std::string& what) {
  refused(r, 403, "Authorization", "is for:", what);
  BOOST_TEST(r.str("error") == "forbidden", what);
}

bool is_erased(const test::TestSchema& db, const std::string& user_id) {
  return db.scalar("SELECT count(*) FROM erased_persons WHERE subject = '" + user_id + "'") != "0";
}

// Nothing happened to the person: their credential still works, their key
// is not destroyed, no erasure of theirs is registered.
void untouched(const Api& api, const test::TestSchema& db, const std::string& user_id, const std::string& token,
               const std::string& what) {
  // The credential is checked against the write side at once; the profile
  // comes from the read model, which may not hold a new person yet (404).
  const auto me = test::poll(api, "/me", token, [](const test::Reply& r) { return r.status != 404; });
  BOOST_TEST(me.status == 200, what << ": GET /me " << me.status << " " << me.body);
  BOOST_TEST(me.str("id") == user_id, what);
  BOOST_TEST(!is_erased(db, user_id), what << ": registered as erased");
  BOOST_TEST(db.scalar("SELECT erased_at IS NULL AND email_index IS NOT NULL FROM accounts WHERE user_id = '" +
                       user_id + "'") == "t",
             what << ": account anonymized");
}

// The ids of the erasure requests a listing holds.
std::vector<std::string> ids_in(const test::Reply& r) {
  std::vector<std::string> out;
  if (!r.json.IsObject() || !r.json.HasMember("erasure_requests")) return out;
  for (const auto& x : r.json["erasure_requests"].GetArray()) out.emplace_back(x["id"].GetString());
  return out;
}

bool lists(const test::Reply& r, const std::string& request_id) {
  const auto ids = ids_in(r);
  return std::find(ids.begin(), ids.end(), request_id) != ids.end();
}

// A listing once it holds the request (the projection may lag).
test::Reply listed(const Api& api, const std::string& query, const std::string& request_id, const std::string& token) {
  return test::poll(api, "/erasure-requests?" + query, token,
                    [&](const test::Reply& r) { return r.status == 200 && lists(r, request_id); });
}

const std::string kNoSuchUser = "00000000-0000-4000-8000-000000000000";

}  // namespace

BOOST_AUTO_TEST_CASE(who_may_erase_whom) {
  Stack s;
  auto& api = s.api;
  auto& db = s.db;
  const auto run = test::random_suffix();
  const auto ada = api.person("ada" + run + "@example.org", "admin");
  const auto abe = api.person("abe" + run + "@example.org", "admin");
  const auto aud = api.person("aud" + run + "@example.org", "auditor");
  const auto sam = api.person("sam" + run + "@example.org", "staff");
  const auto uma = api.person("uma" + run + "@example.org");
  const auto uli = api.person("uli" + run + "@example.org");
  const auto& owner = api.owner_id();
  const auto& owner_key = api.owner_key();

  // The route table: a user, staff and an auditor may not erase anyone.
  refused_by_route(erase(api, uli.id, uma.token), "user erases user");
  refused_by_route(erase(api, uli.id, sam.token), "staff erases user");
  refused_by_route(erase(api, uli.id, aud.token), "auditor erases user");
  refused_by_route(erase(api, uma.id, uma.token), "user erases themselves via the admin path");
  untouched(api, db, uli.id, uli.token, "uli after refusals");
  untouched(api, db, uma.id, uma.token, "uma after refusals");

  // Nobody erases themselves through the admin path.
  refused(erase(api, ada.id, ada.token), 403, "user_id", "themselves", "admin erases themselves");
  untouched(api, db, ada.id, ada.token, "ada after erasing herself");
  refused(erase(api, owner, owner_key), 403, "user_id", "themselves", "owner erases themselves");
  untouched(api, db, owner, owner_key, "owner after erasing themselves");

  // Only an owner erases the privileged: an admin, an owner, an auditor.
  refused(erase(api, abe.id, ada.token), 403, "user_id", "only an owner", "admin erases admin");
  untouched(api, db, abe.id, abe.token, "abe after an admin's attempt");
  refused(erase(api, owner, ada.token), 403, "user_id", "only an owner", "admin erases owner");
  untouched(api, db, owner, owner_key, "owner after an admin's attempt");
  refused(erase(api, aud.id, ada.token), 403, "user_id", "only an owner", "admin erases auditor");
  untouched(api, db, aud.id, aud.token, "aud after an admin's attempt");

  // An owner erases an admin; the admin's credentials stop at once.
  const auto abe_erased = required(erase(api, abe.id, owner_key), 202, "owner erases admin");
  BOOST_TEST(abe_erased.str("status") == "erased");
  BOOST_TEST(is_erased(db, abe.id));
  BOOST_TEST(api.call("GET", "/me", "", abe.token).status == 401);

  // An unknown user; an erased one, by whoever asks.
  refused(erase(api, kNoSuchUser, ada.token), 404, "user_id", "no such user", "unknown user");
  BOOST_TEST(!is_erased(db, kNoSuchUser));
  const auto again = erase(api, abe.id, ada.token);
  BOOST_TEST(again.status == 410, again.body);
  BOOST_TEST(again.str("field") == "user_id", again.body);
  BOOST_TEST(again.str("message").find("erased") != std::string::npos, again.body);
  BOOST_TEST(erase(api, abe.id, owner_key).status == 410);
  BOOST_TEST(db.scalar("SELECT count(*) FROM events WHERE type = 'user.erased' AND payload ->> 'user_id' = '" + abe.id +
                       "'") == "1");

  // The last owner. With a second owner, one owner erases the other...
  const auto otto = api.person("otto" + run + "@example.org", "owner");
  required(erase(api, otto.id, owner_key), 202, "owner erases the second owner");
  BOOST_TEST(is_erased(db, otto.id));
  // ...an admin still may not erase the owner left...
  refused(erase(api, owner, ada.token), 403, "user_id", "only an owner", "admin erases the last owner");
  // ...and the owner left may not even ask for it: nobody could carry it out.
  const auto own = post(api, "/me/erasure", owner_key);
  refused(own, 422, "user_id", "last owner", "the last owner asks for their erasure");
  BOOST_TEST(own.str("error") == "rule_violated", own.body);
  BOOST_TEST(own.str("token").empty());
  BOOST_TEST(db.scalar("SELECT count(*) FROM open_erasures WHERE user_id = '" + owner + "'") == "0");
  untouched(api, db, owner, owner_key, "the last owner");
}

BOOST_AUTO_TEST_CASE(an_admin_erases_at_most_so_many_per_hour) {
  Stack s({.serve_args = {"--erasures-per-hour", "2"}});
  auto& api = s.api;
  auto& db = s.db;
  const auto run = test::random_suffix();
  const auto ada = api.person("ada" + run + "@example.org", "admin");
  const auto bob = api.person("bob" + run + "@example.org", "admin");
  std::vector<Api::Person> users;
  for (int i = 0; i < 4; ++i) users.push_back(api.person("u" + std::to_string(i) + run + "@example.org"));

  required(erase(api, users[0].id, ada.token), 202, "first erasure");
  required(erase(api, users[1].id, ada.token), 202, "second erasure");
  const auto third = erase(api, users[2].id, ada.token);
  refused(third, 429, "user_id", "at most 2 erasures per hour per admin", "third erasure");
  BOOST_TEST(third.str("error") == "rate_limited", third.body);
  const auto retry_after = third.header("Retry-After");
  BOOST_TEST_REQUIRE(!retry_after.empty(), third.body);
  // The hour runs from the first erasure, moments ago.
  BOOST_TEST(std::stoi(retry_after) >= 3590, retry_after);
  BOOST_TEST(std::stoi(retry_after) <= 3600, retry_after);
  untouched(api, db, users[2].id, users[2].token, "the third user");
  BOOST_TEST(db.scalar("SELECT count(*) FROM erasure_requests WHERE user_id = '" + users[2].id + "'") == "0");

  // The limit is per admin: another one still erases, this admin still may not.
  required(erase(api, users[2].id, bob.token), 202, "another admin");
  BOOST_TEST(is_erased(db, users[2].id));
  refused(erase(api, users[3].id, ada.token), 429, "user_id", "per hour", "fourth erasure by the same admin");
  untouched(api, db, users[3].id, users[3].token, "the fourth user");
  BOOST_TEST(db.scalar("SELECT count(*) FROM erasure_limits WHERE actor = '" + ada.id + "'") == "2");
  // Once the hour has passed, she may again.
  s.clock.advance(std::chrono::seconds(std::stoi(retry_after) - 5));
  refused(erase(api, users[3].id, ada.token), 429, "user_id", "per hour", "five seconds before the hour ends");
  s.clock.advance(std::chrono::seconds(6));
  required(erase(api, users[3].id, ada.token), 202, "the hour has passed");
}

BOOST_AUTO_TEST_CASE(a_person_asks_confirms_and_is_erased_by_an_admin) {
  Stack s;
  auto& api = s.api;
  auto& db = s.db;
  const auto run = test::random_suffix();
  const auto ada = api.person("ada" + run + "@example.org", "admin");
  const auto vic = api.person("vic" + run + "@example.org");
  // A credential that outlives the sessions, to try what a signed-out person could.
  const auto key =
      required(api.call("POST", "/users/" + vic.id + "/api-keys", "{\"name\":\"phone\"}", vic.token), 201, "api key")
          .str("key");

  // Asked: the token is shown once, with a deadline in the future.
  const auto asked = required(post(api, "/me/erasure", vic.token), 201, "ask");
  const auto request_id = asked.str("id");
  const auto token = asked.str("token");
  BOOST_TEST_REQUIRE(!request_id.empty());
  BOOST_TEST_REQUIRE(!token.empty());
  BOOST_TEST(asked.str("status") == "awaiting_confirmation");
  BOOST_TEST(db.scalar("SELECT '" + asked.str("confirm_by") + "'::timestamptz > now() + interval '23 hours'") == "t",
             asked.body);
  auto seen = test::poll(api, "/erasure-requests/" + request_id, ada.token,
                         [](const test::Reply& r) { return r.status == 200; });
  BOOST_TEST(seen.str("status") == "awaiting_confirmation", seen.body);
  BOOST_TEST(seen.str("mode") == "self", seen.body);
  BOOST_TEST(seen.body.find(token) == std::string::npos);
  BOOST_TEST(db.scalar("SELECT count(*) FROM events WHERE payload::text LIKE '%" + token + "%'") == "0");

  // One request at a time.
  refused(post(api, "/me/erasure", vic.token), 409, "user_id", "pending already", "second ask");
  // The person may not carry it out; an admin may not before the token.
  refused_by_route(post(api, "/erasure-requests/" + request_id + "/execute", vic.token), "the person executes");
  refused(post(api, "/erasure-requests/" + request_id + "/execute", ada.token), 422, "request_id", "not confirmed",
          "execute before the token");
  untouched(api, db, vic.id, vic.token, "vic before confirming");

  // The wrong token changes nothing.
  refused(confirm(api, vic.token, token + "x"), 403, "token", "does not match", "wrong token");
  refused(confirm(api, vic.token, "le_" + std::string(40, 'a')), 403, "token", "does not match", "other token");
  untouched(api, db, vic.id, vic.token, "vic after a wrong token");

  // The right one: signed out at once, pending for an admin.
  const auto confirmed = required(confirm(api, vic.token, token), 200, "confirm");
  BOOST_TEST(confirmed.str("id") == request_id);
  BOOST_TEST(confirmed.str("status") == "pending");
  BOOST_TEST(api.call("GET", "/me", "", vic.token).status == 401);
  BOOST_TEST(!is_erased(db, vic.id));  // not yet: an admin carries it out
  // Nor can they sign in again while it waits (the failure is recorded why).
  BOOST_TEST(
      api.call("POST", "/sessions", "{\"email\":\"" + vic.email + "\",\"password\":\"a good password\"}").status ==
      401);
  BOOST_TEST(db.scalar("SELECT count(*) FROM events WHERE type = 'user.login_failed' AND payload ->> 'reason' = "
                       "'erasure_pending' AND payload ->> 'user_id' = '" +
                       vic.id + "'") == "1");
  auto pending = listed(api, "status=pending", request_id, ada.token);
  BOOST_TEST_REQUIRE(lists(pending, request_id), pending.body);
  for (const auto& r : pending.json["erasure_requests"].GetArray())
    if (r["id"].GetString() == request_id) BOOST_TEST(r["sessions_ended"].GetInt64() == 1);
  BOOST_TEST(!lists(api.call("GET", "/erasure-requests?status=awaiting_confirmation", "", ada.token), request_id));

  // Confirmed once only (with a credential that survived the sign-out).
  refused(confirm(api, key, token), 409, "token", "confirmed already", "second confirm");

  // An admin carries it out: the request the person made, not a new one.
  const auto done = required(post(api, "/erasure-requests/" + request_id + "/execute", ada.token), 200, "execute");
  BOOST_TEST(done.str("status") == "erased");
  BOOST_TEST(is_erased(db, vic.id));
  BOOST_TEST(db.scalar("SELECT request_id FROM erased_persons WHERE subject = '" + vic.id + "'") == request_id);
  BOOST_TEST(api.call("GET", "/me", "", key).status == 401);
  auto erased = test::poll(api, "/erasure-requests/" + request_id, ada.token,
                           [](const test::Reply& r) { return r.str("status") == "erased"; });
  BOOST_TEST(erased.str("status") == "erased", erased.body);
  BOOST_TEST(erased.str("erased_by") == ada.id, erased.body);
  BOOST_TEST(erased.str("key_fingerprint").size() == 32u, erased.body);
  auto all = listed(api, "user_id=" + vic.id, request_id, ada.token);
  BOOST_TEST(ids_in(all).size() == 1u, all.body);

  // Carried out once only.
  refused(post(api, "/erasure-requests/" + request_id + "/execute", ada.token), 410, "request_id",
          "carried out already", "execute again");
  BOOST_TEST(db.scalar("SELECT count(*) FROM events WHERE stream_id = 'erasure-" + request_id +
                       "' AND type = 'user.erased'") == "1");
}

BOOST_AUTO_TEST_CASE(an_expired_token_confirms_nothing_and_the_person_may_ask_again) {
  Stack s({.serve_args = {"--erasure-token-ttl-seconds", "600"}});
  auto& api = s.api;
  auto& db = s.db;
  const auto run = test::random_suffix();
  const auto ada = api.person("ada" + run + "@example.org", "admin");
  const auto vic = api.person("vic" + run + "@example.org");

  const auto first = required(post(api, "/me/erasure", vic.token), 201, "ask");
  // confirm_by keeps microseconds: the token lives 600 s on the schema's clock.
  s.clock.advance(std::chrono::seconds(601));
  const auto late = confirm(api, vic.token, first.str("token"));
  refused(late, 422, "token", "expired", "confirm after the deadline");
  BOOST_TEST(late.str("error") == "rule_violated", late.body);
  untouched(api, db, vic.id, vic.token, "vic after the late token");
  auto expired = listed(api, "status=expired&user_id=" + vic.id, first.str("id"), ada.token);
  BOOST_TEST(lists(expired, first.str("id")), expired.body);
  BOOST_TEST(!lists(api.call("GET", "/erasure-requests?status=awaiting_confirmation", "", ada.token), first.str("id")));
  refused(post(api, "/erasure-requests/" + first.str("id") + "/execute", ada.token), 422, "request_id", "not confirmed",
          "execute the expired request");

  // Asked again: a new request and a new token, which works; the old one does not.
  const auto second = required(post(api, "/me/erasure", vic.token), 201, "ask again");
  BOOST_TEST(second.str("id") != first.str("id"));
  BOOST_TEST(second.str("token") != first.str("token"));
  refused(confirm(api, vic.token, first.str("token")), 403, "token", "does not match", "the old token");
  s.clock.advance(std::chrono::seconds(598));
  const auto confirmed = required(confirm(api, vic.token, second.str("token")), 200,
                                  "confirm the new token two seconds before it expires");
  BOOST_TEST(confirmed.str("id") == second.str("id"));
  BOOST_TEST(api.call("GET", "/me", "", vic.token).status == 401);
  auto pending = listed(api, "status=pending&user_id=" + vic.id, second.str("id"), ada.token);
  BOOST_TEST(ids_in(pending) == std::vector<std::string>{second.str("id")}, pending.body);
  // The first one stays expired.
  BOOST_TEST(
      lists(api.call("GET", "/erasure-requests?status=expired&user_id=" + vic.id, "", ada.token), first.str("id")));
  BOOST_TEST(!is_erased(db, vic.id));
}

BOOST_AUTO_TEST_CASE(the_person_or_an_admin_cancels_a_request_until_it_is_carried_out) {
  Stack s;
  auto& api = s.api;
  auto& db = s.db;
  const auto run = test::random_suffix();
  const auto ada = api.person("ada" + run + "@example.org", "admin");
  const auto vic = api.person("vic" + run + "@example.org");
  const auto uma = api.person("uma" + run + "@example.org");
  const auto key =
      required(api.call("POST", "/users/" + vic.id + "/api-keys", "{\"name\":\"phone\"}", vic.token), 201, "api key")
          .str("key");
  refused(post(api, "/me/erasure/cancel", vic.token), 404, "request_id", "no erasure request of yours",
          "cancel with nothing open");

  // The person withdraws a request awaiting its token: the token confirms nothing after.
  const auto first = required(post(api, "/me/erasure", vic.token), 201, "ask");
  refused_by_route(post(api, "/erasure-requests/" + first.str("id") + "/cancel", uma.token), "another user cancels");
  const auto withdrawn = required(post(api, "/me/erasure/cancel", vic.token), 200, "cancel own");
  BOOST_TEST(withdrawn.str("id") == first.str("id"));
  BOOST_TEST(withdrawn.str("status") == "cancelled");
  refused(confirm(api, vic.token, first.str("token")), 404, "token", "awaits confirmation", "confirm a cancelled one");
  auto seen = test::poll(api, "/erasure-requests/" + first.str("id"), ada.token,
                         [](const test::Reply& r) { return r.str("status") == "cancelled"; });
  BOOST_TEST(seen.str("status") == "cancelled", seen.body);
  auto listed_cancelled = listed(api, "status=cancelled&user_id=" + vic.id, first.str("id"), ada.token);
  BOOST_TEST(ids_in(listed_cancelled) == std::vector<std::string>{first.str("id")}, listed_cancelled.body);
  untouched(api, db, vic.id, vic.token, "vic after withdrawing");

  // Asked and confirmed (signed out, and no sign-in while it waits): the
  // person withdraws it with a credential that survived, and signs in again.
  const auto second = required(post(api, "/me/erasure", vic.token), 201, "ask again");
  BOOST_TEST(second.str("id") != first.str("id"));
  required(confirm(api, vic.token, second.str("token")), 200, "confirm");
  required(post(api, "/me/erasure/cancel", key), 200, "cancel a confirmed one");
  const auto login =
      api.call("POST", "/sessions", "{\"email\":\"" + vic.email + "\",\"password\":\"a good password\"}");
  BOOST_TEST_REQUIRE(login.status == 201, login.body);
  untouched(api, db, vic.id, login.str("token"), "vic after withdrawing a confirmed request");
  refused(post(api, "/erasure-requests/" + second.str("id") + "/execute", ada.token), 404, "request_id", "no such",
          "execute a cancelled request");

  // An admin cancels the person's confirmed request; once only.
  const auto third = required(post(api, "/me/erasure", login.str("token")), 201, "ask a third time");
  required(confirm(api, login.str("token"), third.str("token")), 200, "confirm the third");
  const auto by_admin =
      required(post(api, "/erasure-requests/" + third.str("id") + "/cancel", ada.token), 200, "the admin cancels");
  BOOST_TEST(by_admin.str("status") == "cancelled");
  refused(post(api, "/erasure-requests/" + third.str("id") + "/cancel", ada.token), 409, "request_id",
          "cancelled already", "cancel twice");
  refused(post(api, "/erasure-requests/" + kNoSuchUser + "/cancel", ada.token), 404, "request_id", "no such",
          "cancel an unknown request");
  BOOST_TEST(!is_erased(db, vic.id));
  BOOST_TEST(db.scalar("SELECT count(*) FROM events WHERE type = 'erasure.cancelled' AND payload ->> 'user_id' = '" +
                       vic.id + "'") == "3");
  BOOST_TEST(db.scalar("SELECT actor FROM events WHERE type = 'erasure.cancelled' AND stream_id = 'erasure-" +
                       third.str("id") + "'") == ada.id);

  // Carried out, it cannot be withdrawn.
  const auto erased = required(erase(api, vic.id, ada.token), 202, "erase");
  refused(post(api, "/erasure-requests/" + erased.str("id") + "/cancel", ada.token), 410, "request_id",
          "carried out already", "cancel an erased request");
  BOOST_TEST(is_erased(db, vic.id));
}

BOOST_AUTO_TEST_CASE(erasure_events_hold_no_personal_data) {
  Stack s;
  auto& api = s.api;
  auto& db = s.db;
  const auto run = test::random_suffix();
  const auto ada = api.person("ada" + run + "@example.org", "admin");
  // Staff, so that she owns a record to hand over; asking herself, so that
  // every kind of erasure event is written.
  const std::string email = "vera" + run + "@example.org", name = "Vera Quist " + run;
  const auto vera = api.person(email, "staff");
  required(api.call("PATCH", "/users/" + vera.id, "{\"name\":\"" + name + "\"}", vera.token), 200, "rename");
  required(api.call("POST", "/categories", "{\"name\":\"Tea\",\"slug\":\"tea-" + run + "\"}", vera.token), 201,
           "category");
  const auto asked = required(post(api, "/me/erasure", vera.token), 201, "ask");
  const auto request_id = asked.str("id");
  required(confirm(api, vera.token, asked.str("token")), 200, "confirm");
  required(post(api, "/erasure-requests/" + request_id + "/execute", ada.token), 200, "execute");
  for (const std::string task : {"payment_provider", "newsletter"})
    required(post(api, "/erasure-requests/" + request_id + "/tasks/" + task + "/confirm", ada.token), 200, task);
  auto complete = test::poll(api, "/erasure-requests/" + request_id, ada.token,
                             [](const test::Reply& r) { return r.str("status") == "complete"; });
  BOOST_TEST_REQUIRE(complete.str("status") == "complete", complete.body);

  const auto types = db.rows("SELECT DISTINCT type FROM events WHERE stream_id LIKE 'erasure-%'");
  BOOST_TEST(types == (std::vector<std::string>{"erasure.applied", "erasure.confirmed", "erasure.ownership_handed_over",
                                                "erasure.requested", "erasure.task_confirmed", "user.erased"}),
             boost::test_tools::per_element());
  const auto payloads = db.rows("SELECT payload::text FROM events WHERE stream_id LIKE 'erasure-%'");
  BOOST_TEST(payloads.size() >= 6u);
  for (const auto& p : payloads) {
    BOOST_TEST(p.find(email) == std::string::npos, p);
    BOOST_TEST(p.find(name) == std::string::npos, p);
    BOOST_TEST(p.find("vera" + run) == std::string::npos, p);
    BOOST_TEST(p.find(asked.str("token")) == std::string::npos, p);
  }
  // Her id is there (that is what an erasure event is about), but nothing else of hers.
  BOOST_TEST(db.scalar("SELECT count(*) FROM events WHERE stream_id = 'erasure-" + request_id +
                       "' AND payload ->> 'user_id' = '" + vera.id + "'") != "0");
}

// Races and edge cases: one decision per person at a time.
BOOST_AUTO_TEST_CASE(racing_requests_and_erasures_of_one_person_decide_once) {
  Stack s;
  auto& api = s.api;
  auto& db = s.db;
  const auto run = test::random_suffix();
  std::vector<Api::Person> admins;
  for (int i = 0; i < 4; ++i) admins.push_back(api.person("adm" + std::to_string(i) + run + "@example.org", "admin"));
  for (int round = 0; round < 3; ++round) {
    // Six self-service requests at once: one 201, the rest 409, never a 500.
    const auto vic = api.person("vic" + std::to_string(round) + run + "@example.org");
    std::vector<std::future<test::Reply>> asks;
    for (int i = 0; i < 6; ++i)
      asks.push_back(std::async(std::launch::async, [&] { return post(api, "/me/erasure", vic.token); }));
    std::map<int, int> asked;
    for (auto& f : asks) ++asked[f.get().status];
    BOOST_TEST(asked[201] == 1);
    BOOST_TEST(asked[409] == 5);
    BOOST_TEST(db.scalar("SELECT count(*) FROM open_erasures WHERE user_id = '" + vic.id + "'") == "1");
    // Four admins erase them at once: one 202, three 410, one key destroyed.
    std::vector<std::future<test::Reply>> erasures;
    for (const auto& a : admins)
      erasures.push_back(std::async(std::launch::async, [&, t = a.token] { return erase(api, vic.id, t); }));
    std::map<int, int> erased;
    for (auto& f : erasures) ++erased[f.get().status];
    BOOST_TEST(erased[202] == 1);
    BOOST_TEST(erased[410] == 3);
    BOOST_TEST(db.scalar("SELECT count(*) FROM events WHERE type = 'user.erased' AND payload ->> 'user_id' = '" +
                         vic.id + "'") == "1");
    BOOST_TEST(db.scalar("SELECT count(*) FROM erasure_limits WHERE request_id IN (SELECT request_id FROM "
                         "erased_persons WHERE subject = '" +
                         vic.id + "')") == "1");
  }
}

BOOST_AUTO_TEST_CASE(an_unconfirmed_or_expired_request_does_not_stop_an_admin) {
  Stack s({.serve_args = {"--erasure-token-ttl-seconds", "600"}});
  auto& api = s.api;
  const auto run = test::random_suffix();
  const auto ada = api.person("ada" + run + "@example.org", "admin");
  const auto vic = api.person("vic" + run + "@example.org");
  const auto wes = api.person("wes" + run + "@example.org");
  const auto vics = required(post(api, "/me/erasure", vic.token), 201, "vic asks").str("id");
  required(post(api, "/me/erasure", wes.token), 201, "wes asks");
  // Fresh and unconfirmed: the admin carries out the person's own request.
  BOOST_TEST(required(erase(api, wes.id, ada.token), 202, "erase wes").str("id") != "");
  // Expired: likewise.
  s.clock.advance(std::chrono::seconds(601));
  BOOST_TEST(required(erase(api, vic.id, ada.token), 202, "erase vic").str("id") == vics);
}

BOOST_AUTO_TEST_CASE(a_deactivated_owner_is_not_the_last_owner) {
  Stack s;
  auto& api = s.api;
  const auto otto = api.person("otto" + test::random_suffix() + "@example.org", "owner");
  required(post(api, "/users/" + otto.id + "/deactivate", api.owner_key()), 200, "deactivate");
  required(erase(api, otto.id, api.owner_key()), 202, "erase the deactivated owner");
}
