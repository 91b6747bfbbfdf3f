#include "lethe/domain/envelope.hpp"

#include <sodium.h>

#include <array>
#include <cctype>

#include "json_util.hpp"

namespace lethe::domain {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::invalid_argument:
      return "invalid_argument";
    case ErrorCode::not_found:
      return "not_found";
    case ErrorCode::already_exists:
      return "already_exists";
    case ErrorCode::forbidden:
      return "forbidden";
    case ErrorCode::no_change:
      return "no_change";
  }
  return "unknown";
}

std::string encode_error(const DomainError& e) {
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  w.StartObject();
  json::field(w, "error", to_string(e.code));
  json::field(w, "field", e.field);
  json::field(w, "message", e.message);
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

namespace {

void absorb(crypto_hash_sha256_state& st, std::string_view part) {
  // Length prefix: "abc" + "d" and "ab" + "cd" must not hash alike.
  const std::string len = std::to_string(part.size()) + ":";
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(len.data()), len.size());
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(part.data()), part.size());
}

std::string to_hex(const unsigned char* bytes, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 0x0f];
  }
  return out;
}

}  // namespace

std::string chain_hash(const Envelope& e) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  absorb(st, e.prev_hash);
  absorb(st, e.event_id);
  absorb(st, e.type);
  absorb(st, std::to_string(e.schema_version));
  absorb(st, e.stream_id);
  absorb(st, std::to_string(e.stream_version));
  absorb(st, e.occurred_at);
  absorb(st, e.actor);
  absorb(st, e.correlation_id);
  absorb(st, e.causation_id);
  absorb(st, e.payload);
  std::array<unsigned char, crypto_hash_sha256_BYTES> out{};
  crypto_hash_sha256_final(&st, out.data());
  return to_hex(out.data(), out.size());
}

bool verify_link(const Envelope& e, std::string_view previous_hash) {
  return e.prev_hash == previous_hash && chain_hash(e) == e.hash;
}

std::string encode(const Envelope& e) {
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  w.StartObject();
  json::field(w, "event_id", e.event_id);
  json::field(w, "type", e.type);
  json::field(w, "schema_version", e.schema_version);
  json::field(w, "stream_id", e.stream_id);
  json::field(w, "stream_version", e.stream_version);
  json::field(w, "global_position", e.global_position);
  json::field(w, "occurred_at", e.occurred_at);
  json::field(w, "actor", e.actor);
  json::field(w, "correlation_id", e.correlation_id);
  json::field(w, "causation_id", e.causation_id);
  json::key(w, "payload");
  // The payload goes in as it is, byte for byte, so that the hash over it
  // can be checked by anyone who reads the message.
  w.RawValue(e.payload.data(), e.payload.size(), rapidjson::kObjectType);
  json::field(w, "prev_hash", e.prev_hash);
  json::field(w, "hash", e.hash);
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

namespace {

// Everything unstorable() checks but the payload.
std::optional<DomainError> unstorable_fields(const Envelope& e) {
  if (!is_uuid(e.event_id)) return invalid("event_id", "event_id must be a UUID");
  if (e.type.empty()) return invalid("type", "type must not be empty");
  if (e.stream_id.empty()) return invalid("stream_id", "stream_id must not be empty");
  if (!is_utc_timestamp(e.occurred_at))
    return invalid("occurred_at", "occurred_at must be UTC ISO 8601, e.g. 2026-11-25T08:00:00.000000Z");
  struct Bounded {
    const char* name;
    const std::string* text;
    std::size_t max;
  };
  for (const auto& [name, text, max] :
       {Bounded{"type", &e.type, kMaxTypeBytes}, Bounded{"stream_id", &e.stream_id, kMaxStreamIdBytes},
        Bounded{"actor", &e.actor, kMaxActorBytes}, Bounded{"correlation_id", &e.correlation_id, kMaxCorrelationBytes},
        Bounded{"causation_id", &e.causation_id, kMaxCorrelationBytes}}) {
    if (text->find('\0') != std::string::npos) return invalid(name, std::string(name) + " must not contain NUL");
    if (text->size() > max)
      return invalid(name, std::string(name) + " is " + std::to_string(text->size()) + " bytes; at most " +
                               std::to_string(max) + " are allowed");
  }
  return std::nullopt;
}

}  // namespace

Result<Envelope> decode(std::string_view text) {
  rapidjson::Document doc;
  std::string buffer;
  if (auto err = json::parse_object(doc, text, buffer)) return *err;
  Envelope e;
  auto take = [&](const char* name, std::string& into) -> std::optional<DomainError> {
    auto r = json::string_member(doc, name);
    if (!r) return r.error();
    into = std::move(r).value();
    return std::nullopt;
  };
  for (auto [name, into] : {std::pair<const char*, std::string*>{"event_id", &e.event_id},
                            {"type", &e.type},
                            {"stream_id", &e.stream_id},
                            {"occurred_at", &e.occurred_at},
                            {"actor", &e.actor},
                            {"correlation_id", &e.correlation_id},
                            {"causation_id", &e.causation_id},
                            {"prev_hash", &e.prev_hash},
                            {"hash", &e.hash}}) {
    if (auto err = take(name, *into)) return *err;
  }
  auto sv = json::int_member(doc, "schema_version");
  if (!sv) return sv.error();
  e.schema_version = static_cast<int>(sv.value());
  auto ver = json::int_member(doc, "stream_version");
  if (!ver) return ver.error();
  e.stream_version = ver.value();
  if (e.stream_version < 1) return invalid("stream_version", "stream_version must be >= 1");
  auto pos = json::int_member(doc, "global_position");
  if (!pos) return pos.error();
  e.global_position = pos.value();
  auto p = doc.FindMember("payload");
  if (p == doc.MemberEnd() || !p->value.IsObject()) return invalid("payload", "payload must be an object");
  // Re-serialising would not give back the producer's bytes in general, but
  // encode() wrote the payload compactly and RapidJSON's writer is
  // deterministic for such input, so the bytes round-trip.
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  p->value.Accept(w);
  e.payload.assign(buf.GetString(), buf.GetSize());
  if (auto err = unstorable_fields(e)) return *err;
  if (json::has_nul(p->value)) return invalid("payload", "payload strings must not contain NUL");
  return e;
}

std::optional<DomainError> unstorable(const Envelope& e) {
  if (auto err = unstorable_fields(e)) return err;
  rapidjson::Document doc;
  std::string buffer;
  if (auto err = json::parse_object(doc, e.payload, buffer)) return invalid("payload", "payload: " + err->message);
  if (json::has_nul(doc)) return invalid("payload", "payload strings must not contain NUL");
  return std::nullopt;
}

bool is_uuid(std::string_view s) noexcept {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

bool is_utc_timestamp(std::string_view s) noexcept {
  // YYYY-MM-DDTHH:MM:SS[.fraction]Z, digits where digits belong.
  static constexpr std::string_view shape = "dddd-dd-ddTdd:dd:dd";
  if (s.size() < shape.size() + 1 || s.back() != 'Z') return false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const bool digit = std::isdigit(static_cast<unsigned char>(s[i])) != 0;
    if (shape[i] == 'd' ? !digit : s[i] != shape[i]) return false;
  }
  auto rest = s.substr(shape.size(), s.size() - shape.size() - 1);
  if (rest.empty()) return true;
  if (rest[0] != '.' || rest.size() < 2) return false;
  for (char c : rest.substr(1))
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

std::string stream_of(std::string_view aggregate, std::string_view id) {
  std::string s(aggregate);
  s += '-';
  s += id;
  return s;
}

std::string topic_of(std::string_view type) {
  const auto dot = type.find('.');
  const auto domain = type.substr(0, dot);
  if (domain == "user") return "users";
  if (domain == "ticket") return "tickets";
  return {};
}

}  // namespace lethe::domain
