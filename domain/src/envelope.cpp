#include "lethe/domain/envelope.hpp"

#include <sodium.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cstring>
#include <limits>

#include "hex.hpp"
#include "json_util.hpp"
#include "lethe/domain/registry.hpp"

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
    case ErrorCode::conflict:
      return "conflict";
    case ErrorCode::rule_violated:
      return "rule_violated";
    case ErrorCode::gone:
      return "gone";
    case ErrorCode::rate_limited:
      return "rate_limited";
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
  // Room for the whole message at once (the payload and the fields around
  // it), not a growth by doubling from 256 bytes.
  rapidjson::StringBuffer buf(nullptr, e.payload.size() + 512);
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

namespace {

// The top-level fields of the envelope, in the order in which a missing one
// is reported.
enum class Field : unsigned {
  event_id,
  type,
  stream_id,
  occurred_at,
  actor,
  correlation_id,
  causation_id,
  prev_hash,
  hash,
  schema_version,
  stream_version,
  global_position,
  payload,
  count,
  unknown = count,
};
constexpr std::array<std::string_view, static_cast<std::size_t>(Field::count)> kFieldNames{
    "event_id",  "type", "stream_id",      "occurred_at",    "actor",           "correlation_id", "causation_id",
    "prev_hash", "hash", "schema_version", "stream_version", "global_position", "payload"};

bool holds_nul(const char* s, rapidjson::SizeType n) noexcept {
  return n != 0 && std::memchr(s, '\0', n) != nullptr;
}

// One SAX pass over the message. Numbers arrive as their text
// (kParseNumbersAsStringsFlag), so the payload's numbers cost no conversion;
// the payload's extent is taken from the stream position at its braces, so
// its bytes are copied from the message, never rebuilt.
class EnvelopeHandler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, EnvelopeHandler> {
 public:
  EnvelopeHandler(rapidjson::InsituStringStream& in, Envelope& e) : in_(in), e_(e) {}

  std::optional<DomainError> error;
  std::size_t payload_begin = 0, payload_end = 0;

  bool seen(Field f) const noexcept { return (seen_ >> static_cast<unsigned>(f)) & 1U; }

  bool StartObject() {
    if (depth_ == 1) {
      if (current_ == Field::payload) {
        payload_begin = in_.Tell() - 1;  // the '{' just taken
        in_payload_ = true;
      } else if (current_ != Field::unknown) {
        return wrong_type();
      }
    }
    ++depth_;
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    if (--depth_ == 1 && in_payload_) {
      payload_end = in_.Tell();  // just past the '}'
      in_payload_ = false;
    }
    return true;
  }
  bool StartArray() {
    if (depth_ == 0) return fail(invalid("", "JSON value is not an object"));
    if (depth_ == 1 && current_ != Field::unknown) return wrong_type();
    ++depth_;
    return true;
  }
  bool EndArray(rapidjson::SizeType) {
    --depth_;
    return true;
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (depth_ == 1) {
      current_ = field_named({s, n});
      if (current_ == Field::unknown) return true;
      if (seen(current_)) return fail(invalid(std::string(name()), "field '" + std::string(name()) + "' given twice"));
      seen_ |= 1U << static_cast<unsigned>(current_);
      return true;
    }
    return !in_payload_ || !holds_nul(s, n) || payload_nul();
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (depth_ == 0) return fail(invalid("", "JSON value is not an object"));
    if (depth_ > 1) return !in_payload_ || !holds_nul(s, n) || payload_nul();
    std::string* into = text_field();
    if (into == nullptr) return current_ == Field::unknown || wrong_type();
    // JSON allows \u0000; PostgreSQL text does not, and a row it refuses
    // would stall a projection.
    if (holds_nul(s, n))
      return fail(invalid(std::string(name()), "field '" + std::string(name()) + "' must not contain NUL characters"));
    into->assign(s, n);
    return true;
  }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    if (depth_ == 0) return fail(invalid("", "JSON value is not an object"));
    if (depth_ > 1 || current_ == Field::unknown) return true;
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(s, s + n, v);
    if (ec != std::errc{} || end != s + n) return wrong_type();  // 1.0, 1e2, or out of range
    switch (current_) {
      case Field::schema_version:
        if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) return wrong_type();
        e_.schema_version = static_cast<int>(v);
        return true;
      case Field::stream_version:
        e_.stream_version = v;
        return true;
      case Field::global_position:
        e_.global_position = v;
        return true;
      default:
        return wrong_type();
    }
  }
  // null and booleans
  bool Default() {
    if (depth_ == 0) return fail(invalid("", "JSON value is not an object"));
    return depth_ > 1 || current_ == Field::unknown || wrong_type();
  }

 private:
  static Field field_named(std::string_view k) noexcept {
    for (std::size_t i = 0; i < kFieldNames.size(); ++i)
      if (kFieldNames[i] == k) return static_cast<Field>(i);
    return Field::unknown;
  }
  std::string_view name() const noexcept { return kFieldNames[static_cast<std::size_t>(current_)]; }
  std::string* text_field() noexcept {
    switch (current_) {
      case Field::event_id:
        return &e_.event_id;
      case Field::type:
        return &e_.type;
      case Field::stream_id:
        return &e_.stream_id;
      case Field::occurred_at:
        return &e_.occurred_at;
      case Field::actor:
        return &e_.actor;
      case Field::correlation_id:
        return &e_.correlation_id;
      case Field::causation_id:
        return &e_.causation_id;
      case Field::prev_hash:
        return &e_.prev_hash;
      case Field::hash:
        return &e_.hash;
      default:
        return nullptr;
    }
  }
  bool wrong_type() {
    const std::string n(name());
    if (current_ == Field::payload) return fail(invalid(n, "payload must be an object"));
    const bool integer =
        current_ == Field::schema_version || current_ == Field::stream_version || current_ == Field::global_position;
    return fail(invalid(n, "field '" + n + "' must be " + (integer ? "an integer" : "a string")));
  }
  bool payload_nul() { return fail(invalid("payload", "payload strings must not contain NUL")); }
  bool fail(DomainError err) {
    if (!error) error = std::move(err);
    return false;  // stops the parse
  }

  rapidjson::InsituStringStream& in_;
  Envelope& e_;
  int depth_ = 0;
  Field current_ = Field::unknown;
  unsigned seen_ = 0;
  bool in_payload_ = false;
};

}  // namespace

Result<Envelope> decode(std::string_view text) {
  // Parsed in place in a copy (with its terminating NUL): several times
  // faster than from a (pointer, length) stream. Positions in the copy are
  // positions in text, since in-place parsing writes only behind the reader.
  std::string buffer(text);
  rapidjson::InsituStringStream in(buffer.data());
  Envelope e;
  EnvelopeHandler handler(in, e);
  rapidjson::Reader reader;
  reader.Parse<rapidjson::kParseInsituFlag | rapidjson::kParseNumbersAsStringsFlag>(in, handler);
  if (handler.error) return *handler.error;
  if (reader.HasParseError())
    return invalid("", "not valid JSON (error " + std::to_string(reader.GetParseErrorCode()) + " at byte " +
                           std::to_string(reader.GetErrorOffset()) + ")");
  for (std::size_t i = 0; i < kFieldNames.size(); ++i) {
    if (!handler.seen(static_cast<Field>(i))) {
      const std::string n(kFieldNames[i]);
      return invalid(n, "missing field '" + n + "'");
    }
  }
  if (e.stream_version < 1) return invalid("stream_version", "stream_version must be >= 1");
  e.payload.assign(text.substr(handler.payload_begin, handler.payload_end - handler.payload_begin));
  if (auto err = unstorable_fields(e)) return *err;
  return e;
}

namespace {

// Feeds a RapidJSON writer, and notes whether the root is an object.
class CanonicalHandler : public rapidjson::Writer<rapidjson::StringBuffer> {
 public:
  using Writer::Writer;
  bool StartObject() {
    if (depth_++ == 0) root_is_object = true;
    return Writer::StartObject();
  }
  bool EndObject(rapidjson::SizeType n = 0) {
    --depth_;
    return Writer::EndObject(n);
  }
  bool StartArray() {
    ++depth_;
    return Writer::StartArray();
  }
  bool EndArray(rapidjson::SizeType n = 0) {
    --depth_;
    return Writer::EndArray(n);
  }
  // RapidJSON 1.1's Writer::RawNumber quotes the number; the literal goes
  // in as it was written (the reader has checked its grammar).
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) { return RawValue(s, n, rapidjson::kNumberType); }
  bool root_is_object = false;

 private:
  int depth_ = 0;
};

}  // namespace

std::optional<std::string> canonical_payload(std::string_view json) {
  // A raw NUL byte would end the parse early and hide what follows it.
  if (json.find('\0') != std::string_view::npos) return std::nullopt;
  const std::string text(json);
  rapidjson::StringStream in(text.c_str());
  rapidjson::StringBuffer out;
  CanonicalHandler writer(out);
  rapidjson::Reader reader;
  // Numbers go through as their text: converting 1.50 to a double and back
  // would print 1.5, and 12345678901234567890 would lose digits.
  if (!reader.Parse<rapidjson::kParseNumbersAsStringsFlag>(in, writer) || !writer.root_is_object) return std::nullopt;
  return std::string(out.GetString(), out.GetSize());
}

void canonicalize(Envelope& e) {
  for (auto& c : e.event_id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (auto p = canonical_payload(e.payload)) e.payload = std::move(*p);
}

std::optional<DomainError> unstorable(const Envelope& e) {
  if (auto err = unstorable_fields(e)) return err;
  rapidjson::Document doc;
  std::string buffer;
  if (e.payload.find('\0') != std::string::npos) return invalid("payload", "payload must not contain NUL bytes");
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
  const auto* spec = find_event_type(type);
  return spec ? std::string(spec->topic) : std::string();
}

}  // namespace lethe::domain
