#include "audit_queries.hpp"

namespace lethe::projections::audit_queries {

const Query kEntries{
    "audit.entries",
    "SELECT event_id::text AS event_id, action, actor, target_kind, target_id, stream_id, stream_version, " LETHE_UTC_TEXT(
        "occurred_at") ", correlation_id FROM audit_log"
                       " WHERE ($1 = '' OR target_id = $1) AND ($2 = '' OR actor = $2)"
                       " AND ($3 = '' OR occurred_at >= $3::timestamptz) AND ($4 = '' OR occurred_at < $4::timestamptz)"
                       " ORDER BY occurred_at, event_id LIMIT $5 OFFSET $6"};

}  // namespace lethe::projections::audit_queries
