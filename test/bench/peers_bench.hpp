#pragma once
// The peer rows of scripts/bench: what a team would deploy instead of lethe,
// on the same broker and PostgreSQL, fed the same bytes in the same run.
//   lethe relay           vs  Debezium's PostgreSQL connector with its outbox
//                             event router (Kafka Connect standalone)
//   lethe project users   vs  Debezium's JDBC sink upserting into a table of
//                             the users read model's shape
// Each process runs for the whole row: it first handles a warm-up load
// untimed (the JVM compiles its hot paths then), then the measured load
// (throughput, and its CPU time over that window), then events at a paced
// rate (latency, one event at a time). The set-up (jars, wal_level, the
// connector configs) is scripts/peers and test/bench/peers/.
#include <cstdint>
#include <functional>
#include <string>

#include "measure.hpp"

namespace lethe::bench {

struct PeerOptions {
  std::int64_t events = 200000;  // measured events of each throughput row
  std::int64_t warmup = 50000;   // events each process handles first, untimed
  std::size_t payload_bytes = 300;
  int batch = 5000;  // lethe's --batch-size and the sink's batch.size
  int paced_rate = 1000;
  double paced_seconds = 10;
};

struct PeerRow {
  std::string what;
  std::int64_t events = 0;
  double seconds = 0;      // the measured load: in -> the last of it out
  double cpu_seconds = 0;  // the process's user + system time over that window
  long rss_mib = 0;        // its peak RSS over its whole life
  std::int64_t paced = 0, paced_missing = 0;
  Latency latency;  // paced: in -> out, each event
};

struct PeersResult {
  PeerRow relay, outbox, project, sink;
  int paced_rate = 0;
  // Debezium's messages against lethe's: keys and values byte for byte (over
  // the measured load), and the header names of each.
  std::int64_t compared = 0, differing = 0;
  std::string lethe_headers, peer_headers;
};

PeersResult peers_bench(const PeerOptions& options, const std::function<void(const std::string&)>& say);
void print_peers(const PeersResult& result);

}  // namespace lethe::bench
