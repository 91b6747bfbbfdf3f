#pragma once
// Where a projection stands in each partition, kept in PostgreSQL
// (projection_offsets) next to its read model: saved inside the batch's own
// transaction, so the rows and the position never disagree.
#include <cstdint>
#include <map>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "partition.hpp"

namespace lethe::consumers {

class OffsetStore {
 public:
  explicit OffsetStore(std::string projection) : projection_(std::move(projection)) {}

  // Every partition this projection has a position in.
  std::map<PartitionKey, StoredOffset> load(pqxx::connection& conn) const;
  std::map<PartitionKey, StoredOffset> read(pqxx::transaction_base& tx) const;

  // Upserts the positions inside the batch's transaction. An offset only
  // moves forward: a stale batch cannot take a partition back.
  void save(pqxx::dbtransaction& tx, const std::map<PartitionKey, StoredOffset>& positions) const;

  // Forgets every position, so that the next run starts at offset zero.
  void forget(pqxx::dbtransaction& tx) const;

  // Claims `partitions` for `owner` (projection_owners: each one's epoch
  // goes up by one) and loads every stored position, in one transaction. A
  // batch of the previous owner still in flight holds its partitions' rows
  // (see moved()), so the claim waits for it, and the positions read
  // include what it stored.
  struct Claim {
    std::map<PartitionKey, StoredOffset> stored;
    std::map<PartitionKey, std::int64_t> epochs;
  };
  // It waits at most kClaimWait for such a batch (SQLSTATE 55P03 after).
  Claim claim(pqxx::connection& conn, const std::vector<PartitionKey>& partitions, const std::string& owner) const;
  static constexpr int kClaimWaitSeconds = 15;

  // After a claim of `partitions` waited in vain: ends the sessions that
  // hold one of them share-locked (a batch past its fence check) in a
  // transaction open longer than kClaimWait and not waiting on a lock
  // themselves: a process frozen or cut off mid-batch, whose session
  // PostgreSQL may still see as busy (in a COPY,
  // idle_in_transaction_session_timeout does not apply). Its batch rolls
  // back. Returns how many.
  int end_stale_batches(pqxx::connection& conn, const std::vector<PartitionKey>& partitions) const;
  // The application_name of the session that holds a projection's live
  // version still for a cut-over (consumers/versions.hpp): its hold is no
  // stale batch, and end_stale_batches leaves it alone.
  static constexpr const char* kHolderApplication = "lethe-versions";

  // Holds `partitions` (exclusive advisory locks, as a claim takes them,
  // waiting at most kClaimWait) until tx ends, without claiming them: no
  // batch of this projection writes them meanwhile, and the one in flight
  // has committed. A cut-over holds the live version still this way.
  void hold(pqxx::dbtransaction& tx, const std::vector<PartitionKey>& partitions) const;

  // Inside a batch's transaction, before it writes: the partitions whose
  // epoch is no longer the one claimed (another process claimed them
  // since), each with who holds it now. All stay share-locked (advisory
  // locks: the transaction gets no id from them) until it ends, so no claim
  // passes this batch.
  std::vector<std::pair<PartitionKey, std::string>> moved(pqxx::dbtransaction& tx,
                                                          const std::map<PartitionKey, std::int64_t>& epochs) const;

 private:
  std::string projection_;
};

}  // namespace lethe::consumers
