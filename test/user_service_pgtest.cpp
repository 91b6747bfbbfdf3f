#define BOOST_TEST_MODULE user_service
// The users command service against PostgreSQL: roles come from the write
// side, never from the caller; the set rules (an email unique among active
// accounts, the last owner) hold under concurrency; credentials live and
// die with the account; the login limit counts per email.
#include <barrier>
#include <boost/test/unit_test.hpp>
#include <thread>

#include "lethe/infra/access.hpp"
#include "lethe/producers/event_store.hpp"
#include "support/fixtures.hpp"
#include "user_service.hpp"

using namespace lethe;
namespace u = domain::users;
using producers::CommandContext;

namespace {

infra::PasswordPool& passwords() {
  static infra::PasswordPool pool(4);
  return pool;
}

struct Service {
  test::TestSchema db;
  producers::EventStore store{db.conninfo()};
  producers::UserService users{store, passwords()};

  domain::Result<producers::Written> as(const std::string& actor, const u::Command& c) {
    const CommandContext ctx{actor};
    if (const auto* r = std::get_if<u::RegisterUser>(&c)) return users.register_user(*r, "", ctx);
    return users.handle(c, ctx);
  }
};

std::string outcome(const domain::Result<producers::Written>& r) {
  return r.ok() ? "ok" : std::string(domain::to_string(r.error().code));
}

u::RegisterUser reg(const std::string& id, const std::string& role = "user") {
  return {id, id + "@example.org", "Name of " + id, role, ""};
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_actors_role_comes_from_the_store) {
  Service s;
  BOOST_REQUIRE(s.as("system:test", reg("boss", "owner")).ok());
  BOOST_REQUIRE(s.as("boss", reg("adm", "admin")).ok());
  // Self-registration, no account yet: a plain user only.
  BOOST_TEST(outcome(s.as("anonymous", reg("joe", "owner"))) == "forbidden");
  BOOST_REQUIRE(s.as("anonymous", reg("joe")).ok());

  // joe is a user in the store, whatever he might claim elsewhere.
  BOOST_TEST(outcome(s.as("joe", u::ChangeRole{"adm", "user"})) == "forbidden");
  BOOST_TEST(outcome(s.as("joe", u::ChangeRole{"joe", "owner"})) == "forbidden");
  // The admin manages users but not admins or owners, nor themself.
  BOOST_TEST(outcome(s.as("adm", u::ChangeRole{"joe", "staff"})) == "ok");
  BOOST_TEST(outcome(s.as("adm", u::ChangeRole{"joe", "admin"})) == "forbidden");
  BOOST_TEST(outcome(s.as("adm", u::ChangeRole{"boss", "user"})) == "forbidden");
  BOOST_TEST(outcome(s.as("adm", u::ChangeRole{"adm", "owner"})) == "forbidden");
  // The owner may, and the role then comes from the store for joe too.
  BOOST_TEST(outcome(s.as("boss", u::ChangeRole{"joe", "admin"})) == "ok");
  BOOST_TEST(outcome(s.as("joe", u::ChangeRole{"adm", "staff"})) == "forbidden");  // an admin cannot touch an admin
  BOOST_TEST(outcome(s.as("joe", reg("sue", "staff"))) == "ok");
  // A profile: its user, or an admin or owner.
  BOOST_TEST(outcome(s.as("sue", u::ChangeProfile{"sue", "Sue Q.", std::nullopt})) == "ok");
  BOOST_TEST(outcome(s.as("sue", u::ChangeProfile{"boss", "Bossy", std::nullopt})) == "forbidden");
  // Refused commands appended nothing.
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events") == "7");
  // The actor is recorded in each event, and the write side knows the roles.
  BOOST_TEST(s.db.scalar("SELECT actor FROM events WHERE stream_id = 'user-sue' AND stream_version = 2") == "sue");
  BOOST_TEST(s.db.rows("SELECT user_id, role FROM accounts") ==
             (std::vector<std::string>{"adm|admin", "boss|owner", "joe|admin", "sue|staff"}));
}

namespace {

// 20 registrations of one email, each checking the reservation before any
// of them inserts one (inserts are held back until all 20 wait): their
// outcomes ("ok", "conflict", ...).
std::vector<std::string> twenty_registrations_of_one_email(Service& s) {
  constexpr int kRacers = 20;
  std::vector<std::string> outcomes(kRacers);
  test::HeldWrites held(s.db, "email_reservations");
  std::vector<std::thread> threads;
  for (int i = 0; i < kRacers; ++i)
    threads.emplace_back([&, i] {
      producers::EventStore store(s.db.conninfo());
      producers::UserService svc(store, passwords());
      // The same address, spelled differently: it is normalised first.
      const std::string email = i % 2 ? "race@Example.ORG" : " race@example.org ";
      outcomes[static_cast<std::size_t>(i)] = outcome(svc.register_user(
          {"racer-" + std::to_string(i), email, "Racer", "user", ""}, "", producers::CommandContext{"anonymous"}));
    });
  BOOST_TEST(held.release_when_waiting(kRacers));
  for (auto& t : threads) t.join();
  return outcomes;
}

}  // namespace

BOOST_AUTO_TEST_CASE(twenty_concurrent_registrations_with_one_email_make_one_account) {
  Service s;
  const auto outcomes = twenty_registrations_of_one_email(s);
  BOOST_TEST(std::count(outcomes.begin(), outcomes.end(), "ok") == 1);
  BOOST_TEST(std::count(outcomes.begin(), outcomes.end(), "conflict") == 19);
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events WHERE type = 'user.registered'") == "1");
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM accounts") == "1");
  // Beside the data, a refused command leaves no key: it is made in the
  // command's transaction. Apart, it is made in the keyring's own
  // transaction before the append, and a refused racer's key stays (it
  // sealed nothing that was kept).
  const bool apart = s.db.keyring_apart();
  // People's keys only: the users topic's key domain secret is made once,
  // in a transaction of its own, by whichever racer came first.
  BOOST_TEST(s.db.keyring().scalar("SELECT count(*) FROM person_keys WHERE subject NOT LIKE '~%'") ==
             (apart ? "20" : "1"));
  BOOST_TEST(s.db.keyring().scalar("SELECT count(*) FROM person_keys WHERE subject = '~domain:users'") == "1");
}

// The negative control of the case above: the same race without the unique
// key on the reservation. Every racer found the email free and every one
// of them keeps an account.
BOOST_AUTO_TEST_CASE(without_the_reservation_key_twenty_registrations_make_twenty_accounts) {
  Service s;
  s.db.exec("ALTER TABLE email_reservations DROP CONSTRAINT email_reservations_pkey");
  const auto outcomes = twenty_registrations_of_one_email(s);
  BOOST_TEST(std::count(outcomes.begin(), outcomes.end(), "ok") == 20);
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM accounts") == "20");
}

BOOST_AUTO_TEST_CASE(the_last_owner_keeps_the_role_and_stays_active_even_when_two_owners_race) {
  Service s;
  BOOST_REQUIRE(s.as("system:test", reg("o1", "owner")).ok());
  BOOST_TEST(outcome(s.as("system:test", u::ChangeRole{"o1", "admin"})) == "rule_violated");
  BOOST_TEST(outcome(s.as("system:test", u::Deactivate{"o1"})) == "rule_violated");
  BOOST_REQUIRE(s.as("o1", reg("o2", "owner")).ok());
  // Each owner demotes the other at once: one of them must stay.
  for (int round = 0; round < 5; ++round) {
    std::barrier start(2);
    std::string a, b;
    std::thread ta([&] {
      producers::EventStore store(s.db.conninfo());
      producers::UserService svc(store, passwords());
      start.arrive_and_wait();
      a = outcome(svc.handle(u::ChangeRole{"o2", "admin"}, producers::CommandContext{"o1"}));
    });
    std::thread tb([&] {
      producers::EventStore store(s.db.conninfo());
      producers::UserService svc(store, passwords());
      start.arrive_and_wait();
      b = outcome(svc.handle(u::Deactivate{"o1"}, producers::CommandContext{"o2"}));
    });
    ta.join();
    tb.join();
    BOOST_TEST((a == "ok") != (b == "ok"), "round " << round << ": " << a << " / " << b);
    BOOST_TEST(s.db.scalar("SELECT count(*) FROM accounts WHERE role = 'owner' AND active") == "1");
    // Put both owners back for the next round.
    if (a == "ok") BOOST_REQUIRE(s.as("o1", u::ChangeRole{"o2", "owner"}).ok());
    if (b == "ok") BOOST_REQUIRE(s.as("o2", u::Restore{"o1"}).ok());
  }
}

BOOST_AUTO_TEST_CASE(deactivation_frees_the_email_and_restore_is_refused_when_it_was_taken) {
  Service s;
  BOOST_REQUIRE(s.as("system:test", reg("ann")).ok());
  BOOST_TEST(outcome(s.as("anonymous", u::RegisterUser{"ann2", "ann@example.org", "Ann 2", "user", ""})) == "conflict");
  BOOST_TEST(outcome(s.as("ann", u::Deactivate{"ann"})) == "forbidden");
  BOOST_REQUIRE(s.as("system:test", u::Deactivate{"ann"}).ok());
  BOOST_TEST(outcome(s.as("system:test", u::ChangeProfile{"ann", "Ann again", std::nullopt})) == "conflict");
  BOOST_REQUIRE(s.as("anonymous", u::RegisterUser{"ann2", "ann@example.org", "Ann 2", "user", ""}).ok());
  BOOST_TEST(outcome(s.as("system:test", u::Restore{"ann"})) == "conflict");
  BOOST_REQUIRE(s.as("system:test", u::ChangeProfile{"ann2", std::nullopt, "ann2@example.org"}).ok());
  BOOST_TEST(outcome(s.as("system:test", u::Restore{"ann"})) == "ok");
  // Email changes check uniqueness again.
  BOOST_TEST(outcome(s.as("system:test", u::ChangeProfile{"ann2", std::nullopt, "ANN@example.org"})) == "ok");
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM email_reservations") == "2");
}

BOOST_AUTO_TEST_CASE(credentials_die_with_the_account_and_on_revocation) {
  Service s;
  BOOST_REQUIRE(s.as("system:test", reg("kim", "staff")).ok());
  const CommandContext kim{"kim"};
  auto key = s.users.issue_api_key("kim", "laptop", "", kim);
  BOOST_REQUIRE(key.ok());
  BOOST_TEST(key.value().key.starts_with("lk_"));
  // Only the hash is stored.
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM credentials WHERE position('" + key.value().key +
                         "' in encode(token_hash, 'escape')) > 0") == "0");
  auto who = s.users.authenticate(key.value().key);
  BOOST_REQUIRE(who.has_value());
  BOOST_TEST(who->user_id == "kim");
  BOOST_TEST((who->role == u::Role::staff));
  BOOST_TEST(!s.users.authenticate(key.value().key + "x").has_value());
  BOOST_TEST(s.users.api_keys("kim", 50, 0).at(0).last_used_at != "");

  BOOST_REQUIRE(s.as("system:test", u::Deactivate{"kim"}).ok());
  BOOST_TEST(!s.users.authenticate(key.value().key).has_value());
  BOOST_REQUIRE(s.as("system:test", u::Restore{"kim"}).ok());
  BOOST_TEST(s.users.authenticate(key.value().key).has_value());
  BOOST_REQUIRE(s.as("kim", u::RevokeApiKey{"kim", key.value().key_id}).ok());
  BOOST_TEST(!s.users.authenticate(key.value().key).has_value());
  BOOST_TEST(outcome(s.as("kim", u::RevokeApiKey{"kim", key.value().key_id})) == "conflict");

  // Expiry: in the past is refused, a bad time names the field.
  BOOST_TEST(s.users.issue_api_key("kim", "old", "2001-01-01T00:00:00Z", kim).error().field == "expires_at");
  BOOST_TEST(s.users.issue_api_key("kim", "bad", "next tuesday", kim).error().field == "expires_at");
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events WHERE type = 'user.api_key_issued'") == "1");
}

BOOST_AUTO_TEST_CASE(login_sessions_and_the_rate_limit) {
  Service s;
  const test::SchemaClock clock(s.db);
  producers::UserService users(s.store, passwords(), {3, std::chrono::seconds(900), std::chrono::seconds(600)});
  const CommandContext anon{"anonymous"};
  BOOST_REQUIRE(users.register_user(reg("lou"), "a long password", anon).ok());
  using O = producers::LoginResult::Outcome;
  const auto ok = users.login(" lou@EXAMPLE.org", "a long password", anon);
  BOOST_REQUIRE((ok.outcome == O::ok));
  const auto who = users.authenticate(ok.token);
  BOOST_REQUIRE(who.has_value());
  BOOST_TEST(who->kind == "session");
  BOOST_REQUIRE(users.logout(*who, anon).ok());
  BOOST_TEST(!users.authenticate(ok.token).has_value());

  for (int i = 0; i < 3; ++i) BOOST_TEST((users.login("lou@example.org", "wrong", anon).outcome == O::refused));
  const auto limited = users.login("lou@example.org", "a long password", anon);
  BOOST_TEST((limited.outcome == O::limited));  // even with the right password
  // The window runs from the oldest of the three failures, moments ago.
  BOOST_TEST(limited.retry_after_seconds >= 890);
  BOOST_TEST(limited.retry_after_seconds <= 900);
  // Another email is not limited; an unknown one is refused like a wrong password.
  BOOST_TEST((users.login("nobody@example.org", "whatever1", anon).outcome == O::refused));
  clock.advance(std::chrono::seconds(limited.retry_after_seconds - 3));
  const auto still = users.login("lou@example.org", "a long password", anon);
  BOOST_TEST((still.outcome == O::limited));
  BOOST_TEST(still.retry_after_seconds <= 3);
  clock.advance(std::chrono::seconds(4));
  BOOST_TEST((users.login("lou@example.org", "a long password", anon).outcome == O::ok));
  // Every attempt on an account is an event for auditors (the one for an
  // email nobody has leaves none); no email is recorded anywhere.
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events WHERE type = 'user.login_failed'") == "3");
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events WHERE type = 'user.logged_in'") == "2");
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events WHERE payload::text LIKE '%lou@%'") == "0");
}

BOOST_AUTO_TEST_CASE(if_match_refuses_a_command_on_a_stream_that_moved) {
  Service s;
  BOOST_REQUIRE(s.as("system:test", reg("ivy")).ok());
  const auto at = [](std::int64_t v) { return CommandContext{"system:test", v}; };
  BOOST_TEST(outcome(s.users.handle(u::ChangeProfile{"ivy", "Ivy 2", std::nullopt}, at(2))) == "conflict");
  BOOST_TEST(outcome(s.users.handle(u::ChangeProfile{"ivy", "Ivy 2", std::nullopt}, at(1))) == "ok");
  BOOST_TEST(outcome(s.users.handle(u::ChangeProfile{"ivy", "Ivy 3", std::nullopt}, at(1))) == "conflict");
}

BOOST_AUTO_TEST_CASE(passwords_are_checked_hashed_and_changed_by_the_rules) {
  Service s;
  const CommandContext anon{"anonymous"}, pia{"pia"};
  BOOST_TEST(s.users.register_user(reg("pia"), "short", anon).error().field == "password");
  BOOST_REQUIRE(s.users.register_user(reg("pia"), "first password", anon).ok());
  BOOST_TEST(s.users.change_password("pia", std::nullopt, "second password", pia).error().field == "current_password");
  BOOST_TEST(s.users.change_password("pia", std::string("wrong one"), "second password", pia).error().field ==
             "current_password");
  BOOST_REQUIRE(s.users.change_password("pia", std::string("first password"), "second password", pia).ok());
  BOOST_REQUIRE(
      s.users.change_password("pia", std::nullopt, "third password", producers::CommandContext{"system:test"}).ok());
  using O = producers::LoginResult::Outcome;
  BOOST_TEST((s.users.login("pia@example.org", "second password", anon).outcome == O::refused));
  BOOST_TEST((s.users.login("pia@example.org", "third password", anon).outcome == O::ok));
  // No password in clear, and no hash in clear either: sealed like any personal field.
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events WHERE payload::text LIKE '%password\"%argon2%'") == "0");
}

BOOST_AUTO_TEST_CASE(an_oauth_identity_belongs_to_one_account) {
  Service s;
  BOOST_REQUIRE(s.as("system:test", reg("olivia")).ok());
  BOOST_REQUIRE(s.as("system:test", reg("oscar")).ok());
  BOOST_REQUIRE(s.as("olivia", u::LinkOAuth{"olivia", "github", "4711"}).ok());
  const auto taken = s.as("oscar", u::LinkOAuth{"oscar", "github", "4711"});
  BOOST_TEST(outcome(taken) == "conflict");
  BOOST_TEST(taken.error().field == "subject");
  BOOST_TEST(outcome(s.as("oscar", u::LinkOAuth{"oscar", "gitlab", "4711"})) == "ok");  // another provider
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events WHERE type = 'user.oauth_linked'") == "2");
  // No subject in clear on the write side.
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM oauth_reservations WHERE encode(identity_index, 'escape') LIKE "
                         "'%4711%'") == "0");
}
