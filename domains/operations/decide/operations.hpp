#pragma once
// Operators' actions that are not about a customer's data but must be on
// record: an admin or owner revealing a dead letter's payload (the console
// masks payloads; looking at one is audited). Stream: deadletter-<partition>-
// <offset> of the dead-letter topic; topic: operations.
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
using Event = std::variant<DeadLetterRevealed>;

const DomainSpec& spec();

struct RevealDeadLetter {
  std::string dead_letter_id, projection, source;
};
using Command = std::variant<RevealDeadLetter>;

struct DeadLetter {
  std::int64_t version = 0;  // how many times it was revealed
};

// Only an admin or an owner reveals a dead letter; every reveal is an event.
Result<std::vector<Event>> decide(const DeadLetter& state, const Command& command, const users::Actor& actor);
DeadLetter evolve(DeadLetter state, const Event& event);

LETHE_DECLARE_EVENT_CODEC();

}  // namespace lethe::domain::operations
