#define BOOST_TEST_MODULE users
#include "lethe/domain/users.hpp"

#include <boost/test/unit_test.hpp>

namespace u = lethe::domain::users;
using lethe::domain::ErrorCode;

namespace {
const u::Actor kOwner{"owner-1", u::Role::owner}, kAdmin{"admin-1", u::Role::admin}, kStaff{"staff-1", u::Role::staff},
    kUser{"user-1", u::Role::user}, kAnonymous{"", std::nullopt};

u::User registered(const std::string& role = "user") {
  auto r = u::decide({}, u::RegisterUser{"42", "ann@example.org", "Ann", role}, kOwner);
  BOOST_REQUIRE(r.ok());
  return u::evolve({}, r.value().at(0));
}
}  // namespace

BOOST_AUTO_TEST_CASE(registering_emits_user_registered_and_evolve_folds_it) {
  auto r = u::decide({}, u::RegisterUser{"42", "ann@example.org", "Ann", "staff"}, kOwner);
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
  const auto r = u::decide(registered(), u::RegisterUser{"42", "ann@example.org", "Ann", "user"}, kOwner);
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
    const auto r = u::decide({}, c.cmd, kOwner);
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(r.error().field == c.field);
    BOOST_TEST((r.error().code == ErrorCode::invalid_argument));
  }
}

BOOST_AUTO_TEST_CASE(changing_the_name_emits_profile_changed) {
  const auto s = registered();
  const auto r = u::decide(s, u::ChangeProfile{"42", "Ann B."}, kOwner);
  BOOST_REQUIRE(r.ok());
  const auto s2 = u::evolve(s, r.value()[0]);
  BOOST_TEST(s2.name == "Ann B.");
  BOOST_TEST(s2.email == "ann@example.org");
  BOOST_TEST(s2.version == 2);
}

BOOST_AUTO_TEST_CASE(profile_change_of_unknown_user_or_same_name_is_rejected) {
  BOOST_TEST((u::decide({}, u::ChangeProfile{"42", "X"}, kOwner).error().code == ErrorCode::not_found));
  BOOST_TEST((u::decide(registered(), u::ChangeProfile{"42", "Ann"}, kOwner).error().code == ErrorCode::no_change));
}

BOOST_AUTO_TEST_CASE(only_admins_and_owners_change_roles_and_only_owners_touch_admins) {
  const auto user = registered("user");
  auto code = [](const auto& r) { return r.ok() ? std::string("ok") : std::string(to_string(r.error().code)); };
  // Staff and plain users change no roles.
  BOOST_TEST(code(u::decide(user, u::ChangeRole{"42", "staff"}, kStaff)) == "forbidden");
  BOOST_TEST(code(u::decide(user, u::ChangeRole{"42", "staff"}, kUser)) == "forbidden");
  BOOST_TEST(code(u::decide(user, u::ChangeRole{"42", "staff"}, kAnonymous)) == "forbidden");
  // Admins manage staff and user.
  BOOST_TEST(code(u::decide(user, u::ChangeRole{"42", "staff"}, kAdmin)) == "ok");
  BOOST_TEST(code(u::decide(registered("staff"), u::ChangeRole{"42", "user"}, kAdmin)) == "ok");
  // Only an owner grants or removes owner and admin.
  BOOST_TEST(code(u::decide(user, u::ChangeRole{"42", "admin"}, kAdmin)) == "forbidden");
  BOOST_TEST(code(u::decide(user, u::ChangeRole{"42", "owner"}, kAdmin)) == "forbidden");
  BOOST_TEST(code(u::decide(registered("admin"), u::ChangeRole{"42", "user"}, kAdmin)) == "forbidden");
  BOOST_TEST(code(u::decide(registered("owner"), u::ChangeRole{"42", "admin"}, kAdmin)) == "forbidden");
  BOOST_TEST(code(u::decide(user, u::ChangeRole{"42", "admin"}, kOwner)) == "ok");
  BOOST_TEST(code(u::decide(registered("admin"), u::ChangeRole{"42", "user"}, kOwner)) == "ok");
  BOOST_TEST(code(u::decide(user, u::ChangeRole{"42", "user"}, kOwner)) == "no_change");
  BOOST_TEST(u::decide(user, u::ChangeRole{"42", "root"}, kOwner).error().field == "role");
}

BOOST_AUTO_TEST_CASE(nobody_changes_their_own_role) {
  for (const auto* role : {"owner", "admin"}) {
    const auto self = registered(role);
    const u::Actor me{"42", u::parse_role(role)};
    const auto r = u::decide(self, u::ChangeRole{"42", "user"}, me);
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST((r.error().code == ErrorCode::forbidden));
    BOOST_TEST(r.error().message == "nobody changes their own role");
  }
}

BOOST_AUTO_TEST_CASE(registering_a_role_above_user_needs_the_right_actor) {
  auto code = [](const u::RegisterUser& c, const u::Actor& a) {
    const auto r = u::decide({}, c, a);
    return r.ok() ? std::string("ok") : std::string(to_string(r.error().code));
  };
  const auto as = [](const char* role) { return u::RegisterUser{"9", "n@example.org", "N", role}; };
  // Anyone, anonymous included, registers a plain user.
  BOOST_TEST(code(as("user"), kAnonymous) == "ok");
  BOOST_TEST(code(as("staff"), kAnonymous) == "forbidden");
  BOOST_TEST(code(as("staff"), kStaff) == "forbidden");
  BOOST_TEST(code(as("staff"), kAdmin) == "ok");
  BOOST_TEST(code(as("admin"), kAdmin) == "forbidden");
  BOOST_TEST(code(as("owner"), kAdmin) == "forbidden");
  BOOST_TEST(code(as("admin"), kOwner) == "ok");
  BOOST_TEST(code(as("owner"), kOwner) == "ok");
  const auto r = u::decide({}, as("owner"), kAnonymous);
  BOOST_TEST(r.error().field == "role");
}

BOOST_AUTO_TEST_CASE(a_profile_is_changed_by_its_user_or_an_admin) {
  const auto ann = registered();
  BOOST_TEST(u::decide(ann, u::ChangeProfile{"42", "Ann B."}, u::Actor{"42", u::Role::user}).ok());
  BOOST_TEST(u::decide(ann, u::ChangeProfile{"42", "Ann B."}, kAdmin).ok());
  const auto other = u::decide(ann, u::ChangeProfile{"42", "Ann B."}, kStaff);
  BOOST_REQUIRE(!other.ok());
  BOOST_TEST((other.error().code == ErrorCode::forbidden));
  BOOST_TEST(!u::decide(ann, u::ChangeProfile{"42", "Ann B."}, kAnonymous).ok());
}

BOOST_AUTO_TEST_CASE(role_change_records_the_previous_role) {
  const auto s = registered("staff");
  const auto r = u::decide(s, u::ChangeRole{"42", "user"}, kAdmin);
  BOOST_REQUIRE(r.ok());
  const auto& ev = std::get<u::UserRoleChanged>(r.value()[0]);
  BOOST_TEST(ev.previous_role == "staff");
  BOOST_TEST((u::evolve(s, r.value()[0]).role == u::Role::user));
}

BOOST_AUTO_TEST_CASE(payload_codec_round_trips_every_event_type) {
  const std::vector<u::Event> events{u::UserRegistered{"1", "a@b.org", "A \"q\" é", "user"},
                                     u::UserProfileChanged{"1", "B"}, u::UserRoleChanged{"1", "staff", "user"}};
  for (const auto& e : events) {
    const auto back = u::decode_payload(u::type_of(e), u::version_of(e), u::encode_payload(e));
    BOOST_REQUIRE(back.ok());
    BOOST_TEST(u::encode_payload(back.value()) == u::encode_payload(e));
  }
  BOOST_TEST(u::decode_payload("user.registered", 1, R"({"user_id":"1"})").error().field == "email");
  BOOST_TEST(u::decode_payload("user.exploded", 1, "{}").error().field == "type");
}

BOOST_AUTO_TEST_CASE(domain_errors_render_as_json_naming_the_field) {
  const lethe::domain::DomainError e{ErrorCode::invalid_argument, "name", "name \"x\" is bad"};
  BOOST_TEST(lethe::domain::encode_error(e) ==
             R"({"error":"invalid_argument","field":"name","message":"name \"x\" is bad"})");
}
