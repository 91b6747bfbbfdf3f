// The samples of every event the users domain can produce, by running its
// decisions: schemas_test validates each against its schema (the build
// gathers every domain folder's samples, test/support/samples.hpp).
#include <boost/test/unit_test.hpp>

#include "support/samples.hpp"
#include "users.hpp"

namespace {

namespace u = lethe::domain::users;

// Every event the users domain can produce, by running its commands.
std::vector<u::Event> every_user_event() {
  std::vector<u::Event> out;
  u::User s;
  const u::Actor system{"system", u::Role::owner}, self{"7", u::Role::staff};
  auto run = [&](const u::Command& c, const u::Actor& actor) {
    auto r = u::decide(s, c, actor, u::Facts{2});
    BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    for (auto& e : r.value()) {
      s = u::evolve(s, e);
      out.push_back(e);
    }
  };
  const std::string hash = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$aGFzaA";
  run(u::RegisterUser{"7", "zoe@example.org", "Zoë", "staff", hash}, system);
  run(u::ChangeProfile{"7", std::string("Zoë Q."), std::string("zoe.q@example.org")}, system);
  run(u::ChangePassword{"7", hash + "2", true}, self);
  run(u::ChangeRole{"7", "admin"}, system);
  run(u::IssueApiKey{"7", "key-1", "laptop", "lk_abcdefg", "2030-01-01T00:00:00Z"}, self);
  run(u::RevokeApiKey{"7", "key-1"}, self);
  run(u::LinkOAuth{"7", "github", "12345"}, self);
  run(u::Deactivate{"7"}, system);
  run(u::Restore{"7"}, system);
  // A service account, entitled to topics, and a key released to it.
  const auto person = s;
  s = u::User{};
  run(u::RegisterUser{"svc", "crm@example.org", "CRM", "service", ""}, system);
  run(u::SetEntitlements{"svc", {"users", "staff", "users"}}, system);
  auto released = u::decide_key_release(s, "7", "staff", 1);
  BOOST_REQUIRE(released.ok());
  out.push_back(released.value());
  s = person;
  auto note = u::decide_note(s, "note-1", "prefers email", system);
  BOOST_REQUIRE(note.ok());
  out.push_back(note.value());
  out.push_back(u::LoggedIn{"7", "session-1", "2026-11-25T20:00:00Z"});
  out.push_back(u::LoggedOut{"7", "session-1"});
  out.push_back(u::LoginFailed{"", "unknown_email"});
  return out;
}

}  // namespace

namespace lethe::test {

std::vector<EventSample> users_event_samples() {
  return samples_of(every_user_event());
}

}  // namespace lethe::test
