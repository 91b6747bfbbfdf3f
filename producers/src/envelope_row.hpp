#pragma once
// Reads an envelope from a result row whose columns start at `first` in the
// order of kEnvelopeColumns. One reader for the event store and the relay.
#include <pqxx/pqxx>

#include "lethe/domain/envelope.hpp"

namespace lethe::producers {

#define LETHE_ENVELOPE_COLUMNS                                                                                      \
  "event_id, type, schema_version, stream_id, stream_version, global_position, occurred_at, actor, correlation_id," \
  " causation_id, payload, prev_hash, hash"

// Index of global_position within LETHE_ENVELOPE_COLUMNS.
inline constexpr pqxx::row::size_type kPositionColumn = 5;

inline domain::Envelope envelope_from_row(const pqxx::row& r, pqxx::row::size_type first = 0) {
  auto col = [&](pqxx::row::size_type i) { return r[first + i]; };
  return domain::Envelope{col(0).c_str(),
                          col(1).c_str(),
                          col(2).as<int>(),
                          col(3).c_str(),
                          col(4).as<std::int64_t>(),
                          col(5).as<std::int64_t>(),
                          col(6).c_str(),
                          col(7).c_str(),
                          col(8).c_str(),
                          col(9).c_str(),
                          col(10).c_str(),
                          col(11).c_str(),
                          col(12).c_str()};
}

}  // namespace lethe::producers
