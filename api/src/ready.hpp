#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "http.hpp"

namespace lethe::api {

// GET /ready: 200 when PostgreSQL and Kafka answer, else 503. Operators
// (every signed-in role but user) also get the relay's backlog (outbox rows
// not yet published), each projection's lag (messages on its partitions not
// yet applied) and what is down; anyone else only ready or not.
void ready(Call& c);

// GET /operations (staff, admins, owners, auditors; the console's operations
// page): per projection its lag in messages and in seconds (the age of the
// oldest message not yet applied, read off the event log where it holds
// that message), its partitions and its last batch; the relay's backlog and
// its oldest entry's age; the dead letters waiting on the dead-letter topic.
void operations(Call& c);

// Both answers come from one snapshot, taken at most once a second whoever
// asks and how often, on one connection kept for it.

// A partition's first and next offsets, asked on the server's one Kafka
// handle within 2 s; nullopt when Kafka does not answer.
std::optional<std::pair<std::int64_t, std::int64_t>> watermarks(const Call& c, const std::string& topic,
                                                                std::int32_t partition);

}  // namespace lethe::api
