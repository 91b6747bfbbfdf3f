#pragma once
// How far the relay has published, in PostgreSQL: the only truth about it.
// The checkpoint moves only after Kafka acknowledged everything up to it, in
// the same transaction that records the entries set aside on the way.
#include <cstdint>
#include <pqxx/pqxx>
#include <span>
#include <string>

#include "outbox_reader.hpp"

namespace lethe::producers {

// An outbox entry the broker refused for good, and why.
struct ParkedEntry {
  const OutboxEntry* entry;
  std::string reason;
};

// One relay per schema: two would publish everything twice. A session-level
// advisory lock; its holder is the running relay.
inline constexpr const char* kRelayLockSql =
    "SELECT pg_try_advisory_lock(hashtext('lethe.relay.' || current_schema())) AS locked";

class CheckpointStore {
 public:
  explicit CheckpointStore(pqxx::connection& conn);

  // Loads the checkpoint and checks that it belongs to this cluster: a
  // checkpoint written under another system identifier, or ahead of the
  // transaction ids this cluster has issued, throws infra::Misconfigured
  // naming `lethe relay rebase`. A checkpoint without an identity (before
  // migration V003) is stamped with this cluster's. `trust` skips every
  // check (RelayOptions::negative_control_trust_checkpoint, tests only).
  OutboxPosition load(bool trust = false);

  // Moves the checkpoint from `from` to `to`, adds `published` to the total,
  // records the parked entries, and (with prune) deletes the outbox rows at
  // or below `to`: they are history in `events`. One transaction, and only
  // if the checkpoint is still at `from`: otherwise nothing is written (a
  // batch is never counted twice) and infra::Unavailable says where it is,
  // so that the relay reloads it.
  void advance(const OutboxPosition& from, const OutboxPosition& to, std::int64_t published,
               std::span<const ParkedEntry> parked, bool prune);

  // Entries set aside so far.
  std::int64_t parked_count();

 private:
  pqxx::connection& conn_;
};

}  // namespace lethe::producers
