// File metadata (never the bytes): the owner's own, admins and owners all.
#include "files.hpp"
#include "lethe/infra/ids.hpp"
#include "route_kit.hpp"
#include "file_service.hpp"

namespace lethe::api {

namespace {

namespace files = domain::files;

constexpr const char* kFileColumns =
    "file_id AS id, owner_id, name, size, content_type, checksum, " LETHE_UTC_TEXT("recorded_at") ", version";

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
  const auto w = ok_or_throw(c.service<producers::FileService>().handle(files::DeleteFile{c.params.at(0)}, with_if_match(c)));
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
              {"file-", "SELECT EXISTS (SELECT 1 FROM files WHERE file_id = $1 AND version >= $2)"},
          }};
}

}  // namespace lethe::api
