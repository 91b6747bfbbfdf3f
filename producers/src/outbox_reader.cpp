#include "outbox_reader.hpp"

#include "envelope_row.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/producers/relay.hpp"

namespace lethe::producers {

namespace {

// Order without holes. Positions come from a sequence, but transactions
// commit in any order, so "everything after the last position sent" can skip
// a row whose transaction commits late with a lower position. Instead only
// rows written by transactions older than the oldest one still running
// (pg_snapshot_xmin) are read: no row can ever appear below that line again,
// so the checkpoint (tx_id, position) only moves past rows that are final.
// Within a stream, a later version is written by a later transaction (the
// append reads the head first), so stream order is kept.
//
// The page is bounded in rows first, then in payload bytes: bytes_before is
// the payload size of the rows ahead of each row in the page.
//
// Each event is looked up by its key for its outbox row (a lateral subquery
// that OFFSET 0 keeps from being flattened): joined as a set, the planner
// hashes the whole event store for every page, a cost that grows with the
// store (113 ms a page of 10,000 at 200,000 events, against 31 ms). The
// rows leave the nested loop in the outbox index's order, which the window
// and the final ORDER BY reuse without sorting (the page's wide rows would
// sort on disk).
constexpr const char* kFetch = "outbox_fetch";
// The page after $1/$2 of the rows AFTER selects, in the outbox's ORDER
// (column names of outbox).
#define LETHE_OUTBOX_FETCH_SQL(AFTER, ORDER, O_ORDER, PAGE_ORDER)                            \
  "SELECT tx_id::text AS tx_id, topic, " LETHE_ENVELOPE_COLUMNS                              \
  " FROM ("                                                                                  \
  "  SELECT o.tx_id, o.global_position AS at, o.topic, e.*,"                                 \
  "   sum(e.bytes) OVER (ORDER BY " O_ORDER                                                  \
  ") - e.bytes AS bytes_before"                                                              \
  "  FROM (SELECT tx_id, global_position, topic FROM outbox WHERE " AFTER " ORDER BY " ORDER \
  " LIMIT $3) o"                                                                             \
  "  CROSS JOIN LATERAL (SELECT " LETHE_ENVELOPE_COLUMNS                                     \
  ", octet_length(payload::text) AS bytes FROM events"                                       \
  "   WHERE events.global_position = o.global_position OFFSET 0) e"                          \
  " ) page"                                                                                  \
  " WHERE bytes_before < $4"                                                                 \
  " ORDER BY " PAGE_ORDER
constexpr const char* kFetchSql = LETHE_OUTBOX_FETCH_SQL(
    "(tx_id, global_position) > ($1::xid8, $2::bigint)"
    " AND tx_id < pg_snapshot_xmin(pg_current_snapshot())",
    "tx_id, global_position", "o.tx_id, o.global_position", "page.tx_id, page.at");

// The naive order, for the negative control only: everything after the last
// position sent, as soon as it is visible. A transaction that commits late
// with a lower position is skipped for good. ($1 keeps the statement's shape.)
constexpr const char* kFetchByPositionSql = LETHE_OUTBOX_FETCH_SQL(
    "$1::xid8 IS NOT NULL AND global_position > $2::bigint", "global_position", "o.global_position", "page.at");
#undef LETHE_OUTBOX_FETCH_SQL

}  // namespace

OutboxReader::OutboxReader(pqxx::connection& conn, bool position_only) : conn_(conn) {
  conn_.prepare(kFetch, position_only ? kFetchByPositionSql : kFetchSql);
}

std::vector<OutboxEntry> OutboxReader::fetch(const OutboxPosition& after, int max_rows, std::int64_t max_bytes) {
  return infra::translate_pg("relay fetch", [&] {
    pqxx::read_transaction tx(conn_);
    std::vector<OutboxEntry> out;
    const auto rows = tx.exec_prepared(kFetch, after.tx_id, after.global_position, max_rows, max_bytes);
    out.reserve(rows.size());
    const EnvelopeColumns columns(rows);
    const auto tx_id = rows.column_number("tx_id"), topic = rows.column_number("topic");
    for (const auto& r : rows) {
      auto envelope = envelope_from_row(r, columns);
      OutboxPosition at{r[tx_id].c_str(), envelope.global_position};
      out.push_back({std::move(at), r[topic].c_str(), std::move(envelope)});
    }
    return out;
  });
}

Backlog OutboxReader::backlog() {
  return infra::translate_pg("relay backlog", [&] {
    pqxx::read_transaction tx(conn_);
    const auto row = tx.exec(kOutboxBacklogSql)[0];
    return Backlog{row["backlog"].as<std::int64_t>(), row["oldest_seconds"].as<double>()};
  });
}

}  // namespace lethe::producers
