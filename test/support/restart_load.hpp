#pragma once
// HTTP traffic through a PostgreSQL restart: eight clients of reads and
// commands against a `lethe serve`, PostgreSQL stopped and started under
// them, and what was answered before it was back and after. For the fault
// test (nothing may fail once it is back) and the bench row beside it.
#include <string>
#include <vector>

#include "support/api.hpp"

namespace lethe::test {

struct RestartLoad {
  int before_ok = 0, before_failed = 0;   // requests sent before PostgreSQL accepted connections again
  int after_ok = 0;                       // and after
  std::vector<std::string> after_failed;  // "GET /tickets 503 {...}" per failure after it was back
  double outage_seconds = 0;              // from the stop until it accepted connections again
};

// Runs the load for a second, restarts PostgreSQL with scripts/postgres
// (stop, a pause, start), then runs it `seconds_after` more. `token` signs
// in the reads (GET /tickets); the commands are anonymous registrations.
RestartLoad load_through_postgres_restart(const Api& api, const std::string& token, double seconds_after = 3);

}  // namespace lethe::test
