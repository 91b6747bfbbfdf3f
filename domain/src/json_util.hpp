#pragma once
// Small RapidJSON helpers shared by the envelope and payload codecs.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "lethe/domain/result.hpp"

namespace lethe::domain::json {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

inline void key(Writer& w, std::string_view k) {
  w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
}
inline void field(Writer& w, std::string_view k, std::string_view v) {
  key(w, k);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}
inline void field(Writer& w, std::string_view k, std::int64_t v) {
  key(w, k);
  w.Int64(v);
}

// Reads a required string member; the error names the field.
inline Result<std::string> string_member(const rapidjson::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd()) return invalid(name, std::string("missing field '") + name + "'");
  if (!it->value.IsString()) return invalid(name, std::string("field '") + name + "' must be a string");
  std::string value(it->value.GetString(), it->value.GetStringLength());
  // JSON allows \u0000; PostgreSQL text does not, and a row it refuses
  // would stall a projection.
  if (value.find('\0') != std::string::npos)
    return invalid(name, std::string("field '") + name + "' must not contain NUL characters");
  return value;
}

inline Result<std::int64_t> int_member(const rapidjson::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd()) return invalid(name, std::string("missing field '") + name + "'");
  if (!it->value.IsInt64()) return invalid(name, std::string("field '") + name + "' must be an integer");
  return it->value.GetInt64();
}

// Parses a JSON object or explains why it is not one. Parses in place: the
// text is copied into `buffer`, which must outlive `doc` (strings in doc
// point into it). In place, with a terminating NUL, is several times faster
// than parsing from a (pointer, length) stream.
inline std::optional<DomainError> parse_object(rapidjson::Document& doc, std::string_view text, std::string& buffer) {
  buffer.assign(text);
  doc.ParseInsitu(buffer.data());
  if (doc.HasParseError()) {
    return invalid("", "not valid JSON (error " + std::to_string(doc.GetParseError()) + " at byte " +
                           std::to_string(doc.GetErrorOffset()) + ")");
  }
  if (!doc.IsObject()) return invalid("", "JSON value is not an object");
  return std::nullopt;
}

// True if any string (key or value) under v holds a NUL character.
inline bool has_nul(const rapidjson::Value& v) {
  if (v.IsString()) return std::string_view(v.GetString(), v.GetStringLength()).find('\0') != std::string_view::npos;
  if (v.IsObject()) {
    for (const auto& m : v.GetObject())
      if (has_nul(m.name) || has_nul(m.value)) return true;
  } else if (v.IsArray()) {
    for (const auto& x : v.GetArray())
      if (has_nul(x)) return true;
  }
  return false;
}

}  // namespace lethe::domain::json
