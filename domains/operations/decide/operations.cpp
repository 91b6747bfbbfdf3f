#include "operations.hpp"

#include "checks.hpp"
#include "codec.hpp"

namespace lethe::domain::operations {

namespace {

constexpr auto kEventTypes = codec::event_specs<Event>("operations");
constexpr std::string_view kProjections[] = {"audit", "event_log"};
constexpr TopicSpec kTopics[] = {{"operations", 1, "operators' audited actions (dead letters revealed)"}};

}  // namespace

const DomainSpec& spec() {
  static const DomainSpec s{"operations", kEventTypes, kProjections, kTopics};
  return s;
}

std::string dead_letter_id(std::int32_t partition, std::int64_t offset) {
  return std::to_string(partition) + "-" + std::to_string(offset);
}

std::string dead_letter_stream(std::string_view id) {
  return "deadletter-" + std::string(id);
}

Result<std::vector<Event>> decide(const DeadLetter&, const Command& command, const users::Actor& actor) {
  if (auto err = checks::may_change_anything(actor)) return *err;
  if (!checks::is_admin_or_owner(actor))
    return checks::forbidden("", "only an admin or an owner reveals a dead letter");
  const auto& c = std::get<RevealDeadLetter>(command);
  if (auto err = checks::id("dead_letter_id", c.dead_letter_id)) return *err;
  if (auto err = checks::text("projection", c.projection, kMaxText)) return *err;
  if (auto err = checks::text("source", c.source, kMaxText)) return *err;
  return std::vector<Event>{DeadLetterRevealed{c.dead_letter_id, c.projection, c.source}};
}

DeadLetter evolve(DeadLetter s, const Event&) {
  ++s.version;
  return s;
}

LETHE_DEFINE_EVENT_CODEC("dead_letter")

}  // namespace lethe::domain::operations
