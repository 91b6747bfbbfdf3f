#include "users.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <cctype>

#include "checks.hpp"
#include "codec.hpp"
#include "lethe/domain/personal.hpp"
#include "personal_doc.hpp"

namespace lethe::domain::users {

namespace {

constexpr std::size_t kMaxName = 200;
constexpr std::size_t kMaxEmail = 254;  // RFC 5321 path limit
constexpr std::size_t kMaxKeyName = 100;
constexpr std::size_t kMaxNote = 10000;
constexpr std::size_t kMaxOAuthField = 200;

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};

// Deliberately simple: one '@', something before, a dot after, no spaces.
// Real verification is the confirmation mail, not a regular expression.
bool plausible_email(std::string_view s) {
  const auto at = s.find('@');
  if (at == std::string_view::npos || at == 0 || s.find('@', at + 1) != std::string_view::npos) return false;
  const auto domain = s.substr(at + 1);
  const auto dot = domain.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == domain.size()) return false;
  return std::none_of(s.begin(), s.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}

std::optional<DomainError> check_email(std::string_view email) {
  if (checks::characters(email) > kMaxEmail || !plausible_email(email))
    return invalid("email", "email must look like name@example.org");
  return std::nullopt;
}

std::string joined(const std::vector<std::string_view>& names) {
  std::string out;
  for (const auto n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

// The names in a JSON array of strings, as EntitlementsSet writes it.
std::set<std::string> topics_in(const Json& array) {
  std::set<std::string> out;
  rapidjson::Document doc;
  doc.Parse(array.text.c_str(), array.text.size());
  if (!doc.IsArray()) return out;
  for (const auto& v : doc.GetArray())
    if (v.IsString()) out.emplace(v.GetString(), v.GetStringLength());
  return out;
}

Result<std::vector<Event>> one(Event e) {
  return std::vector<Event>{std::move(e)};
}

DomainError forbidden(std::string field, std::string message) {
  return {ErrorCode::forbidden, std::move(field), std::move(message)};
}
DomainError conflict(std::string field, std::string message) {
  return {ErrorCode::conflict, std::move(field), std::move(message)};
}
DomainError rule(std::string field, std::string message) {
  return {ErrorCode::rule_violated, std::move(field), std::move(message)};
}

bool is_admin_or_owner(const Actor& a) {
  return a.role == Role::owner || a.role == Role::admin;
}
bool is_staff_or_above(const Actor& a) {
  return a.role == Role::staff || is_admin_or_owner(a);
}

// Owner, admin and auditor (who reads everything) are granted and removed
// (and their accounts managed) by owners only; staff and user by admins and
// owners.
bool may_manage(const Actor& a, Role role) {
  return role == Role::owner || role == Role::admin || role == Role::auditor || role == Role::service
             ? a.role == Role::owner
             : is_admin_or_owner(a);
}
bool may_grant(const Actor& a, Role role) {
  return role == Role::user || may_manage(a, role);
}

constexpr auto kEventTypes = codec::event_specs<Event>("users");
constexpr std::string_view kProjections[] = {"users"};
constexpr TopicSpec kTopics[] = {{"users", 3, "user.* events: registered, profile changed, role changed"}};

}  // namespace

const DomainSpec& spec() {
  static const DomainSpec s{"users", kEventTypes, kProjections, kTopics};
  return s;
}

std::vector<std::string_view> event_types() {
  return type_names(spec());
}

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
    case Role::auditor:
      return "auditor";
    case Role::service:
      return "service";
  }
  return "user";
}

std::optional<Role> parse_role(std::string_view s) noexcept {
  for (Role r : {Role::owner, Role::admin, Role::staff, Role::user, Role::auditor, Role::service})
    if (to_string(r) == s) return r;
  return std::nullopt;
}

std::string_view role_names() noexcept {
  return "owner, admin, staff, user, auditor, service";
}

std::string normalize_email(std::string_view email) {
  auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!email.empty() && is_space(email.front())) email.remove_prefix(1);
  while (!email.empty() && is_space(email.back())) email.remove_suffix(1);
  std::string out(email);
  const auto at = out.rfind('@');
  if (at != std::string::npos)
    std::transform(out.begin() + static_cast<std::ptrdiff_t>(at), out.end(),
                   out.begin() + static_cast<std::ptrdiff_t>(at),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::optional<DomainError> check_password(std::string_view field, std::string_view password) {
  if (checks::characters(password) < kMinPassword)
    return invalid(std::string(field), "password must be at least " + std::to_string(kMinPassword) + " characters");
  if (checks::characters(password) > kMaxPassword)
    return invalid(std::string(field), "password must be at most " + std::to_string(kMaxPassword) + " characters");
  return std::nullopt;
}

Result<std::vector<Event>> decide(const User& state, const Command& command, const Actor& actor, const Facts& facts) {
  const bool self = state.exists && actor.id == state.user_id;
  // Every command but register needs the account; every one but restore
  // needs it active.
  if (!std::holds_alternative<RegisterUser>(command)) {
    if (!state.exists) return DomainError{ErrorCode::not_found, "user_id", "no such user"};
    if (!state.active && !std::holds_alternative<Restore>(command))
      return conflict("user_id", "the account is deactivated");
  }
  const bool last_owner = state.role == Role::owner && facts.active_owners <= 1;
  return std::visit(
      overloaded{
          [&](const RegisterUser& c) -> Result<std::vector<Event>> {
            if (c.user_id.empty()) return invalid("user_id", "user_id must not be empty");
            // The actors that are not people: a person with such an id
            // would act, and be audited, as one of them.
            if (c.user_id == "anonymous" || c.user_id == "system" || c.user_id.starts_with("system:"))
              return invalid("user_id", "anonymous, system and system:... name the server's own actors");
            // The keyring's own subjects (a key domain's secret) start with '~'.
            if (c.user_id.starts_with('~')) return invalid("user_id", "a user id must not start with ~");
            if (state.exists) return DomainError{ErrorCode::already_exists, "user_id", "user already registered"};
            const auto email = normalize_email(c.email);
            if (auto err = check_email(email)) return *err;
            if (auto err = checks::text("name", c.name, kMaxName)) return *err;
            const auto role = parse_role(c.role);
            if (!role) return invalid("role", "role must be one of " + std::string(role_names()));
            if (!may_grant(actor, *role))
              return forbidden("role", "registering with the role " + c.role + " needs " +
                                           (*role == Role::staff ? "an admin or owner" : "an owner"));
            return one(UserRegistered{c.user_id, email, c.name, c.role, c.password_hash});
          },
          [&](const ChangeProfile& c) -> Result<std::vector<Event>> {
            if (!self && !may_manage(actor, state.role))
              return forbidden("user_id",
                               "only the user themself, or an admin or owner who manages their role, "
                               "may change a profile");
            std::vector<Event> out;
            if (c.name) {
              if (auto err = checks::text("name", *c.name, kMaxName)) return *err;
              if (*c.name != state.name) out.push_back(UserProfileChanged{state.user_id, *c.name});
            }
            if (c.email) {
              const auto email = normalize_email(*c.email);
              if (auto err = check_email(email)) return *err;
              if (email != state.email) out.push_back(UserEmailChanged{state.user_id, email});
            }
            if (!c.name && !c.email) return invalid("", "give a name, an email or both");
            if (out.empty())
              return DomainError{ErrorCode::no_change, c.name ? "name" : "email", "the profile is unchanged"};
            return out;
          },
          [&](const ChangePassword& c) -> Result<std::vector<Event>> {
            if (c.password_hash.empty()) return invalid("new_password", "a new password is required");
            if (self) {
              if (!c.current_password_verified)
                return forbidden("current_password", "changing your own password needs the current one");
              return one(UserPasswordChanged{state.user_id, c.password_hash, "self"});
            }
            if (!may_manage(actor, state.role))
              return forbidden("user_id",
                               "only the user themself, or an admin or owner who manages their role, "
                               "may set a password");
            return one(UserPasswordChanged{state.user_id, c.password_hash, "admin"});
          },
          [&](const ChangeRole& c) -> Result<std::vector<Event>> {
            const auto role = parse_role(c.role);
            if (!role) return invalid("role", "role must be one of " + std::string(role_names()));
            if (!is_admin_or_owner(actor)) return forbidden("role", "only an admin or owner may change roles");
            if (self) return forbidden("user_id", "nobody changes their own role");
            if (!may_grant(actor, *role) || !may_manage(actor, state.role))
              return forbidden("role", "only an owner may grant or revoke owner and admin");
            if (*role == state.role) return DomainError{ErrorCode::no_change, "role", "role is unchanged"};
            if (last_owner) return rule("role", "the last owner keeps the owner role");
            return one(UserRoleChanged{state.user_id, c.role, std::string(to_string(state.role))});
          },
          [&](const Deactivate&) -> Result<std::vector<Event>> {
            if (!is_admin_or_owner(actor)) return forbidden("user_id", "only an admin or owner may deactivate");
            if (self) return forbidden("user_id", "nobody deactivates themselves");
            if (!may_manage(actor, state.role))
              return forbidden("user_id", "only an owner may deactivate an owner or admin");
            if (last_owner) return rule("user_id", "the last owner cannot be deactivated");
            return one(UserDeactivated{state.user_id});
          },
          [&](const Restore&) -> Result<std::vector<Event>> {
            if (!is_admin_or_owner(actor)) return forbidden("user_id", "only an admin or owner may restore");
            if (!may_manage(actor, state.role))
              return forbidden("user_id", "only an owner may restore an owner or admin");
            if (state.active) return conflict("user_id", "the account is active");
            return one(UserRestored{state.user_id});
          },
          [&](const IssueApiKey& c) -> Result<std::vector<Event>> {
            if (!self && actor.role != Role::owner)
              return forbidden("user_id", "API keys are issued to the user themself (or by an owner)");
            if (auto err = checks::text("name", c.name, kMaxKeyName)) return *err;
            if (c.key_id.empty()) return invalid("key_id", "a key needs an id");
            if (c.prefix.empty()) return invalid("prefix", "a key needs a prefix");
            if (state.api_keys.contains(c.key_id))
              return DomainError{ErrorCode::already_exists, "key_id", "key id already used"};
            return one(ApiKeyIssued{state.user_id, c.key_id, c.name, c.prefix, c.expires_at});
          },
          [&](const RevokeApiKey& c) -> Result<std::vector<Event>> {
            if (!self && !may_manage(actor, state.role))
              return forbidden("user_id", "only the user themself, an admin or an owner may revoke a key");
            const auto it = state.api_keys.find(c.key_id);
            if (it == state.api_keys.end()) return DomainError{ErrorCode::not_found, "key_id", "no such key"};
            if (it->second) return conflict("key_id", "the key is revoked already");
            return one(ApiKeyRevoked{state.user_id, c.key_id});
          },
          [&](const SetEntitlements& c) -> Result<std::vector<Event>> {
            if (actor.role != Role::owner) return forbidden("topics", "only an owner sets a service's entitlements");
            if (state.role != Role::service)
              return rule("user_id", "entitlements belong to service accounts; this account's role is " +
                                         std::string(to_string(state.role)));
            const auto known = event_topics();
            std::set<std::string> topics;
            for (const auto& t : c.topics) {
              if (std::find(known.begin(), known.end(), t) == known.end())
                return rule("topics", "topics must name topics events go to (" + joined(known) + ")");
              topics.insert(t);
            }
            if (topics == state.entitlements)
              return DomainError{ErrorCode::no_change, "topics", "the entitlements are unchanged"};
            std::string array = "[";
            for (const auto& t : topics) array += (array.size() > 1 ? ",\"" : "\"") + t + "\"";
            return one(EntitlementsSet{state.user_id, Json{array + "]"}});
          },
          [&](const LinkOAuth& c) -> Result<std::vector<Event>> {
            // An identity is a way in: only the user, or whoever manages
            // their role, links one.
            if (!self && !may_manage(actor, state.role))
              return forbidden("user_id",
                               "only the user themself, or an admin or owner who manages their role, "
                               "may link an identity");
            if (auto err = checks::text("provider", c.provider, kMaxOAuthField)) return *err;
            if (auto err = checks::text("subject", c.subject, kMaxOAuthField)) return *err;
            if (state.oauth.contains({c.provider, c.subject}))
              return DomainError{ErrorCode::already_exists, "subject", "this identity is linked already"};
            return one(OAuthLinked{state.user_id, c.provider, c.subject});
          },
      },
      command);
}

Result<Event> decide_key_release(const User& service, const std::string& person_id, const std::string& topic,
                                 std::int64_t key_id) {
  if (!service.exists || !service.active || service.role != Role::service)
    return forbidden("authorization", "keys are released to active service accounts only");
  if (!service.entitlements.contains(topic))
    return forbidden("topic", "this service is not entitled to the topic " + topic);
  if (person_id.empty()) return invalid("user_id", "user_id must not be empty");
  return Event{KeyReleased{person_id, service.user_id, topic, key_id}};
}

Result<Event> decide_note(const User& about, const std::string& note_id, const std::string& text, const Actor& actor) {
  if (!is_staff_or_above(actor)) return forbidden("user_id", "only staff, admins and owners write notes");
  if (!about.exists) return DomainError{ErrorCode::not_found, "user_id", "no such user"};
  if (auto err = checks::text("text", text, kMaxNote)) return *err;
  if (note_id.empty()) return invalid("note_id", "note_id must not be empty");
  return Event{NoteAdded{about.user_id, note_id, text}};
}

User evolve(User s, const Event& event) {
  std::visit(overloaded{
                 [&](const UserRegistered& e) {
                   s.exists = true;
                   s.active = true;
                   s.user_id = e.user_id;
                   s.email = e.email;
                   s.name = e.name;
                   s.password_hash = e.password_hash;
                   s.role = parse_role(e.role).value_or(Role::user);
                 },
                 [&](const UserProfileChanged& e) { s.name = e.name; },
                 [&](const UserEmailChanged& e) { s.email = e.email; },
                 [&](const UserPasswordChanged& e) { s.password_hash = e.password_hash; },
                 [&](const UserRoleChanged& e) {
                   s.role = parse_role(e.role).value_or(s.role);
                   // Entitlements belong to a service account: gone with the role.
                   if (s.role != Role::service) s.entitlements.clear();
                 },
                 [&](const UserDeactivated&) { s.active = false; },
                 [&](const UserRestored&) { s.active = true; },
                 [&](const ApiKeyIssued& e) { s.api_keys[e.key_id] = false; },
                 [&](const ApiKeyRevoked& e) { s.api_keys[e.key_id] = true; },
                 [&](const OAuthLinked& e) { s.oauth.emplace(e.provider, e.subject); },
                 [&](const EntitlementsSet& e) { s.entitlements = topics_in(e.topics); },
                 // Events of the person's other streams leave the account as it is.
                 [&](const auto&) {},
             },
             event);
  ++s.version;
  return s;
}

LETHE_DEFINE_EVENT_CODEC("user")

std::string user_id_of(const Event& e) {
  return std::visit([](const auto& ev) { return ev.user_id; }, e);
}

}  // namespace lethe::domain::users
