#pragma once
#include "http.hpp"

namespace lethe::api {

// GET /ready: 200 when PostgreSQL and Kafka answer, with the relay's
// backlog (outbox rows not yet published) and each projection's lag
// (messages on its partitions not yet applied); 503 naming what is down.
void ready(Call& c);

}  // namespace lethe::api
