#include "erasure_queries.hpp"

namespace lethe::projections::erasure_queries {

#define LETHE_STATUS_READ \
  "CASE WHEN status = 'awaiting_confirmation' AND confirm_by < lethe_now() THEN 'expired' ELSE status END"
#define LETHE_REQUEST_COLUMNS \
  "request_id AS id, user_id, mode, " LETHE_STATUS_READ " AS status, requested_by, " LETHE_UTC_TEXT(            \
      "requested_at") ", " LETHE_UTC_TEXT("confirm_by") ", " LETHE_UTC_TEXT("confirmed_at") ", sessions_ended, " \
      LETHE_UTC_TEXT("erased_at") ", erased_by, key_fingerprint, handed_to, records, beyond_reach, "              \
      LETHE_UTC_TEXT("readable_in_backups_until") ", " LETHE_UTC_TEXT("updated_at") ", version, " LETHE_DEADLINE_READ

// The legal deadline: one calendar month from the request (GDPR Art. 12(3);
// 31 January gives 28 or 29 February), and whether an open request has
// passed it by the schema's clock.
#define LETHE_DEADLINE_READ                                                                                           \
  "to_char((requested_at + interval '1 month') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS deadline," \
  " (" LETHE_STATUS_READ                                                                                              \
  " IN ('awaiting_confirmation', 'pending')"                                                                          \
  " AND requested_at + interval '1 month' < lethe_now()) AS overdue"

const Query kRequest{"erasure.request", "SELECT " LETHE_REQUEST_COLUMNS " FROM erasure_requests WHERE request_id = $1"};
const Query kReceipts{"erasure.receipts", "SELECT p AS projection, " LETHE_UTC_TEXT(
                                              "applied_at") " FROM erasure_requests q"
                                                            " CROSS JOIN LATERAL unnest(q.projections) AS p"
                                                            " LEFT JOIN erasure_receipts x ON x.request_id ="
                                                            " q.request_id AND x.projection = p"
                                                            " WHERE q.request_id = $1 ORDER BY p"};
const Query kTasks{"erasure.tasks", "SELECT task, confirmed_by, " LETHE_UTC_TEXT(
                                        "confirmed_at") " FROM erasure_tasks WHERE request_id = $1 ORDER BY task"};
const Query kRequests{"erasure.requests",
                      "SELECT " LETHE_REQUEST_COLUMNS
                      " FROM erasure_requests WHERE ($1 = '' OR user_id = $1) AND ($2 = '' OR " LETHE_STATUS_READ
                      " = $2 OR ($2 = 'open' AND " LETHE_STATUS_READ
                      " IN ('awaiting_confirmation', 'pending')))"
                      " AND ($5 = '' OR user_id IN (SELECT user_id FROM accounts"
                      " WHERE email_index = decode($5, 'hex')))"
                      " ORDER BY requested_at, request_id LIMIT $3 OFFSET $4"};
const Query kFresh{"erasure.fresh",
                   "SELECT EXISTS (SELECT 1 FROM erasure_requests WHERE request_id = $1 AND version >= $2)"};

const Query kOpen{"erasure.open",
                  "SELECT count(*) AS open,"
                  " coalesce(extract(epoch FROM lethe_now() - min(requested_at)), 0)::float8 AS oldest_seconds,"
                  " count(*) FILTER (WHERE requested_at + interval '1 month' < lethe_now()) AS overdue"
                  " FROM erasure_requests WHERE " LETHE_STATUS_READ " IN ('awaiting_confirmation', 'pending')"};

#undef LETHE_DEADLINE_READ
#undef LETHE_REQUEST_COLUMNS
#undef LETHE_STATUS_READ

}  // namespace lethe::projections::erasure_queries
