#define BOOST_TEST_MODULE users
#include "users.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstddef>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <variant>
#include <vector>

#include "lethe/domain/envelope.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/domain/registry.hpp"

// Every rule and every refusal of the users domain (pure decide/evolve and
// the payload codec). A refusal is checked as "<code>:<field>", so that both
// the ErrorCode and the field it names are asserted at once.

namespace d = lethe::domain;
namespace u = lethe::domain::users;
using d::ErrorCode;

namespace {

const std::string kId = "42";
const u::Actor kOwner{"owner-1", u::Role::owner}, kAdmin{"admin-1", u::Role::admin}, kStaff{"staff-1", u::Role::staff},
    kUser{"user-1", u::Role::user}, kAnonymous{"", std::nullopt};
const u::Facts kTwoOwners{2};
const u::Role kRoles[] = {u::Role::owner, u::Role::admin, u::Role::staff, u::Role::user};

u::Actor self_as(u::Role role) {
  return u::Actor{kId, role};
}
std::string str(std::string_view s) {
  return std::string(s);
}
std::string role_name(u::Role r) {
  return str(u::to_string(r));
}

// "ok", or "<error code>:<field>" for a refusal.
template <class T>
std::string outcome(const d::Result<T>& r) {
  if (r.ok()) return "ok";
  return str(d::to_string(r.error().code)) + ":" + r.error().field;
}
std::string refused(ErrorCode code, const std::string& field) {
  return str(d::to_string(code)) + ":" + field;
}

template <class T>
T accepted_(d::Result<T> r, const char* what) {
  BOOST_REQUIRE_MESSAGE(r.ok(),
                        what << " was refused: " << outcome(r) << " (" << (r.ok() ? "" : r.error().message) << ")");
  return std::move(r).value();
}
#define ACCEPTED(expr) accepted_((expr), #expr)
// BOOST_TEST with a context line, keeping the values in the failure message.
#define CHECK_MSG(expr, msg) \
  BOOST_TEST_CONTEXT(msg) {  \
    BOOST_TEST(expr);        \
  }

// The one event of a decision, of type E.
template <class E>
E only(const std::vector<u::Event>& events) {
  BOOST_REQUIRE_EQUAL(events.size(), 1U);
  const auto* e = std::get_if<E>(&events[0]);
  BOOST_REQUIRE_MESSAGE(e, "expected " << str(E::kType) << ", got " << str(u::type_of(events[0])));
  return *e;
}

u::User fold(const std::vector<u::Event>& events, u::User s = {}) {
  for (const auto& e : events) s = u::evolve(std::move(s), e);
  return s;
}
// An active account "42" with this role, folded from its registration.
u::User account(u::Role role = u::Role::user) {
  return fold({u::UserRegistered{kId, "ann@example.org", "Ann", role_name(role), "$argon2id$old"}});
}
u::User deactivated(u::Role role = u::Role::user) {
  return fold({u::UserDeactivated{kId}}, account(role));
}

// Calls f(std::in_place_type<Alternative>) for every alternative of a
// variant, so that a new command or event type cannot be left out.
template <class Variant, class F>
void for_each_alternative(F&& f) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (f(std::in_place_type<std::variant_alternative_t<I, Variant>>), ...);
  }
  (std::make_index_sequence<std::variant_size_v<Variant>>{});
}

// A field's kind, from its member.
enum class Kind { text, number, boolean, json };
template <class E>
Kind kind_of(const d::FieldSpec<E>& f) {
  return static_cast<Kind>(f.member.index());
}

// A field's value as text, whatever its kind (to compare).
template <class E>
std::string field_text(const E& e, const d::FieldSpec<E>& f) {
  return std::visit(
      [&](auto m) -> std::string {
        using T = std::decay_t<decltype(e.*m)>;
        if constexpr (std::is_same_v<T, std::string>)
          return e.*m;
        else if constexpr (std::is_same_v<T, std::int64_t>)
          return std::to_string(e.*m);
        else if constexpr (std::is_same_v<T, bool>)
          return e.*m ? "true" : "false";
        else
          return (e.*m).text;
      },
      f.member);
}

// Sets a field from a seed: a string to the seed, a number to its length, a
// boolean to true, a JSON value to an array of two strings.
template <class E>
void set_field(E& e, const d::FieldSpec<E>& f, const std::string& seed) {
  std::visit(
      [&](auto m) {
        using T = std::decay_t<decltype(e.*m)>;
        if constexpr (std::is_same_v<T, std::string>)
          e.*m = seed;
        else if constexpr (std::is_same_v<T, std::int64_t>)
          e.*m = static_cast<std::int64_t>(seed.size());
        else if constexpr (std::is_same_v<T, bool>)
          e.*m = true;
        else
          e.*m = d::Json{R"(["a","b \"q\""])"};
      },
      f.member);
}

// A value of the field's kind in a payload, and one of another kind (none
// for a JSON value, which may be any).
template <class E>
std::string json_of_kind(const d::FieldSpec<E>& f) {
  static const char* const values[] = {"\"v\"", "1", "true", "[\"v\"]"};
  return values[f.member.index()];
}
template <class E>
std::optional<std::string> json_of_wrong_kind(const d::FieldSpec<E>& f) {
  if (kind_of(f) == Kind::json) return std::nullopt;
  return kind_of(f) == Kind::text ? "42" : "\"v\"";
}

// A JSON object of the fields of E, each a value of its kind, leaving
// `skip` out; `null_field` (if any) written as null.
template <class E>
std::string payload_of(std::string_view skip, std::string_view null_field = {}) {
  std::string json = "{";
  for (const auto& f : E::fields()) {
    if (f.name == skip) continue;
    if (json.size() > 1) json += ',';
    json += '"' + std::string(f.name) + "\":" + (f.name == null_field ? "null" : json_of_kind(f));
  }
  return json + "}";
}

}  // namespace

BOOST_AUTO_TEST_CASE(roles_print_and_parse) {
  for (const auto r : kRoles) BOOST_TEST((u::parse_role(u::to_string(r)) == r));
  BOOST_TEST(role_name(u::Role::owner) == "owner");
  BOOST_TEST(role_name(u::Role::admin) == "admin");
  BOOST_TEST(role_name(u::Role::staff) == "staff");
  BOOST_TEST(role_name(u::Role::user) == "user");
  for (const auto* bad : {"", "Owner", "root", " user", "users"}) CHECK_MSG(!u::parse_role(bad).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(normalize_email_trims_and_lower_cases_the_domain_only) {
  BOOST_TEST(u::normalize_email("  Ann.Lee@Example.ORG \t\r\n") == "Ann.Lee@example.org");
  BOOST_TEST(u::normalize_email("ANN@EXAMPLE.ORG") == "ANN@example.org");  // the local part keeps its case
  BOOST_TEST(u::normalize_email("ann@example.org") == "ann@example.org");
  BOOST_TEST(u::normalize_email("a b@X.Org") == "a b@x.org");  // inner spaces are not the normaliser's business
  BOOST_TEST(u::normalize_email("  No-At-Sign ") == "No-At-Sign");
  BOOST_TEST(u::normalize_email("") == "");
  BOOST_TEST(u::normalize_email(" \t ") == "");
  for (const auto* e : {"  Ann.Lee@Example.ORG ", "X@Y.Z", "plain"})
    CHECK_MSG(u::normalize_email(u::normalize_email(e)) == u::normalize_email(e), "idempotent: " << e);
}

BOOST_AUTO_TEST_CASE(check_password_bounds) {
  BOOST_TEST(u::kMinPassword == 8U);
  BOOST_TEST(u::kMaxPassword == 1024U);
  const auto check = [](std::string_view field, const std::string& pw) {
    const auto err = u::check_password(field, pw);
    return err ? refused(err->code, err->field) : std::string("ok");
  };
  BOOST_TEST(check("password", "") == refused(ErrorCode::invalid_argument, "password"));
  BOOST_TEST(check("password", std::string(u::kMinPassword - 1, 'x')) ==
             refused(ErrorCode::invalid_argument, "password"));
  BOOST_TEST(check("password", std::string(u::kMinPassword, 'x')) == "ok");
  BOOST_TEST(check("password", std::string(u::kMaxPassword, 'x')) == "ok");
  BOOST_TEST(check("password", std::string(u::kMaxPassword + 1, 'x')) ==
             refused(ErrorCode::invalid_argument, "password"));
  // The field named is the caller's.
  BOOST_TEST(check("new_password", "short") == refused(ErrorCode::invalid_argument, "new_password"));
  // Bounds are in characters, as the API's schema counts them: four
  // two-byte characters are eight bytes but four characters, too few.
  BOOST_TEST(check("password", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9") == refused(ErrorCode::invalid_argument, "password"));
  BOOST_TEST(check("password", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9") == "ok");
  BOOST_TEST(u::check_password("password", "short")->message.find("at least 8") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_server_actors_ids_cannot_be_registered) {
  for (const auto* id : {"anonymous", "system", "system:bootstrap", "system:"}) {
    const auto r = u::decide(u::User{}, u::RegisterUser{id, "x@example.org", "X", "user", ""}, kOwner);
    BOOST_TEST(outcome(r) == refused(ErrorCode::invalid_argument, "user_id"), id);
  }
  // Nor are they near misses: only these names are reserved.
  BOOST_TEST(outcome(u::decide(u::User{}, u::RegisterUser{"systematic", "x@example.org", "X", "user", ""}, kOwner)) ==
             "ok");
}

BOOST_AUTO_TEST_CASE(registration_refuses_malformed_fields) {
  const auto reg = [](std::string id, std::string email, std::string name, std::string role) {
    return outcome(
        u::decide({}, u::RegisterUser{std::move(id), std::move(email), std::move(name), std::move(role), ""}, kOwner));
  };
  const auto bad = [](const char* field) { return refused(ErrorCode::invalid_argument, field); };
  BOOST_TEST(reg("", "ann@example.org", "Ann", "user") == bad("user_id"));
  // Emails that do not look like name@example.org.
  const std::string local254(254 - std::string("@example.org").size(), 'a');
  for (const std::string& e :
       {std::string(""), std::string("   "), std::string("ann"), std::string("@example.org"), std::string("ann@"),
        std::string("ann@example"), std::string("ann@.org"), std::string("ann@example."),
        std::string("ann@b@example.org"), std::string("ann lee@example.org"), std::string("ann@exa mple.org"),
        std::string("ann\t@example.org"), local254 + "a@example.org"})
    CHECK_MSG(reg("1", e, "Ann", "user") == bad("email"), "email '" << e << "'");
  // The bound is 254 bytes, after trimming.
  BOOST_TEST(reg("1", local254 + "@example.org", "Ann", "user") == "ok");
  BOOST_TEST(reg("1", "  " + local254 + "@example.org  ", "Ann", "user") == "ok");
  BOOST_TEST(reg("1", "a@b.c", "Ann", "user") == "ok");
  // Names: 1 to 200 bytes.
  BOOST_TEST(reg("1", "ann@example.org", "", "user") == bad("name"));
  BOOST_TEST(reg("1", "ann@example.org", std::string(201, 'n'), "user") == bad("name"));
  BOOST_TEST(reg("1", "ann@example.org", std::string(200, 'n'), "user") == "ok");
  BOOST_TEST(reg("1", "ann@example.org", "N", "user") == "ok");
  // Roles: exactly one of the four.
  for (const auto* role : {"", "superuser", "Owner", "users"})
    CHECK_MSG(reg("1", "ann@example.org", "Ann", role) == bad("role"), "role '" << role << "'");
}

BOOST_AUTO_TEST_CASE(registration_permissions_by_role) {
  struct Row {
    const u::Actor* actor;
    const char* name;
    bool user, staff, admin, owner;  // may register that role
  };
  const Row rows[] = {
      {&kAnonymous, "anonymous", true, false, false, false},
      {&kUser, "user", true, false, false, false},
      {&kStaff, "staff", true, false, false, false},
      {&kAdmin, "admin", true, true, false, false},
      {&kOwner, "owner", true, true, true, true},
  };
  for (const auto& row : rows) {
    const std::pair<const char*, bool> cells[] = {
        {"user", row.user}, {"staff", row.staff}, {"admin", row.admin}, {"owner", row.owner}};
    for (const auto& [role, may] : cells) {
      const auto r = u::decide({}, u::RegisterUser{"9", "nn@example.org", "N", role, ""}, *row.actor);
      CHECK_MSG(outcome(r) == (may ? std::string("ok") : refused(ErrorCode::forbidden, "role")),
                row.name << " registers " << role);
      if (r.ok()) BOOST_TEST(only<u::UserRegistered>(r.value()).role == role);
    }
  }
}

BOOST_AUTO_TEST_CASE(registration_emits_user_registered) {
  const auto ev = only<u::UserRegistered>(ACCEPTED(u::decide(
      {}, u::RegisterUser{kId, "  Ann.Lee@Example.ORG ", "Ann Lee", "staff", "$argon2id$v=19$hash"}, kAdmin)));
  BOOST_TEST(ev.user_id == kId);
  BOOST_TEST(ev.email == "Ann.Lee@example.org");  // normalised
  BOOST_TEST(ev.name == "Ann Lee");
  BOOST_TEST(ev.role == "staff");
  BOOST_TEST(ev.password_hash == "$argon2id$v=19$hash");

  // Anonymous sign-up as a user, without a password (API keys only).
  const auto anon = only<u::UserRegistered>(
      ACCEPTED(u::decide({}, u::RegisterUser{"7", "bob@example.org", "Bob", "user", ""}, kAnonymous)));
  BOOST_TEST(anon.role == "user");
  BOOST_TEST(anon.password_hash.empty());

  // The same id twice: already_exists, whoever asks, active or not.
  const u::RegisterUser again{kId, "ann@example.org", "Ann", "user", ""};
  BOOST_TEST(outcome(u::decide(account(), again, kOwner)) == refused(ErrorCode::already_exists, "user_id"));
  BOOST_TEST(outcome(u::decide(account(), again, kAnonymous)) == refused(ErrorCode::already_exists, "user_id"));
  BOOST_TEST(outcome(u::decide(deactivated(), again, kOwner)) == refused(ErrorCode::already_exists, "user_id"));
}

BOOST_AUTO_TEST_CASE(profile_change_permissions) {
  const u::ChangeProfile rename{kId, std::string("Ann B."), std::nullopt};
  // Anyone changes their own profile, whatever their role.
  for (const auto r : kRoles)
    CHECK_MSG(outcome(u::decide(account(r), rename, self_as(r))) == "ok", "self as " << role_name(r));
  // Owners manage every account; admins staff and users only.
  for (const auto r : kRoles) {
    CHECK_MSG(outcome(u::decide(account(r), rename, kOwner)) == "ok", "owner on " << role_name(r));
    const bool admin_may = r == u::Role::staff || r == u::Role::user;
    CHECK_MSG(outcome(u::decide(account(r), rename, kAdmin)) ==
                  (admin_may ? std::string("ok") : refused(ErrorCode::forbidden, "user_id")),
              "admin on " << role_name(r));
  }
  // Staff, users and anonymous callers change nobody else's profile.
  for (const auto* a : {&kStaff, &kUser, &kAnonymous})
    CHECK_MSG(outcome(u::decide(account(), rename, *a)) == refused(ErrorCode::forbidden, "user_id"), a->id);
}

BOOST_AUTO_TEST_CASE(profile_change_events_and_refusals) {
  const auto s = account();
  const auto me = self_as(u::Role::user);
  // Name only.
  const auto named = only<u::UserProfileChanged>(
      ACCEPTED(u::decide(s, u::ChangeProfile{kId, std::string("Ann B."), std::nullopt}, me)));
  BOOST_TEST(named.user_id == kId);
  BOOST_TEST(named.name == "Ann B.");
  // Email only, normalised.
  const auto mailed = only<u::UserEmailChanged>(
      ACCEPTED(u::decide(s, u::ChangeProfile{kId, std::nullopt, std::string(" Ann.B@Example.ORG ")}, me)));
  BOOST_TEST(mailed.user_id == kId);
  BOOST_TEST(mailed.email == "Ann.B@example.org");
  // The local part's case is part of the address: a change.
  BOOST_TEST(only<u::UserEmailChanged>(
                 ACCEPTED(u::decide(s, u::ChangeProfile{kId, std::nullopt, std::string("Ann@example.org")}, me)))
                 .email == "Ann@example.org");
  // Both: two events, name first.
  const auto both =
      ACCEPTED(u::decide(s, u::ChangeProfile{kId, std::string("Ann B."), std::string("ann.b@example.org")}, kAdmin));
  BOOST_REQUIRE_EQUAL(both.size(), 2U);
  BOOST_TEST(std::get<u::UserProfileChanged>(both[0]).name == "Ann B.");
  BOOST_TEST(std::get<u::UserEmailChanged>(both[1]).email == "ann.b@example.org");
  const auto after = fold(both, s);
  BOOST_TEST(after.name == "Ann B.");
  BOOST_TEST(after.email == "ann.b@example.org");
  BOOST_TEST(after.version == 3);
  // Both given, only one different: one event.
  BOOST_TEST(only<u::UserEmailChanged>(
                 ACCEPTED(u::decide(s, u::ChangeProfile{kId, std::string("Ann"), std::string("new@example.org")}, me)))
                 .email == "new@example.org");
  BOOST_TEST(
      only<u::UserProfileChanged>(
          ACCEPTED(u::decide(s, u::ChangeProfile{kId, std::string("Ann C."), std::string("ann@example.org")}, me)))
          .name == "Ann C.");

  // Unchanged: no_change, naming the name when one was given, else the email.
  BOOST_TEST(outcome(u::decide(s, u::ChangeProfile{kId, std::string("Ann"), std::nullopt}, me)) ==
             refused(ErrorCode::no_change, "name"));
  BOOST_TEST(outcome(u::decide(s, u::ChangeProfile{kId, std::nullopt, std::string(" ann@EXAMPLE.org ")}, me)) ==
             refused(ErrorCode::no_change, "email"));
  BOOST_TEST(outcome(u::decide(s, u::ChangeProfile{kId, std::string("Ann"), std::string("ann@example.org")}, me)) ==
             refused(ErrorCode::no_change, "name"));
  BOOST_TEST(outcome(u::decide(s, u::ChangeProfile{kId, std::nullopt, std::nullopt}, me)) ==
             refused(ErrorCode::invalid_argument, ""));

  // Malformed values, whatever else changes.
  BOOST_TEST(outcome(u::decide(s, u::ChangeProfile{kId, std::string(""), std::nullopt}, me)) ==
             refused(ErrorCode::invalid_argument, "name"));
  BOOST_TEST(outcome(u::decide(s, u::ChangeProfile{kId, std::string(201, 'n'), std::nullopt}, me)) ==
             refused(ErrorCode::invalid_argument, "name"));
  BOOST_TEST(outcome(u::decide(s, u::ChangeProfile{kId, std::string(200, 'n'), std::nullopt}, me)) == "ok");
  BOOST_TEST(outcome(u::decide(s, u::ChangeProfile{kId, std::nullopt, std::string("ann@example")}, me)) ==
             refused(ErrorCode::invalid_argument, "email"));
  BOOST_TEST(outcome(u::decide(s, u::ChangeProfile{kId, std::string("Ann B."), std::string("not an email")}, me)) ==
             refused(ErrorCode::invalid_argument, "email"));
  BOOST_TEST(outcome(u::decide(s, u::ChangeProfile{kId, std::string(""), std::string("new@example.org")}, me)) ==
             refused(ErrorCode::invalid_argument, "name"));

  // Nobody registered: not_found.
  BOOST_TEST(outcome(u::decide({}, u::ChangeProfile{kId, std::string("X"), std::nullopt}, kOwner)) ==
             refused(ErrorCode::not_found, "user_id"));
}

BOOST_AUTO_TEST_CASE(password_change_rules) {
  const auto set_by = [](const u::User& s, const u::Actor& a, bool verified) {
    return u::decide(s, u::ChangePassword{kId, "$argon2id$new", verified}, a);
  };
  // Self, with the current password checked.
  const auto mine = only<u::UserPasswordChanged>(ACCEPTED(set_by(account(), self_as(u::Role::user), true)));
  BOOST_TEST(mine.user_id == kId);
  BOOST_TEST(mine.password_hash == "$argon2id$new");
  BOOST_TEST(mine.by == "self");
  BOOST_TEST(fold({mine}, account()).password_hash == "$argon2id$new");
  // Self without it: refused for every role, owners included (no admin path to one's own account).
  for (const auto r : kRoles) {
    CHECK_MSG(outcome(set_by(account(r), self_as(r), false)) == refused(ErrorCode::forbidden, "current_password"),
              "self as " << role_name(r));
    CHECK_MSG(outcome(set_by(account(r), self_as(r), true)) == "ok", "self as " << role_name(r));
  }
  // An admin or owner who manages the account's role sets it without the current password: by "admin".
  for (const auto r : kRoles) {
    const auto by_owner = set_by(account(r), kOwner, false);
    CHECK_MSG(outcome(by_owner) == "ok", "owner on " << role_name(r));
    if (by_owner.ok()) BOOST_TEST(only<u::UserPasswordChanged>(by_owner.value()).by == "admin");
    const bool admin_may = r == u::Role::staff || r == u::Role::user;
    const auto by_admin = set_by(account(r), kAdmin, false);
    CHECK_MSG(outcome(by_admin) == (admin_may ? std::string("ok") : refused(ErrorCode::forbidden, "user_id")),
              "admin on " << role_name(r));
    if (by_admin.ok()) BOOST_TEST(only<u::UserPasswordChanged>(by_admin.value()).by == "admin");
  }
  // Nobody else, verified or not.
  for (const auto* a : {&kStaff, &kUser, &kAnonymous}) {
    CHECK_MSG(outcome(set_by(account(), *a, false)) == refused(ErrorCode::forbidden, "user_id"), a->id);
    CHECK_MSG(outcome(set_by(account(), *a, true)) == refused(ErrorCode::forbidden, "user_id"), a->id);
  }
  // A new hash is required.
  BOOST_TEST(outcome(u::decide(account(), u::ChangePassword{kId, "", true}, self_as(u::Role::user))) ==
             refused(ErrorCode::invalid_argument, "new_password"));
  BOOST_TEST(outcome(u::decide(account(), u::ChangePassword{kId, "", false}, kOwner)) ==
             refused(ErrorCode::invalid_argument, "new_password"));
  BOOST_TEST(outcome(set_by({}, kOwner, false)) == refused(ErrorCode::not_found, "user_id"));
}

BOOST_AUTO_TEST_CASE(role_change_rules) {
  const auto change = [](const u::User& s, const char* role, const u::Actor& a) {
    return outcome(u::decide(s, u::ChangeRole{kId, role}, a, kTwoOwners));
  };
  const auto forbidden_role = refused(ErrorCode::forbidden, "role");
  // Only admins and owners change roles.
  for (const auto* a : {&kStaff, &kUser, &kAnonymous})
    CHECK_MSG(change(account(), "staff", *a) == forbidden_role, a->id);
  // Nobody changes their own role, owners included.
  for (const auto r : {u::Role::owner, u::Role::admin})
    for (const auto* to : {"user", "staff", "admin", "owner"})
      CHECK_MSG(change(account(r), to, self_as(r)) == refused(ErrorCode::forbidden, "user_id"), role_name(r)
                                                                                                    << " -> " << to);
  // Admins move accounts between staff and user, and touch no admin or owner.
  BOOST_TEST(change(account(u::Role::user), "staff", kAdmin) == "ok");
  BOOST_TEST(change(account(u::Role::staff), "user", kAdmin) == "ok");
  BOOST_TEST(change(account(u::Role::user), "admin", kAdmin) == forbidden_role);
  BOOST_TEST(change(account(u::Role::user), "owner", kAdmin) == forbidden_role);
  BOOST_TEST(change(account(u::Role::staff), "admin", kAdmin) == forbidden_role);
  BOOST_TEST(change(account(u::Role::admin), "user", kAdmin) == forbidden_role);
  BOOST_TEST(change(account(u::Role::admin), "staff", kAdmin) == forbidden_role);
  BOOST_TEST(change(account(u::Role::owner), "admin", kAdmin) == forbidden_role);
  BOOST_TEST(change(account(u::Role::owner), "user", kAdmin) == forbidden_role);
  // Owners grant and remove every role.
  for (const auto from : kRoles)
    for (const auto to : kRoles)
      if (from != to)
        CHECK_MSG(change(account(from), role_name(to).c_str(), kOwner) == "ok",
                  "owner: " << role_name(from) << " -> " << role_name(to));
  // Unchanged: no_change; unknown role: invalid_argument, even before the permission check.
  for (const auto r : kRoles)
    CHECK_MSG(change(account(r), role_name(r).c_str(), kOwner) == refused(ErrorCode::no_change, "role"), role_name(r));
  BOOST_TEST(change(account(u::Role::staff), "staff", kAdmin) == refused(ErrorCode::no_change, "role"));
  BOOST_TEST(change(account(), "root", kOwner) == refused(ErrorCode::invalid_argument, "role"));
  BOOST_TEST(change(account(), "", kOwner) == refused(ErrorCode::invalid_argument, "role"));
  BOOST_TEST(change(account(), "Owner", kOwner) == refused(ErrorCode::invalid_argument, "role"));
  BOOST_TEST(change(account(), "root", kUser) == refused(ErrorCode::invalid_argument, "role"));
  BOOST_TEST(change({}, "staff", kOwner) == refused(ErrorCode::not_found, "user_id"));

  // The event records the previous role; evolve applies the new one.
  const auto s = account(u::Role::staff);
  const auto ev = only<u::UserRoleChanged>(ACCEPTED(u::decide(s, u::ChangeRole{kId, "admin"}, kOwner)));
  BOOST_TEST(ev.user_id == kId);
  BOOST_TEST(ev.role == "admin");
  BOOST_TEST(ev.previous_role == "staff");
  BOOST_TEST((fold({ev}, s).role == u::Role::admin));
}

BOOST_AUTO_TEST_CASE(the_last_owner_keeps_the_role_and_stays_active) {
  const auto owner = account(u::Role::owner);
  const auto demote = [&](u::Facts f) { return outcome(u::decide(owner, u::ChangeRole{kId, "admin"}, kOwner, f)); };
  const auto drop = [&](u::Facts f) { return outcome(u::decide(owner, u::Deactivate{kId}, kOwner, f)); };
  BOOST_TEST(demote(u::Facts{1}) == refused(ErrorCode::rule_violated, "role"));
  BOOST_TEST(drop(u::Facts{1}) == refused(ErrorCode::rule_violated, "user_id"));
  // Facts not given (0 active owners): the rule holds too, on the safe side.
  BOOST_TEST(demote(u::Facts{}) == refused(ErrorCode::rule_violated, "role"));
  BOOST_TEST(drop(u::Facts{}) == refused(ErrorCode::rule_violated, "user_id"));
  BOOST_TEST(outcome(u::decide(owner, u::ChangeRole{kId, "user"}, kOwner)) ==
             refused(ErrorCode::rule_violated, "role"));
  // With two owners, either is fine.
  BOOST_TEST(demote(u::Facts{2}) == "ok");
  BOOST_TEST(drop(u::Facts{2}) == "ok");
  BOOST_TEST(demote(u::Facts{3}) == "ok");
  // Owner to owner is no_change before the rule; and the rule is only about owners.
  BOOST_TEST(outcome(u::decide(owner, u::ChangeRole{kId, "owner"}, kOwner, u::Facts{1})) ==
             refused(ErrorCode::no_change, "role"));
  BOOST_TEST(outcome(u::decide(account(u::Role::admin), u::ChangeRole{kId, "user"}, kOwner, u::Facts{1})) == "ok");
  BOOST_TEST(outcome(u::decide(account(u::Role::admin), u::Deactivate{kId}, kOwner, u::Facts{1})) == "ok");
  // Permission refusals come before the rule.
  BOOST_TEST(outcome(u::decide(owner, u::ChangeRole{kId, "admin"}, kAdmin, u::Facts{1})) ==
             refused(ErrorCode::forbidden, "role"));
  BOOST_TEST(outcome(u::decide(owner, u::Deactivate{kId}, kAdmin, u::Facts{1})) ==
             refused(ErrorCode::forbidden, "user_id"));
}

BOOST_AUTO_TEST_CASE(deactivation_rules) {
  const auto drop = [](const u::User& s, const u::Actor& a) {
    return outcome(u::decide(s, u::Deactivate{kId}, a, kTwoOwners));
  };
  const auto forbidden = refused(ErrorCode::forbidden, "user_id");
  for (const auto* a : {&kStaff, &kUser, &kAnonymous}) CHECK_MSG(drop(account(), *a) == forbidden, a->id);
  // Not oneself, whatever one's role.
  for (const auto r : kRoles) CHECK_MSG(drop(account(r), self_as(r)) == forbidden, "self as " << role_name(r));
  // Admins deactivate staff and users; owners anybody.
  BOOST_TEST(drop(account(u::Role::user), kAdmin) == "ok");
  BOOST_TEST(drop(account(u::Role::staff), kAdmin) == "ok");
  BOOST_TEST(drop(account(u::Role::admin), kAdmin) == forbidden);
  BOOST_TEST(drop(account(u::Role::owner), kAdmin) == forbidden);
  for (const auto r : kRoles) CHECK_MSG(drop(account(r), kOwner) == "ok", "owner on " << role_name(r));
  BOOST_TEST(drop({}, kOwner) == refused(ErrorCode::not_found, "user_id"));
  BOOST_TEST(drop(deactivated(), kOwner) == refused(ErrorCode::conflict, "user_id"));

  const auto ev = only<u::UserDeactivated>(ACCEPTED(u::decide(account(), u::Deactivate{kId}, kAdmin)));
  BOOST_TEST(ev.user_id == kId);
  const auto s = fold({ev}, account());
  BOOST_TEST(s.exists);
  BOOST_TEST(!s.active);
}

BOOST_AUTO_TEST_CASE(a_deactivated_account_takes_only_restore) {
  const auto conflict = refused(ErrorCode::conflict, "user_id");
  int checked = 0;
  // Every command but register and restore, whoever asks: conflict. Default
  // values suffice: the account's state is checked first.
  for_each_alternative<u::Command>([&]<class C>(std::in_place_type_t<C>) {
    if constexpr (!std::is_same_v<C, u::RegisterUser> && !std::is_same_v<C, u::Restore>) {
      C c{};
      c.user_id = kId;
      for (const auto r : kRoles) {
        CHECK_MSG(outcome(u::decide(deactivated(r), c, kOwner, kTwoOwners)) == conflict, typeid(C).name());
        CHECK_MSG(outcome(u::decide(deactivated(r), c, self_as(r), kTwoOwners)) == conflict, typeid(C).name());
      }
      // And on nobody's account: not_found.
      CHECK_MSG(outcome(u::decide({}, c, kOwner, kTwoOwners)) == refused(ErrorCode::not_found, "user_id"),
                typeid(C).name());
      ++checked;
    }
  });
  BOOST_TEST(checked == static_cast<int>(std::variant_size_v<u::Command>) - 2);
  // With the real commands, too.
  const auto gone = deactivated();
  BOOST_TEST(outcome(u::decide(gone, u::ChangeProfile{kId, std::string("B"), std::nullopt}, self_as(u::Role::user))) ==
             conflict);
  BOOST_TEST(outcome(u::decide(gone, u::ChangePassword{kId, "$h", true}, self_as(u::Role::user))) == conflict);
  BOOST_TEST(outcome(u::decide(gone, u::ChangeRole{kId, "staff"}, kOwner)) == conflict);
  BOOST_TEST(outcome(u::decide(gone, u::IssueApiKey{kId, "k1", "laptop", "lth_1", ""}, self_as(u::Role::user))) ==
             conflict);
  BOOST_TEST(outcome(u::decide(gone, u::LinkOAuth{kId, "google", "sub-1"}, kOwner)) == conflict);
  BOOST_TEST(outcome(u::decide({}, u::Restore{kId}, kOwner)) == refused(ErrorCode::not_found, "user_id"));

  // Restore: an active account is a conflict.
  for (const auto r : kRoles)
    CHECK_MSG(outcome(u::decide(account(r), u::Restore{kId}, kOwner)) == conflict, role_name(r));
  // Restore: admins and owners, owners only for owners and admins.
  const auto forbidden = refused(ErrorCode::forbidden, "user_id");
  for (const auto* a : {&kStaff, &kUser, &kAnonymous})
    CHECK_MSG(outcome(u::decide(gone, u::Restore{kId}, *a)) == forbidden, a->id);
  BOOST_TEST(outcome(u::decide(gone, u::Restore{kId}, self_as(u::Role::user))) == forbidden);
  BOOST_TEST(outcome(u::decide(deactivated(u::Role::user), u::Restore{kId}, kAdmin)) == "ok");
  BOOST_TEST(outcome(u::decide(deactivated(u::Role::staff), u::Restore{kId}, kAdmin)) == "ok");
  BOOST_TEST(outcome(u::decide(deactivated(u::Role::admin), u::Restore{kId}, kAdmin)) == forbidden);
  BOOST_TEST(outcome(u::decide(deactivated(u::Role::owner), u::Restore{kId}, kAdmin)) == forbidden);
  for (const auto r : kRoles)
    CHECK_MSG(outcome(u::decide(deactivated(r), u::Restore{kId}, kOwner)) == "ok", role_name(r));

  // Restored, the account works again.
  const auto ev = only<u::UserRestored>(ACCEPTED(u::decide(gone, u::Restore{kId}, kAdmin)));
  BOOST_TEST(ev.user_id == kId);
  const auto back = fold({ev}, gone);
  BOOST_TEST(back.active);
  BOOST_TEST(outcome(u::decide(back, u::ChangeProfile{kId, std::string("B"), std::nullopt}, self_as(u::Role::user))) ==
             "ok");
  BOOST_TEST(outcome(u::decide(back, u::Deactivate{kId}, kAdmin)) == "ok");
  BOOST_TEST(outcome(u::decide(back, u::Restore{kId}, kAdmin)) == conflict);
}

BOOST_AUTO_TEST_CASE(api_key_issue_rules) {
  const auto issue = [](const u::User& s, const u::Actor& a, u::IssueApiKey c) { return u::decide(s, c, a); };
  const u::IssueApiKey key{kId, "k1", "laptop", "lth_ab12", "2027-01-01T00:00:00Z"};
  const auto ev = only<u::ApiKeyIssued>(ACCEPTED(issue(account(), self_as(u::Role::user), key)));
  BOOST_TEST(ev.user_id == kId);
  BOOST_TEST(ev.key_id == "k1");
  BOOST_TEST(ev.name == "laptop");
  BOOST_TEST(ev.prefix == "lth_ab12");
  BOOST_TEST(ev.expires_at == "2027-01-01T00:00:00Z");
  BOOST_TEST(only<u::ApiKeyIssued>(ACCEPTED(issue(account(), self_as(u::Role::user),
                                                  u::IssueApiKey{kId, "k1", "laptop", "lth_ab12", ""})))
                 .expires_at.empty());  // never expires
  // The user themself, whatever their role, or an owner for anybody.
  for (const auto r : kRoles) {
    CHECK_MSG(outcome(issue(account(r), self_as(r), key)) == "ok", "self as " << role_name(r));
    CHECK_MSG(outcome(issue(account(r), kOwner, key)) == "ok", "owner on " << role_name(r));
  }
  // Not an admin, not staff, not anybody else.
  for (const auto* a : {&kAdmin, &kStaff, &kUser, &kAnonymous})
    CHECK_MSG(outcome(issue(account(), *a, key)) == refused(ErrorCode::forbidden, "user_id"), a->id);
  // Fields.
  const auto me = self_as(u::Role::user);
  BOOST_TEST(outcome(issue(account(), me, u::IssueApiKey{kId, "k1", "", "lth_1", ""})) ==
             refused(ErrorCode::invalid_argument, "name"));
  BOOST_TEST(outcome(issue(account(), me, u::IssueApiKey{kId, "k1", std::string(101, 'n'), "lth_1", ""})) ==
             refused(ErrorCode::invalid_argument, "name"));
  BOOST_TEST(outcome(issue(account(), me, u::IssueApiKey{kId, "k1", std::string(100, 'n'), "lth_1", ""})) == "ok");
  BOOST_TEST(outcome(issue(account(), me, u::IssueApiKey{kId, "", "laptop", "lth_1", ""})) ==
             refused(ErrorCode::invalid_argument, "key_id"));
  BOOST_TEST(outcome(issue(account(), me, u::IssueApiKey{kId, "k1", "laptop", "", ""})) ==
             refused(ErrorCode::invalid_argument, "prefix"));
  // A key id is used once, revoked or not.
  const auto with_k1 = fold({ev}, account());
  BOOST_TEST(outcome(issue(with_k1, me, key)) == refused(ErrorCode::already_exists, "key_id"));
  BOOST_TEST(outcome(issue(fold({u::ApiKeyRevoked{kId, "k1"}}, with_k1), me, key)) ==
             refused(ErrorCode::already_exists, "key_id"));
  BOOST_TEST(outcome(issue(with_k1, me, u::IssueApiKey{kId, "k2", "laptop", "lth_1", ""})) == "ok");
  BOOST_TEST(outcome(issue({}, kOwner, key)) == refused(ErrorCode::not_found, "user_id"));
}

BOOST_AUTO_TEST_CASE(api_key_revoke_rules) {
  const auto with_key = [](u::Role r) { return fold({u::ApiKeyIssued{kId, "k1", "laptop", "lth_1", ""}}, account(r)); };
  const u::RevokeApiKey revoke{kId, "k1"};
  const auto ev = only<u::ApiKeyRevoked>(ACCEPTED(u::decide(with_key(u::Role::user), revoke, self_as(u::Role::user))));
  BOOST_TEST(ev.user_id == kId);
  BOOST_TEST(ev.key_id == "k1");
  // The user themself, or an admin or owner who manages their role.
  for (const auto r : kRoles) {
    CHECK_MSG(outcome(u::decide(with_key(r), revoke, self_as(r))) == "ok", "self as " << role_name(r));
    CHECK_MSG(outcome(u::decide(with_key(r), revoke, kOwner)) == "ok", "owner on " << role_name(r));
    const bool admin_may = r == u::Role::staff || r == u::Role::user;
    CHECK_MSG(outcome(u::decide(with_key(r), revoke, kAdmin)) ==
                  (admin_may ? std::string("ok") : refused(ErrorCode::forbidden, "user_id")),
              "admin on " << role_name(r));
  }
  for (const auto* a : {&kStaff, &kUser, &kAnonymous})
    CHECK_MSG(outcome(u::decide(with_key(u::Role::user), revoke, *a)) == refused(ErrorCode::forbidden, "user_id"),
              a->id);
  // Unknown key; revoked twice.
  BOOST_TEST(outcome(u::decide(with_key(u::Role::user), u::RevokeApiKey{kId, "k2"}, kOwner)) ==
             refused(ErrorCode::not_found, "key_id"));
  const auto revoked = fold({ev}, with_key(u::Role::user));
  BOOST_TEST(revoked.api_keys.at("k1"));
  BOOST_TEST(outcome(u::decide(revoked, revoke, self_as(u::Role::user))) == refused(ErrorCode::conflict, "key_id"));
  BOOST_TEST(outcome(u::decide(revoked, revoke, kOwner)) == refused(ErrorCode::conflict, "key_id"));
}

BOOST_AUTO_TEST_CASE(oauth_link_rules) {
  const u::LinkOAuth link{kId, "google", "sub-1"};
  const auto ev = only<u::OAuthLinked>(ACCEPTED(u::decide(account(), link, self_as(u::Role::user))));
  BOOST_TEST(ev.user_id == kId);
  BOOST_TEST(ev.provider == "google");
  BOOST_TEST(ev.subject == "sub-1");
  // The user themself, or an admin or owner who manages their role: an
  // identity is a way in, so an admin links none to an admin or owner.
  for (const auto r : kRoles) CHECK_MSG(outcome(u::decide(account(r), link, self_as(r))) == "ok", role_name(r));
  for (const auto* a : {&kAdmin, &kOwner}) CHECK_MSG(outcome(u::decide(account(), link, *a)) == "ok", a->id);
  BOOST_TEST(outcome(u::decide(account(u::Role::admin), link, kAdmin)) == refused(ErrorCode::forbidden, "user_id"));
  BOOST_TEST(outcome(u::decide(account(u::Role::owner), link, kAdmin)) == refused(ErrorCode::forbidden, "user_id"));
  BOOST_TEST(outcome(u::decide(account(u::Role::owner), link, kOwner)) == "ok");
  for (const auto* a : {&kStaff, &kUser, &kAnonymous})
    CHECK_MSG(outcome(u::decide(account(), link, *a)) == refused(ErrorCode::forbidden, "user_id"), a->id);
  // Fields: 1 to 200 bytes each.
  const auto me = self_as(u::Role::user);
  const auto with = [&](std::string provider, std::string subject) {
    return outcome(u::decide(account(), u::LinkOAuth{kId, std::move(provider), std::move(subject)}, me));
  };
  BOOST_TEST(with("", "sub-1") == refused(ErrorCode::invalid_argument, "provider"));
  BOOST_TEST(with(std::string(201, 'p'), "sub-1") == refused(ErrorCode::invalid_argument, "provider"));
  BOOST_TEST(with("google", "") == refused(ErrorCode::invalid_argument, "subject"));
  BOOST_TEST(with("google", std::string(201, 's')) == refused(ErrorCode::invalid_argument, "subject"));
  BOOST_TEST(with(std::string(200, 'p'), std::string(200, 's')) == "ok");
  // The same identity twice: already_exists; another subject or provider is another identity.
  const auto linked = fold({ev}, account());
  BOOST_TEST(outcome(u::decide(linked, link, me)) == refused(ErrorCode::already_exists, "subject"));
  BOOST_TEST(outcome(u::decide(linked, link, kAdmin)) == refused(ErrorCode::already_exists, "subject"));
  BOOST_TEST(outcome(u::decide(linked, u::LinkOAuth{kId, "google", "sub-2"}, me)) == "ok");
  BOOST_TEST(outcome(u::decide(linked, u::LinkOAuth{kId, "github", "sub-1"}, me)) == "ok");
}

BOOST_AUTO_TEST_CASE(staff_note_rules) {
  const auto note = [](const u::User& about, const std::string& id, const std::string& text, const u::Actor& a) {
    return u::decide_note(about, id, text, a);
  };
  for (const auto* a : {&kStaff, &kAdmin, &kOwner}) {
    const auto r = note(account(), "n1", "called about the invoice", *a);
    CHECK_MSG(outcome(r) == "ok", a->id);
    if (!r.ok()) continue;
    const auto* ev = std::get_if<u::NoteAdded>(&r.value());
    BOOST_REQUIRE(ev);
    BOOST_TEST(ev->user_id == kId);
    BOOST_TEST(ev->note_id == "n1");
    BOOST_TEST(ev->text == "called about the invoice");
  }
  // Users, anonymous callers and the person themself (as a user) write none.
  for (const auto* a : {&kUser, &kAnonymous})
    CHECK_MSG(outcome(note(account(), "n1", "x", *a)) == refused(ErrorCode::forbidden, "user_id"), a->id);
  BOOST_TEST(outcome(note(account(), "n1", "x", self_as(u::Role::user))) == refused(ErrorCode::forbidden, "user_id"));
  // About somebody who exists, deactivated or not.
  BOOST_TEST(outcome(note({}, "n1", "x", kStaff)) == refused(ErrorCode::not_found, "user_id"));
  BOOST_TEST(outcome(note(deactivated(), "n1", "x", kStaff)) == "ok");
  // Text 1 to 10000 bytes; a note id.
  BOOST_TEST(outcome(note(account(), "n1", "", kStaff)) == refused(ErrorCode::invalid_argument, "text"));
  BOOST_TEST(outcome(note(account(), "n1", std::string(10001, 't'), kStaff)) ==
             refused(ErrorCode::invalid_argument, "text"));
  BOOST_TEST(outcome(note(account(), "n1", std::string(10000, 't'), kStaff)) == "ok");
  BOOST_TEST(outcome(note(account(), "", "x", kStaff)) == refused(ErrorCode::invalid_argument, "note_id"));
  // A user is refused before anything is checked.
  BOOST_TEST(outcome(note({}, "", "", kUser)) == refused(ErrorCode::forbidden, "user_id"));
}

BOOST_AUTO_TEST_CASE(evolve_folds_every_event) {
  u::User s;
  BOOST_TEST(!s.exists);
  BOOST_TEST(s.version == 0);
  s = u::evolve(s, u::UserRegistered{kId, "ann@example.org", "Ann", "staff", "$h1"});
  BOOST_TEST(s.exists);
  BOOST_TEST(s.active);
  BOOST_TEST(s.user_id == kId);
  BOOST_TEST(s.email == "ann@example.org");
  BOOST_TEST(s.name == "Ann");
  BOOST_TEST(s.password_hash == "$h1");
  BOOST_TEST((s.role == u::Role::staff));
  BOOST_TEST(s.version == 1);
  s = u::evolve(s, u::UserProfileChanged{kId, "Ann B."});
  BOOST_TEST(s.name == "Ann B.");
  BOOST_TEST(s.email == "ann@example.org");
  s = u::evolve(s, u::UserEmailChanged{kId, "ann.b@example.org"});
  BOOST_TEST(s.email == "ann.b@example.org");
  BOOST_TEST(s.name == "Ann B.");
  s = u::evolve(s, u::UserPasswordChanged{kId, "$h2", "self"});
  BOOST_TEST(s.password_hash == "$h2");
  s = u::evolve(s, u::UserRoleChanged{kId, "admin", "staff"});
  BOOST_TEST((s.role == u::Role::admin));
  s = u::evolve(s, u::ApiKeyIssued{kId, "k1", "laptop", "lth_1", ""});
  s = u::evolve(s, u::ApiKeyIssued{kId, "k2", "ci", "lth_2", "2027-01-01T00:00:00Z"});
  BOOST_TEST(s.api_keys.size() == 2U);
  BOOST_TEST(!s.api_keys.at("k1"));
  BOOST_TEST(!s.api_keys.at("k2"));
  s = u::evolve(s, u::ApiKeyRevoked{kId, "k1"});
  BOOST_TEST(s.api_keys.at("k1"));
  BOOST_TEST(!s.api_keys.at("k2"));
  s = u::evolve(s, u::OAuthLinked{kId, "google", "sub-1"});
  s = u::evolve(s, u::OAuthLinked{kId, "github", "sub-1"});
  BOOST_TEST(s.oauth.size() == 2U);
  BOOST_TEST(s.oauth.contains({"google", "sub-1"}));
  BOOST_TEST(s.oauth.contains({"github", "sub-1"}));
  s = u::evolve(s, u::UserDeactivated{kId});
  BOOST_TEST(!s.active);
  BOOST_TEST(s.exists);
  s = u::evolve(s, u::UserRestored{kId});
  BOOST_TEST(s.active);
  BOOST_TEST(s.version == 12);
  // Events of the person's other streams change nothing but the count.
  const auto before = s;
  for (const u::Event& e :
       {u::Event{u::NoteAdded{kId, "n1", "text"}}, u::Event{u::LoggedIn{kId, "s1", "2027-01-01T00:00:00Z"}},
        u::Event{u::LoggedOut{kId, "s1"}}, u::Event{u::LoginFailed{kId, "wrong_password"}}}) {
    s = u::evolve(s, e);
    BOOST_TEST(s.active == before.active);
    BOOST_TEST(s.email == before.email);
    BOOST_TEST(s.name == before.name);
    BOOST_TEST(s.password_hash == before.password_hash);
    BOOST_TEST((s.role == before.role));
    BOOST_TEST((s.api_keys == before.api_keys));
    BOOST_TEST((s.oauth == before.oauth));
  }
  BOOST_TEST(s.version == 16);
  // An unknown role folds as user on registration and leaves the role on change.
  BOOST_TEST((u::evolve({}, u::UserRegistered{kId, "a@b.org", "A", "root", ""}).role == u::Role::user));
  BOOST_TEST((u::evolve(account(u::Role::staff), u::UserRoleChanged{kId, "root", "staff"}).role == u::Role::staff));
  // Every event type folds and counts one; evolve leaves its input alone.
  int folded = 0;
  for_each_alternative<u::Event>([&]<class E>(std::in_place_type_t<E>) {
    const auto start = account();
    const auto next = u::evolve(start, E{});
    CHECK_MSG(next.version == start.version + 1, str(E::kType));
    BOOST_TEST(start.version == 1);
    ++folded;
  });
  BOOST_TEST(folded == static_cast<int>(std::variant_size_v<u::Event>));
}

BOOST_AUTO_TEST_CASE(payload_codec_round_trips_every_event_type) {
  int checked = 0;
  for_each_alternative<u::Event>([&]<class E>(std::in_place_type_t<E>) {
    BOOST_TEST_CONTEXT(str(E::kType)) {
      // Every field set, to a value that needs escaping.
      E ev{};
      for (const auto& f : E::fields())
        set_field(ev, f, std::string(f.name) + " \"q\" \xc3\xa9 \\ / \t\n<" + std::string(E::kType) + ">");
      const u::Event e{ev};
      BOOST_TEST(str(u::type_of(e)) == str(E::kType));
      BOOST_TEST(u::version_of(e) == E::kVersion);
      BOOST_TEST(E::kVersion == 1);
      BOOST_TEST(u::user_id_of(e) == ev.user_id);
      const auto json = u::encode_payload(e);
      for (const auto& f : E::fields())
        CHECK_MSG(json.find('"' + std::string(f.name) + "\":") != std::string::npos, f.name);
      const auto back = u::decode_payload(E::kType, E::kVersion, json);
      BOOST_TEST_REQUIRE(outcome(back) == "ok");
      BOOST_TEST_REQUIRE(std::holds_alternative<E>(back.value()));
      for (const auto& f : E::fields())
        CHECK_MSG(field_text(std::get<E>(back.value()), f) == field_text(ev, f), f.name);
      BOOST_TEST(u::encode_payload(back.value()) == json);

      // Every field empty: required ones are written as "", optional ones left out; both decode back.
      const E blank{};
      const auto blank_json = u::encode_payload(u::Event{blank});
      for (const auto& f : E::fields())
        CHECK_MSG((blank_json.find('"' + std::string(f.name) + "\":") == std::string::npos) == f.optional, f.name);
      const auto blank_back = u::decode_payload(E::kType, E::kVersion, blank_json);
      BOOST_TEST_REQUIRE(outcome(blank_back) == "ok");
      for (const auto& f : E::fields())
        if (kind_of(f) == Kind::text) CHECK_MSG(field_text(std::get<E>(blank_back.value()), f).empty(), f.name);
      ++checked;
    }
  });
  BOOST_TEST(checked == static_cast<int>(std::variant_size_v<u::Event>));
}

BOOST_AUTO_TEST_CASE(payload_decoding_refuses_unknown_types_versions_and_missing_fields) {
  // Unknown type or schema version: an error naming "type".
  BOOST_TEST(outcome(u::decode_payload("user.exploded", 1, "{}")) == refused(ErrorCode::invalid_argument, "type"));
  BOOST_TEST(outcome(u::decode_payload("", 1, "{}")) == refused(ErrorCode::invalid_argument, "type"));
  BOOST_TEST(outcome(u::decode_payload("order.placed", 1, "{}")) == refused(ErrorCode::invalid_argument, "type"));
  for_each_alternative<u::Event>([&]<class E>(std::in_place_type_t<E>) {
    BOOST_TEST_CONTEXT(str(E::kType)) {
      const auto full = payload_of<E>("");
      BOOST_TEST(outcome(u::decode_payload(E::kType, E::kVersion, full)) == "ok");
      for (const int v : {E::kVersion + 1, 0, -1, 99})
        CHECK_MSG(outcome(u::decode_payload(E::kType, v, full)) == refused(ErrorCode::invalid_argument, "type"), v);
      // A missing required field is named; an optional one may be absent.
      for (const auto& f : E::fields()) {
        const auto r = u::decode_payload(E::kType, E::kVersion, payload_of<E>(f.name));
        CHECK_MSG(outcome(r) == (f.optional ? std::string("ok") : refused(ErrorCode::invalid_argument, f.name)),
                  "without " << f.name);
      }
      // A field of the wrong kind (a number for a string) is named too.
      for (const auto& f : E::fields()) {
        const auto wrong = json_of_wrong_kind(f);
        if (!wrong) continue;
        std::string json = "{";
        for (const auto& g : E::fields()) {
          if (json.size() > 1) json += ',';
          json += '"' + std::string(g.name) + "\":" + (g.name == f.name ? *wrong : json_of_kind(g));
        }
        json += '}';
        CHECK_MSG(
            outcome(u::decode_payload(E::kType, E::kVersion, json)) == refused(ErrorCode::invalid_argument, f.name),
            "number in " << f.name);
      }
    }
  });
  // The optional fields by name.
  BOOST_TEST(outcome(u::decode_payload("user.registered", 1,
                                       R"({"user_id":"1","email":"a@b.org","name":"A","role":"user"})")) == "ok");
  BOOST_TEST(outcome(u::decode_payload("user.api_key_issued", 1,
                                       R"({"user_id":"1","key_id":"k","name":"n","prefix":"p"})")) == "ok");
  BOOST_TEST(outcome(u::decode_payload("user.login_failed", 1, R"({"reason":"unknown_email"})")) == "ok");
  BOOST_TEST(outcome(u::decode_payload("user.registered", 1, R"({"user_id":"1"})")) ==
             refused(ErrorCode::invalid_argument, "email"));
  BOOST_TEST(outcome(u::decode_payload("user.login_failed", 1, R"({"user_id":"1"})")) ==
             refused(ErrorCode::invalid_argument, "reason"));
  // Not a JSON object; a NUL character.
  BOOST_TEST(outcome(u::decode_payload("user.deactivated", 1, "not json")) == refused(ErrorCode::invalid_argument, ""));
  BOOST_TEST(outcome(u::decode_payload("user.deactivated", 1, R"(["user_id"])")) ==
             refused(ErrorCode::invalid_argument, ""));
  BOOST_TEST(outcome(u::decode_payload("user.deactivated", 1, R"({"user_id":"a\u0000b"})")) ==
             refused(ErrorCode::invalid_argument, "user_id"));
}

BOOST_AUTO_TEST_CASE(payload_decoding_opens_an_erased_personal_field_as_erased) {
  // A personal field whose person was erased opens as null and decodes to erased().
  const auto reg = u::decode_payload("user.registered", 1, payload_of<u::UserRegistered>("", "email"));
  BOOST_TEST_REQUIRE(outcome(reg) == "ok");
  BOOST_TEST(std::get<u::UserRegistered>(reg.value()).email == d::erased());
  BOOST_TEST(std::get<u::UserRegistered>(reg.value()).name == "v");
  const auto note = u::decode_payload("user.note_added", 1, payload_of<u::NoteAdded>("", "text"));
  BOOST_TEST_REQUIRE(outcome(note) == "ok");
  BOOST_TEST(d::is_erased(std::get<u::NoteAdded>(note.value()).text));
  // A field that is not personal may not be null.
  BOOST_TEST(outcome(u::decode_payload("user.registered", 1, payload_of<u::UserRegistered>("", "role"))) ==
             refused(ErrorCode::invalid_argument, "role"));
  BOOST_TEST(outcome(u::decode_payload("user.registered", 1, payload_of<u::UserRegistered>("", "user_id"))) ==
             refused(ErrorCode::invalid_argument, "user_id"));
}

BOOST_AUTO_TEST_CASE(every_event_type_is_registered_with_its_topic) {
  const auto& spec = u::spec();
  BOOST_TEST(str(spec.name) == "users");
  BOOST_TEST((std::find(spec.projections.begin(), spec.projections.end(), "users") != spec.projections.end()));
  BOOST_TEST((std::find(d::domains().begin(), d::domains().end(), &spec) != d::domains().end()));
  const auto types = u::event_types();
  BOOST_TEST(types.size() == std::variant_size_v<u::Event>);
  BOOST_TEST(spec.events.size() == std::variant_size_v<u::Event>);
  for_each_alternative<u::Event>([&]<class E>(std::in_place_type_t<E>) {
    BOOST_TEST_CONTEXT(str(E::kType)) {
      BOOST_TEST(std::count(types.begin(), types.end(), E::kType) == 1);
      const auto n = std::count_if(spec.events.begin(), spec.events.end(), [](const d::EventTypeSpec& t) {
        return t.type == E::kType && t.schema_version == E::kVersion;
      });
      BOOST_TEST(n == 1);
      const std::string topic =
          std::is_same_v<E, u::NoteAdded> || std::is_same_v<E, u::KeyReleased> ? "staff" : "users";
      const auto* registered = d::find_event_type(E::kType, E::kVersion);
      BOOST_TEST_REQUIRE(registered);
      BOOST_TEST(str(registered->topic) == topic);
      BOOST_TEST(d::topic_of(E::kType) == topic);
    }
  });
  BOOST_TEST(d::topic_of("user.note_added") == "staff");
  BOOST_TEST(d::topic_of("user.registered") == "users");
  BOOST_TEST(d::topic_of("user.exploded") == "");
}

BOOST_AUTO_TEST_CASE(domain_errors_render_as_json_naming_the_field) {
  const d::DomainError e{ErrorCode::invalid_argument, "name", "name \"x\" is bad"};
  BOOST_TEST(d::encode_error(e) == R"({"error":"invalid_argument","field":"name","message":"name \"x\" is bad"})");
}

// Entitlements: an owner's, on a service account, each a topic events go
// to, kept sorted and once; the same set again changes nothing.
BOOST_AUTO_TEST_CASE(an_owner_entitles_a_service_to_topics) {
  const auto service = account(u::Role::service);
  const auto set = only<u::EntitlementsSet>(
      ACCEPTED(u::decide(service, u::SetEntitlements{kId, {"users", "shop", "users"}}, kOwner)));
  BOOST_TEST(set.topics.text == R"(["shop","users"])");
  const auto entitled = fold({set}, service);
  BOOST_TEST((entitled.entitlements == std::set<std::string>{"shop", "users"}));
  BOOST_TEST(outcome(u::decide(entitled, u::SetEntitlements{kId, {"shop", "users"}}, kOwner)) ==
             refused(ErrorCode::no_change, "topics"));
  BOOST_TEST(outcome(u::decide(service, u::SetEntitlements{kId, {"users"}}, kAdmin)) ==
             refused(ErrorCode::forbidden, "topics"));
  BOOST_TEST(outcome(u::decide(account(), u::SetEntitlements{kId, {"users"}}, kOwner)) ==
             refused(ErrorCode::rule_violated, "user_id"));
  BOOST_TEST(outcome(u::decide(service, u::SetEntitlements{kId, {"dead-letters"}}, kOwner)) ==
             refused(ErrorCode::rule_violated, "topics"));
  BOOST_TEST(outcome(u::decide(service, u::SetEntitlements{kId, {"users", ""}}, kOwner)) ==
             refused(ErrorCode::rule_violated, "topics"));
  // None at all: taken away.
  const auto none = only<u::EntitlementsSet>(ACCEPTED(u::decide(entitled, u::SetEntitlements{kId, {}}, kOwner)));
  BOOST_TEST(none.topics.text == "[]");
  BOOST_TEST(fold({none}, entitled).entitlements.empty());
  // Entitlements go with the role: back as a service, it has none.
  const auto demoted = fold({u::UserRoleChanged{kId, "user", "service"}}, entitled);
  BOOST_TEST(demoted.entitlements.empty());
  BOOST_TEST(fold({u::UserRoleChanged{kId, "service", "user"}}, demoted).entitlements.empty());
  // A key domain's secret lives under "~domain:...": no account takes such an id.
  BOOST_TEST(outcome(u::decide(u::User{}, u::RegisterUser{"~domain:staff", "s@example.org", "S", "user", ""},
                               kOwner)) == refused(ErrorCode::invalid_argument, "user_id"));
  // Only an owner makes or manages a service account.
  BOOST_TEST(outcome(u::decide(u::User{}, u::RegisterUser{"s", "s@example.org", "S", "service", ""}, kAdmin)) ==
             refused(ErrorCode::forbidden, "role"));
  BOOST_TEST(outcome(u::decide(service, u::Deactivate{kId}, kAdmin)) == refused(ErrorCode::forbidden, "user_id"));
}

// A key is released to an active service, for a topic it is entitled to.
BOOST_AUTO_TEST_CASE(a_key_is_released_only_to_an_entitled_active_service) {
  const auto service = fold({only<u::EntitlementsSet>(ACCEPTED(
                                u::decide(account(u::Role::service), u::SetEntitlements{kId, {"users"}}, kOwner)))},
                            account(u::Role::service));
  const auto released = u::decide_key_release(service, "ann", "users", 2);
  BOOST_REQUIRE(released.ok());
  const auto& e = std::get<u::KeyReleased>(released.value());
  BOOST_TEST(e.user_id == "ann");
  BOOST_TEST(e.service_id == kId);
  BOOST_TEST(e.topic == "users");
  BOOST_TEST(e.key_id == 2);
  BOOST_TEST(outcome(u::decide_key_release(service, "ann", "staff", 1)) == refused(ErrorCode::forbidden, "topic"));
  BOOST_TEST(outcome(u::decide_key_release(fold({u::UserDeactivated{kId}}, service), "ann", "users", 1)) ==
             refused(ErrorCode::forbidden, "authorization"));
  for (const auto r : kRoles)
    BOOST_TEST(outcome(u::decide_key_release(account(r), "ann", "users", 1)) ==
               refused(ErrorCode::forbidden, "authorization"));
}
