#pragma once
// How a domain declares its events: each event is a struct with kType and
// kVersion (tying it to domains/<name>/events/<type>.v<version>.json) and fields(),
// its payload fields in order. One generic codec (domain/src/codec.hpp)
// encodes and decodes every domain's events from these declarations, so a
// new event is a struct and a schema file, never a hand-written parser.
#include <cstdint>
#include <string>
#include <variant>

namespace lethe::domain {

// A JSON value carried as its text (an object of a cart line's specs, an
// array of an order's lines). The codec writes it as a value, not a string,
// and reads any value back as its compact text.
struct Json {
  std::string text;
  bool operator==(const Json&) const = default;
};

// One payload field: its name, the member that holds it, and whether it may
// be absent (an optional string or JSON field is left out when empty). A
// personal field (x-personal in its schema) is a string, or a Json value
// sealed as its text.
template <class E>
struct FieldSpec {
  using Member = std::variant<std::string E::*, std::int64_t E::*, bool E::*, Json E::*>;
  const char* name;
  Member member;
  bool optional = false;
};

// Declares, in a domain's namespace, the codec of its `Event` variant (the
// domain's .cpp defines it with LETHE_DEFINE_EVENT_CODEC, domain/src/codec.hpp):
// the type and schema version of an event; its payload as JSON; a payload of
// one type and schema version decoded (an unknown type or version is an
// error naming "type", never a silently skipped event); and a batch of
// payloads decoded with their sealed personal fields opened on the way, one
// key load for the batch, each payload parsed once (a field whose key is gone
// decodes to erased()). Needs lethe/domain/personal.hpp.
#define LETHE_DECLARE_EVENT_CODEC()                                                                       \
  std::string_view type_of(const Event& e) noexcept;                                                      \
  int version_of(const Event& e) noexcept;                                                                \
  std::string encode_payload(const Event& e);                                                             \
  Result<Event> decode_payload(std::string_view type, int schema_version, std::string_view payload_json); \
  std::vector<Result<Event>> decode_sealed(const std::vector<SealedPayload>& items, const KeyLoader& load)

#define LETHE_EVENT(type_string) LETHE_EVENT_V(type_string, 1)
// An event at a later schema version: the older ones are lifted to it by
// upcasters listed in the domain's spec (registry.hpp).
#define LETHE_EVENT_V(type_string, version)              \
  static constexpr std::string_view kType = type_string; \
  static constexpr int kVersion = version

}  // namespace lethe::domain
