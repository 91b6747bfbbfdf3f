#include "lethe/domain/registry.hpp"

#include <algorithm>
#include <map>
#include <utility>

namespace lethe::domain {

namespace {

// Topics no one domain owns.
constexpr TopicSpec kSharedTopics[] = {
    {"staff", 3, "restricted: staff-only data such as internal ticket notes"},
    {"dead-letters", 1, "events a projection could not apply, with reason and source offset in headers"},
};

bool has_topic(const std::vector<TopicSpec>& list, std::string_view name) {
  return std::any_of(list.begin(), list.end(), [&](const TopicSpec& t) { return t.name == name; });
}

}  // namespace

std::vector<std::string_view> type_names(const DomainSpec& domain) {
  std::vector<std::string_view> out;
  for (const auto& e : domain.events) out.push_back(e.type);
  return out;
}

const EventTypeSpec* find_event_type(std::string_view type, int schema_version) {
  const EventTypeSpec* found = nullptr;
  for (const auto* d : domains())
    for (const auto& e : d->events)
      if (e.type == type && (schema_version == 0 ? !found || e.schema_version > found->schema_version
                                                 : e.schema_version == schema_version))
        found = &e;
  return found;
}

std::optional<std::pair<int, std::string>> upcast_payload(std::string_view type, int schema_version,
                                                          std::string_view payload_json) {
  const auto* current = find_event_type(type);
  if (!current || schema_version >= current->schema_version) return std::nullopt;
  // Every domain's steps by (type, version they lift from), gathered once.
  static const auto steps = [] {
    std::map<std::pair<std::string, int>, const Upcaster*, std::less<>> out;
    for (const auto* d : domains())
      for (const auto& u : d->upcasters) out[{std::string(u.type), u.from_version}] = &u;
    return out;
  }();
  std::string payload(payload_json);
  for (int v = schema_version; v < current->schema_version; ++v) {
    const auto step = steps.find(std::pair{std::string(type), v});
    if (step == steps.end()) return std::nullopt;
    payload = step->second->lift(payload);
  }
  return std::pair{current->schema_version, std::move(payload)};
}

const std::vector<TopicSpec>& topics() {
  static const std::vector<TopicSpec> all = [] {
    std::vector<TopicSpec> out;
    for (const auto* d : domains())
      for (const auto& t : d->topics)
        if (!has_topic(out, t.name)) out.push_back(t);
    for (const auto& t : kSharedTopics)
      if (!has_topic(out, t.name)) out.push_back(t);
    return out;
  }();
  return all;
}

std::vector<std::string_view> event_topics() {
  std::vector<std::string_view> out;
  for (const auto& t : topics()) {
    const bool written = std::any_of(domains().begin(), domains().end(), [&](const DomainSpec* d) {
      return std::any_of(d->events.begin(), d->events.end(), [&](const EventTypeSpec& e) { return e.topic == t.name; });
    });
    if (written) out.push_back(t.name);
  }
  return out;
}

}  // namespace lethe::domain
