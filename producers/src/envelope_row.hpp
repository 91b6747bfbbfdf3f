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

// Where each envelope column is in a result (or row): found by name once
// per result, not once per row (a page of the relay holds thousands).
struct EnvelopeColumns {
  template <class Columns>  // pqxx::result or pqxx::row
  explicit EnvelopeColumns(const Columns& r)
      : event_id(r.column_number("event_id")),
        type(r.column_number("type")),
        schema_version(r.column_number("schema_version")),
        stream_id(r.column_number("stream_id")),
        stream_version(r.column_number("stream_version")),
        global_position(r.column_number("global_position")),
        occurred_at(r.column_number("occurred_at")),
        actor(r.column_number("actor")),
        correlation_id(r.column_number("correlation_id")),
        causation_id(r.column_number("causation_id")),
        payload(r.column_number("payload")),
        prev_hash(r.column_number("prev_hash")),
        hash(r.column_number("hash")) {}
  pqxx::row::size_type event_id, type, schema_version, stream_id, stream_version, global_position, occurred_at, actor,
      correlation_id, causation_id, payload, prev_hash, hash;
};

inline domain::Envelope envelope_from_row(const pqxx::row& r, const EnvelopeColumns& c) {
  const auto text = [&](pqxx::row::size_type at) { return std::string(r[at].c_str(), r[at].size()); };
  return domain::Envelope{text(c.event_id),
                          text(c.type),
                          r[c.schema_version].as<int>(),
                          text(c.stream_id),
                          r[c.stream_version].as<std::int64_t>(),
                          r[c.global_position].as<std::int64_t>(),
                          text(c.occurred_at),
                          text(c.actor),
                          text(c.correlation_id),
                          text(c.causation_id),
                          text(c.payload),
                          text(c.prev_hash),
                          text(c.hash)};
}

inline domain::Envelope envelope_from_row(const pqxx::row& r) {
  return envelope_from_row(r, EnvelopeColumns(r));
}

}  // namespace lethe::producers
