#pragma once
// The relay's view of the outbox: what is ready to publish, in an order that
// never skips a row that commits late.
#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "lethe/domain/envelope.hpp"

namespace lethe::producers {

// A place in publish order: (writing transaction, global position).
struct OutboxPosition {
  std::string tx_id = "0";  // xid8 as text
  std::int64_t global_position = 0;
};

struct OutboxEntry {
  OutboxPosition position;
  std::string topic;  // logical topic ("users")
  domain::Envelope envelope;
};

struct Backlog {
  std::int64_t entries = 0;
  double oldest_seconds = 0;
};

class OutboxReader {
 public:
  // Prepares its statements on conn; conn must outlive the reader.
  // position_only: the naive order a test must fail against (see
  // RelayOptions::negative_control_position_order).
  explicit OutboxReader(pqxx::connection& conn, bool position_only = false);

  // The entries after `after` that are final (their writing transaction is
  // older than every transaction still running), in (tx_id, position) order:
  // at most max_rows, and no more payload bytes than max_bytes once the
  // first entry is counted (one entry always comes, however large).
  std::vector<OutboxEntry> fetch(const OutboxPosition& after, int max_rows, std::int64_t max_bytes);

  // Entries not yet published, final or not, and how long ago the oldest
  // of them occurred (0 when none).
  Backlog backlog();

 private:
  pqxx::connection& conn_;
};

}  // namespace lethe::producers
