#define BOOST_TEST_MODULE users
#include "lethe/domain/users.hpp"

#include <boost/test/unit_test.hpp>

namespace u = lethe::domain::users;
using lethe::domain::ErrorCode;

namespace {
u::User registered(const std::string& role = "user") {
  auto r = u::decide({}, u::RegisterUser{"42", "ann@example.org", "Ann", role});
  BOOST_REQUIRE(r.ok());
  return u::evolve({}, r.value().at(0));
}
}  // namespace

BOOST_AUTO_TEST_CASE(registering_emits_user_registered_and_evolve_folds_it) {
  auto r = u::decide({}, u::RegisterUser{"42", "ann@example.org", "Ann", "staff"});
  BOOST_REQUIRE(r.ok());
  BOOST_REQUIRE(r.value().size() == 1);
  const auto* ev = std::get_if<u::UserRegistered>(&r.value()[0]);
  BOOST_REQUIRE(ev);
  BOOST_TEST(ev->email == "ann@example.org");
  const auto s = u::evolve({}, r.value()[0]);
  BOOST_TEST(s.exists);
  BOOST_TEST(s.name == "Ann");
  BOOST_TEST((s.role == u::Role::staff));
  BOOST_TEST(s.version == 1);
}

BOOST_AUTO_TEST_CASE(registering_twice_is_rejected) {
  const auto r = u::decide(registered(), u::RegisterUser{"42", "ann@example.org", "Ann", "user"});
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST((r.error().code == ErrorCode::already_exists));
}

BOOST_AUTO_TEST_CASE(bad_registration_fields_are_named) {
  struct Case {
    u::RegisterUser cmd;
    std::string field;
  };
  for (const auto& c : std::vector<Case>{
           {{"", "a@b.org", "A", "user"}, "user_id"},
           {{"1", "not-an-email", "A", "user"}, "email"},
           {{"1", "a@b", "A", "user"}, "email"},
           {{"1", "a b@c.org", "A", "user"}, "email"},
           {{"1", "a@b.org", "", "user"}, "name"},
           {{"1", "a@b.org", std::string(201, 'x'), "user"}, "name"},
           {{"1", "a@b.org", "A", "superuser"}, "role"},
       }) {
    const auto r = u::decide({}, c.cmd);
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(r.error().field == c.field);
    BOOST_TEST((r.error().code == ErrorCode::invalid_argument));
  }
}

BOOST_AUTO_TEST_CASE(changing_the_name_emits_profile_changed) {
  const auto s = registered();
  const auto r = u::decide(s, u::ChangeProfile{"42", "Ann B."});
  BOOST_REQUIRE(r.ok());
  const auto s2 = u::evolve(s, r.value()[0]);
  BOOST_TEST(s2.name == "Ann B.");
  BOOST_TEST(s2.email == "ann@example.org");
  BOOST_TEST(s2.version == 2);
}

BOOST_AUTO_TEST_CASE(profile_change_of_unknown_user_or_same_name_is_rejected) {
  BOOST_TEST((u::decide({}, u::ChangeProfile{"42", "X"}).error().code == ErrorCode::not_found));
  BOOST_TEST((u::decide(registered(), u::ChangeProfile{"42", "Ann"}).error().code == ErrorCode::no_change));
}

BOOST_AUTO_TEST_CASE(only_admins_and_owners_change_roles_and_only_owners_touch_admins) {
  const auto user = registered("user");
  BOOST_TEST((u::decide(user, u::ChangeRole{"42", "staff", "staff"}).error().code == ErrorCode::forbidden));
  BOOST_TEST(u::decide(user, u::ChangeRole{"42", "staff", "admin"}).ok());
  BOOST_TEST((u::decide(user, u::ChangeRole{"42", "admin", "admin"}).error().code == ErrorCode::forbidden));
  BOOST_TEST(u::decide(user, u::ChangeRole{"42", "admin", "owner"}).ok());
  const auto admin = registered("admin");
  BOOST_TEST((u::decide(admin, u::ChangeRole{"42", "user", "admin"}).error().code == ErrorCode::forbidden));
  BOOST_TEST((u::decide(user, u::ChangeRole{"42", "user", "owner"}).error().code == ErrorCode::no_change));
  BOOST_TEST(u::decide(user, u::ChangeRole{"42", "root", "owner"}).error().field == "role");
}

BOOST_AUTO_TEST_CASE(role_change_records_the_previous_role) {
  const auto s = registered("staff");
  const auto r = u::decide(s, u::ChangeRole{"42", "user", "admin"});
  BOOST_REQUIRE(r.ok());
  const auto& ev = std::get<u::UserRoleChanged>(r.value()[0]);
  BOOST_TEST(ev.previous_role == "staff");
  BOOST_TEST((u::evolve(s, r.value()[0]).role == u::Role::user));
}

BOOST_AUTO_TEST_CASE(payload_codec_round_trips_every_event_type) {
  const std::vector<u::Event> events{u::UserRegistered{"1", "a@b.org", "A \"q\" é", "user"},
                                     u::UserProfileChanged{"1", "B"}, u::UserRoleChanged{"1", "staff", "user"}};
  for (const auto& e : events) {
    const auto back = u::decode_payload(u::type_of(e), u::encode_payload(e));
    BOOST_REQUIRE(back.ok());
    BOOST_TEST(u::encode_payload(back.value()) == u::encode_payload(e));
  }
  BOOST_TEST(u::decode_payload("user.registered", R"({"user_id":"1"})").error().field == "email");
  BOOST_TEST(u::decode_payload("user.exploded", "{}").error().field == "type");
}

BOOST_AUTO_TEST_CASE(domain_errors_render_as_json_naming_the_field) {
  const lethe::domain::DomainError e{ErrorCode::invalid_argument, "name", "name \"x\" is bad"};
  BOOST_TEST(lethe::domain::encode_error(e) ==
             R"({"error":"invalid_argument","field":"name","message":"name \"x\" is bad"})");
}
