// Posts and comments: what people wrote, read by every signed-in caller
// unless deleted; changed by its author, admins and owners.
#include "content.hpp"
#include "content_service.hpp"
#include "lethe/infra/ids.hpp"
#include "route_kit.hpp"

namespace lethe::api {

namespace {

namespace content = domain::content;

constexpr const char* kPostColumns = "post_id AS id, author_id, title, body, author_deleted, " LETHE_UTC_TEXT(
    "published_at") ", " LETHE_UTC_TEXT("updated_at") ", version";

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
  page_of_rows(c, "posts",
               tx.exec_params(std::string("SELECT ") + kPostColumns +
                                  " FROM content_posts WHERE NOT deleted AND ($1 = '' OR author_id = $1)"
                                  " ORDER BY published_at DESC, post_id LIMIT $2 OFFSET $3",
                              c.req.get_param_value("author_id"), page.limit, page.offset),
               page);
}

void get_post(Call& c) {
  const auto& id = c.params.at(0);
  await_reflection(c, domain::stream_of("post", id));
  pqxx::read_transaction tx(reads(c));
  const auto rows = tx.exec_params(
      std::string("SELECT ") + kPostColumns + " FROM content_posts WHERE post_id = $1 AND NOT deleted", id);
  ensure_found(c, !rows.empty(), "post");
  // The comments a page at a time (?limit, ?offset), oldest first.
  const auto page = page_of(c);
  const auto comments = tx.exec_params(
      "SELECT comment_id AS id, author_id, body, author_deleted, " LETHE_UTC_TEXT("created_at") ", " LETHE_UTC_TEXT(
          "updated_at") ", version FROM content_comments WHERE post_id = $1 AND NOT deleted"
                        " ORDER BY created_at, comment_id LIMIT $2 OFFSET $3",
      id, page.limit, page.offset);
  Json j;
  j.begin();
  row_fields(j, rows[0]);
  j.begin_array("comments");
  for (const auto& r : comments) row_json(j, r);
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
              {"post-", "SELECT EXISTS (SELECT 1 FROM content_posts WHERE post_id = $1 AND version >= $2)"},
              {"comment-", "SELECT EXISTS (SELECT 1 FROM content_comments WHERE comment_id = $1 AND version >= $2)"},
          }};
}

}  // namespace lethe::api
