// File metadata (never the bytes): the owner's own, admins and owners all.
#include "file_service.hpp"
#include "files.hpp"
#include "files_queries.hpp"
#include "lethe/infra/ids.hpp"
#include "route_kit.hpp"

namespace lethe::api {

namespace {

namespace q = projections::files_queries;

namespace files = domain::files;

void record_file(Call& c) {
  const auto id = infra::new_uuid();
  const auto w = ok_or_throw(c.service<producers::FileService>().handle(
      files::RecordFile{id, c.field("name"), c.int_field("size"), c.field("content_type"), c.field("checksum")},
      c.ctx));
  c.written(201, id, w);
}

void list_files(Call& c) {
  await_reflection(c);
  const auto page = page_of(c);
  const auto owner = admin_or_owner(c) ? c.req.get_param_value("owner_id") : c.who->user_id;
  pqxx::read_transaction tx(reads(c));
  page_of_query(c, "files", tx, page, q::kList, owner, page.limit, page.offset);
}

void get_file(Call& c) {
  const auto& id = c.params.at(0);
  await_reflection(c, domain::stream_of("file", id));
  pqxx::read_transaction tx(reads(c));
  const auto rows = run(tx, q::kOne, id);
  ensure_found(c, !rows.empty() && (admin_or_owner(c) || text_or_empty(rows[0]["owner_id"]) == c.who->user_id), "file");
  Opened opened(tx);
  opened.add(q::kOne, rows);
  Json j;
  row_json(j, rows[0], &opened);
  c.json(200, j.text());
}

void delete_file(Call& c) {
  const auto w =
      ok_or_throw(c.service<producers::FileService>().handle(files::DeleteFile{c.params.at(0)}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

}  // namespace

DomainRoutes files_routes() {
  return {{
              {"POST", "/files", kActors, record_file},
              {"GET", "/files", kActors, list_files},
              {"GET", "/files/{id}", kActors, get_file},
              {"DELETE", "/files/{id}", kActors, delete_file},
          },
          {
              {"file-", q::kFresh},
          }};
}

}  // namespace lethe::api
