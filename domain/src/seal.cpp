#include "lethe/domain/seal.hpp"

#include <sodium.h>

#include <cctype>

#include "hex.hpp"
#include "json_util.hpp"

namespace lethe::domain {

namespace {

// Length-prefixed, as in chain_hash: no two field lists share an input.
template <class State, class Update>
void absorb(State& st, Update update, std::string_view part) {
  const std::string len = std::to_string(part.size()) + ":";
  update(&st, reinterpret_cast<const unsigned char*>(len.data()), len.size());
  update(&st, reinterpret_cast<const unsigned char*>(part.data()), part.size());
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<SealKey> parse_seal_key(std::string_view contents) {
  SealKey key;
  auto trimmed = contents;
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front()))) trimmed.remove_prefix(1);
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back()))) trimmed.remove_suffix(1);
  if (trimmed.size() == 2 * key.bytes.size()) {
    bool hex = true;
    for (std::size_t i = 0; i < key.bytes.size() && hex; ++i) {
      const int hi = hex_value(trimmed[2 * i]), lo = hex_value(trimmed[2 * i + 1]);
      hex = hi >= 0 && lo >= 0;
      key.bytes[i] = static_cast<unsigned char>(hi * 16 + lo);
    }
    if (hex) return key;
  }
  if (contents.size() == key.bytes.size()) {
    for (std::size_t i = 0; i < key.bytes.size(); ++i) key.bytes[i] = static_cast<unsigned char>(contents[i]);
    return key;
  }
  return invalid("seal_key",
                 "a seal key file holds 64 hex digits or exactly 32 raw bytes, e.g. from `openssl rand -hex 32`;"
                 " this one holds " +
                     std::to_string(contents.size()) + " bytes");
}

std::string seal_step(std::string_view digest, std::int64_t position, std::string_view event_hash) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  absorb(st, crypto_hash_sha256_update, digest);
  absorb(st, crypto_hash_sha256_update, std::to_string(position));
  absorb(st, crypto_hash_sha256_update, event_hash);
  unsigned char out[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, out);
  return to_hex(out, sizeof out);
}

std::string seal_hmac(const SealKey& key, const Seal& seal) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key.bytes.data(), key.bytes.size());
  absorb(st, crypto_auth_hmacsha256_update, "lethe.seal.v1");  // what the MAC is for
  absorb(st, crypto_auth_hmacsha256_update, std::to_string(seal.number));
  absorb(st, crypto_auth_hmacsha256_update, std::to_string(seal.last_position));
  absorb(st, crypto_auth_hmacsha256_update, std::to_string(seal.event_count));
  absorb(st, crypto_auth_hmacsha256_update, seal.digest);
  unsigned char out[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&st, out);
  return to_hex(out, sizeof out);
}

bool seal_authentic(const SealKey& key, const Seal& seal) {
  const auto expected = seal_hmac(key, seal);
  return seal.hmac.size() == expected.size() && sodium_memcmp(seal.hmac.data(), expected.data(), expected.size()) == 0;
}

std::string encode(const Seal& seal) {
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  w.StartObject();
  json::field(w, "seal", seal.number);
  json::field(w, "last_position", seal.last_position);
  json::field(w, "events", seal.event_count);
  json::field(w, "digest", seal.digest);
  json::field(w, "hmac", seal.hmac);
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

}  // namespace lethe::domain
