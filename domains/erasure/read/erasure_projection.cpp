#include "erasure_projection.hpp"

#include <pqxx/pqxx>

#include "erasure.hpp"
#include "lethe/infra/pg.hpp"
#include "stream_batch.hpp"

namespace lethe::projections {

namespace erasure = domain::erasure;

namespace {

// Few and small: one statement per event, each keyed so that applying it
// twice changes nothing (the request's version moves forward only).
constexpr const char* kVersionSql = "SELECT version FROM erasure_requests WHERE request_id = $1";
constexpr const char* kRequestedSql =
    "INSERT INTO erasure_requests (request_id, user_id, mode, requested_by, requested_at, confirm_by, status,"
    " updated_at, version) VALUES ($1, $2, $3, $4, $5, NULLIF($6, '')::timestamptz, $7, $5, $8)";
constexpr const char* kTaskSql =
    "INSERT INTO erasure_tasks (request_id, task) SELECT $1, t FROM unnest($2::text[]) AS t ON CONFLICT DO NOTHING";
constexpr const char* kConfirmedSql =
    "UPDATE erasure_requests SET confirmed_at = $2, sessions_ended = $3, status = 'pending', updated_at = $2,"
    " version = $4 WHERE request_id = $1";
constexpr const char* kHandedSql =
    "UPDATE erasure_requests SET handed_to = $2, records = $3::jsonb, updated_at = $4, version = $5"
    " WHERE request_id = $1";
constexpr const char* kErasedSql =
    "UPDATE erasure_requests SET erased_at = $2, erased_by = $3, key_fingerprint = $4, projections = $5::text[],"
    " beyond_reach = $6, readable_in_backups_until = NULLIF($8, '')::timestamptz, status = 'erased', updated_at = $2,"
    " version = $7 WHERE request_id = $1";
constexpr const char* kAppliedSql =
    "INSERT INTO erasure_receipts (request_id, projection, applied_at, event_id) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT DO NOTHING";
constexpr const char* kTaskDoneSql =
    "UPDATE erasure_tasks SET confirmed_by = $3, confirmed_at = $4 WHERE request_id = $1 AND task = $2";
constexpr const char* kCancelledSql =
    "UPDATE erasure_requests SET status = 'cancelled', updated_at = $2, version = $3 WHERE request_id = $1";
constexpr const char* kBumpSql = "UPDATE erasure_requests SET updated_at = $2, version = $3 WHERE request_id = $1";
// Complete once every projection applied it and every task is confirmed.
constexpr const char* kCompleteSql =
    "UPDATE erasure_requests r SET status = 'complete' WHERE request_id = $1 AND status = 'erased'"
    " AND NOT EXISTS (SELECT 1 FROM unnest(r.projections) AS p WHERE p NOT IN"
    "   (SELECT projection FROM erasure_receipts WHERE request_id = r.request_id))"
    " AND NOT EXISTS (SELECT 1 FROM erasure_tasks WHERE request_id = r.request_id AND confirmed_at IS NULL)";

}  // namespace

ApplyResult ErasureProjection::apply(std::span<const Delivered> batch, infra::Tx tx) {
  ApplyResult result;
  const auto decoded = stream_batch::decode<erasure::Event>(batch, "", erasure::decode_sealed, tx, result);
  for (const auto& [index, ev] : decoded) {
    const auto& d = batch[index];
    const auto& env = d.envelope;
    const auto request_id = std::visit([](const auto& e) { return e.request_id; }, ev);
    if (!stream_batch::on_stream(d, index, erasure::request_stream(request_id), result)) continue;
    const auto stored = infra::exec_hot(tx, kVersionSql, request_id);
    const bool exists = !stored.empty();
    const std::int64_t version = exists ? stored[0][0].as<std::int64_t>() : 0;
    const bool creates = std::holds_alternative<erasure::ErasureRequested>(ev);
    if (!stream_batch::is_next(d, index, version, exists, creates, result)) continue;
    const auto v = env.stream_version;
    std::visit(
        [&](const auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, erasure::ErasureRequested>) {
            const auto status = e.mode == "self" ? "awaiting_confirmation" : "pending";
            infra::exec_hot(tx, kRequestedSql, e.request_id, e.user_id, e.mode, env.actor, env.occurred_at,
                            e.confirm_by, std::string(status), v);
            infra::exec_hot(tx, kTaskSql, e.request_id, infra::pg_text_array(erasure::strings_of(e.tasks)));
          } else if constexpr (std::is_same_v<T, erasure::ErasureConfirmed>) {
            infra::exec_hot(tx, kConfirmedSql, e.request_id, env.occurred_at, e.sessions_ended, v);
          } else if constexpr (std::is_same_v<T, erasure::OwnershipHandedOver>) {
            infra::exec_hot(tx, kHandedSql, e.request_id, e.to_user_id, e.records.text, env.occurred_at, v);
          } else if constexpr (std::is_same_v<T, erasure::UserErased>) {
            infra::exec_hot(tx, kErasedSql, e.request_id, env.occurred_at, env.actor, e.key_fingerprint,
                            infra::pg_text_array(erasure::strings_of(e.projections)), e.beyond_reach, v,
                            e.readable_in_backups_until);
          } else if constexpr (std::is_same_v<T, erasure::ErasureApplied>) {
            // When: the receipt's own time, from the projection's transaction.
            infra::exec_hot(tx, kAppliedSql, e.request_id, e.projection, env.occurred_at, env.event_id);
            infra::exec_hot(tx, kBumpSql, e.request_id, env.occurred_at, v);
          } else if constexpr (std::is_same_v<T, erasure::TaskConfirmed>) {
            infra::exec_hot(tx, kTaskDoneSql, e.request_id, e.task, env.actor, env.occurred_at);
            infra::exec_hot(tx, kBumpSql, e.request_id, env.occurred_at, v);
          } else if constexpr (std::is_same_v<T, erasure::ErasureCancelled>) {
            infra::exec_hot(tx, kCancelledSql, e.request_id, env.occurred_at, v);
          }
        },
        ev);
    infra::exec_hot(tx, kCompleteSql, request_id);
    ++result.applied;
  }
  return result;
}

const ErasurePolicy& ErasureProjection::erasure_policy() const {
  static const ErasurePolicy policy{
      {"erasure_requests", "user_id", Erase::keep, {}, {}, "the receipt names whom it is for, by id only"},
      {"erasure_requests", "requested_by", Erase::keep, {}, {}, "who asked, by id"},
      {"erasure_requests", "erased_by", Erase::keep, {}, {}, "the admin who carried it out, by id"},
      {"erasure_requests", "handed_to", Erase::keep, {}, {}, "who received the records, by id"},
      {"erasure_tasks", "confirmed_by", Erase::keep, {}, {}, "the admin who confirmed a task, by id"},
  };
  return policy;
}

std::vector<ReadModel> erasure_read_models() {
  return {{"erasure", []() -> std::unique_ptr<Projection> { return std::make_unique<ErasureProjection>(); }}};
}

}  // namespace lethe::projections
