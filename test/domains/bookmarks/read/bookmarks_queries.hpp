#pragma once
// The named queries of the bookmarks read model, run by its routes.
#include "lethe/projections/query.hpp"

namespace lethe::projections::bookmarks_queries {

// One bookmark: $1 bookmark id.
extern const Query kOne;
// Freshness ($1 id, $2 version) of a bookmark.
extern const Query kFresh;

}  // namespace lethe::projections::bookmarks_queries
