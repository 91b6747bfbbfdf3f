#include "content_projection.hpp"

#include "content.hpp"
#include "lethe/infra/pg.hpp"
#include "stream_batch.hpp"
#include "table.hpp"

namespace lethe::projections {

namespace content = domain::content;

namespace {

// A row only moves forward: a stale or repeated version never overwrites.
// An update sets only what events change (never author_id nor
// author_deleted, which belong to the erasure policy; author_deleted is
// not declared: its default stands until the policy sets it).
const table::Spec kPosts{"content_posts",
                         {"post_id", table::text},
                         {{"author_id", table::text, table::kOnCreate, table::Mark::person},
                          {"title", table::text, table::Mark::sealed},
                          {"body", table::text, table::Mark::sealed},
                          {"deleted", table::boolean},
                          {"published_at", table::timestamptz, table::kOnCreate},
                          {"updated_at", table::timestamptz},
                          {"version", table::bigint}}};
const table::Spec kComments{"content_comments",
                            {"comment_id", table::text},
                            {{"post_id", table::text, table::kOnCreate},
                             {"author_id", table::text, table::kOnCreate, table::Mark::person},
                             {"body", table::text, table::Mark::sealed},
                             {"deleted", table::boolean},
                             {"created_at", table::timestamptz, table::kOnCreate},
                             {"updated_at", table::timestamptz},
                             {"version", table::bigint}}};

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

ApplyResult ContentProjection::apply(std::span<const Delivered> batch, infra::Tx tx) {
  ApplyResult result;
  // Titles and bodies stay sealed in the tables (their author's), opened
  // only when a query answers: no key is read here.
  auto decoded = stream_batch::decode_kept<content::Event>(batch, "content.", content::decode_sealed, result);
  if (decoded.empty()) return result;

  std::vector<std::string> ids, post_ids, comment_ids;
  ids.reserve(decoded.size());
  for (const auto& d : decoded) {
    ids.push_back(id_of(d.event));
    (is_post_event(d.event) ? post_ids : comment_ids).push_back(ids.back());
  }
  table::Rows posts(kPosts), comments(kComments);
  posts.load(tx, post_ids);
  comments.load(tx, comment_ids);

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
            auto& row = posts.row(id);
            if (!stream_batch::is_next(d, index, row.version(), row.exists(), std::is_same_v<T, content::PostPublished>,
                                       result))
              return;
            if constexpr (std::is_same_v<T, content::PostPublished>)
              row.set("author_id", e.author_id)
                  .set("title", stream_batch::opened(e.title))
                  .set("body", stream_batch::opened(e.body))
                  .set("deleted", false)
                  .set("published_at", env.occurred_at);
            else if constexpr (std::is_same_v<T, content::PostEdited>)
              row.set("title", stream_batch::opened(e.title)).set("body", stream_batch::opened(e.body));
            else
              row.set("deleted", true);
            row.set("updated_at", env.occurred_at).applied(env.stream_version);
          } else {
            auto& row = comments.row(id);
            if (!stream_batch::is_next(d, index, row.version(), row.exists(), std::is_same_v<T, content::CommentAdded>,
                                       result))
              return;
            if constexpr (std::is_same_v<T, content::CommentAdded>)
              row.set("post_id", e.post_id)
                  .set("author_id", e.author_id)
                  .set("body", stream_batch::opened(e.body))
                  .set("deleted", false)
                  .set("created_at", env.occurred_at);
            else if constexpr (std::is_same_v<T, content::CommentEdited>)
              row.set("body", stream_batch::opened(e.body));
            else
              row.set("deleted", true);
            row.set("updated_at", env.occurred_at).applied(env.stream_version);
          }
          ++result.applied;
        },
        ev);
  }
  posts.write(tx);
  comments.write(tx);
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

std::vector<DeclaredColumn> ContentProjection::declared_columns() const {
  return table::declared({&kPosts, &kComments});
}

std::vector<ReadModel> content_read_models() {
  return {{"content", []() -> std::unique_ptr<Projection> { return std::make_unique<ContentProjection>(); }}};
}

}  // namespace lethe::projections
