#pragma once
// Where a projection stands in each partition, kept in PostgreSQL
// (projection_offsets) next to its read model: saved inside the batch's own
// transaction, so the rows and the position never disagree.
#include <map>
#include <pqxx/pqxx>
#include <string>

#include "partition.hpp"

namespace lethe::consumers {

class OffsetStore {
 public:
  explicit OffsetStore(std::string projection) : projection_(std::move(projection)) {}

  // Every partition this projection has a position in.
  std::map<PartitionKey, StoredOffset> load(pqxx::connection& conn) const;

  // Upserts the positions inside the batch's transaction. An offset only
  // moves forward: a stale batch cannot take a partition back.
  void save(pqxx::dbtransaction& tx, const std::map<PartitionKey, StoredOffset>& positions) const;

  // Forgets every position, so that the next run starts at offset zero.
  void forget(pqxx::dbtransaction& tx) const;

 private:
  std::string projection_;
};

}  // namespace lethe::consumers
