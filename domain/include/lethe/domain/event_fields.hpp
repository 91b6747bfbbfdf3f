#pragma once
// How a domain declares its events: each event is a struct with kType and
// kVersion (tying it to schemas/events/<type>.v<version>.json) and fields(),
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
// personal field (x-personal in its schema) must be a string.
template <class E>
struct FieldSpec {
  using Member = std::variant<std::string E::*, std::int64_t E::*, bool E::*, Json E::*>;
  const char* name;
  Member member;
  bool optional = false;
};

#define LETHE_EVENT(type_string)                         \
  static constexpr std::string_view kType = type_string; \
  static constexpr int kVersion = 1

}  // namespace lethe::domain
