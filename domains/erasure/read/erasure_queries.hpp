#pragma once
// The named queries of the erasure read model (V119__erasure.sql), run by
// the erasure routes.
#include "lethe/projections/query.hpp"

namespace lethe::projections::erasure_queries {

// One request: $1 request id. A self-service request whose token ran out
// unconfirmed reads as expired (the person may ask again).
extern const Query kRequest;
// Every projection that owes the request a receipt, with when it applied
// it (NULL: not yet): $1 request id.
extern const Query kReceipts;
// The request's external tasks: $1 request id.
extern const Query kTasks;
// Requests, oldest first: $1 user ('' any), $2 status as read ('' any), $3 limit, $4 offset.
extern const Query kRequests;
// Freshness ($1 id, $2 version) of a request.
extern const Query kFresh;
// The requests still open (awaiting a confirmation not yet expired, or
// pending), the oldest one's age in seconds (0: none) and how many are past
// the legal deadline of one month from the request. No parameters.
extern const Query kOpen;

}  // namespace lethe::projections::erasure_queries
