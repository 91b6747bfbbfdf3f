#include "lethe/domain/users.hpp"

#include <algorithm>

#include "json_util.hpp"
#include "lethe/domain/personal.hpp"
#include "personal_doc.hpp"

namespace lethe::domain::users {

namespace {

constexpr std::size_t kMaxName = 200;
constexpr std::size_t kMaxEmail = 254;  // RFC 5321 path limit

// Deliberately simple: one '@', something before, a dot after, no spaces.
// Real verification is the confirmation mail, not a regular expression.
bool plausible_email(std::string_view s) {
  const auto at = s.find('@');
  if (at == std::string_view::npos || at == 0 || s.find('@', at + 1) != std::string_view::npos) return false;
  const auto domain = s.substr(at + 1);
  const auto dot = domain.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == domain.size()) return false;
  return std::none_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\n'; });
}

std::optional<DomainError> check_name(std::string_view name) {
  if (name.empty()) return invalid("name", "name must not be empty");
  if (name.size() > kMaxName) return invalid("name", "name must be at most 200 bytes");
  return std::nullopt;
}

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};

Result<std::vector<Event>> one(Event e) {
  return std::vector<Event>{std::move(e)};
}

}  // namespace

std::string_view to_string(Role r) noexcept {
  switch (r) {
    case Role::owner:
      return "owner";
    case Role::admin:
      return "admin";
    case Role::staff:
      return "staff";
    case Role::user:
      return "user";
  }
  return "user";
}

std::optional<Role> parse_role(std::string_view s) noexcept {
  for (Role r : {Role::owner, Role::admin, Role::staff, Role::user})
    if (to_string(r) == s) return r;
  return std::nullopt;
}

const std::vector<std::string_view>& event_types() {
  static const std::vector<std::string_view> all{UserRegistered::kType, UserProfileChanged::kType,
                                                 UserRoleChanged::kType};
  return all;
}

namespace {

bool is_admin_or_owner(const Actor& a) {
  return a.role == Role::owner || a.role == Role::admin;
}

// Owner and admin are granted and removed by owners only; staff by admins
// and owners; user by anyone who may act at all.
bool may_grant(const Actor& a, Role role) {
  switch (role) {
    case Role::owner:
    case Role::admin:
      return a.role == Role::owner;
    case Role::staff:
      return is_admin_or_owner(a);
    case Role::user:
      return true;
  }
  return false;
}

DomainError forbidden(std::string field, std::string message) {
  return {ErrorCode::forbidden, std::move(field), std::move(message)};
}

}  // namespace

Result<std::vector<Event>> decide(const User& state, const Command& command, const Actor& actor) {
  return std::visit(overloaded{
                        [&](const RegisterUser& c) -> Result<std::vector<Event>> {
                          if (c.user_id.empty()) return invalid("user_id", "user_id must not be empty");
                          if (state.exists)
                            return DomainError{ErrorCode::already_exists, "user_id", "user already registered"};
                          if (c.email.size() > kMaxEmail || !plausible_email(c.email))
                            return invalid("email", "email must look like name@example.org");
                          if (auto err = check_name(c.name)) return *err;
                          const auto role = parse_role(c.role);
                          if (!role) return invalid("role", "role must be one of owner, admin, staff, user");
                          if (!may_grant(actor, *role))
                            return forbidden("role", "registering a " + c.role + " needs " +
                                                         (*role == Role::staff ? "an admin or owner" : "an owner"));
                          return one(UserRegistered{c.user_id, c.email, c.name, c.role});
                        },
                        [&](const ChangeProfile& c) -> Result<std::vector<Event>> {
                          if (!state.exists) return DomainError{ErrorCode::not_found, "user_id", "no such user"};
                          if (actor.id != state.user_id && !is_admin_or_owner(actor))
                            return forbidden("user_id",
                                             "only the user themself, an admin or an owner may change a profile");
                          if (auto err = check_name(c.name)) return *err;
                          if (c.name == state.name)
                            return DomainError{ErrorCode::no_change, "name", "name is unchanged"};
                          return one(UserProfileChanged{state.user_id, c.name});
                        },
                        [&](const ChangeRole& c) -> Result<std::vector<Event>> {
                          if (!state.exists) return DomainError{ErrorCode::not_found, "user_id", "no such user"};
                          const auto role = parse_role(c.role);
                          if (!role) return invalid("role", "role must be one of owner, admin, staff, user");
                          if (!is_admin_or_owner(actor))
                            return forbidden("role", "only an admin or owner may change roles");
                          if (actor.id == state.user_id) return forbidden("user_id", "nobody changes their own role");
                          // Only an owner may make or unmake owners and admins.
                          if (!may_grant(actor, *role) || !may_grant(actor, state.role))
                            return forbidden("role", "only an owner may grant or revoke owner and admin");
                          if (*role == state.role)
                            return DomainError{ErrorCode::no_change, "role", "role is unchanged"};
                          return one(UserRoleChanged{state.user_id, c.role, std::string(to_string(state.role))});
                        },
                    },
                    command);
}

User evolve(User s, const Event& event) {
  std::visit(overloaded{
                 [&](const UserRegistered& e) {
                   s.exists = true;
                   s.user_id = e.user_id;
                   s.email = e.email;
                   s.name = e.name;
                   s.role = parse_role(e.role).value_or(Role::user);
                 },
                 [&](const UserProfileChanged& e) { s.name = e.name; },
                 [&](const UserRoleChanged& e) { s.role = parse_role(e.role).value_or(s.role); },
             },
             event);
  ++s.version;
  return s;
}

std::string_view type_of(const Event& e) noexcept {
  return std::visit([](const auto& ev) { return std::decay_t<decltype(ev)>::kType; }, e);
}

int version_of(const Event& e) noexcept {
  return std::visit([](const auto& ev) { return std::decay_t<decltype(ev)>::kVersion; }, e);
}

std::string user_id_of(const Event& e) {
  return std::visit([](const auto& ev) { return ev.user_id; }, e);
}

std::string encode_payload(const Event& e) {
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  w.StartObject();
  std::visit(overloaded{
                 [&](const UserRegistered& ev) {
                   json::field(w, "user_id", ev.user_id);
                   json::field(w, "email", ev.email);
                   json::field(w, "name", ev.name);
                   json::field(w, "role", ev.role);
                 },
                 [&](const UserProfileChanged& ev) {
                   json::field(w, "user_id", ev.user_id);
                   json::field(w, "name", ev.name);
                 },
                 [&](const UserRoleChanged& ev) {
                   json::field(w, "user_id", ev.user_id);
                   json::field(w, "role", ev.role);
                   json::field(w, "previous_role", ev.previous_role);
                 },
             },
             e);
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

namespace {

Result<Event> decode_doc(std::string_view type, const rapidjson::Value& doc) {
  // Reads the named string fields in order, or returns the first error.
  // A personal field whose person was erased opens as null: it decodes to
  // erased(), so that the event still folds.
  const auto personal = personal_fields(type, 1);
  auto read = [&](std::initializer_list<const char*> names) -> Result<std::vector<std::string>> {
    std::vector<std::string> out;
    for (const char* n : names) {
      const auto it = doc.FindMember(n);
      if (it != doc.MemberEnd() && it->value.IsNull() &&
          std::any_of(personal.begin(), personal.end(), [&](const auto& f) { return f.field == n; })) {
        out.push_back(erased());
        continue;
      }
      auto r = json::string_member(doc, n);
      if (!r) return r.error();
      out.push_back(std::move(r).value());
    }
    return out;
  };
  if (type == UserRegistered::kType) {
    auto f = read({"user_id", "email", "name", "role"});
    if (!f) return f.error();
    auto& v = f.value();
    return Event{UserRegistered{v[0], v[1], v[2], v[3]}};
  }
  if (type == UserProfileChanged::kType) {
    auto f = read({"user_id", "name"});
    if (!f) return f.error();
    auto& v = f.value();
    return Event{UserProfileChanged{v[0], v[1]}};
  }
  if (type == UserRoleChanged::kType) {
    auto f = read({"user_id", "role", "previous_role"});
    if (!f) return f.error();
    auto& v = f.value();
    return Event{UserRoleChanged{v[0], v[1], v[2]}};
  }
  return invalid("type", "unknown user event type '" + std::string(type) + "'");
}

}  // namespace

Result<Event> decode_payload(std::string_view type, std::string_view payload_json) {
  rapidjson::Document doc;
  std::string buffer;
  if (auto err = json::parse_object(doc, payload_json, buffer)) return *err;
  return decode_doc(type, doc);
}

std::vector<Result<Event>> decode_sealed(const std::vector<SealedPayload>& items, const KeyLoader& load) {
  std::vector<std::optional<Result<Event>>> decoded(items.size());
  const auto errors = open_documents(
      items, load, [&](std::size_t i, rapidjson::Document& doc, bool) { decoded[i] = decode_doc(items[i].type, doc); },
      true);
  std::vector<Result<Event>> out;
  out.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i)
    out.push_back(errors[i] ? Result<Event>(*errors[i]) : std::move(*decoded[i]));
  return out;
}

}  // namespace lethe::domain::users
