#include "bookmarks_projection.hpp"

#include "bookmarks.hpp"
#include "lethe/infra/pg.hpp"
#include "stream_batch.hpp"
#include "table.hpp"

namespace lethe::projections {

namespace bookmarks = domain::bookmarks;

namespace {

const table::Spec kBookmarks{"bookmarks",
                             {"bookmark_id", table::text},
                             {{"owner_id", table::text, table::Mark::person},
                              {"url", table::text, table::Mark::personal},
                              {"label", table::text, table::Mark::personal},
                              {"saved_at", table::timestamptz},
                              {"version", table::bigint}},
                             table::Moves::once};

}  // namespace

ApplyResult BookmarksProjection::apply(std::span<const Delivered> batch, infra::Tx tx) {
  ApplyResult result;
  auto decoded = stream_batch::decode<bookmarks::Event>(batch, "bookmark.", bookmarks::decode_sealed, tx, result);
  if (decoded.empty()) return result;
  std::vector<std::string> ids;
  for (const auto& d : decoded) ids.push_back(std::get<bookmarks::BookmarkSaved>(d.event).bookmark_id);
  table::Rows rows(kBookmarks);
  rows.load(tx, ids);
  for (std::size_t k = 0; k < decoded.size(); ++k) {
    const auto index = decoded[k].index;
    const auto& e = std::get<bookmarks::BookmarkSaved>(decoded[k].event);
    const auto& d = batch[index];
    if (!stream_batch::on_stream(d, index, bookmarks::bookmark_stream(ids[k]), result)) continue;
    auto& row = rows.row(ids[k]);
    if (!stream_batch::is_next(d, index, row.version(), row.exists(), true, result)) continue;
    row.set("owner_id", e.owner_id)
        .set("url", e.url)
        .set("label", e.label)
        .set("saved_at", d.envelope.occurred_at)
        .applied(d.envelope.stream_version);
    ++result.applied;
  }
  rows.write(tx);
  return result;
}

const ErasurePolicy& BookmarksProjection::erasure_policy() const {
  static const ErasurePolicy policy{
      {"bookmarks", "owner_id", Erase::delete_row, {}, {}, {}, "'bookmark-' || bookmark_id"},
  };
  return policy;
}

std::vector<DeclaredColumn> BookmarksProjection::declared_columns() const {
  return table::declared({&kBookmarks});
}

std::vector<ReadModel> bookmarks_read_models() {
  return {{"bookmarks", []() -> std::unique_ptr<Projection> { return std::make_unique<BookmarksProjection>(); }}};
}

}  // namespace lethe::projections
