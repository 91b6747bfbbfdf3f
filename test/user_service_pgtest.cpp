#define BOOST_TEST_MODULE user_service
// The command service decides with the actor's role as the store knows it,
// never a role the caller claims.
#include <boost/test/unit_test.hpp>

#include "lethe/producers/event_store.hpp"
#include "lethe/producers/user_service.hpp"
#include "support/fixtures.hpp"

using namespace lethe;
namespace u = domain::users;

namespace {

struct Service {
  test::TestSchema db;
  producers::EventStore store{db.conninfo()};
  producers::UserService users{store, db.conninfo()};

  domain::Result<std::vector<domain::Envelope>> as(const std::string& actor, const u::Command& c) {
    return users.handle(c, {actor, "", ""});
  }
};

std::string outcome(const domain::Result<std::vector<domain::Envelope>>& r) {
  return r.ok() ? "ok" : std::string(domain::to_string(r.error().code));
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_actors_role_comes_from_the_store) {
  Service s;
  BOOST_REQUIRE(s.as("system:test", u::RegisterUser{"boss", "boss@example.org", "Boss", "owner"}).ok());
  BOOST_REQUIRE(s.as("boss", u::RegisterUser{"adm", "adm@example.org", "Adm", "admin"}).ok());
  // Self-registration, no account yet: a plain user only.
  BOOST_TEST(outcome(s.as("nobody", u::RegisterUser{"joe", "joe@example.org", "Joe", "owner"})) == "forbidden");
  BOOST_REQUIRE(s.as("nobody", u::RegisterUser{"joe", "joe@example.org", "Joe", "user"}).ok());

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
  BOOST_TEST(outcome(s.as("joe", u::RegisterUser{"sue", "sue@example.org", "Sue", "staff"})) == "ok");
  // A profile: its user, or an admin or owner.
  BOOST_TEST(outcome(s.as("sue", u::ChangeProfile{"sue", "Sue Q."})) == "ok");
  BOOST_TEST(outcome(s.as("sue", u::ChangeProfile{"boss", "Bossy"})) == "forbidden");
  // Refused commands appended nothing.
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events") == "7");
  // The actor is recorded in each event.
  BOOST_TEST(s.db.scalar("SELECT actor FROM events WHERE stream_id = 'user-sue' AND stream_version = 2") == "sue");
}
