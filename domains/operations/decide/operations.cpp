#include "operations.hpp"

#include <algorithm>

#include "checks.hpp"
#include "codec.hpp"

namespace lethe::domain::operations {

namespace {

constexpr auto kEventTypes = codec::event_specs<Event>("operations");
constexpr std::string_view kProjections[] = {"audit", "event_log"};
constexpr TopicSpec kTopics[] = {
    {"operations", 1, "operators' audited actions (dead letters revealed, read models rebuilt or rolled back)"}};

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

std::string projection_stream(std::string_view projection) {
  return "projection-" + std::string(projection);
}

namespace {

Result<std::vector<Event>> decide_one(const RevealDeadLetter& c) {
  if (auto err = checks::id("dead_letter_id", c.dead_letter_id)) return *err;
  if (auto err = checks::text("projection", c.projection, kMaxText)) return *err;
  if (auto err = checks::text("source", c.source, kMaxText)) return *err;
  return std::vector<Event>{DeadLetterRevealed{c.dead_letter_id, c.projection, c.source}};
}

Result<std::vector<Event>> decide_one(const StartProjectionJob& c) {
  if (auto err = checks::id("projection", c.projection)) return *err;
  if (std::ranges::find(kJobActions, c.action) == std::end(kJobActions))
    return checks::rule("action", "a projection job is a rebuild or a rollback");
  return std::vector<Event>{ProjectionJobStarted{c.projection, c.action}};
}

}  // namespace

Result<std::vector<Event>> decide(const Record&, const Command& command, const users::Actor& actor) {
  if (auto err = checks::may_change_anything(actor)) return *err;
  if (!checks::is_admin_or_owner(actor))
    return checks::forbidden("", std::holds_alternative<RevealDeadLetter>(command)
                                     ? "only an admin or an owner reveals a dead letter"
                                     : "only an admin or an owner rebuilds or rolls back a read model");
  return std::visit([](const auto& c) { return decide_one(c); }, command);
}

Record evolve(Record s, const Event&) {
  ++s.version;
  return s;
}

LETHE_DEFINE_EVENT_CODEC("operations")

}  // namespace lethe::domain::operations
