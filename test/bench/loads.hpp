#pragma once
// The users events scripts/bench loads straight into the event store and
// outbox with COPY, as EventStore::append writes them (hash chain included),
// their personal fields sealed as the write path seals them.
#include <cstdint>
#include <pqxx/pqxx>
#include <string>

#include "lethe/infra/keyring.hpp"
#include "lethe/producers/event_store.hpp"
#include "support/fixtures.hpp"

namespace lethe::bench {

// A registration's name for `id`, padded so that its payload is
// payload_bytes long.
std::string padded_name(const std::string& id, std::size_t payload_bytes);

// The last position in the event store, and the outbox rows of the events
// loaded after it (a schema may be loaded several times, one topic each).
std::int64_t last_position(pqxx::work& tx);
void queue_loaded(pqxx::work& tx, const std::string& topic, std::int64_t after);

// Seals the event's personal fields as the write path does, every one under
// `key` (the projections never open what they store) and, given one, its key
// domain's secret (without it, under `key` again: what lethe serve cannot
// open).
void seal_under(producers::NewEvent& ne, const unsigned char* key, const infra::PersonKey* domain_secret = nullptr);

// Loads `events` users events into the event store and outbox with COPY, in
// one transaction: `events / 2` people (ids prefix + 0, 1, ...), each
// registered and renamed once, interleaved so that one batch rarely holds
// two events of the same person. Each person gets a key in the keyring.
// sealed: personal fields sealed under it; false: in clear, as events
// written before sealing hold them (the plaintext baseline). Returns the
// size of one message value.
std::size_t bulk_load(const test::TestSchema& db, std::int64_t events, std::size_t payload_bytes, bool sealed = true,
                      const std::string& prefix = "b");

}  // namespace lethe::bench
