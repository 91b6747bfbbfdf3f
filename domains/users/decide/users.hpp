#pragma once
// The users domain: commands, events, decide and evolve. Pure: ids, time,
// password hashes and token hashes arrive with the command, made outside
// (producers/), never from a clock or a random source here.
//
// Streams: a person's account is the stream user-<id>. Staff notes about
// them are usernotes-<id> (a staff-only stream on the restricted topic), a
// login session is session-<id>, a failed login attempt login-<id>: streams
// that stay short, so loading an account never reads its login history.
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "lethe/domain/event_fields.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/domain/registry.hpp"
#include "lethe/domain/result.hpp"

namespace lethe::domain::users {

// auditor: reads the audit log and the event log, and changes nothing.
// service: a downstream system (not a person) that reads lethe's topics and
// may fetch the keys of the topics it is entitled to (POST /key-releases).
enum class Role { owner, admin, staff, user, auditor, service };
// "owner, admin, staff, user, auditor, service": for error messages.
std::string_view role_names() noexcept;
std::string_view to_string(Role r) noexcept;
std::optional<Role> parse_role(std::string_view s) noexcept;

// Trimmed, with the domain part lower-cased (the local part is the mail
// host's to interpret, so its case is kept). Uniqueness, login and the rate
// limit all compare normalised emails.
std::string normalize_email(std::string_view email);
// Length and shape of a new password, checked before it is hashed.
std::optional<DomainError> check_password(std::string_view field, std::string_view password);
inline constexpr std::size_t kMinPassword = 8;
inline constexpr std::size_t kMaxPassword = 1024;

// ---- Commands on an account (stream user-<id>) ----
struct RegisterUser {
  std::string user_id, email, name;
  std::string role = "user";
  std::string password_hash;  // Argon2id string; empty: no password login (API keys only)
};
struct ChangeProfile {
  std::string user_id;
  std::optional<std::string> name, email;
};
struct ChangePassword {
  std::string user_id, password_hash;
  bool current_password_verified = false;  // the caller checked the current password
};
struct ChangeRole {
  std::string user_id, role;
};
struct Deactivate {
  std::string user_id;
};
struct Restore {
  std::string user_id;
};
struct IssueApiKey {
  std::string user_id, key_id, name, prefix, expires_at;  // expires_at: RFC 3339 or empty (never)
};
struct RevokeApiKey {
  std::string user_id, key_id;
};
struct LinkOAuth {
  std::string user_id, provider, subject;
};
// The topics whose personal fields a service account may open: it may
// fetch the key of a person for exactly these (an empty list: none).
struct SetEntitlements {
  std::string user_id;
  std::vector<std::string> topics;
};
using Command = std::variant<RegisterUser, ChangeProfile, ChangePassword, ChangeRole, Deactivate, Restore, IssueApiKey,
                             RevokeApiKey, LinkOAuth, SetEntitlements>;

// ---- Events (see lethe/domain/event_fields.hpp). ----
struct UserRegistered {
  LETHE_EVENT("user.registered");
  std::string user_id, email, name, role, password_hash;
  static constexpr auto fields() {
    using E = UserRegistered;
    return std::array<FieldSpec<E>, 5>{{{"user_id", &E::user_id},
                                        {"email", &E::email},
                                        {"name", &E::name},
                                        {"role", &E::role},
                                        {"password_hash", &E::password_hash, true}}};
  }
};
struct UserProfileChanged {
  LETHE_EVENT("user.profile_changed");
  std::string user_id, name;
  static constexpr auto fields() {
    using E = UserProfileChanged;
    return std::array<FieldSpec<E>, 2>{{{"user_id", &E::user_id}, {"name", &E::name}}};
  }
};
struct UserEmailChanged {
  LETHE_EVENT("user.email_changed");
  std::string user_id, email;
  static constexpr auto fields() {
    using E = UserEmailChanged;
    return std::array<FieldSpec<E>, 2>{{{"user_id", &E::user_id}, {"email", &E::email}}};
  }
};
struct UserPasswordChanged {
  LETHE_EVENT("user.password_changed");
  std::string user_id, password_hash, by;  // by: "self" or "admin"
  static constexpr auto fields() {
    using E = UserPasswordChanged;
    return std::array<FieldSpec<E>, 3>{
        {{"user_id", &E::user_id}, {"password_hash", &E::password_hash}, {"by", &E::by}}};
  }
};
struct UserRoleChanged {
  LETHE_EVENT("user.role_changed");
  std::string user_id, role, previous_role;
  static constexpr auto fields() {
    using E = UserRoleChanged;
    return std::array<FieldSpec<E>, 3>{
        {{"user_id", &E::user_id}, {"role", &E::role}, {"previous_role", &E::previous_role}}};
  }
};
struct UserDeactivated {
  LETHE_EVENT("user.deactivated");
  std::string user_id;
  static constexpr auto fields() {
    return std::array<FieldSpec<UserDeactivated>, 1>{{{"user_id", &UserDeactivated::user_id}}};
  }
};
struct UserRestored {
  LETHE_EVENT("user.restored");
  std::string user_id;
  static constexpr auto fields() {
    return std::array<FieldSpec<UserRestored>, 1>{{{"user_id", &UserRestored::user_id}}};
  }
};
struct ApiKeyIssued {
  LETHE_EVENT("user.api_key_issued");
  std::string user_id, key_id, name, prefix, expires_at;
  static constexpr auto fields() {
    using E = ApiKeyIssued;
    return std::array<FieldSpec<E>, 5>{{{"user_id", &E::user_id},
                                        {"key_id", &E::key_id},
                                        {"name", &E::name},
                                        {"prefix", &E::prefix},
                                        {"expires_at", &E::expires_at, true}}};
  }
};
struct ApiKeyRevoked {
  LETHE_EVENT("user.api_key_revoked");
  std::string user_id, key_id;
  static constexpr auto fields() {
    using E = ApiKeyRevoked;
    return std::array<FieldSpec<E>, 2>{{{"user_id", &E::user_id}, {"key_id", &E::key_id}}};
  }
};
struct OAuthLinked {
  LETHE_EVENT("user.oauth_linked");
  std::string user_id, provider, subject;
  static constexpr auto fields() {
    using E = OAuthLinked;
    return std::array<FieldSpec<E>, 3>{
        {{"user_id", &E::user_id}, {"provider", &E::provider}, {"subject", &E::subject}}};
  }
};
// Stream user-<service id>: the topics, a JSON array of logical names
// (["users", "shop"]), sorted.
struct EntitlementsSet {
  LETHE_EVENT("user.entitlements_set");
  std::string user_id;
  Json topics;
  static constexpr auto fields() {
    using E = EntitlementsSet;
    return std::array<FieldSpec<E>, 2>{{{"user_id", &E::user_id}, {"topics", &E::topics}}};
  }
};
// Stream keyrelease-<release id>, on the restricted staff topic: a service
// fetched a person's key for one topic (user_id: the person; key_id: the
// version of their key released). The audit log records every one.
struct KeyReleased {
  LETHE_EVENT("user.key_released");
  static constexpr std::string_view kTopic = "staff";
  std::string user_id, service_id, topic;
  std::int64_t key_id = 0;
  static constexpr auto fields() {
    using E = KeyReleased;
    return std::array<FieldSpec<E>, 4>{
        {{"user_id", &E::user_id}, {"service_id", &E::service_id}, {"topic", &E::topic}, {"key_id", &E::key_id}}};
  }
};
// Stream usernotes-<user id>, on the restricted staff topic.
struct NoteAdded {
  LETHE_EVENT("user.note_added");
  static constexpr std::string_view kTopic = "staff";
  std::string user_id, note_id, text;
  static constexpr auto fields() {
    using E = NoteAdded;
    return std::array<FieldSpec<E>, 3>{{{"user_id", &E::user_id}, {"note_id", &E::note_id}, {"text", &E::text}}};
  }
};
// Stream session-<session id>.
struct LoggedIn {
  LETHE_EVENT("user.logged_in");
  std::string user_id, session_id, expires_at;
  static constexpr auto fields() {
    using E = LoggedIn;
    return std::array<FieldSpec<E>, 3>{
        {{"user_id", &E::user_id}, {"session_id", &E::session_id}, {"expires_at", &E::expires_at}}};
  }
};
struct LoggedOut {
  LETHE_EVENT("user.logged_out");
  std::string user_id, session_id;
  static constexpr auto fields() {
    using E = LoggedOut;
    return std::array<FieldSpec<E>, 2>{{{"user_id", &E::user_id}, {"session_id", &E::session_id}}};
  }
};
// Stream login-<attempt id>. user_id is empty when the email is nobody's;
// the email itself is never recorded.
struct LoginFailed {
  LETHE_EVENT("user.login_failed");
  std::string user_id, reason;
  static constexpr auto fields() {
    using E = LoginFailed;
    return std::array<FieldSpec<E>, 2>{{{"user_id", &E::user_id, true}, {"reason", &E::reason}}};
  }
};

using Event = std::variant<UserRegistered, UserProfileChanged, UserEmailChanged, UserPasswordChanged, UserRoleChanged,
                           UserDeactivated, UserRestored, ApiKeyIssued, ApiKeyRevoked, OAuthLinked, NoteAdded, LoggedIn,
                           LoggedOut, LoginFailed, EntitlementsSet, KeyReleased>;

// The users domain as the registry knows it: event types, topics (notes go
// to the restricted staff topic), projections.
const DomainSpec& spec();
// Every event type this domain can emit, for schema checks and docs.
std::vector<std::string_view> event_types();

struct User {
  bool exists = false;
  bool active = false;
  std::string user_id, email, name, password_hash;
  Role role = Role::user;
  std::map<std::string, bool> api_keys;                 // key id -> revoked
  std::set<std::pair<std::string, std::string>> oauth;  // (provider, subject)
  std::set<std::string> entitlements;                   // a service's topics
  std::int64_t version = 0;                             // number of events folded
};

// Who asks, as the store knows them: never a role the caller claims. The
// command service loads the actor's role from the write side; a system
// actor (the CLI, `lethe bootstrap`) acts as an owner. No role: an
// anonymous caller, who may only register as a plain user.
struct Actor {
  std::string id;
  std::optional<Role> role;
};

// What a decision needs to know beyond the stream, read by the command
// service in the same transaction as the append (so two racing decisions
// cannot both rely on it).
struct Facts {
  int active_owners = 0;
};

// The rules of who may do what:
// - register: anyone as `user`; `staff` by an admin or owner; `admin`,
//   `owner`, `auditor` and `service` by an owner;
// - change a profile or password: the user themself (a password change needs
//   the current password), or an admin or owner who may manage the user's role;
// - change a role, deactivate, restore: admins and owners; only an owner
//   grants, removes, deactivates or restores owners and admins; nobody
//   changes their own role or deactivates themselves; the last active owner
//   keeps the role and stays active;
// - a deactivated account takes no command but restore;
// - API keys: the user themself, or an owner, issues; they, or an admin or
//   owner who manages their role, revoke; OAuth identities likewise: the
//   user themself, or an admin or owner who manages their role;
// - entitlements: an owner sets them, on a service account only, each a
//   topic events go to.
Result<std::vector<Event>> decide(const User& state, const Command& command, const Actor& actor,
                                  const Facts& facts = {});
User evolve(User state, const Event& event);

// A service's release of a person's key for one topic: the caller must be
// an active service account entitled to that topic (forbidden, naming
// "topic", otherwise). key_id: the version of the key released.
Result<Event> decide_key_release(const User& service, const std::string& person_id, const std::string& topic,
                                 std::int64_t key_id);

// A staff note about a person: staff, admins and owners only, about an
// existing account.
Result<Event> decide_note(const User& about, const std::string& note_id, const std::string& text, const Actor& actor);

LETHE_DECLARE_EVENT_CODEC();
std::string user_id_of(const Event& e);

}  // namespace lethe::domain::users
