#pragma once
// The named queries of the files read model (V108__files.sql and after), run
// by the files routes.
#include "lethe/projections/query.hpp"

namespace lethe::projections::files_queries {

// Files not deleted, newest first: $1 owner ('' any), $2 limit, $3 offset.
extern const Query kList;
// One file not deleted: $1 file id.
extern const Query kOne;
// Freshness ($1 id, $2 version) of a file.
extern const Query kFresh;

}  // namespace lethe::projections::files_queries
