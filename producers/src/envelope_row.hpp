#pragma once
// Reads an envelope from a result row that holds LETHE_ENVELOPE_COLUMNS,
// by column name. One reader for the event store, the relay, republish and
// the audit.
#include <pqxx/pqxx>

#include "lethe/domain/envelope.hpp"

namespace lethe::producers {

#define LETHE_ENVELOPE_COLUMNS                                                                                      \
  "event_id, type, schema_version, stream_id, stream_version, global_position, occurred_at, actor, correlation_id," \
  " causation_id, payload, prev_hash, hash"

inline domain::Envelope envelope_from_row(const pqxx::row& r) {
  return domain::Envelope{r["event_id"].c_str(),
                          r["type"].c_str(),
                          r["schema_version"].as<int>(),
                          r["stream_id"].c_str(),
                          r["stream_version"].as<std::int64_t>(),
                          r["global_position"].as<std::int64_t>(),
                          r["occurred_at"].c_str(),
                          r["actor"].c_str(),
                          r["correlation_id"].c_str(),
                          r["causation_id"].c_str(),
                          r["payload"].c_str(),
                          r["prev_hash"].c_str(),
                          r["hash"].c_str()};
}

}  // namespace lethe::producers
