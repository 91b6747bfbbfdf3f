#pragma once
// The one path every command of every domain takes: in ONE transaction of
// the event store, read the streams it needs (personal fields opened, the
// keys of a read loaded in one query), read the set rules' facts, decide,
// seal the new events' personal fields under their people's keys, append at
// the versions that were read, and write the command's write-side rows
// (reservations, credentials). A refusal rolls all of it back, so a rejected
// command appends nothing; a concurrent writer makes the append conflict and
// the whole command runs again on fresh state, a few times at most.
#include <array>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lethe/domain/envelope.hpp"
#include "lethe/domain/result.hpp"
#include "lethe/producers/event_store.hpp"

namespace lethe::producers {

// Who asks and why; ids and time are filled in here, outside the domain.
// actor is the id of the acting user, whose role the write side knows; a
// system actor ("system", or "system:<name>" such as the CLI's "system:cli")
// acts as an owner: whoever runs lethe against the database is its operator.
struct CommandContext {
  std::string actor = "system";
  std::string correlation_id;  // new one when empty
  std::string causation_id;    // the correlation id when empty
  // The version the caller last saw of the command's stream (HTTP If-Match):
  // when the stream has moved on since, the command is refused (conflict).
  std::optional<std::int64_t> expected_version;
};

bool is_system_actor(std::string_view actor) noexcept;

// An event the domain decided, before the store gives it ids and position.
struct Draft {
  std::string type;
  int schema_version = 1;
  std::string payload;
};

class CommandTx {
 public:
  CommandTx(EventStore::Transaction& tx, const CommandContext& ctx);
  // The stream's events in version order, personal fields opened (null
  // where the person's key is gone).
  std::vector<domain::Envelope> read(const std::string& stream);
  // Seals the drafts' personal fields (creating keys in this transaction)
  // and appends them; throws ConcurrencyConflict when the stream moved.
  const std::vector<domain::Envelope>& append(const std::string& stream, std::int64_t expected_version,
                                              const std::vector<Draft>& drafts);
  pqxx::dbtransaction& sql() noexcept { return tx_.sql(); }
  const CommandContext& context() const noexcept { return ctx_; }
  // Everything appended so far, in order.
  const std::vector<domain::Envelope>& written() const noexcept { return written_; }

 private:
  EventStore::Transaction& tx_;
  const CommandContext& ctx_;
  std::vector<domain::Envelope> written_;
  // People's keys met in this command (opening what it read, sealing what
  // it appends): each fetched once.
  struct Key {
    int key_id;
    std::array<unsigned char, 32> key;
  };
  std::map<std::string, Key, std::less<>> keys_;
};

// Runs body on the one path above; body returns a refusal or nothing. The
// result is what was appended (empty when body appended nothing).
using CommandBody = std::function<std::optional<domain::DomainError>(CommandTx&)>;
domain::Result<std::vector<domain::Envelope>> run_command(EventStore& store, const CommandContext& ctx,
                                                          const CommandBody& body);

// Folds a stream's opened events into a domain's state with its decoder and
// evolve. The state's version is the last envelope's, whatever decodes; an
// event of an unknown type or schema version throws std::runtime_error (a
// skipped event would look like a concurrency conflict). A personal field
// whose key is gone folds as domain::erased().
template <class State, class Decode, class Evolve>
State fold(const std::vector<domain::Envelope>& events, Decode&& decode, Evolve&& evolve) {
  State state;
  for (const auto& e : events) {
    auto ev = decode(e.type, e.schema_version, e.payload);
    if (!ev)
      throw std::runtime_error("cannot fold " + e.stream_id + " v" + std::to_string(e.stream_version) + " (" + e.type +
                               " v" + std::to_string(e.schema_version) + "): " + ev.error().message);
    state = evolve(std::move(state), ev.value());
  }
  if (!events.empty()) state.version = events.back().stream_version;
  return state;
}

// The stream's events with their personal fields opened where the keys
// exist (null where they are gone), for readers such as `lethe events`.
std::vector<domain::Envelope> open_stream(const std::string& conninfo, const std::vector<domain::Envelope>& events);

}  // namespace lethe::producers
