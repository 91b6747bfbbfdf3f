#pragma once
// The one registration point of a domain: the event types it emits (each
// with the schema version its decoder reads and the topic it goes to, so a
// staff-only event goes to the restricted topic) and the projections that
// read them. topic_of(), the schema checks and the docs all read this table;
// a new domain adds one DomainSpec and one line in domains().
#include <span>
#include <string_view>
#include <vector>

namespace lethe::domain {

struct EventTypeSpec {
  std::string_view type;
  int schema_version;
  std::string_view topic;  // logical topic ("users", "staff")
};

struct DomainSpec {
  std::string_view name;
  std::span<const EventTypeSpec> events;
  std::span<const std::string_view> projections;
};

// The event types a domain declares, in its order.
std::vector<std::string_view> type_names(const DomainSpec& domain);

// Every domain of this build.
const std::vector<const DomainSpec*>& domains();
// The registered type (at that schema version, or the newest when 0), or nullptr.
const EventTypeSpec* find_event_type(std::string_view type, int schema_version = 0);

}  // namespace lethe::domain
