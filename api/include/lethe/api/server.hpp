#pragma once
// `lethe serve`: the HTTP/JSON API. Commands go to the producers' command
// services, queries read the projections' tables; this layer holds no
// business rule. One table (routes.cpp) declares every route with the roles
// allowed on it; request bodies are validated against the OpenAPI document
// schemas/openapi.json, compiled into the binary.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "lethe/infra/config.hpp"
#include "lethe/producers/request_limits.hpp"

namespace lethe::api {

// A rebuild or rollback of a read model started from the console (POST
// /projections/{name}/rebuild|rollback): `lethe serve` runs it in a thread
// of its own, and app wires it to consumers::rebuild and rollback.
struct JobOutcome {
  bool done = false;    // cut over, or rolled back
  std::string message;  // what happened, or why not (the refusals)
};
using ProjectionJob =
    std::function<JobOutcome(const std::string& projection, const std::string& action,
                             const std::function<void(double)>& progress, const std::atomic<bool>& stop)>;

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  // Worker threads run the handlers (blocking PostgreSQL calls); the
  // connections themselves are read and written asynchronously by two I/O
  // threads, so an idle or slow client holds no worker.
  int threads = 32;
  // Open connections at once; beyond, a new one is closed at accept.
  int max_connections = 10000;
  // A request (line, headers and body) must arrive whole within this long
  // of the connection being ready for it, or the connection is closed; the
  // same bound applies to an idle keep-alive connection.
  std::chrono::milliseconds request_timeout{10000};
  std::size_t password_slots = 2;            // Argon2id hashes at once (64 MiB each)
  std::size_t max_body_bytes = 1 << 20;      // larger bodies get 413
  std::chrono::milliseconds max_wait{5000};  // longest read-your-writes wait
  // A request waits at most this long for a lock held elsewhere, and a
  // statement runs at most statement_timeout; then 503 (never a hang).
  std::chrono::milliseconds lock_timeout{5000};
  std::chrono::milliseconds statement_timeout{30000};
  std::chrono::seconds session_ttl{12 * 3600};
  // Requests without a sign-in to the routes that cost (register, log in),
  // per client address and for everyone, per minute; then 429.
  producers::AnonymousLimits anonymous;
  int login_max_failures = 5;
  std::chrono::seconds login_window{15 * 60};
  // Erasure: carried out per admin per hour, a self-service token's life,
  // and the external systems each request must have confirmed.
  int erasures_per_hour = 10;
  std::chrono::seconds erasure_token_ttl{24 * 3600};
  std::vector<std::string> erasure_tasks{"payment_provider", "newsletter"};
  // Unset: the routes that start projection jobs answer 501.
  ProjectionJob projection_job;
};

// Serves until stop becomes true (SIGTERM), then lets requests in flight
// finish. Returns the process exit code.
int serve(const infra::Config& cfg, const ServeOptions& options, const std::atomic<bool>& stop);

// Every route as (method, OpenAPI path), for the test that checks the
// server and the OpenAPI document agree.
struct RouteInfo {
  std::string method, path, roles;
};
std::vector<RouteInfo> route_table();

// The OpenAPI document compiled into the binary.
const std::string& openapi_document();

}  // namespace lethe::api
