#pragma once
#include "http.hpp"

namespace lethe::api {

// GET /ready: 200 when PostgreSQL and Kafka answer, else 503. Operators
// (every signed-in role but user) also get the relay's backlog (outbox rows
// not yet published), each projection's lag (messages on its partitions not
// yet applied) and what is down; anyone else only ready or not. Checked at
// most once a second, on one connection kept for it.
void ready(Call& c);

}  // namespace lethe::api
