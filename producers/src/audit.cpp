#include "lethe/producers/audit.hpp"

#include "envelope_row.hpp"
#include "lethe/infra/pg.hpp"

namespace lethe::producers {

namespace {
// Keyset pagination in (stream_id, stream_version) order, served by the
// unique index: constant cost per page, however large the store.
constexpr const char* kPageSql = "SELECT " LETHE_ENVELOPE_COLUMNS
                                 " FROM events WHERE (stream_id, stream_version) > ($1, $2)"
                                 " ORDER BY stream_id, stream_version LIMIT $3";
constexpr int kPage = 10000;
}  // namespace

AuditReport verify_event_store(const std::string& conninfo, const std::function<void(std::int64_t)>& progress) {
  auto conn = infra::connect(conninfo);
  AuditReport report;
  std::string stream, prev_hash, broken_stream;
  std::int64_t version = 0;
  for (;;) {
    const auto rows = infra::translate_pg("verify", [&] {
      pqxx::read_transaction tx(*conn);
      return tx.exec_params(kPageSql, stream, version, kPage);
    });
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
    if (rows.size() < static_cast<std::size_t>(kPage)) break;
  }
  return report;
}

}  // namespace lethe::producers
