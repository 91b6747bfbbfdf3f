#pragma once
// The event envelope of the design brief, its JSON encoding and its hash
// chain. Pure: no clock, no I/O.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "lethe/domain/result.hpp"

namespace lethe::domain {

struct Envelope {
  std::string event_id;  // UUID
  std::string type;      // "user.registered"
  int schema_version = 1;
  std::string stream_id;             // "user-<uuid>"; the Kafka key
  std::int64_t stream_version = 0;   // 1 for the first event of a stream
  std::int64_t global_position = 0;  // assigned by the event store
  std::string occurred_at;           // UTC, ISO 8601, e.g. 2026-11-25T08:00:00.000000Z
  std::string actor;                 // who caused it
  std::string correlation_id;
  std::string causation_id;
  std::string payload;    // a JSON object, kept byte for byte
  std::string prev_hash;  // hash of the previous event of the stream, "" for the first
  std::string hash;       // chain_hash(prev_hash, this)
};

// SHA-256 (hex) over every field but global_position and hash, each
// length-prefixed so that no two envelopes share an input, chained to
// prev_hash. Global position is left out because the store assigns it after
// the hash is fixed; order within a stream is covered by stream_version.
std::string chain_hash(const Envelope& e);

// True when e.hash matches its content and e.prev_hash equals previous_hash.
bool verify_link(const Envelope& e, std::string_view previous_hash);

// Encodes the envelope as one JSON object; the payload is embedded as an
// object, not as a string.
std::string encode(const Envelope& e);

// Decodes what encode() wrote. Errors name the missing or malformed field;
// event_id must be a UUID and occurred_at a UTC timestamp, so that whatever
// decodes can also be stored. The payload is taken from the message text as
// it is, byte for byte (never re-serialised), so chain_hash() of the result
// checks the bytes that were sent. A field given twice is refused: readers
// that keep the first and readers that keep the last must not disagree.
Result<Envelope> decode(std::string_view json);

// Puts the hashed text of an envelope into the one form that is stored,
// hashed and sent: event_id in lower case (PostgreSQL's uuid type stores it
// so), and the payload as RapidJSON's compact writer prints it, numbers
// kept exactly as written (1.50 stays 1.50; no precision is lost), string
// escapes in their shortest form (\u00e9 becomes UTF-8, \/ becomes /). Never
// longer than its input, and idempotent. A payload that is not a JSON
// object is left as it is, for unstorable() to explain.
void canonicalize(Envelope& e);

// The canonical form of a payload, or nullopt if it is not a JSON object.
std::optional<std::string> canonical_payload(std::string_view json);

// Bounds of the envelope's text fields other than the payload. Several can be
// influenced by a client (actor, correlation and causation ids come from
// HTTP headers), and every one of them ends up in the Kafka message, whose
// size the broker limits: unbounded, one long header could make an event
// that no broker accepts.
inline constexpr std::size_t kMaxTypeBytes = 100;
inline constexpr std::size_t kMaxStreamIdBytes = 200;
inline constexpr std::size_t kMaxActorBytes = 200;
inline constexpr std::size_t kMaxCorrelationBytes = 200;  // correlation and causation ids alike

// Whether the event store and every projection can hold the envelope:
// event_id a UUID, occurred_at UTC ISO 8601, no NUL in any text, every text
// field within its bound above, payload a JSON object. The append refuses what fails here, and so does decode, so
// that no event can be written that nobody could read.
std::optional<DomainError> unstorable(const Envelope& e);

bool is_uuid(std::string_view s) noexcept;
bool is_utc_timestamp(std::string_view s) noexcept;

// Stream id conventions: "<aggregate>-<id>".
std::string stream_of(std::string_view aggregate, std::string_view id);

// Logical topic of an event type, as its domain registered it
// ("user.registered" -> "users", "user.note_added" -> "staff"). Empty when
// no domain registered the type.
std::string topic_of(std::string_view event_type);

}  // namespace lethe::domain
