#pragma once
// The one path every command of every domain takes: in ONE transaction of
// the event store, read the streams it needs (personal fields opened, the
// keys of a read loaded in one query), read the set rules' facts, decide,
// seal the new events' personal fields under their people's keys, append at
// the versions that were read, and write the command's write-side rows
// (reservations, credentials). A refusal rolls all of it back, so a rejected
// command appends nothing; a concurrent writer makes the append conflict and
// the whole command runs again on fresh state, a few times at most.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "lethe/domain/envelope.hpp"
#include "lethe/domain/result.hpp"
#include "lethe/producers/event_store.hpp"
#include "users.hpp"

namespace lethe::producers {

// What a command wrote: its events, in order.
using Written = std::vector<domain::Envelope>;

// Who asks and why; ids and time are filled in here, outside the domain.
// actor is the id of the acting user, whose role the write side knows; a
// system actor ("system", or "system:<name>" such as the CLI's "system:cli")
// acts as an owner: whoever runs lethe against the database is its operator.
struct CommandContext {
  CommandContext() = default;
  explicit CommandContext(std::string actor_id, std::optional<std::int64_t> expected = std::nullopt)
      : actor(std::move(actor_id)), expected_version(expected) {}

  std::string actor = "system";
  std::string correlation_id;  // new one when empty
  std::string causation_id;    // the correlation id when empty
  // The version the caller last saw of the command's stream (HTTP If-Match):
  // when the stream has moved on since, the command is refused (conflict).
  std::optional<std::int64_t> expected_version;
};

bool is_system_actor(std::string_view actor) noexcept;

// The actor's role as the write side holds it now, read inside the command's
// transaction (after the streams it appends to: a plain read, which assigns
// no transaction id): a demotion or deactivation that committed while the
// request waited is what the decision sees. No role: anonymous, unknown or
// deactivated.
domain::users::Actor actor_in(infra::Tx tx, const CommandContext& ctx);
// The role an account holds now, if it is active (nullopt: no such active account).
std::optional<domain::users::Role> active_role(infra::Tx tx, const std::string& user_id);

// Active owners, counted under a transaction-scoped advisory lock, so that
// two decisions that each remove an owner (a role change, a deactivation,
// an erasure) cannot both see two of them.
int active_owners(infra::Tx tx);

// If-Match: the version the caller last saw of the command's stream (`what`:
// "ticket", "stream") against the version read; 409 naming "if-match".
std::optional<domain::DomainError> check_if_match(const CommandContext& ctx, std::int64_t version,
                                                  std::string_view what);

// An event the domain decided, before the store gives it ids and position.
struct Draft {
  std::string type;
  int schema_version = 1;
  std::string payload;
};

// The drafts of a domain's decided events (type_of, version_of and
// encode_payload are found in the events' own domain namespace).
template <class Event>
std::vector<Draft> drafts_of(const std::vector<Event>& events) {
  std::vector<Draft> out;
  out.reserve(events.size());
  for (const auto& ev : events) out.push_back({std::string(type_of(ev)), version_of(ev), encode_payload(ev)});
  return out;
}

// A person's key as a command met it.
struct CommandKey {
  int key_id;
  std::array<unsigned char, 32> key;
};
using CommandKeys = std::map<std::string, CommandKey, std::less<>>;
// Zeroes every raw key of the map and empties it.
void wipe_keys(CommandKeys& keys);

// How many erasures this process has committed: a cache of folded states
// (StateCache) that saw another count forgets everything it holds, raw
// keys zeroed, so no state or key of an erased person outlives their
// erasure in this process. The erasure's commit counts itself.
std::atomic<std::uint64_t>& erasures_committed();

// A command named an erased person (in `field`); run_command answers gone.
class PersonGone : public std::runtime_error {
 public:
  PersonGone(std::string field, std::string subject)
      : std::runtime_error("the person " + subject + " is erased"),
        field_(std::move(field)),
        subject_(std::move(subject)) {}
  const std::string& field() const noexcept { return field_; }
  const std::string& subject() const noexcept { return subject_; }

 private:
  std::string field_, subject_;
};

class CommandTx {
 public:
  CommandTx(EventStore::Transaction& tx, const CommandContext& ctx, int attempt = 1);
  CommandTx(const CommandTx&) = delete;
  CommandTx& operator=(const CommandTx&) = delete;
  ~CommandTx();  // zeroes the raw keys it met
  // The stream's events in version order, personal fields opened (null
  // where the person's key is gone).
  std::vector<domain::Envelope> read(const std::string& stream);
  // Seals the drafts' personal fields (creating keys in this transaction)
  // and appends them; throws ConcurrencyConflict when the stream moved.
  const std::vector<domain::Envelope>& append(const std::string& stream, std::int64_t expected_version,
                                              const std::vector<Draft>& drafts);
  const infra::Tx& sql() const noexcept { return tx_.sql(); }
  const CommandContext& context() const noexcept { return ctx_; }
  // 1 for the first try; more after a concurrent append made it retry (a
  // cached state is then not to be trusted).
  int attempt() const noexcept { return attempt_; }
  // State known from a cache: the stream's head (the keys a command needs
  // are looked up again: no cache holds a raw key).
  void assume(const std::string& stream, std::int64_t version, std::string hash);
  // Runs after the transaction committed (to update a cache with what it wrote).
  void on_commit(std::function<void()> fn) { on_commit_.push_back(std::move(fn)); }
  std::vector<std::function<void()>>& commit_hooks() noexcept { return on_commit_; }
  // Everything appended so far, in order.
  const std::vector<domain::Envelope>& written() const noexcept { return written_; }
  // The erasure's own steps name the person being erased; every other
  // command that names an erased person is refused (gone, 410).
  void allow_erased() noexcept { allow_erased_ = true; }

 private:
  CommandKey domain_secret(const std::string& subject);
  EventStore::Transaction& tx_;
  const CommandContext& ctx_;
  int attempt_;
  std::vector<domain::Envelope> written_;
  // People's keys met in this command (opening what it read, sealing what
  // it appends): each fetched once.
  std::map<std::string, CommandKey, std::less<>> keys_;
  std::vector<std::function<void()>> on_commit_;
  bool allow_erased_ = false;
};

// Runs body on the one path above; body returns a refusal or nothing. The
// result is what was appended (empty when body appended nothing).
using CommandBody = std::function<std::optional<domain::DomainError>(CommandTx&)>;
domain::Result<std::vector<domain::Envelope>> run_command(EventStore& store, const CommandContext& ctx,
                                                          const CommandBody& body);

// Folded states of streams this process wrote or read last, so that a
// command on a stream it knows skips reading and opening it again. Bounded
// (forgets everything when full); one per command service, which is one per
// thread. A stale entry costs one conflict and a retry on fresh state. It
// holds no key: a command that seals looks its keys up again, and drops
// them when it ends (CommandTx).
template <class State>
class StateCache {
 public:
  struct Entry {
    State state;
    std::int64_t version = 0;
    std::string hash;
  };
  explicit StateCache(std::size_t max_entries = 20000) : max_(max_entries) {}
  StateCache(const StateCache&) = delete;
  StateCache& operator=(const StateCache&) = delete;

  const Entry* find(const std::string& stream) {
    after_erasures();
    const auto it = entries_.find(stream);
    return it == entries_.end() ? nullptr : &it->second;
  }
  void put(const std::string& stream, Entry entry) {
    after_erasures();
    if (entries_.size() >= max_ && !entries_.contains(stream)) entries_.clear();
    entries_.insert_or_assign(stream, std::move(entry));
  }
  void forget(const std::string& stream) { entries_.erase(stream); }
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  void after_erasures() {
    const auto now = erasures_committed().load(std::memory_order_acquire);
    if (now == erasures_seen_) return;
    entries_.clear();
    erasures_seen_ = now;
  }
  std::size_t max_;
  std::map<std::string, Entry, std::less<>> entries_;
  std::uint64_t erasures_seen_ = erasures_committed().load(std::memory_order_acquire);
};

// A stream's folded state for a command: from the cache when this service
// met the stream last (its head assumed, nothing read), else read, folded
// and remembered. Only on a first attempt without If-Match: after a
// conflict, or when the caller names a version, the stream is read.
// `cached` tells the caller that a refusal may rest on a stale state (see
// decide_again()).
template <class State, class FoldEvents>
State cached_state(CommandTx& tx, StateCache<State>& cache, const std::string& stream, bool& cached,
                   FoldEvents&& fold_events) {
  if (tx.attempt() > 1 || tx.context().expected_version) cache.forget(stream);
  if (const auto* hit = cache.find(stream)) {
    tx.assume(stream, hit->version, hit->hash);
    cached = true;
    return hit->state;
  }
  const auto events = tx.read(stream);
  State state = fold_events(events);
  if (!events.empty()) cache.put(stream, {state, events.back().stream_version, events.back().hash});
  return state;
}

// After the command commits, the cache holds the stream's state with the
// events this command appended to it.
template <class State, class Event, class Evolve>
void remember(CommandTx& tx, StateCache<State>& cache, const std::string& stream, State state,
              const std::vector<Event>& appended, Evolve&& evolve) {
  const auto& written = tx.written();
  const auto last =
      std::find_if(written.rbegin(), written.rend(), [&](const auto& e) { return e.stream_id == stream; });
  if (last == written.rend()) return;
  for (const auto& e : appended) state = evolve(std::move(state), e);
  state.version = last->stream_version;
  typename StateCache<State>::Entry entry{std::move(state), last->stream_version, last->hash};
  tx.on_commit([&cache, stream, entry = std::move(entry)]() mutable { cache.put(stream, std::move(entry)); });
}

// A refusal decided on cached state may be a stale one: the command runs
// again on the streams as stored (run_command's next attempt reads them).
[[noreturn]] inline void decide_again(const std::string& stream) {
  throw ConcurrencyConflict(stream, 0, 0);
}

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
// exist (null where they are gone) and each payload in today's shape (an
// older schema version lifted by its upcasters), for readers such as
// `lethe events`.
std::vector<domain::Envelope> open_stream(const std::string& conninfo, const std::vector<domain::Envelope>& events);

}  // namespace lethe::producers
