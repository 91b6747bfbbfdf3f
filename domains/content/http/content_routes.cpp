// Posts and comments: what people wrote, read by every signed-in caller
// unless deleted; changed by its author, admins and owners.
#include "content.hpp"
#include "content_queries.hpp"
#include "content_service.hpp"
#include "lethe/infra/ids.hpp"
#include "route_kit.hpp"

namespace lethe::api {

namespace {

namespace q = projections::content_queries;

namespace content = domain::content;

// ---- Posts and comments: every signed-in caller reads what is not deleted ----

void publish_post(Call& c) {
  const auto id = infra::new_uuid();
  const auto w = ok_or_throw(c.service<producers::ContentService>().handle(
      content::PublishPost{id, c.field("title"), c.field("body")}, c.ctx));
  c.written(201, id, w);
}

void list_posts(Call& c) {
  await_reflection(c);
  const auto page = page_of(c);
  pqxx::read_transaction tx(reads(c));
  page_of_query(c, "posts", tx, page, q::kPosts, c.req.get_param_value("author_id"), page.limit, page.offset);
}

void get_post(Call& c) {
  const auto& id = c.params.at(0);
  await_reflection(c, domain::stream_of("post", id));
  pqxx::read_transaction tx(reads(c));
  const auto rows = run(tx, q::kPost, id);
  ensure_found(c, !rows.empty(), "post");
  // The comments a page at a time (?limit, ?offset), oldest first.
  const auto page = page_of(c);
  const auto comments = run(tx, q::kComments, id, page.limit, page.offset);
  Opened opened(tx);
  opened.add(q::kPost, rows);
  opened.add(q::kComments, comments);
  Json j;
  j.begin();
  row_fields(j, rows[0], &opened);
  j.begin_array("comments");
  for (const auto& r : comments) row_json(j, r, &opened);
  j.end_array();
  page_json(j, page, comments.size(), "comments_");
  j.end();
  c.res.set_header("ETag", "\"" + std::string(rows[0]["version"].c_str()) + "\"");
  c.json(200, j.text());
}

void edit_post(Call& c) {
  const auto w = ok_or_throw(c.service<producers::ContentService>().handle(
      content::EditPost{c.params.at(0), c.field("title"), c.field("body")}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

void delete_post(Call& c) {
  const auto w =
      ok_or_throw(c.service<producers::ContentService>().handle(content::DeletePost{c.params.at(0)}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

void add_comment(Call& c) {
  const auto id = infra::new_uuid();
  const auto w = ok_or_throw(
      c.service<producers::ContentService>().handle(content::AddComment{id, c.params.at(0), c.field("body")}, c.ctx));
  c.written(201, id, w);
}

void edit_comment(Call& c) {
  const auto w = ok_or_throw(c.service<producers::ContentService>().handle(
      content::EditComment{c.params.at(0), c.field("body")}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

void delete_comment(Call& c) {
  const auto w = ok_or_throw(
      c.service<producers::ContentService>().handle(content::DeleteComment{c.params.at(0)}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

}  // namespace

DomainRoutes content_routes() {
  return {{
              {"POST", "/posts", kActors, publish_post},
              {"GET", "/posts", kSignedIn, list_posts},
              {"GET", "/posts/{id}", kSignedIn, get_post},
              {"PUT", "/posts/{id}", kActors, edit_post},
              {"DELETE", "/posts/{id}", kActors, delete_post},
              {"POST", "/posts/{id}/comments", kActors, add_comment},
              {"PUT", "/comments/{id}", kActors, edit_comment},
              {"DELETE", "/comments/{id}", kActors, delete_comment},
          },
          {
              {"post-", q::kPostFresh},
              {"comment-", q::kCommentFresh},
          }};
}

}  // namespace lethe::api
