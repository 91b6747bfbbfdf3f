#include "offset_store.hpp"

#include <ranges>
#include <vector>

#include "lethe/infra/pg.hpp"

namespace lethe::consumers {

namespace {

constexpr const char* kLoadOffsetsSql =
    "SELECT topic, partition, next_offset, last_fingerprint FROM projection_offsets WHERE projection = $1";
constexpr const char* kSaveOffsetsSql =
    "INSERT INTO projection_offsets (projection, topic, partition, next_offset, last_fingerprint)"
    " SELECT $1, t, p, o, f FROM unnest($2::text[], $3::int[], $4::bigint[], $5::text[]) AS x(t, p, o, f)"
    " ON CONFLICT (projection, topic, partition) DO UPDATE"
    " SET next_offset = EXCLUDED.next_offset, last_fingerprint = EXCLUDED.last_fingerprint, updated_at = now()"
    " WHERE projection_offsets.next_offset < EXCLUDED.next_offset";  // offsets only move forward
constexpr const char* kForgetOffsetsSql = "DELETE FROM projection_offsets WHERE projection = $1";
// Who may write a partition is guarded by an advisory lock per projection
// and partition (in this schema): every batch holds it shared until it
// commits, a claim takes it exclusively, both in key order, so two claims,
// or a claim and a batch, never wait on each other in a circle. Advisory
// locks, not row locks: a row lock would give the batch's transaction its id
// at its start, and an erasure receipt it appends later, after waiting for
// its stream's lock, would carry a lower id than a receipt appended to that
// stream before it, which the relay would publish first (it orders by
// transaction id).
#define LETHE_PARTITION_KEYS                                                                 \
  "SELECT hashtextextended(current_schema() || '/' || $1 || '/' || t || '/' || p, 0) AS key" \
  " FROM unnest($2::text[], $3::int[]) AS x(t, p)"
constexpr const char* kClaimLockSql =
    "SELECT count(pg_advisory_xact_lock(key)) FROM (" LETHE_PARTITION_KEYS " ORDER BY key) k";
constexpr const char* kBatchLockSql =
    "SELECT count(pg_advisory_xact_lock_shared(key)) FROM (" LETHE_PARTITION_KEYS " ORDER BY key) k";
constexpr const char* kClaimSql =
    "INSERT INTO projection_owners (projection, topic, partition, epoch, owner)"
    " SELECT $1, t, p, 1, $4 FROM unnest($2::text[], $3::int[]) AS x(t, p)"
    " ON CONFLICT (projection, topic, partition) DO UPDATE"
    " SET epoch = projection_owners.epoch + 1, owner = EXCLUDED.owner, claimed_at = now()"
    " RETURNING topic, partition, epoch";
constexpr const char* kOwnersSql =
    "SELECT o.topic, o.partition, o.epoch, o.owner FROM projection_owners o"
    " JOIN unnest($2::text[], $3::int[]) AS x(t, p) ON o.topic = x.t AND o.partition = x.p"
    " WHERE o.projection = $1";
// Sessions holding one of the partitions' locks in a transaction open
// longer than $4 seconds and not waiting on a lock themselves. pg_locks
// shows a bigint advisory key as its high half (classid) and its low half
// (objid), objsubid 1.
constexpr const char* kEndStaleSql =
    "WITH k AS (" LETHE_PARTITION_KEYS
    ")"
    " SELECT count(*) FILTER (WHERE pg_terminate_backend(a.pid)) FROM pg_stat_activity a"
    " WHERE a.pid <> pg_backend_pid() AND a.wait_event_type IS DISTINCT FROM 'Lock' AND a.application_name <> $5"
    " AND a.xact_start < now() - make_interval(secs => $4)"
    " AND EXISTS (SELECT 1 FROM pg_locks l JOIN k ON (l.classid::bigint << 32) | l.objid::bigint = k.key"
    " WHERE l.pid = a.pid AND l.granted AND l.locktype = 'advisory' AND l.objsubid = 1)";
#undef LETHE_PARTITION_KEYS

// Partitions as the two array parameters ($2 topics, $3 numbers) of the
// statements above.
struct Arrays {
  std::string topics, partitions;
};
Arrays arrays_of(std::ranges::input_range auto&& keys) {
  std::vector<std::string> topics;
  std::vector<long long> partitions;
  for (const PartitionKey& key : keys) {
    topics.push_back(key.first);
    partitions.push_back(key.second);
  }
  return {infra::pg_text_array(topics), infra::pg_bigint_array(partitions)};
}

std::map<PartitionKey, StoredOffset> read_offsets(pqxx::transaction_base& tx, const std::string& projection) {
  std::map<PartitionKey, StoredOffset> out;
  for (const auto& row : tx.exec_params(kLoadOffsetsSql, projection)) {
    const auto fp = row["last_fingerprint"];
    out[{row["topic"].c_str(), row["partition"].as<int>()}] =
        StoredOffset{row["next_offset"].as<std::int64_t>(), fp.is_null() ? std::string() : fp.c_str()};
  }
  return out;
}

}  // namespace

std::map<PartitionKey, StoredOffset> OffsetStore::load(pqxx::connection& conn) const {
  pqxx::read_transaction tx(conn);
  return read_offsets(tx, projection_);
}

std::map<PartitionKey, StoredOffset> OffsetStore::read(pqxx::transaction_base& tx) const {
  return read_offsets(tx, projection_);
}

void OffsetStore::hold(pqxx::dbtransaction& tx, const std::vector<PartitionKey>& partitions) const {
  const auto arrays = arrays_of(partitions);
  tx.exec("SET LOCAL lock_timeout = '" + std::to_string(kClaimWaitSeconds) + "s'");
  tx.exec_params(kClaimLockSql, projection_, arrays.topics, arrays.partitions);
}

void OffsetStore::save(pqxx::dbtransaction& tx, const std::map<PartitionKey, StoredOffset>& positions) const {
  if (positions.empty()) return;
  std::vector<std::string> topics, fingerprints;
  std::vector<long long> partitions, offsets;
  for (const auto& [key, pos] : positions) {
    topics.push_back(key.first);
    partitions.push_back(key.second);
    offsets.push_back(pos.next_offset);
    fingerprints.push_back(pos.fingerprint);
  }
  infra::exec_hot(tx, kSaveOffsetsSql, projection_, infra::pg_text_array(topics), infra::pg_bigint_array(partitions),
                  infra::pg_bigint_array(offsets), infra::pg_text_array(fingerprints));
}

void OffsetStore::forget(pqxx::dbtransaction& tx) const {
  tx.exec_params(kForgetOffsetsSql, projection_);
}

OffsetStore::Claim OffsetStore::claim(pqxx::connection& conn, const std::vector<PartitionKey>& partitions,
                                      const std::string& owner) const {
  const auto arrays = arrays_of(partitions);
  Claim out;
  pqxx::work tx(conn);
  hold(tx, partitions);
  for (const auto& row : tx.exec_params(kClaimSql, projection_, arrays.topics, arrays.partitions, owner))
    out.epochs[{row[0].c_str(), row[1].as<int>()}] = row[2].as<std::int64_t>();
  // A statement of its own, so its snapshot is taken after the claim's
  // waits: it sees what the previous owner's last batch stored.
  out.stored = read_offsets(tx, projection_);
  tx.commit();
  return out;
}

std::vector<std::pair<PartitionKey, std::string>> OffsetStore::moved(
    pqxx::dbtransaction& tx, const std::map<PartitionKey, std::int64_t>& epochs) const {
  const auto arrays = arrays_of(std::views::keys(epochs));
  // Two statements: the second's snapshot is taken once the locks are held,
  // after any claim they waited for has committed its epoch.
  infra::exec_hot(tx, kBatchLockSql, projection_, arrays.topics, arrays.partitions);
  std::map<PartitionKey, std::pair<std::int64_t, std::string>> now;
  for (const auto& row : infra::exec_hot(tx, kOwnersSql, projection_, arrays.topics, arrays.partitions))
    now[{row[0].c_str(), row[1].as<int>()}] = {row[2].as<std::int64_t>(), row[3].c_str()};
  std::vector<std::pair<PartitionKey, std::string>> out;
  for (const auto& [key, epoch] : epochs) {
    const auto it = now.find(key);
    if (it == now.end())
      out.emplace_back(key, "nobody (no claim stored)");
    else if (it->second.first != epoch)
      out.emplace_back(
          key, it->second.second + " at epoch " + std::to_string(it->second.first) + ", ours " + std::to_string(epoch));
  }
  return out;
}

int OffsetStore::end_stale_batches(pqxx::connection& conn, const std::vector<PartitionKey>& partitions) const {
  const auto arrays = arrays_of(partitions);
  pqxx::nontransaction tx(conn);
  return tx
      .exec_params(kEndStaleSql, projection_, arrays.topics, arrays.partitions, kClaimWaitSeconds,
                   std::string(kHolderApplication))[0][0]
      .as<int>();
}

}  // namespace lethe::consumers
