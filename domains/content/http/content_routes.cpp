// Posts and comments, file metadata and email logs: content people wrote
// or records about them, each read by its owner (or author, or recipient)
// and by admins and owners.
#include "content.hpp"
#include "email.hpp"
#include "files.hpp"
#include "lethe/infra/ids.hpp"
#include "route_kit.hpp"

namespace lethe::api {

namespace {

namespace content = domain::content;
namespace files = domain::files;
namespace email = domain::email;

constexpr const char* kPostColumns = "post_id AS id, author_id, title, body, author_deleted, " LETHE_UTC_TEXT(
    "published_at") ", " LETHE_UTC_TEXT("updated_at") ", version";

// ---- Posts and comments: every signed-in caller reads what is not deleted ----

void publish_post(Call& c) {
  const auto id = infra::new_uuid();
  const auto w =
      ok_or_throw(c.services().content.handle(content::PublishPost{id, c.field("title"), c.field("body")}, c.ctx));
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
  const auto w = ok_or_throw(c.services().content.handle(
      content::EditPost{c.params.at(0), c.field("title"), c.field("body")}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

void delete_post(Call& c) {
  const auto w = ok_or_throw(c.services().content.handle(content::DeletePost{c.params.at(0)}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

void add_comment(Call& c) {
  const auto id = infra::new_uuid();
  const auto w =
      ok_or_throw(c.services().content.handle(content::AddComment{id, c.params.at(0), c.field("body")}, c.ctx));
  c.written(201, id, w);
}

void edit_comment(Call& c) {
  const auto w =
      ok_or_throw(c.services().content.handle(content::EditComment{c.params.at(0), c.field("body")}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

void delete_comment(Call& c) {
  const auto w = ok_or_throw(c.services().content.handle(content::DeleteComment{c.params.at(0)}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

// ---- Files: metadata only; the owner's own, admins and owners all ----

constexpr const char* kFileColumns =
    "file_id AS id, owner_id, name, size, content_type, checksum, " LETHE_UTC_TEXT("recorded_at") ", version";

void record_file(Call& c) {
  const auto id = infra::new_uuid();
  const auto w = ok_or_throw(c.services().files.handle(
      files::RecordFile{id, c.field("name"), c.int_field("size"), c.field("content_type"), c.field("checksum")},
      c.ctx));
  c.written(201, id, w);
}

void list_files(Call& c) {
  await_reflection(c);
  const auto page = page_of(c);
  const auto owner = admin_or_owner(c) ? c.req.get_param_value("owner_id") : c.who->user_id;
  pqxx::read_transaction tx(reads(c));
  page_of_rows(c, "files",
               tx.exec_params(std::string("SELECT ") + kFileColumns +
                                  " FROM files WHERE NOT deleted AND ($1 = '' OR owner_id = $1)"
                                  " ORDER BY recorded_at DESC, file_id LIMIT $2 OFFSET $3",
                              owner, page.limit, page.offset),
               page);
}

void get_file(Call& c) {
  const auto& id = c.params.at(0);
  await_reflection(c, domain::stream_of("file", id));
  pqxx::read_transaction tx(reads(c));
  const auto rows =
      tx.exec_params(std::string("SELECT ") + kFileColumns + " FROM files WHERE file_id = $1 AND NOT deleted", id);
  ensure_found(c, !rows.empty() && (admin_or_owner(c) || text_or_empty(rows[0]["owner_id"]) == c.who->user_id), "file");
  Json j;
  row_json(j, rows[0]);
  c.json(200, j.text());
}

void delete_file(Call& c) {
  const auto w = ok_or_throw(c.services().files.handle(files::DeleteFile{c.params.at(0)}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

// ---- Email logs: written by a service account (admin or owner role, or
// the CLI's system actor); read by admins and owners, or the recipient ----

void log_email(Call& c) {
  const auto id = infra::new_uuid();
  const auto w = ok_or_throw(c.services().email.handle(
      email::LogEmailSent{id, c.field("recipient_id"), c.field("template"), c.field("subject"), c.field("sent_at")},
      c.ctx));
  c.written(201, id, w);
}

void list_email_logs(Call& c) {
  await_reflection(c);
  const auto page = page_of(c);
  const auto recipient = admin_or_owner(c) ? c.req.get_param_value("recipient_id") : c.who->user_id;
  pqxx::read_transaction tx(reads(c));
  page_of_rows(c, "email_logs",
               tx.exec_params("SELECT email_id AS id, recipient_id, template, subject, " LETHE_UTC_TEXT(
                                  "sent_at") ", version FROM email_logs WHERE ($1 = '' OR recipient_id = $1)"
                                             " ORDER BY sent_at DESC, email_id LIMIT $2 OFFSET $3",
                              recipient, page.limit, page.offset),
               page);
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
              {"POST", "/files", kActors, record_file},
              {"GET", "/files", kActors, list_files},
              {"GET", "/files/{id}", kActors, get_file},
              {"DELETE", "/files/{id}", kActors, delete_file},
              {"POST", "/email-logs", kAdminUp, log_email},
              {"GET", "/email-logs", kActors, list_email_logs},
          },
          {
              {"post-", "SELECT EXISTS (SELECT 1 FROM content_posts WHERE post_id = $1 AND version >= $2)"},
              {"comment-", "SELECT EXISTS (SELECT 1 FROM content_comments WHERE comment_id = $1 AND version >= $2)"},
              {"file-", "SELECT EXISTS (SELECT 1 FROM files WHERE file_id = $1 AND version >= $2)"},
              {"email-", "SELECT EXISTS (SELECT 1 FROM email_logs WHERE email_id = $1 AND version >= $2)"},
          }};
}

}  // namespace lethe::api
