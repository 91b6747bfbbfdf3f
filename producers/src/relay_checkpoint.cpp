#include "relay_checkpoint.hpp"

#include <spdlog/spdlog.h>

#include "lethe/infra/errors.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/producers/relay.hpp"

namespace lethe::producers {

namespace {

constexpr const char* kLoadSql =
    "SELECT c.tx_id::text AS tx_id, c.global_position, c.system_identifier,"
    " s.system_identifier::text AS cluster,"
    " c.tx_id >= pg_snapshot_xmax(pg_current_snapshot()) AS ahead,"
    " pg_snapshot_xmax(pg_current_snapshot())::text AS next_tx"
    " FROM relay_checkpoint c, pg_control_system() s WHERE c.id = 1";
constexpr const char* kStampSql =
    "UPDATE relay_checkpoint SET system_identifier = $1 WHERE id = 1 AND system_identifier IS NULL";

constexpr const char* kAdvance = "checkpoint_advance";
constexpr const char* kAdvanceSql =
    "UPDATE relay_checkpoint SET tx_id = $1::xid8, global_position = $2, published = published + $3,"
    " updated_at = now() WHERE id = 1 AND tx_id = $4::xid8 AND global_position = $5";
constexpr const char* kWhereSql = "SELECT tx_id::text AS tx_id, global_position FROM relay_checkpoint WHERE id = 1";
constexpr const char* kPark = "checkpoint_park";
constexpr const char* kParkSql =
    "INSERT INTO relay_parked (global_position, event_id, stream_id, topic, reason) VALUES ($1, $2, $3, $4, $5)"
    " ON CONFLICT (global_position) DO UPDATE SET reason = EXCLUDED.reason, parked_at = now()";
constexpr const char* kPrune = "checkpoint_prune";
constexpr const char* kPruneSql = "DELETE FROM outbox WHERE (tx_id, global_position) <= ($1::xid8, $2::bigint)";
constexpr const char* kParkedCountSql = "SELECT count(*) AS parked FROM relay_parked";

// The repair: appends wait on the lock, so nothing commits into the outbox
// meanwhile. Transaction id 3 is the first normal one: every row moved
// there sorts before any transaction still to commit, and is always below
// the watermark.
constexpr const char* kRebaseLockSql = "LOCK TABLE outbox, relay_checkpoint IN EXCLUSIVE MODE";
constexpr const char* kRebaseMoveSql = "UPDATE outbox SET tx_id = '3'::xid8";
constexpr const char* kRebaseResetSql =
    "UPDATE relay_checkpoint SET tx_id = '0'::xid8, global_position = 0, updated_at = now(),"
    " system_identifier = (SELECT system_identifier::text FROM pg_control_system()) WHERE id = 1";

std::string repair_hint() {
  return " Stop every `lethe relay` of this schema and run `lethe relay rebase`: it queues every entry still in the "
         "outbox again, in order, and restarts the checkpoint under this cluster (entries published but not yet "
         "pruned go out twice, which projections absorb).";
}

// The checkpoint belongs to this cluster: one without an identity (before
// migration V003) is stamped with it; one of another cluster, or ahead of
// this cluster's transaction ids, is refused with the repair.
void check_cluster(pqxx::work& tx, const pqxx::row& row) {
  const std::string cluster = row["cluster"].c_str();
  if (row["system_identifier"].is_null()) {
    tx.exec_params(kStampSql, cluster);
  } else if (const std::string recorded = row["system_identifier"].c_str(); recorded != cluster) {
    throw infra::Misconfigured(
        "relay: the checkpoint was written by another PostgreSQL cluster (system identifier " + recorded +
        ", this one is " + cluster +
        "): the database was restored or moved, and transaction ids no longer compare, so new entries could "
        "sit below the checkpoint and never be published." +
        repair_hint());
  }
  if (row["ahead"].as<bool>())
    throw infra::Misconfigured("relay: the checkpoint (transaction " + std::string(row["tx_id"].c_str()) +
                               ") is ahead of this cluster's transaction ids (next " + row["next_tx"].c_str() +
                               "): new entries would sit below it and never be published." + repair_hint());
}

}  // namespace

CheckpointStore::CheckpointStore(pqxx::connection& conn) : conn_(conn) {
  conn_.prepare(kAdvance, kAdvanceSql);
  conn_.prepare(kPark, kParkSql);
  conn_.prepare(kPrune, kPruneSql);
}

OutboxPosition CheckpointStore::load(bool trust) {
  return infra::translate_pg("relay checkpoint", [&] {
    pqxx::work tx(conn_);
    const auto r = tx.exec(kLoadSql);
    if (r.empty()) throw infra::Misconfigured("relay_checkpoint is empty: run `lethe migrate`");
    const auto row = r[0];
    if (!trust) check_cluster(tx, row);
    OutboxPosition at{row["tx_id"].c_str(), row["global_position"].as<std::int64_t>()};
    tx.commit();
    return at;
  });
}

void CheckpointStore::advance(const OutboxPosition& from, const OutboxPosition& to, std::int64_t published,
                              std::span<const ParkedEntry> parked, bool prune) {
  infra::translate_pg("relay checkpoint", [&] {
    pqxx::work tx(conn_);
    for (const auto& p : parked) {
      const auto& e = p.entry->envelope;
      tx.exec_prepared(kPark, e.global_position, e.event_id, e.stream_id, p.entry->topic, p.reason);
    }
    if (tx.exec_prepared(kAdvance, to.tx_id, to.global_position, published, from.tx_id, from.global_position)
            .affected_rows() != 1) {
      const auto at = tx.exec(kWhereSql);
      throw infra::Unavailable("relay checkpoint: expected at transaction " + from.tx_id + ", position " +
                               std::to_string(from.global_position) + ", found at " +
                               (at.empty() ? std::string("nothing")
                                           : std::string("transaction ") + at[0]["tx_id"].c_str() + ", position " +
                                                 at[0]["global_position"].c_str()) +
                               "; the batch is not counted, and the relay reloads the checkpoint");
    }
    if (prune) tx.exec_prepared(kPrune, to.tx_id, to.global_position);
    tx.commit();
  });
}

std::int64_t CheckpointStore::parked_count() {
  return infra::translate_pg("relay parked", [&] {
    pqxx::read_transaction tx(conn_);
    return tx.exec(kParkedCountSql)[0]["parked"].as<std::int64_t>();
  });
}

// The repair after a restore into another cluster: every entry still in the
// outbox is queued again, ahead of anything written from now on, in global
// position order (which is version order within each stream), and the
// checkpoint starts over under this cluster's identity. Entries that were
// published but not yet pruned go out a second time, which projections
// absorb.
std::int64_t rebase_relay(const std::string& conninfo) {
  auto conn = infra::connect(conninfo, "lethe-relay-rebase");
  return infra::translate_pg("relay rebase", [&] {
    if (!pqxx::nontransaction(*conn).exec(kRelayLockSql)[0]["locked"].as<bool>())
      throw infra::Misconfigured("relay rebase: a relay is running on this schema; stop it first");
    pqxx::work tx(*conn);
    tx.exec(kRebaseLockSql);
    const auto moved = tx.exec(kRebaseMoveSql).affected_rows();
    tx.exec(kRebaseResetSql);
    tx.commit();
    spdlog::info("relay rebase: {} outbox entries queued again in global position order; checkpoint restarted", moved);
    return static_cast<std::int64_t>(moved);
  });
}

}  // namespace lethe::producers
