#include "files/files_projection.hpp"

#include <algorithm>
#include <unordered_map>

#include "lethe/domain/files.hpp"
#include "stream_batch.hpp"

namespace lethe::projections {

namespace files = domain::files;
using stream_batch::nullable;

namespace {

constexpr const char* kLoadSql =
    "SELECT file_id, owner_id, name, size, content_type, checksum, deleted, recorded_at::text, version FROM files"
    " WHERE file_id = ANY($1::text[])";
constexpr const char* kStageSql = "CREATE TEMP TABLE IF NOT EXISTS files_stage (LIKE files) ON COMMIT DELETE ROWS";
const std::vector<std::string> kColumns{"file_id",  "owner_id", "name",        "size",       "content_type",
                                        "checksum", "deleted",  "recorded_at", "updated_at", "version"};
// A row only moves forward: a stale or repeated version never overwrites.
// An update sets only what events change (never owner_id, which belongs to
// the erasure policy).
constexpr const char* kMergeSql =
    "INSERT INTO files (file_id, owner_id, name, size, content_type, checksum, deleted, recorded_at, updated_at,"
    " version)"
    " SELECT file_id, owner_id, name, size, content_type, checksum, deleted, recorded_at, updated_at, version"
    " FROM files_stage"
    " ON CONFLICT (file_id) DO UPDATE SET deleted = EXCLUDED.deleted, updated_at = EXCLUDED.updated_at,"
    " version = EXCLUDED.version"
    " WHERE files.version < EXCLUDED.version";

struct Row {
  std::optional<std::string> owner_id;
  std::string name;
  std::int64_t size = 0;
  std::string content_type, checksum;
  bool deleted = false;
  std::string recorded_at, updated_at;
  std::int64_t version = 0;
  bool exists = false;
  bool dirty = false;
};

}  // namespace

ApplyResult FilesProjection::apply(std::span<const Delivered> batch, pqxx::dbtransaction& tx) {
  ApplyResult result;
  auto decoded = stream_batch::decode<files::Event>(batch, "file.", files::decode_sealed, tx, result);
  if (decoded.empty()) return result;

  std::vector<std::string> ids;
  ids.reserve(decoded.size());
  for (const auto& d : decoded) ids.push_back(std::visit([](const auto& e) { return e.file_id; }, d.event));
  std::unordered_map<std::string, Row> rows;
  for (const auto& r : infra::exec_hot(tx, kLoadSql, infra::pg_text_array(ids)))
    rows[r[0].c_str()] =
        Row{nullable(r[1]), r[2].c_str(), r[3].as<std::int64_t>(), r[4].c_str(), r[5].c_str(), r[6].as<bool>(),
            r[7].c_str(),   "",           r[8].as<std::int64_t>(), true,         false};

  for (std::size_t k = 0; k < decoded.size(); ++k) {
    const auto index = decoded[k].index;
    const auto& ev = decoded[k].event;
    const auto& id = ids[k];
    const auto& d = batch[index];
    const auto& env = d.envelope;
    if (!stream_batch::on_stream(d, index, files::file_stream(id), result)) continue;
    auto& row = rows[id];
    const auto* recorded = std::get_if<files::FileRecorded>(&ev);
    if (!stream_batch::is_next(d, index, row.version, row.exists, recorded != nullptr, result)) continue;
    if (recorded) {
      row.owner_id = recorded->owner_id;
      row.name = recorded->name;
      row.size = recorded->size;
      row.content_type = recorded->content_type;
      row.checksum = recorded->checksum;
      row.deleted = false;
      row.recorded_at = env.occurred_at;
    } else {
      row.deleted = true;
    }
    row.updated_at = env.occurred_at;
    row.version = env.stream_version;
    row.exists = row.dirty = true;
    ++result.applied;
  }

  if (std::none_of(rows.begin(), rows.end(), [](const auto& r) { return r.second.dirty; })) return result;
  tx.exec(kStageSql);
  pqxx::stream_to copy(tx, "files_stage", kColumns);
  for (const auto& [id, r] : rows)
    if (r.dirty)
      copy << std::make_tuple(id, r.owner_id, r.name, r.size, r.content_type, r.checksum, r.deleted, r.recorded_at,
                              r.updated_at, r.version);
  copy.complete();
  tx.exec(kMergeSql);
  return result;
}

// How this read model forgets a person (see ErasureRule); its migrations
// mark the columns it must cover.
const ErasurePolicy& FilesProjection::erasure_policy() const {
  static const ErasurePolicy policy{
      {"files", "owner_id", Erase::set_null, {}, {}, "the file record stays, without its owner"},
  };
  return policy;
}

}  // namespace lethe::projections
