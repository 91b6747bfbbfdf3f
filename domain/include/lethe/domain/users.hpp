#pragma once
// The user aggregate: commands, events, decide and evolve. Pure: ids and time
// arrive with the command's context, never from a clock here.
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "lethe/domain/personal.hpp"
#include "lethe/domain/result.hpp"

namespace lethe::domain::users {

enum class Role { owner, admin, staff, user };
std::string_view to_string(Role r) noexcept;
std::optional<Role> parse_role(std::string_view s) noexcept;

// Commands (imperative).
struct RegisterUser {
  std::string user_id;
  std::string email;
  std::string name;
  std::string role = "user";
};
struct ChangeProfile {
  std::string user_id;
  std::string name;
};
struct ChangeRole {
  std::string user_id;
  std::string role;
};
using Command = std::variant<RegisterUser, ChangeProfile, ChangeRole>;

// Events (past tense). kType and kVersion tie each to its JSON Schema,
// schemas/events/<type>.v<version>.json.
struct UserRegistered {
  static constexpr std::string_view kType = "user.registered";
  static constexpr int kVersion = 1;
  std::string user_id, email, name, role;
};
struct UserProfileChanged {
  static constexpr std::string_view kType = "user.profile_changed";
  static constexpr int kVersion = 1;
  std::string user_id, name;
};
struct UserRoleChanged {
  static constexpr std::string_view kType = "user.role_changed";
  static constexpr int kVersion = 1;
  std::string user_id, role, previous_role;
};
using Event = std::variant<UserRegistered, UserProfileChanged, UserRoleChanged>;

// Every event type this aggregate can emit, for schema checks and docs.
const std::vector<std::string_view>& event_types();

struct User {
  bool exists = false;
  std::string user_id, email, name;
  Role role = Role::user;
  std::int64_t version = 0;  // number of events folded
};

// Who asks, as the store knows them: never a role the caller claims. The
// command service loads the actor's role from their own stream; a system
// actor (the CLI, an operator's console) acts as an owner. No role: an
// anonymous caller, who may only register as a plain user.
struct Actor {
  std::string id;
  std::optional<Role> role;
};

// The rules of who may do what:
// - register: anyone as `user`; `staff` by an admin or owner; `admin` and
//   `owner` by an owner;
// - change a profile: the user themself, an admin or an owner;
// - change a role: admins and owners; only an owner grants or removes owner
//   and admin; nobody changes their own role.
Result<std::vector<Event>> decide(const User& state, const Command& command, const Actor& actor);
User evolve(User state, const Event& event);

std::string_view type_of(const Event& e) noexcept;
int version_of(const Event& e) noexcept;
std::string user_id_of(const Event& e);
std::string encode_payload(const Event& e);
Result<Event> decode_payload(std::string_view type, std::string_view payload_json);
// Decodes a batch of payloads, their sealed personal fields opened on the way
// with one key load (see open_personal_batch): each payload parsed once. A
// field whose key is gone decodes to erased().
std::vector<Result<Event>> decode_sealed(const std::vector<SealedPayload>& items, const KeyLoader& load);

}  // namespace lethe::domain::users
