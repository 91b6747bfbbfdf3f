#include "lethe/producers/republish.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

#include "envelope_row.hpp"
#include "lethe/infra/backoff.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/pg.hpp"
#include "publisher.hpp"

namespace lethe::producers {

namespace {

// Keyset pages over the primary key, bounded in rows and payload bytes as
// the relay's fetch is; $4 = '' means every stream.
constexpr const char* kPageSql =
    "SELECT " LETHE_ENVELOPE_COLUMNS
    " FROM ("
    "  SELECT e.*, sum(octet_length(e.payload::text)) OVER w - octet_length(e.payload::text) AS bytes_before"
    "  FROM (SELECT * FROM events WHERE global_position >= $1 AND ($4 = '' OR stream_id = $4)"
    "        ORDER BY global_position LIMIT $2) e"
    "  WINDOW w AS (ORDER BY e.global_position)) page"
    " WHERE bytes_before < $3 ORDER BY global_position";

}  // namespace

RepublishReport republish(const RepublishOptions& opt, const std::atomic<bool>& stop) {
  auto conn = infra::connect(opt.conninfo, "lethe-republish");
  Publisher publisher(opt.brokers, opt.topic_prefix);
  RepublishReport report;
  std::int64_t from = opt.from_position, scanned = 0;
  auto last_report = std::chrono::steady_clock::now();
  infra::Backoff backoff(std::chrono::milliseconds(200));
  spdlog::info("republish: {} of {} from global position {}",
               opt.stream.empty() ? std::string("every stream") : "stream " + opt.stream,
               opt.topic.empty() ? std::string("every topic") : "topic " + opt.topic, from);
  while (!stop.load()) {
    const auto rows = infra::translate_pg("republish read", [&] {
      pqxx::read_transaction tx(*conn);
      return tx.exec_params(kPageSql, from, opt.batch_size, opt.batch_max_bytes, opt.stream);
    });
    if (rows.empty()) break;
    std::vector<OutboxEntry> batch;
    for (const auto& r : rows) {
      auto e = envelope_from_row(r);
      auto topic = domain::topic_of(e.type);
      from = e.global_position + 1;
      ++scanned;
      if (topic.empty() || (!opt.topic.empty() && topic != opt.topic)) continue;
      batch.push_back({{"0", e.global_position}, std::move(topic), std::move(e)});
    }
    for (;;) {
      const auto outcome = publisher.publish(batch, stop);
      if (outcome.stopped) return report;
      if (!outcome.retry_reason.empty()) {
        spdlog::warn("republish: batch not fully delivered ({}); sending it again", outcome.retry_reason);
        backoff.wait();
        continue;
      }
      for (const auto& [index, reason] : outcome.refused)
        spdlog::error("republish: event {} ({} v{}) refused: {}", batch[index].envelope.event_id,
                      batch[index].envelope.stream_id, batch[index].envelope.stream_version, reason);
      report.refused += static_cast<std::int64_t>(outcome.refused.size());
      report.published += static_cast<std::int64_t>(batch.size() - outcome.refused.size());
      break;
    }
    if (std::chrono::steady_clock::now() - last_report > std::chrono::seconds(5)) {
      last_report = std::chrono::steady_clock::now();
      spdlog::info("republish: {} events published, {} read, now at global position {}", report.published, scanned,
                   from);
    }
  }
  publisher.flush(10000);
  spdlog::info("republish: done, {} events published{}", report.published,
               report.refused ? ", " + std::to_string(report.refused) + " refused" : std::string());
  return report;
}

}  // namespace lethe::producers
