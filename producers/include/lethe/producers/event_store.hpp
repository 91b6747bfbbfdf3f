#pragma once
// The event store in PostgreSQL: append-only streams with optimistic
// concurrency, and an outbox row per event written in the same transaction.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "lethe/domain/envelope.hpp"

namespace lethe::infra {
class Tx;  // a transaction (lethe/infra/pg.hpp)
}

namespace lethe::producers {

// An event ready to be appended; the store adds stream, version, position
// and the hash chain.
struct NewEvent {
  std::string event_id;
  std::string type;
  int schema_version = 1;
  std::string payload;  // JSON object
  std::string occurred_at;
  std::string actor;
  std::string correlation_id;
  std::string causation_id;
  // The people this event names who must not be erased (the fence): the
  // append refuses it with infra::PersonErased if one is. Empty: no check.
  std::vector<std::string> fenced = {};
  // Everyone it names (fenced, or only referred to, and the actor): the
  // append holds a shared lock on each until the transaction ends, which
  // the erasure of that person takes exclusively (V013), so no event about
  // a person commits after their erasure.
  std::vector<std::string> people = {};
};

// The stream was not at the expected version: another writer got there first.
class ConcurrencyConflict : public std::runtime_error {
 public:
  ConcurrencyConflict(std::string stream, std::int64_t expected, std::int64_t actual);
  const std::string& stream() const noexcept { return stream_; }
  std::int64_t expected() const noexcept { return expected_; }
  std::int64_t actual() const noexcept { return actual_; }

 private:
  std::string stream_;
  std::int64_t expected_, actual_;
};

// Serialises the writers of one stream until tx ends (a transaction-level
// advisory lock on the stream's name). The erasure request streams take
// it: their receipts are appended by many projections at once.
void lock_stream(infra::Tx tx, std::string_view stream);

// Appends events at the stream's head inside a transaction the caller owns
// (a projection's batch, which records an erasure receipt with its own
// read-model writes, all or nothing). The caller holds lock_stream() on it,
// and appends before its transaction writes anything else: the relay
// publishes in transaction id order, and a transaction gets its id at its
// first write (see EventStore::Transaction). Errors as for
// EventStore::append.
std::vector<domain::Envelope> append_at_head(infra::Tx tx, std::string_view stream, std::span<const NewEvent> events);

// Payloads above this are refused: with the envelope around them they must
// stay under Kafka's default message.max.bytes (1 MB), or the relay could
// never publish them.
inline constexpr std::size_t kMaxPayloadBytes = 512 * 1024;

// One connection; not thread-safe, use one EventStore per thread. A lost
// connection is not silently reopened: after infra::Unavailable, make a new
// EventStore.
class EventStore {
  struct Impl;

 public:
  explicit EventStore(const std::string& conninfo);
  ~EventStore();
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;

  // Appends events to the stream if it holds exactly expected_version events
  // (0 for a new stream), all or nothing, in ONE transaction together with
  // their outbox rows. Returns the stored envelopes (positions assigned).
  // Throws ConcurrencyConflict if the stream moved; std::invalid_argument for
  // an unknown event type, a payload above kMaxPayloadBytes, an event whose
  // Kafka message (value, key, headers) would exceed the producer's limit
  // (1,000,000 bytes), or an event that domain::unstorable() refuses; infra::InfraError on
  // infrastructure failure (the append then did not happen, or, for
  // CommitInDoubt, may have).
  std::vector<domain::Envelope> append(std::string_view stream, std::int64_t expected_version,
                                       std::span<const NewEvent> events);

  // One transaction of the store: any number of appends (to one stream or
  // several, each at its own expected version) and whatever a command
  // writes beside them (its set rules, its credentials), all or nothing.
  //
  // The relay publishes in transaction id order, and a transaction gets its
  // id at its first write: so every stream a transaction appends to must be
  // read (read_stream, or append's own head query) before the transaction
  // writes anything, or a later version could get an earlier id.
  class Transaction {
   public:
    std::vector<domain::Envelope> append(std::string_view stream, std::int64_t expected_version,
                                         std::span<const NewEvent> events);
    // Also remembers the stream's head, so that an append after it needs no
    // second query (a writer in between still conflicts on the unique key).
    std::vector<domain::Envelope> read_stream(std::string_view stream);
    // A head known from a committed earlier read (a cache of folded state):
    // the next append to the stream uses it instead of asking. Safe: if the
    // stream moved since, the append conflicts on the unique key; and the
    // head was committed before this transaction began, so a later version
    // still gets a later transaction id.
    void assume_head(std::string_view stream, std::int64_t version, std::string hash);
    const infra::Tx& sql() const noexcept { return tx_; }

   private:
    friend class EventStore;
    Transaction(Impl& impl, const infra::Tx& tx) : impl_(impl), tx_(tx) {}
    Impl& impl_;
    const infra::Tx& tx_;
    std::map<std::string, std::pair<std::int64_t, std::string>, std::less<>> heads_;  // stream -> (version, hash)
  };
  // Runs body in one transaction and commits when it returns true; false or
  // an exception rolls everything back. Errors as for append().
  void transact(const std::function<bool(Transaction&)>& body);
  // Runs body outside any transaction block: each statement commits alone
  // (one round trip for a single statement, no BEGIN and COMMIT).
  void autocommit(const std::function<void(infra::Tx)>& body);

  // Every event of the stream in version order.
  std::vector<domain::Envelope> read_stream(std::string_view stream);

  // Whether the server closed the connection while it was idle (it was
  // restarted, or ended the session): then make a new EventStore. Cheap:
  // one poll of the socket, no round trip.
  bool connection_closed() const;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace lethe::producers
