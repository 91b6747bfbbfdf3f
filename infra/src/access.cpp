#include "lethe/infra/access.hpp"

#include <sodium.h>

#include <condition_variable>
#include <mutex>
#include <optional>

#include "lethe/infra/ids.hpp"
#include "lethe/infra/keyring.hpp"

namespace lethe::infra {

namespace {

void ensure_sodium() {
  static const int ready = sodium_init();
  if (ready < 0) throw std::runtime_error("libsodium failed to initialise");
}

const std::array<unsigned char, 32>& index_key() {
  static const auto key = [] {
    auto k = key_from_env("LETHE_INDEX_KEY_FILE", "LETHE_INDEX_KEY", "email index key");
    if (!k)
      throw Misconfigured(
          "no email index key: set LETHE_INDEX_KEY_FILE to a file of 64 hex digits (or LETHE_INDEX_KEY); "
          "scripts/demo and scripts/test make one under .lethe/");
    return *k;
  }();
  return key;
}

std::string blake2b(std::string_view data, const unsigned char* key, std::size_t key_len) {
  ensure_sodium();
  std::string out(32, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out.size(),
                     reinterpret_cast<const unsigned char*>(data.data()), data.size(), key, key_len);
  return out;
}

}  // namespace

std::string email_index(std::string_view normalized_email) {
  const auto& key = index_key();
  return blake2b(normalized_email, key.data(), key.size());
}

std::string email_index_hex(std::string_view normalized_email) {
  return hex(email_index(normalized_email));
}

std::string oauth_index(std::string_view provider, std::string_view subject) {
  std::string text("oauth");
  text += '\0';
  text += provider;
  text += '\0';
  text += subject;
  const auto& key = index_key();
  return blake2b(text, key.data(), key.size());
}

std::string address_index(std::string_view address) {
  std::string text("address");
  text += '\0';
  text += address;
  const auto& key = index_key();
  return blake2b(text, key.data(), key.size());
}

void check_index_key() {
  (void)index_key();
}

Token new_token(std::string_view prefix) {
  ensure_sodium();
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(b64, sizeof b64, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(raw, sizeof raw);
  Token t;
  t.text = std::string(prefix) + "_" + b64;
  t.hash = token_hash(t.text);
  unsigned char id[16];
  randombytes_buf(id, sizeof id);
  id[6] = static_cast<unsigned char>((id[6] & 0x0f) | 0x40);  // version 4
  id[8] = static_cast<unsigned char>((id[8] & 0x3f) | 0x80);  // variant
  char hex[33];
  sodium_bin2hex(hex, sizeof hex, id, sizeof id);
  const std::string h(hex);
  t.id = h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
  return t;
}

std::string token_hash(std::string_view token_text) {
  return blake2b(token_text, nullptr, 0);
}

struct PasswordPool::State {
  std::mutex mutex;
  std::condition_variable freed;
  std::size_t busy = 0;
  std::size_t waiting = 0;
};

PasswordPool::PasswordPool(std::size_t slots, std::chrono::milliseconds wait, std::size_t max_waiting)
    : slots_(slots == 0 ? 1 : slots), wait_(wait), max_waiting_(max_waiting), state_(std::make_shared<State>()) {
  ensure_sodium();
}

template <class Fn>
auto PasswordPool::in_slot(Fn&& fn) {
  {
    std::unique_lock lock(state_->mutex);
    if (state_->busy >= slots_ && state_->waiting >= max_waiting_)
      throw Busy("every password hashing slot is busy; try again shortly");
    ++state_->waiting;
    const bool got = state_->freed.wait_for(lock, wait_, [&] { return state_->busy < slots_; });
    --state_->waiting;
    if (!got) throw Busy("every password hashing slot is busy; try again shortly");
    ++state_->busy;
  }
  struct Release {
    State& s;
    ~Release() {
      {
        std::lock_guard lock(s.mutex);
        --s.busy;
      }
      s.freed.notify_one();
    }
  } release{*state_};
  return fn();
}

std::string PasswordPool::hash(std::string_view password) {
  return in_slot([&] {
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
      throw Busy("out of memory while hashing a password");
    return std::string(out);
  });
}

bool PasswordPool::verify(std::string_view hash, std::string_view password) {
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
  return in_slot([&] {
    char stored[crypto_pwhash_STRBYTES] = {};
    hash.copy(stored, hash.size());
    return crypto_pwhash_str_verify(stored, password.data(), password.size()) == 0;
  });
}

}  // namespace lethe::infra
