#include "lethe/producers/audit.hpp"

#include <algorithm>

#include "envelope_row.hpp"
#include "lethe/infra/pg.hpp"

namespace lethe::producers {

namespace {
// Keyset pagination in (stream_id, stream_version) order, served by the
// unique index: constant cost per page, however large the store. A page is
// bounded in bytes too: first the keys and sizes of the next rows, then the
// rows up to the budget, both in one snapshot so that they agree.
constexpr const char* kPageSizesSql =
    "SELECT stream_id, stream_version, octet_length(payload::text) + octet_length(stream_id) + octet_length(type)"
    " + octet_length(occurred_at) + octet_length(actor) + octet_length(correlation_id)"
    " + octet_length(causation_id) + octet_length(prev_hash) + octet_length(hash) + 200"
    " FROM events WHERE (stream_id, stream_version) > ($1, $2) ORDER BY stream_id, stream_version LIMIT $3";
constexpr const char* kPageSql = "SELECT " LETHE_ENVELOPE_COLUMNS
                                 " FROM events WHERE (stream_id, stream_version) > ($1, $2)"
                                 " AND (stream_id, stream_version) <= ($3, $4) ORDER BY stream_id, stream_version";
}  // namespace

AuditReport verify_event_store(const std::string& conninfo, const std::function<void(std::int64_t)>& progress,
                               const AuditOptions& options) {
  auto conn = infra::connect(conninfo);
  AuditReport report;
  std::string stream, prev_hash, broken_stream;
  std::int64_t version = 0;
  // Sizing reads the rows' payloads on the server, so the number of rows it
  // looks at follows what the last page could hold: about twice as many.
  const std::int64_t max_rows = std::max(1, options.page_rows);
  std::int64_t probe = max_rows;
  for (;;) {
    const auto rows = infra::translate_pg("verify", [&] {
      pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(*conn);
      const auto sizes = tx.exec_params(kPageSizesSql, stream, version, probe);
      if (sizes.empty()) return pqxx::result();
      std::size_t bytes = 0, take = 0;
      while (take < sizes.size()) {
        bytes += sizes[static_cast<pqxx::result::size_type>(take)][2].as<std::size_t>();
        if (take > 0 && bytes > options.page_bytes) break;
        ++take;
      }
      probe = take < sizes.size() ? std::max<std::int64_t>(1, 2 * static_cast<std::int64_t>(take))
                                  : std::min(max_rows, 2 * probe);
      const auto& last = sizes[static_cast<pqxx::result::size_type>(take - 1)];
      return tx.exec_params(kPageSql, stream, version, last[0].c_str(), last[1].as<std::int64_t>());
    });
    if (rows.empty()) break;
    for (const auto& row : rows) {
      const auto e = envelope_from_row(row);
      if (e.stream_id != stream) {
        ++report.streams;
        stream = e.stream_id;
        version = 0;
        prev_hash.clear();
      }
      ++report.events;
      if (broken_stream != stream) {
        std::string problem;
        if (e.stream_version != version + 1)
          problem = "version gap: expected " + std::to_string(version + 1);
        else if (e.prev_hash != prev_hash)
          problem = "prev_hash does not match the previous event's hash";
        else if (domain::chain_hash(e) != e.hash)
          problem = "hash does not match the event's content";
        if (!problem.empty()) {
          report.breaks.push_back({stream, e.stream_version, problem});
          broken_stream = stream;
        }
      }
      version = e.stream_version;
      prev_hash = e.hash;
    }
    if (progress) progress(report.events);
  }
  return report;
}

}  // namespace lethe::producers
