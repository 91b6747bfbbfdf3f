#pragma once
// The registry of domains. A domain is a folder, domains/<name>/, and its
// decide/ part declares here the event types it emits (each with the schema
// version its decoder reads and the topic it goes to, so a staff-only event
// goes to the restricted topic), the topics it owns and the projections that
// read it. The build lists the folders (cmake/catalog.cmake) and defines
// domains() from them: adding a domain edits no shared list. topic_of(), the
// topic set-up, the schema checks and the docs all read this registry.
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lethe::domain {

struct EventTypeSpec {
  std::string_view type;
  int schema_version;
  std::string_view topic;  // logical topic ("users", "staff")
};

struct TopicSpec {
  std::string_view name;  // logical; the physical name is a prefix + name
  int partitions;
  std::string_view purpose;
};

// Lifts a payload of `type` from `from_version` to from_version + 1: JSON
// text in (personal fields opened, or null where the person is erased),
// JSON text out. The stored bytes never change, so the hash chain still
// verifies them; every decoder (projections, `lethe events`) applies the
// chain up to the version the domain emits today.
struct Upcaster {
  std::string_view type;
  int from_version;
  std::string (*lift)(std::string_view payload_json);
};

struct DomainSpec {
  std::string_view name;
  std::span<const EventTypeSpec> events;
  std::span<const std::string_view> projections;
  std::span<const TopicSpec> topics;      // the topics this domain owns
  std::span<const Upcaster> upcasters{};  // each older schema version of its events, one step each
};

// The event types a domain declares, in its order.
std::vector<std::string_view> type_names(const DomainSpec& domain);

// Every domain of this build, in folder-name order (defined by the build's
// generated catalog).
const std::vector<const DomainSpec*>& domains();
// The registered type (at that schema version, or the newest when 0), or nullptr.
const EventTypeSpec* find_event_type(std::string_view type, int schema_version = 0);

// The payload of `type` at `schema_version` lifted by its domain's upcasters
// to the version registered today: (that version, the payload). nullopt
// when it is that version already, or no chain of upcasters leads there.
std::optional<std::pair<int, std::string>> upcast_payload(std::string_view type, int schema_version,
                                                          std::string_view payload_json);

// Every topic: each domain's own, then the shared ones (the restricted
// "staff" topic several domains write to, and "dead-letters").
const std::vector<TopicSpec>& topics();
// The topics events go to (every topic but dead-letters), in topics() order.
std::vector<std::string_view> event_topics();

}  // namespace lethe::domain
