#include "offset_store.hpp"

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

}  // namespace

std::map<PartitionKey, StoredOffset> OffsetStore::load(pqxx::connection& conn) const {
  pqxx::read_transaction tx(conn);
  std::map<PartitionKey, StoredOffset> out;
  for (const auto& row : tx.exec_params(kLoadOffsetsSql, projection_)) {
    const auto fp = row["last_fingerprint"];
    out[{row["topic"].c_str(), row["partition"].as<int>()}] =
        StoredOffset{row["next_offset"].as<std::int64_t>(), fp.is_null() ? std::string() : fp.c_str()};
  }
  return out;
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
  tx.exec_params(kSaveOffsetsSql, projection_, infra::pg_text_array(topics), infra::pg_bigint_array(partitions),
                 infra::pg_bigint_array(offsets), infra::pg_text_array(fingerprints));
}

void OffsetStore::forget(pqxx::dbtransaction& tx) const {
  tx.exec_params(kForgetOffsetsSql, projection_);
}

}  // namespace lethe::consumers
