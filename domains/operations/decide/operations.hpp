#pragma once
// Operators' actions that are not about a customer's data but must be on
// record: an admin or owner revealing a dead letter's payload (the console
// masks payloads; looking at one is audited; stream deadletter-<partition>-
// <offset> of the dead-letter topic), and an admin or owner starting a
// rebuild or a rollback of a read model from the console (stream
// projection-<name>). Topic: operations.
#include <array>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lethe/domain/event_fields.hpp"
#include "lethe/domain/registry.hpp"
#include "lethe/domain/result.hpp"
#include "users.hpp"

namespace lethe::domain::operations {

inline constexpr std::size_t kMaxText = 300;

// "<partition>-<offset>": a message's place on the dead-letter topic.
std::string dead_letter_id(std::int32_t partition, std::int64_t offset);
std::string dead_letter_stream(std::string_view id);

struct DeadLetterRevealed {
  LETHE_EVENT("operations.dead_letter_revealed");
  std::string dead_letter_id, projection, source;  // source: "<topic>[<partition>]@<offset>"
  static constexpr auto fields() {
    using E = DeadLetterRevealed;
    return std::array<FieldSpec<E>, 3>{
        {{"dead_letter_id", &E::dead_letter_id}, {"projection", &E::projection}, {"source", &E::source}}};
  }
};
// What a projection job does (consumers/versions.hpp): build the next
// version beside the live one and cut over, or switch back to the kept one.
inline constexpr std::string_view kJobActions[] = {"rebuild", "rollback"};
std::string projection_stream(std::string_view projection);

struct ProjectionJobStarted {
  LETHE_EVENT("operations.projection_job_started");
  std::string projection, action;
  static constexpr auto fields() {
    using E = ProjectionJobStarted;
    return std::array<FieldSpec<E>, 2>{{{"projection", &E::projection}, {"action", &E::action}}};
  }
};
using Event = std::variant<DeadLetterRevealed, ProjectionJobStarted>;

const DomainSpec& spec();

struct RevealDeadLetter {
  std::string dead_letter_id, projection, source;
};
struct StartProjectionJob {
  std::string projection, action;  // action: one of kJobActions
};
using Command = std::variant<RevealDeadLetter, StartProjectionJob>;

// A dead letter's or a projection's stream: how many actions it records.
struct Record {
  std::int64_t version = 0;
};

// Only an admin or an owner reveals a dead letter or starts a projection
// job; every one is an event.
Result<std::vector<Event>> decide(const Record& state, const Command& command, const users::Actor& actor);
Record evolve(Record state, const Event& event);

LETHE_DECLARE_EVENT_CODEC();

}  // namespace lethe::domain::operations
