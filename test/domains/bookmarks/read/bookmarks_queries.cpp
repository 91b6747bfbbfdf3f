#include "bookmarks_queries.hpp"

namespace lethe::projections::bookmarks_queries {

const Query kOne{"bookmarks.one",
                 "SELECT bookmark_id AS id, owner_id, url, label, version FROM bookmarks WHERE bookmark_id = $1"};
const Query kFresh{"bookmarks.fresh",
                   "SELECT EXISTS (SELECT 1 FROM bookmarks WHERE bookmark_id = $1 AND version >= $2)"};

}  // namespace lethe::projections::bookmarks_queries
