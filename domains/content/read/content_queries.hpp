#pragma once
// The named queries of the content read models (V107__content.sql and
// after), run by the content routes.
#include "lethe/projections/query.hpp"

namespace lethe::projections::content_queries {

// Posts not deleted, newest first: $1 author ('' any), $2 limit, $3 offset.
extern const Query kPosts;
// One post not deleted: $1 post id.
extern const Query kPost;
// A post's comments not deleted, oldest first: $1 post id, $2 limit, $3 offset.
extern const Query kComments;
// Freshness ($1 id, $2 version) of a post, a comment.
extern const Query kPostFresh;
extern const Query kCommentFresh;

}  // namespace lethe::projections::content_queries
