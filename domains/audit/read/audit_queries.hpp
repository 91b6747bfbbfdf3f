#pragma once
// The named queries of the audit log (V110__audit_log.sql and after), run by
// the audit routes.
#include "lethe/projections/query.hpp"

namespace lethe::projections::audit_queries {

// Entries in time order: $1 target ('' any), $2 actor ('' any), $3 from and
// $4 to (RFC 3339, '' open), $5 limit, $6 offset.
extern const Query kEntries;

}  // namespace lethe::projections::audit_queries
