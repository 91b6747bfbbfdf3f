#pragma once
// HTTP/1.1 over TCP for `lethe serve` (Boost.Beast): reads requests within
// bounds, hands each whole request to a handler on a pool of worker
// threads, writes the answer back. Connections are read and written
// asynchronously, so a slow or idle client holds a socket, never a worker.
//
// Bounds, all enforced before a handler runs:
// - request line and headers together at most max_header_bytes (431), at
//   most max_header_count header lines (431);
// - a body at most max_body_bytes whatever its framing (413); a request
//   with neither Content-Length nor chunked framing has no body (RFC 9112);
//   chunked bodies are refused (411) and so are compressed ones (415);
// - the whole request within request_timeout of the connection being ready
//   for it, else the connection is closed;
// - at most max_connections open at once; beyond, new ones are closed;
//   bodies held at once at most max_body_memory bytes (503 busy beyond).
// Refusals are JSON like every other error, and close the connection.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include "http.hpp"

namespace lethe::api {

struct TransportLimits {
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_header_count = 100;
  std::size_t max_body_bytes = 1 << 20;
  std::chrono::milliseconds request_timeout{10000};
  int max_connections = 10000;
  int workers = 32;
  // Request bodies held at once, counted by their Content-Length; a request
  // that would pass it gets 503 busy with Retry-After.
  std::size_t max_body_memory = 256u << 20;
};

// Builds the answer to one request. `inline_ok` says a request is cheap and
// needs no database (liveness): it is answered on the I/O thread, so it
// answers even while every worker is busy. Never throws.
struct Handlers {
  std::function<Response(Request&)> answer;
  std::function<bool(const Request&)> inline_ok;
  // A refusal made before any handler ran (431, 413, ...), for the log.
  std::function<void(const Request&, const Response&)> refused;
};

// Listens on host:port and serves until `stop` becomes true; then stops
// accepting, lets requests in flight be answered (up to 30 s) and returns 0.
// Returns 2 when it cannot listen.
int run_transport(const std::string& host, int port, const TransportLimits& limits, const Handlers& handlers,
                  const std::atomic<bool>& stop);

}  // namespace lethe::api
