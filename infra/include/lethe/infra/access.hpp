#pragma once
// Credentials and lookups that must not hold personal data in clear:
// - the blind index of an email: a keyed BLAKE2b hash of the normalised
//   email, its key outside the database (LETHE_INDEX_KEY_FILE, a file of 64
//   hex digits, or LETHE_INDEX_KEY), so the write side's tables can enforce
//   uniqueness and count login failures without storing an email;
// - tokens (API keys, session tokens): 32 random bytes, shown once, stored
//   only as their BLAKE2b hash (a fast hash suits a high-entropy token;
//   Argon2 would make every request cost 64 MiB);
// - passwords: Argon2id (crypto_pwhash_str, interactive limits, 64 MiB
//   each), computed in a bounded pool so that a flood of logins waits for a
//   slot instead of exhausting memory.
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "lethe/infra/errors.hpp"

namespace lethe::infra {

// The blind index of a normalised email (32 raw bytes). Throws Misconfigured
// when no index key is configured.
std::string email_index(std::string_view normalized_email);
// The same as 64 hex digits, for a query's text parameter (decode($1, 'hex')).
std::string email_index_hex(std::string_view normalized_email);
// The blind index of an OAuth identity (provider and the provider's subject
// id), under the same key: one account per identity, no subject in clear.
std::string oauth_index(std::string_view provider, std::string_view subject);
// The blind index of a client's network address, under the same key: the
// limits on requests without a sign-in count per address without storing one.
std::string address_index(std::string_view address);
// Checks the index key is configured and well formed (for start-up).
void check_index_key();

struct Token {
  std::string text;  // "<prefix>_<43 base64url characters>": shown once
  std::string hash;  // 32 raw bytes, what is stored
  std::string id;    // a UUID naming the credential in events and lists
};
// prefix: "lk" for API keys, "ls" for session tokens.
Token new_token(std::string_view prefix);
std::string token_hash(std::string_view token_text);

// Every password hash and check goes through here. At most `slots` run at
// once and at most `max_waiting` callers wait for one (up to `wait`); any
// more get Busy at once. So a flood of logins holds at most slots +
// max_waiting server threads, and the other threads go on serving.
class Busy : public InfraError {
 public:
  explicit Busy(const std::string& what) : InfraError(what, true) {}
};
class PasswordPool {
 public:
  explicit PasswordPool(std::size_t slots = 2, std::chrono::milliseconds wait = std::chrono::seconds(10),
                        std::size_t max_waiting = 8);
  std::string hash(std::string_view password);
  bool verify(std::string_view hash, std::string_view password);
  std::size_t slots() const noexcept { return slots_; }

 private:
  template <class Fn>
  auto in_slot(Fn&& fn);
  std::size_t slots_;
  std::chrono::milliseconds wait_;
  std::size_t max_waiting_;
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace lethe::infra
