#include "content_queries.hpp"

namespace lethe::projections::content_queries {

#define LETHE_POST_COLUMNS                                                                                      \
  "post_id AS id, author_id, title, body, author_deleted, " LETHE_UTC_TEXT("published_at") ", " LETHE_UTC_TEXT( \
      "updated_at") ", version"

const Query kPosts{"content.posts",
                   "SELECT " LETHE_POST_COLUMNS
                   " FROM content_posts WHERE NOT deleted AND ($1 = '' OR author_id = $1)"
                   " ORDER BY published_at DESC, post_id LIMIT $2 OFFSET $3",
                   {"title", "body"}};
const Query kPost{"content.post",
                  "SELECT " LETHE_POST_COLUMNS " FROM content_posts WHERE post_id = $1 AND NOT deleted",
                  {"title", "body"}};
const Query kComments{"content.comments",
                      "SELECT comment_id AS id, author_id, body, author_deleted, " LETHE_UTC_TEXT(
                          "created_at") ", " LETHE_UTC_TEXT("updated_at") ", version FROM content_comments"
                                                                          " WHERE post_id = $1 AND NOT deleted"
                                                                          " ORDER BY created_at, comment_id LIMIT $2 "
                                                                          "OFFSET $3",
                      {"body"}};
const Query kPostFresh{"content.post_fresh",
                       "SELECT EXISTS (SELECT 1 FROM content_posts WHERE post_id = $1 AND version >= $2)"};
const Query kCommentFresh{"content.comment_fresh",
                          "SELECT EXISTS (SELECT 1 FROM content_comments WHERE comment_id = $1 AND version >= $2)"};

#undef LETHE_POST_COLUMNS

}  // namespace lethe::projections::content_queries
