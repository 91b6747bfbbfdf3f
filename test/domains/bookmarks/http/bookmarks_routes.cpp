// POST /bookmarks saves one; GET /bookmarks/{id} reads it back (its owner,
// admins and owners; anyone else's answers as a missing one).
#include "bookmark_service.hpp"
#include "bookmarks_queries.hpp"
#include "lethe/infra/ids.hpp"
#include "route_kit.hpp"

namespace lethe::api {

namespace {

namespace q = projections::bookmarks_queries;

namespace bookmarks = domain::bookmarks;

void save_bookmark(Call& c) {
  const auto id = infra::new_uuid();
  const auto w = ok_or_throw(c.service<producers::BookmarkService>().handle(
      bookmarks::SaveBookmark{id, c.field("url"), c.field("label")}, c.ctx));
  c.written(201, id, w);
}

void get_bookmark(Call& c) {
  const auto& id = c.params.at(0);
  await_reflection(c, bookmarks::bookmark_stream(id));
  pqxx::read_transaction tx(reads(c));
  const auto rows = run(tx, q::kOne, id);
  ensure_found(c, !rows.empty() && (admin_or_owner(c) || rows[0]["owner_id"].c_str() == c.who->user_id), "bookmark");
  Json j;
  row_json(j, rows[0]);
  c.json(200, j.text());
}

}  // namespace

DomainRoutes bookmarks_routes() {
  return {{
              {"POST", "/bookmarks", kActors, save_bookmark},
              {"GET", "/bookmarks/{id}", kActors, get_bookmark},
          },
          {
              {"bookmark-", q::kFresh},
          }};
}

}  // namespace lethe::api
