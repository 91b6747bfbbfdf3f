#pragma once
// The one payload codec of every domain: encodes and decodes an event
// variant from its alternatives' fields() (lethe/domain/event_fields.hpp).
// A personal field whose person's key is gone opens as null and decodes to
// erased(), so the event still folds; an unknown type or schema version is
// an error naming "type", never a silently skipped event.
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "json_util.hpp"
#include "lethe/domain/event_fields.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/domain/registry.hpp"
#include "personal_doc.hpp"

namespace lethe::domain::codec {

template <class Event>
std::string_view type_of(const Event& e) noexcept {
  return std::visit([](const auto& ev) { return std::decay_t<decltype(ev)>::kType; }, e);
}

template <class Event>
int version_of(const Event& e) noexcept {
  return std::visit([](const auto& ev) { return std::decay_t<decltype(ev)>::kVersion; }, e);
}

// Writes a JSON value's text into w as a value (it was validated when read).
inline void raw_value(json::Writer& w, const Json& v) {
  rapidjson::Document doc;
  doc.Parse(v.text.empty() ? "null" : v.text.c_str());
  if (doc.HasParseError()) doc.SetNull();
  doc.Accept(w);
}

inline std::string compact(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  v.Accept(w);
  return {buf.GetString(), buf.GetSize()};
}

template <class E>
void encode_fields(json::Writer& w, const E& ev) {
  for (const auto& f : E::fields()) {
    std::visit(
        [&](auto member) {
          using T = std::decay_t<decltype(ev.*member)>;
          const auto& value = ev.*member;
          if constexpr (std::is_same_v<T, std::string>) {
            if (!f.optional || !value.empty()) json::field(w, f.name, value);
          } else if constexpr (std::is_same_v<T, std::int64_t>) {
            json::field(w, f.name, value);
          } else if constexpr (std::is_same_v<T, bool>) {
            json::key(w, f.name);
            w.Bool(value);
          } else {
            if (f.optional && value.text.empty()) return;
            json::key(w, f.name);
            raw_value(w, value);
          }
        },
        f.member);
  }
}

template <class Event>
std::string encode_payload(const Event& e) {
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  w.StartObject();
  std::visit([&](const auto& ev) { encode_fields(w, ev); }, e);
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

template <class E>
Result<E> decode_as(const rapidjson::Value& doc, std::span<const PersonalField> personal) {
  E ev{};
  for (const auto& f : E::fields()) {
    const auto it = doc.FindMember(f.name);
    const bool present = it != doc.MemberEnd();
    std::optional<DomainError> err;
    std::visit(
        [&](auto member) {
          using T = std::decay_t<decltype(ev.*member)>;
          auto& out = ev.*member;
          if constexpr (std::is_same_v<T, std::string>) {
            if (!present && f.optional) return;
            // Opened as null: the person's key is gone.
            if (present && it->value.IsNull() &&
                std::any_of(personal.begin(), personal.end(), [&](const auto& p) { return p.field == f.name; })) {
              out = erased();
              return;
            }
            auto r = json::string_member(doc, f.name);
            if (!r) {
              err = r.error();
              return;
            }
            out = std::move(r).value();
          } else if constexpr (std::is_same_v<T, std::int64_t>) {
            auto r = json::int_member(doc, f.name);
            if (!r) {
              err = r.error();
              return;
            }
            out = r.value();
          } else if constexpr (std::is_same_v<T, bool>) {
            if (!present || !it->value.IsBool()) {
              err = invalid(f.name, std::string("field '") + f.name + "' must be true or false");
              return;
            }
            out = it->value.GetBool();
          } else {
            if (!present) {
              if (!f.optional) err = invalid(f.name, std::string("missing field '") + f.name + "'");
              return;
            }
            if (json::has_nul(it->value)) {
              err = invalid(f.name, std::string("field '") + f.name + "' must not contain NUL characters");
              return;
            }
            out.text = compact(it->value);
          }
        },
        f.member);
    if (err) return *err;
  }
  return ev;
}

// Decodes one parsed payload of the given type and schema version: one
// decoder per alternative of Event.
template <class Event>
Result<Event> decode_doc(std::string_view domain_name, std::string_view type, int schema_version,
                         const rapidjson::Value& doc) {
  const auto personal = personal_fields(type, schema_version);
  std::optional<Result<Event>> out;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (([&] {
       using E = std::variant_alternative_t<I, Event>;
       if (!out && E::kType == type && E::kVersion == schema_version) {
         auto r = decode_as<E>(doc, personal);
         out = r ? Result<Event>(Event{std::move(r).value()}) : Result<Event>(r.error());
       }
     }()),
     ...);
  }
  (std::make_index_sequence<std::variant_size_v<Event>>{});
  if (out) return std::move(*out);
  // An older version: lifted by the domain's upcasters to today's.
  if (auto lifted = upcast_payload(type, schema_version, compact(doc))) {
    rapidjson::Document current;
    std::string buffer;
    if (auto err = json::parse_object(current, lifted->second, buffer)) return *err;
    return decode_doc<Event>(domain_name, type, lifted->first, current);
  }
  return invalid("type", "unknown " + std::string(domain_name) + " event type '" + std::string(type) + "' v" +
                             std::to_string(schema_version));
}

template <class Event>
Result<Event> decode_payload(std::string_view domain_name, std::string_view type, int schema_version,
                             std::string_view payload_json) {
  rapidjson::Document doc;
  std::string buffer;
  if (auto err = json::parse_object(doc, payload_json, buffer)) return *err;
  return decode_doc<Event>(domain_name, type, schema_version, doc);
}

// Decodes a batch of sealed payloads with one key load (open_documents):
// each payload parsed once.
template <class Event>
std::vector<Result<Event>> decode_sealed(std::string_view domain_name, const std::vector<SealedPayload>& items,
                                         const KeyLoader& load) {
  std::vector<std::optional<Result<Event>>> decoded(items.size());
  const auto errors = open_documents(
      items, load,
      [&](std::size_t i, rapidjson::Document& doc, bool) {
        decoded[i] = decode_doc<Event>(domain_name, items[i].type, items[i].schema_version, doc);
      },
      true);
  std::vector<Result<Event>> out;
  out.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i)
    out.push_back(errors[i] ? Result<Event>(*errors[i]) : std::move(*decoded[i]));
  return out;
}

template <class E>
constexpr std::string_view topic_of(std::string_view domain_topic) {
  if constexpr (requires { E::kTopic; })
    return E::kTopic;
  else
    return domain_topic;
}

// The registry rows of an event variant: every alternative on the domain's
// topic, unless it names another (kTopic, such as "staff" for what only
// staff may read).
template <class Event, std::size_t N = std::variant_size_v<Event>>
constexpr std::array<EventTypeSpec, N> event_specs(std::string_view domain_topic) {
  std::array<EventTypeSpec, N> out{};
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((out[I] =
          EventTypeSpec{std::variant_alternative_t<I, Event>::kType, std::variant_alternative_t<I, Event>::kVersion,
                        topic_of<std::variant_alternative_t<I, Event>>(domain_topic)}),
     ...);
  }
  (std::make_index_sequence<N>{});
  return out;
}

}  // namespace lethe::domain::codec

// Defines, in a domain's namespace, what LETHE_DECLARE_EVENT_CODEC declares,
// for the streams of `kind` ("file": errors name file events).
#define LETHE_DEFINE_EVENT_CODEC(kind)                                                                       \
  std::string_view type_of(const Event& e) noexcept {                                                        \
    return ::lethe::domain::codec::type_of(e);                                                               \
  }                                                                                                          \
  int version_of(const Event& e) noexcept {                                                                  \
    return ::lethe::domain::codec::version_of(e);                                                            \
  }                                                                                                          \
  std::string encode_payload(const Event& e) {                                                               \
    return ::lethe::domain::codec::encode_payload(e);                                                        \
  }                                                                                                          \
  Result<Event> decode_payload(std::string_view type, int schema_version, std::string_view payload_json) {   \
    return ::lethe::domain::codec::decode_payload<Event>(kind, type, schema_version, payload_json);          \
  }                                                                                                          \
  std::vector<Result<Event>> decode_sealed(const std::vector<SealedPayload>& items, const KeyLoader& load) { \
    return ::lethe::domain::codec::decode_sealed<Event>(kind, items, load);                                  \
  }
