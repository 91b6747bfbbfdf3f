#pragma once
// Versions of a read model: rebuild the next version beside the live one,
// prove it equal, cut over in one transaction, roll back.
//
// The live version's tables are in the connection's schema (current_schema(),
// where `lethe migrate` put them), and queries find them there by name. A
// rebuild creates `<live>_next_<projection>`: a copy of the shape of each of
// the projection's tables (LIKE, comments and storage settings included),
// and of projection_offsets, projection_owners and erased_streams (the
// tombstones seeded from the live ones, as a replay keeps them). A runner
// whose session puts that schema first in its search_path fills it from
// offset zero, in its own consumer group (`<group prefix>rebuild.`), with
// its own saved offsets, so a killed rebuild resumes where it stopped. The
// event store, the erasure register and the keys stay the live ones: a
// receipt is never recorded twice, and erasures met on the way (those that
// arrive during the rebuild included) apply to the new tables as to the
// live ones.
//
// Cut-over, in one transaction of a session of its own: it holds the live
// version still (OffsetStore::hold: the live projector's next batch waits,
// API reads go on), brings the new version to exactly the live one's
// offsets on every partition (ProjectionRunner::catch_up, which sets aside
// anything past them), then compares table by table: the column lists,
// the row counts and an order-independent digest over every column the
// projection does not declare changed (Projection::changed_columns()), and
// that no column marked lethe:person names anyone the erasure register
// holds. Any difference: nothing changes, and each one is said. Equal: the
// live tables move to `<live>_prev_<projection>` (with their offsets and
// tombstones, for a rollback), the new ones into the live schema, the
// tombstones are swapped, and projection_versions records it. The live
// projector, holding its connection, writes its next batch into the new
// tables: PostgreSQL re-resolves names after DDL, prepared statements too.
//
// Rollback brings the kept version up to the live offsets the same way
// (erasures since included) and switches back; the version it displaces
// is kept in its place.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lethe/consumers/runner.hpp"
#include "lethe/projections/projection.hpp"

namespace lethe::consumers {

struct TableComparison {
  std::string table;
  std::int64_t live_rows = 0, new_rows = 0;
  std::vector<std::string> columns;  // compared; the declared changes left out
  bool equal = false;
};

struct Switch {
  bool done = false;  // cut over (or rolled back)
  // Why not, one sentence each: a table that differs (with some of the rows'
  // keys), a person of the erasure register still named, ...
  std::vector<std::string> refusals;
  std::vector<TableComparison> tables;
  RunStats stats;  // what the runner applied to the new version in this run
  // How long the live version was held still: the last events applied to
  // the candidate, the comparison and the swap.
  double held_seconds = 0;
  std::string schema_before;  // where the version that was live now is (done), or the candidate (not done)
};

struct RebuildOptions {
  RunnerOptions runner;      // of the live projection; schema_first and the group are set here
  bool restart = false;      // drop a rebuild in progress first and start from offset zero
  bool cut_over = true;      // false: stop once caught up; `cut-over` (or another rebuild) goes on later
  bool resume_only = false;  // refuse when no rebuild is in progress (`lethe project cut-over`)
  // How long a cut-over waits for the live projector to pass the new
  // version, or the new one to reach the live offsets, before it gives up.
  std::chrono::seconds patience{120};
};

// Builds (or resumes) the next version, then cuts over unless told not to.
// Returns with done false and the refusals when the versions differ; throws
// infra::Misconfigured when another rebuild, cut-over or rollback of the
// projection is running, infra::Unavailable when the live projector does
// not keep up within the patience.
Switch rebuild(RebuildOptions options, std::unique_ptr<projections::Projection> projection,
               const std::atomic<bool>& stop);

// Switches back to the version kept by the last cut-over, brought up to the
// live offsets first. Throws infra::Misconfigured when none is kept, or its
// tables' columns are no longer those of the live ones (a migration since).
Switch rollback(RebuildOptions options, std::unique_ptr<projections::Projection> projection,
                const std::atomic<bool>& stop);

// Drops the version kept by the last cut-over (and a rebuild left
// unfinished when `next` is true). Returns whether there was one.
bool drop_version(const std::string& conninfo, const projections::Projection& projection, bool next);

}  // namespace lethe::consumers
