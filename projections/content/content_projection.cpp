#include "content/content_projection.hpp"

#include <unordered_map>

#include "lethe/domain/content.hpp"
#include "stream_batch.hpp"

namespace lethe::projections {

namespace content = domain::content;
using stream_batch::nullable;

namespace {

constexpr const char* kLoadPostsSql =
    "SELECT post_id, author_id, title, body, deleted, published_at::text, version FROM content_posts"
    " WHERE post_id = ANY($1::text[])";
constexpr const char* kLoadCommentsSql =
    "SELECT comment_id, post_id, author_id, body, deleted, created_at::text, version FROM content_comments"
    " WHERE comment_id = ANY($1::text[])";

// Staging tables (their defaults included: author_deleted is not staged).
constexpr const char* kStageSql =
    "CREATE TEMP TABLE IF NOT EXISTS content_posts_stage (LIKE content_posts INCLUDING DEFAULTS)"
    " ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS content_comments_stage (LIKE content_comments INCLUDING DEFAULTS)"
    " ON COMMIT DELETE ROWS";
const std::vector<std::string> kPostColumns{"post_id", "author_id",    "title",      "body",
                                            "deleted", "published_at", "updated_at", "version"};
const std::vector<std::string> kCommentColumns{"comment_id", "post_id",    "author_id",  "body",
                                               "deleted",    "created_at", "updated_at", "version"};
// A row only moves forward: a stale or repeated version never overwrites.
// An update sets only what events change (never author_id nor
// author_deleted, which belong to the erasure policy).
constexpr const char* kMergePostsSql =
    "INSERT INTO content_posts (post_id, author_id, title, body, deleted, published_at, updated_at, version)"
    " SELECT post_id, author_id, title, body, deleted, published_at, updated_at, version FROM content_posts_stage"
    " ON CONFLICT (post_id) DO UPDATE SET title = EXCLUDED.title, body = EXCLUDED.body, deleted = EXCLUDED.deleted,"
    " updated_at = EXCLUDED.updated_at, version = EXCLUDED.version"
    " WHERE content_posts.version < EXCLUDED.version";
constexpr const char* kMergeCommentsSql =
    "INSERT INTO content_comments (comment_id, post_id, author_id, body, deleted, created_at, updated_at, version)"
    " SELECT comment_id, post_id, author_id, body, deleted, created_at, updated_at, version"
    " FROM content_comments_stage"
    " ON CONFLICT (comment_id) DO UPDATE SET body = EXCLUDED.body, deleted = EXCLUDED.deleted,"
    " updated_at = EXCLUDED.updated_at, version = EXCLUDED.version"
    " WHERE content_comments.version < EXCLUDED.version";

struct PostRow {
  std::optional<std::string> author_id;
  std::string title, body;
  bool deleted = false;
  std::string published_at, updated_at;
  std::int64_t version = 0;
  bool exists = false;
  bool dirty = false;
};
struct CommentRow {
  std::string post_id;
  std::optional<std::string> author_id;
  std::string body;
  bool deleted = false;
  std::string created_at, updated_at;
  std::int64_t version = 0;
  bool exists = false;
  bool dirty = false;
};

bool is_post_event(const content::Event& ev) {
  return std::holds_alternative<content::PostPublished>(ev) || std::holds_alternative<content::PostEdited>(ev) ||
         std::holds_alternative<content::PostDeleted>(ev);
}

// The post's id of a post event, the comment's id of a comment event.
std::string id_of(const content::Event& ev) {
  return std::visit(
      [](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, content::PostPublished> || std::is_same_v<T, content::PostEdited> ||
                      std::is_same_v<T, content::PostDeleted>)
          return e.post_id;
        else
          return e.comment_id;
      },
      ev);
}

}  // namespace

ApplyResult ContentProjection::apply(std::span<const Delivered> batch, pqxx::dbtransaction& tx) {
  ApplyResult result;
  auto decoded = stream_batch::decode<content::Event>(batch, "content.", content::decode_sealed, tx, result);
  if (decoded.empty()) return result;

  std::vector<std::string> ids, post_ids, comment_ids;
  ids.reserve(decoded.size());
  for (const auto& d : decoded) {
    ids.push_back(id_of(d.event));
    (is_post_event(d.event) ? post_ids : comment_ids).push_back(ids.back());
  }
  std::unordered_map<std::string, PostRow> posts;
  std::unordered_map<std::string, CommentRow> comments;
  if (!post_ids.empty())
    for (const auto& r : infra::exec_hot(tx, kLoadPostsSql, infra::pg_text_array(post_ids)))
      posts[r[0].c_str()] =
          PostRow{nullable(r[1]),          r[2].c_str(), r[3].c_str(), r[4].as<bool>(), r[5].c_str(), "",
                  r[6].as<std::int64_t>(), true,         false};
  if (!comment_ids.empty())
    for (const auto& r : infra::exec_hot(tx, kLoadCommentsSql, infra::pg_text_array(comment_ids)))
      comments[r[0].c_str()] = CommentRow{
          r[1].c_str(), nullable(r[2]), r[3].c_str(), r[4].as<bool>(), r[5].c_str(), "", r[6].as<std::int64_t>(),
          true,         false};

  for (std::size_t k = 0; k < decoded.size(); ++k) {
    const auto index = decoded[k].index;
    const auto& ev = decoded[k].event;
    const auto& id = ids[k];
    const auto& d = batch[index];
    const auto& env = d.envelope;
    const bool post = is_post_event(ev);
    if (!stream_batch::on_stream(d, index, post ? content::post_stream(id) : content::comment_stream(id), result))
      continue;
    std::visit(
        [&](const auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, content::PostPublished> || std::is_same_v<T, content::PostEdited> ||
                        std::is_same_v<T, content::PostDeleted>) {
            auto& row = posts[id];
            if (!stream_batch::is_next(d, index, row.version, row.exists, std::is_same_v<T, content::PostPublished>,
                                       result))
              return;
            if constexpr (std::is_same_v<T, content::PostPublished>) {
              row.author_id = e.author_id;
              row.title = e.title;
              row.body = e.body;
              row.deleted = false;
              row.published_at = env.occurred_at;
            } else if constexpr (std::is_same_v<T, content::PostEdited>) {
              row.title = e.title;
              row.body = e.body;
            } else {
              row.deleted = true;
            }
            row.updated_at = env.occurred_at;
            row.version = env.stream_version;
            row.exists = row.dirty = true;
          } else {
            auto& row = comments[id];
            if (!stream_batch::is_next(d, index, row.version, row.exists, std::is_same_v<T, content::CommentAdded>,
                                       result))
              return;
            if constexpr (std::is_same_v<T, content::CommentAdded>) {
              row.post_id = e.post_id;
              row.author_id = e.author_id;
              row.body = e.body;
              row.deleted = false;
              row.created_at = env.occurred_at;
            } else if constexpr (std::is_same_v<T, content::CommentEdited>) {
              row.body = e.body;
            } else {
              row.deleted = true;
            }
            row.updated_at = env.occurred_at;
            row.version = env.stream_version;
            row.exists = row.dirty = true;
          }
          ++result.applied;
        },
        ev);
  }

  tx.exec(kStageSql);
  const auto dirty = [](const auto& rows) {
    for (const auto& [id, r] : rows)
      if (r.dirty) return true;
    return false;
  };
  if (dirty(posts)) {
    pqxx::stream_to copy(tx, "content_posts_stage", kPostColumns);
    for (const auto& [id, r] : posts)
      if (r.dirty)
        copy << std::make_tuple(id, r.author_id, r.title, r.body, r.deleted, r.published_at, r.updated_at, r.version);
    copy.complete();
    tx.exec(kMergePostsSql);
  }
  if (dirty(comments)) {
    pqxx::stream_to copy(tx, "content_comments_stage", kCommentColumns);
    for (const auto& [id, r] : comments)
      if (r.dirty)
        copy << std::make_tuple(id, r.post_id, r.author_id, r.body, r.deleted, r.created_at, r.updated_at, r.version);
    copy.complete();
    tx.exec(kMergeCommentsSql);
  }
  return result;
}

// How this read model forgets a person (see ErasureRule); its migrations
// mark the columns it must cover.
const ErasurePolicy& ContentProjection::erasure_policy() const {
  static const ErasurePolicy policy{
      {"content_posts", "author_id", Erase::set_null, {{"author_deleted", "true"}}, {}, "content stays"},
      {"content_comments", "author_id", Erase::set_null, {{"author_deleted", "true"}}, {}, "content stays"},
  };
  return policy;
}

}  // namespace lethe::projections
