#pragma once
// The named queries of the event log (V101__event_log.sql), run by the audit
// routes (GET /event-log) and an erasure request's map.
#include "lethe/projections/query.hpp"

namespace lethe::projections::event_log_queries {

// Deliveries in time order: $1 stream ('' any), $2 type ('' any), $3 limit, $4 offset.
extern const Query kDeliveries;
// A person's streams: their account's (user-<$1>) and every stream whose
// events they made, each with its topic and how many events it holds.
extern const Query kStreamsOf;

}  // namespace lethe::projections::event_log_queries
