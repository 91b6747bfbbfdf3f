#include "outbox_reader.hpp"

#include "envelope_row.hpp"
#include "lethe/infra/pg.hpp"

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
constexpr const char* kFetch = "outbox_fetch";
// The page after $1/$2, in ORDER, of the rows AFTER selects.
#define LETHE_OUTBOX_FETCH_SQL(AFTER, ORDER)                                                     \
  "SELECT tx_id::text AS tx_id, topic, " LETHE_ENVELOPE_COLUMNS                                  \
  " FROM ("                                                                                      \
  "  SELECT o.tx_id, o.topic, e.*,"                                                              \
  "   sum(octet_length(e.payload::text)) OVER w - octet_length(e.payload::text) AS bytes_before" \
  "  FROM (SELECT tx_id, global_position, topic FROM outbox WHERE " AFTER " ORDER BY " ORDER     \
  " LIMIT $3) o"                                                                                 \
  "  JOIN events e USING (global_position)"                                                      \
  "  WINDOW w AS (ORDER BY " ORDER                                                               \
  ")) page"                                                                                      \
  " WHERE bytes_before < $4"                                                                     \
  " ORDER BY " ORDER
constexpr const char* kFetchSql = LETHE_OUTBOX_FETCH_SQL(
    "(tx_id, global_position) > ($1::xid8, $2::bigint)"
    " AND tx_id < pg_snapshot_xmin(pg_current_snapshot())",
    "tx_id, global_position");

// The naive order, for the negative control only: everything after the last
// position sent, as soon as it is visible. A transaction that commits late
// with a lower position is skipped for good. ($1 keeps the statement's shape.)
constexpr const char* kFetchByPositionSql =
    LETHE_OUTBOX_FETCH_SQL("$1::xid8 IS NOT NULL AND global_position > $2::bigint", "global_position");
#undef LETHE_OUTBOX_FETCH_SQL

constexpr const char* kBacklogSql =
    "SELECT count(*) AS backlog,"
    " coalesce(extract(epoch FROM now() - min(e.occurred_at)::timestamptz), 0)::float8 AS oldest_seconds"
    " FROM relay_checkpoint c"
    " JOIN outbox o ON (o.tx_id, o.global_position) > (c.tx_id, c.global_position)"
    " JOIN events e ON e.global_position = o.global_position"
    " WHERE c.id = 1";

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
    for (const auto& r : rows) {
      auto envelope = envelope_from_row(r);
      OutboxPosition at{r["tx_id"].c_str(), envelope.global_position};
      out.push_back({std::move(at), r["topic"].c_str(), std::move(envelope)});
    }
    return out;
  });
}

Backlog OutboxReader::backlog() {
  return infra::translate_pg("relay backlog", [&] {
    pqxx::read_transaction tx(conn_);
    const auto row = tx.exec(kBacklogSql)[0];
    return Backlog{row["backlog"].as<std::int64_t>(), row["oldest_seconds"].as<double>()};
  });
}

}  // namespace lethe::producers
