#pragma once
// The users domain's command service: every command goes through
// run_command (command_path.hpp). Beside the events it keeps the write
// side's access tables (schemas/sql/V007__access.sql) in the same
// transaction: accounts with their roles, the email reservations that make
// an email unique among active accounts, credentials stored as hashes, and
// the login rate limit shared by every server process.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lethe/domain/envelope.hpp"
#include "lethe/producers/command_path.hpp"
#include "lethe/producers/event_store.hpp"
#include "users.hpp"

namespace lethe::infra {
class PasswordPool;
}

namespace lethe::producers {

// A caller recognised by their bearer token.
struct Authenticated {
  std::string user_id;
  domain::users::Role role = domain::users::Role::user;
  std::string kind;           // "api_key" or "session"
  std::string credential_id;  // key id or session id
};

struct IssuedKey {
  Written written;
  std::string key_id, key, prefix, expires_at;
};
struct ApiKeyInfo {
  std::string key_id, name, prefix, created_at, expires_at, last_used_at, revoked_at;
};

// A person's key, released to a service for one topic (POST /key-releases).
struct KeyRelease {
  Written written;  // the user.key_released event, for the audit log
  std::string release_id, user_id, topic;
  int key_id = 0;
  std::string key_base64;  // the 32-byte key, standard base64
  std::string domain;      // the key domain ("staff") when the key is a domain key
};

struct LoginResult {
  enum class Outcome { ok, refused, limited } outcome = Outcome::refused;
  Written written;
  std::string user_id, session_id, token, expires_at;
  int retry_after_seconds = 0;  // limited
};

struct LoginPolicy {
  int max_failures = 5;
  std::chrono::seconds window{15 * 60};
  std::chrono::seconds session_ttl{12 * 3600};
};

class UserService {
 public:
  UserService(EventStore& store, infra::PasswordPool& passwords, LoginPolicy policy = {});
  ~UserService();

  // Register, with the password in clear (checked, then hashed in the pool);
  // an empty password makes an account that signs in with API keys only.
  domain::Result<Written> register_user(domain::users::RegisterUser command, const std::string& password,
                                        const CommandContext& ctx);
  // Profile, role, deactivate, restore, revoke a key, link an identity.
  domain::Result<Written> handle(const domain::users::Command& command, const CommandContext& ctx);
  // current: the caller's current password (needed when they change their
  // own). A new password ends the account's sessions, all but keep_session
  // (the session that asked, if any).
  // A person's own password, given to prove it is them (to confirm their
  // own erasure): checked like a login's, against the same limit of their
  // email. nullopt when it matches; else forbidden (wrong, or the account
  // has none) or rate_limited, naming `field`.
  std::optional<domain::DomainError> check_own_password(const std::string& user_id, const std::string& password,
                                                        const std::string& field);
  domain::Result<Written> change_password(const std::string& user_id, const std::optional<std::string>& current,
                                          const std::string& new_password, const CommandContext& ctx,
                                          const std::string& keep_session = {});
  // expires_at: RFC 3339, or empty for a key that never expires.
  domain::Result<IssuedKey> issue_api_key(const std::string& user_id, const std::string& name,
                                          const std::string& expires_at, const CommandContext& ctx);
  domain::Result<Written> add_note(const std::string& user_id, const std::string& text, const CommandContext& ctx);
  // A person's key for a service entitled to the topic, recorded as
  // user.key_released in the same transaction: forbidden unless the caller
  // is an active service account entitled to it, gone (410) for an erased
  // person, not_found for one with no key (no personal data sealed yet).
  domain::Result<KeyRelease> release_key(const Authenticated& service, const std::string& person_id,
                                         const std::string& topic, const CommandContext& ctx);

  LoginResult login(const std::string& email, const std::string& password, const CommandContext& ctx);
  domain::Result<Written> logout(const Authenticated& who, const CommandContext& ctx);

  // The caller a token belongs to, if it is live (not revoked, not expired,
  // its account active). Records when an API key was last used (to the minute).
  std::optional<Authenticated> authenticate(const std::string& token);
  std::vector<ApiKeyInfo> api_keys(const std::string& user_id, std::int64_t limit, std::int64_t offset);

  // Folds the account's stream (see fold()).
  domain::users::User load(const std::string& user_id);
  // The actor as the write side knows them (see CommandContext).
  domain::users::Actor actor(const std::string& id);
  // Creates the first owner and an API key for them; refused when an owner exists.
  domain::Result<IssuedKey> bootstrap(const std::string& email, const std::string& name, const CommandContext& ctx);

 private:
  // Checks the account's own password as check_own_password does; the hash
  // it matched.
  domain::Result<std::string> verify_own(const domain::users::User& state, const std::string& password,
                                         const std::string& field);
  EventStore& store_;
  infra::PasswordPool& passwords_;
  LoginPolicy policy_;
  // Accounts this service decided on last (see StateCache): not thread-safe,
  // like the service itself.
  std::unique_ptr<StateCache<domain::users::User>> cache_;
};

}  // namespace lethe::producers
