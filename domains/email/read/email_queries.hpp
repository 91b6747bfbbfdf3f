#pragma once
// The named queries of the email read model (V109__email.sql and after), run
// by the email routes.
#include "lethe/projections/query.hpp"

namespace lethe::projections::email_queries {

// Email logs, newest first: $1 recipient ('' any), $2 limit, $3 offset.
extern const Query kList;
// Freshness ($1 id, $2 version) of an email log.
extern const Query kFresh;

}  // namespace lethe::projections::email_queries
