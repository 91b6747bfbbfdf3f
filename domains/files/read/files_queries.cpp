#include "files_queries.hpp"

namespace lethe::projections::files_queries {

#define LETHE_FILE_COLUMNS \
  "file_id AS id, owner_id, name, size, content_type, checksum, " LETHE_UTC_TEXT("recorded_at") ", version"

const Query kList{"files.list",
                  "SELECT " LETHE_FILE_COLUMNS
                  " FROM files WHERE NOT deleted AND ($1 = '' OR owner_id = $1)"
                  " ORDER BY recorded_at DESC, file_id LIMIT $2 OFFSET $3",
                  {"name"}};
const Query kOne{"files.one", "SELECT " LETHE_FILE_COLUMNS " FROM files WHERE file_id = $1 AND NOT deleted", {"name"}};
const Query kFresh{"files.fresh", "SELECT EXISTS (SELECT 1 FROM files WHERE file_id = $1 AND version >= $2)"};

#undef LETHE_FILE_COLUMNS

}  // namespace lethe::projections::files_queries
