#include "files_projection.hpp"

#include "files.hpp"
#include "lethe/infra/pg.hpp"
#include "stream_batch.hpp"
#include "table.hpp"

namespace lethe::projections {

namespace files = domain::files;

namespace {

// owner_id is the erasure policy's once written; recorded_at never moves.
const table::Spec kFiles{"files",
                         {"file_id", table::text},
                         {{"owner_id", table::text, table::kOnCreate, table::Mark::person},
                          {"name", table::text, table::Mark::sealed, table::kOnCreate},
                          {"size", table::bigint, table::kOnCreate},
                          {"content_type", table::text, table::kOnCreate},
                          {"checksum", table::text, table::kOnCreate},
                          {"deleted", table::boolean},
                          {"recorded_at", table::timestamptz, table::kOnCreate},
                          {"updated_at", table::timestamptz},
                          {"version", table::bigint}}};

}  // namespace

ApplyResult FilesProjection::apply(std::span<const Delivered> batch, infra::Tx tx) {
  ApplyResult result;
  // A file's name stays sealed in the table (its owner's), opened only when
  // a query answers: no key is read here.
  auto decoded = stream_batch::decode_kept<files::Event>(batch, "file.", files::decode_sealed, result);
  if (decoded.empty()) return result;

  std::vector<std::string> ids;
  ids.reserve(decoded.size());
  for (const auto& d : decoded) ids.push_back(std::visit([](const auto& e) { return e.file_id; }, d.event));
  table::Rows rows(kFiles);
  rows.load(tx, ids);

  for (std::size_t k = 0; k < decoded.size(); ++k) {
    const auto index = decoded[k].index;
    const auto& ev = decoded[k].event;
    const auto& d = batch[index];
    const auto& env = d.envelope;
    if (!stream_batch::on_stream(d, index, files::file_stream(ids[k]), result)) continue;
    auto& row = rows.row(ids[k]);
    const auto* recorded = std::get_if<files::FileRecorded>(&ev);
    if (!stream_batch::is_next(d, index, row.version(), row.exists(), recorded != nullptr, result)) continue;
    if (recorded) {
      row.set("owner_id", recorded->owner_id)
          .set("name", stream_batch::opened(recorded->name))
          .set("size", recorded->size)
          .set("content_type", recorded->content_type)
          .set("checksum", recorded->checksum)
          .set("deleted", false)
          .set("recorded_at", env.occurred_at);
    } else {
      row.set("deleted", true);
    }
    row.set("updated_at", env.occurred_at).applied(env.stream_version);
    ++result.applied;
  }
  rows.write(tx);
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

std::vector<DeclaredColumn> FilesProjection::declared_columns() const {
  return table::declared({&kFiles});
}

std::vector<ReadModel> files_read_models() {
  return {{"files", []() -> std::unique_ptr<Projection> { return std::make_unique<FilesProjection>(); }}};
}

}  // namespace lethe::projections
