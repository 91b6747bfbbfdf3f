#pragma once
// Seals over the whole event log, for auditors. The per-stream hash chain
// cannot see a stream's last events deleted, a whole stream deleted, or a
// stream rewritten with its hashes recomputed. A seal can: it holds a
// running digest over every event's hash in global_position order, and an
// HMAC under a key that the database does not hold, so whoever can write to
// the database can neither rewrite sealed events nor forge a new seal to
// match. Pure: no clock, no I/O.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "lethe/domain/result.hpp"

namespace lethe::domain {

struct SealKey {
  std::array<unsigned char, 32> bytes{};  // HMAC-SHA256 key
};

// Reads a key file's contents: 64 hex digits (surrounding whitespace, such as
// a trailing newline, is ignored), or exactly 32 raw bytes.
Result<SealKey> parse_seal_key(std::string_view contents);

// The running digest after one more event: hex SHA-256 over the previous
// digest ("" before the first event), the event's global position (decimal)
// and its hash, each length-prefixed as in chain_hash. The position is in,
// so moving an event to another position changes the digest too.
std::string seal_step(std::string_view digest, std::int64_t position, std::string_view event_hash);

struct Seal {
  std::int64_t number = 0;         // 1, 2, ... without a gap
  std::int64_t last_position = 0;  // the last global position covered
  std::int64_t event_count = 0;    // events in (previous seal's last_position, last_position]
  std::string digest;              // running digest over every event up to last_position
  std::string hmac;                // seal_hmac(key, seal)
};

// Hex HMAC-SHA256 under the key over the seal's number, last position, event
// count and digest, length-prefixed.
std::string seal_hmac(const SealKey& key, const Seal& seal);

// Whether seal.hmac is the HMAC of its fields under key (constant time).
bool seal_authentic(const SealKey& key, const Seal& seal);

// {"seal":3,"last_position":120,"events":40,"digest":"…","hmac":"…"}
std::string encode(const Seal& seal);

}  // namespace lethe::domain
