#include "lethe/producers/command_path.hpp"

#include <map>
#include <set>
#include <stdexcept>

#include "lethe/domain/personal.hpp"
#include "lethe/domain/registry.hpp"
#include "lethe/infra/ids.hpp"
#include "lethe/infra/keyring.hpp"
#include "lethe/infra/pg.hpp"

namespace lethe::producers {

namespace {

// Opens every event's personal fields with one key query inside tx; the
// keys it loads are added to `keys`.
template <class KeyMap>
std::vector<domain::Envelope> open_all(pqxx::transaction_base& tx, std::vector<domain::Envelope> events, KeyMap& keys) {
  std::vector<domain::SealedPayload> sealed;
  sealed.reserve(events.size());
  for (const auto& e : events) sealed.push_back({e.type, e.schema_version, e.event_id, e.payload});
  auto opened = domain::open_personal_batch(sealed, [&](const std::vector<std::string>& subjects) {
    std::vector<std::string> missing;
    for (const auto& s : subjects)
      if (!keys.contains(s)) missing.push_back(s);
    if (!missing.empty())
      for (auto& [subject, k] : infra::load_person_keys(tx, missing))
        keys.insert_or_assign(subject, typename KeyMap::mapped_type{k.key_id, k.key});
    return domain::lookup_in(keys);
  });
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (!opened[i])
      throw std::runtime_error("event " + events[i].event_id + " of " + events[i].stream_id + ": " +
                               opened[i].error().message);
    events[i].payload = std::move(opened[i]).value();
  }
  return events;
}

}  // namespace

bool is_system_actor(std::string_view actor) noexcept {
  return actor == "system" || actor.starts_with("system:");
}

std::optional<domain::users::Role> active_role(infra::Tx tx, const std::string& user_id) {
  if (user_id.empty() || user_id.size() > domain::kMaxActorBytes) return std::nullopt;
  const auto r = infra::exec_hot(tx, "SELECT role FROM accounts WHERE user_id = $1 AND active", user_id);
  if (r.empty()) return std::nullopt;
  return domain::users::parse_role(r[0][0].c_str());
}

int active_owners(infra::Tx tx) {
  constexpr std::int64_t kOwnersLock = 0x6c65746865'01;  // "lethe" 1
  infra::exec_hot(tx, "SELECT pg_advisory_xact_lock($1)", kOwnersLock);
  return tx.driver().exec("SELECT count(*) FROM accounts WHERE role = 'owner' AND active")[0][0].as<int>();
}

domain::users::Actor actor_in(infra::Tx tx, const CommandContext& ctx) {
  if (is_system_actor(ctx.actor)) return {ctx.actor, domain::users::Role::owner};
  return {ctx.actor, active_role(tx, ctx.actor)};
}

std::optional<domain::DomainError> check_if_match(const CommandContext& ctx, std::int64_t version,
                                                  std::string_view what) {
  const auto& expected = ctx.expected_version;
  if (expected && *expected != version)
    return domain::DomainError{domain::ErrorCode::conflict, "if-match",
                               "the " + std::string(what) + " is at version " + std::to_string(version) + ", not " +
                                   std::to_string(*expected)};
  return std::nullopt;
}

CommandTx::CommandTx(EventStore::Transaction& tx, const CommandContext& ctx, int attempt)
    : tx_(tx), ctx_(ctx), attempt_(attempt) {}

CommandTx::~CommandTx() {
  wipe_keys(keys_);
}

void wipe_keys(CommandKeys& keys) {
  for (auto& [subject, k] : keys) infra::wipe(k.key.data(), k.key.size());
  keys.clear();
}

std::atomic<std::uint64_t>& erasures_committed() {
  static std::atomic<std::uint64_t> count{0};
  return count;
}

void CommandTx::assume(const std::string& stream, std::int64_t version, std::string hash) {
  tx_.assume_head(stream, version, std::move(hash));
}

std::vector<domain::Envelope> CommandTx::read(const std::string& stream) {
  return open_all(tx_.sql(), tx_.read_stream(stream), keys_);
}

// A key domain's secret: read in the command's transaction, or, the first
// time, made in a transaction of its own on a connection of its own, so
// that concurrent first commands do not queue behind one another's open
// transactions on the secret's row (every command of a topic needs it).
CommandKey CommandTx::domain_secret(const std::string& subject) {
  auto found = infra::load_person_keys(tx_.sql(), {subject});
  if (const auto it = found.find(subject); it != found.end()) return CommandKey{it->second.key_id, it->second.key};
  auto own = infra::connect(infra::conninfo_of(tx_.sql().driver().conn()), "lethe-key-domain");
  const auto made = infra::ensure_person_key(*own, subject);
  return CommandKey{made.key_id, made.key};
}

const std::vector<domain::Envelope>& CommandTx::append(const std::string& stream, std::int64_t expected_version,
                                                       const std::vector<Draft>& drafts) {
  const auto now = infra::utc_now();
  // The fence: each event's append statement (V013, no round trip of its
  // own) takes a shared lock on every person the event names, the actor
  // included, which the erasure of that person holds exclusively
  // (lock_person), and refuses (410) an event that ties an erased person to
  // something anew (a ticket assigned to them, a charge on their account) or
  // that an erased person acts in. So no event about a person commits after
  // their erasure. A field that only refers to the person already on the
  // record ("x-refers": a refund's user_id, a deleted post's author_id) is
  // locked, not refused: the business goes on with their records, and
  // personal fields sealed under them are written as null (seal_personal).
  // The erasure's own steps name them freely.
  const bool actor_named = !allow_erased_ && !ctx_.actor.empty() && !is_system_actor(ctx_.actor);
  std::map<std::string, std::string, std::less<>> field_of;  // id -> field, for the 410
  if (actor_named) field_of.emplace(ctx_.actor, "Authorization");

  std::vector<NewEvent> batch;
  batch.reserve(drafts.size());
  for (const auto& d : drafts) {
    NewEvent ne{infra::new_uuid(),
                d.type,
                d.schema_version,
                d.payload,
                now,
                ctx_.actor,
                ctx_.correlation_id,
                ctx_.causation_id,
                {},
                {}};
    std::set<std::string, std::less<>> referred;
    if (!allow_erased_) {
      if (actor_named) {
        ne.fenced.push_back(ctx_.actor);
        ne.people.push_back(ctx_.actor);
      }
      domain::named_people(d.payload, [&](std::string_view field, std::string_view id) {
        ne.people.emplace_back(id);
        if (domain::refers(d.type, d.schema_version, field)) {
          referred.emplace(id);
          return;
        }
        ne.fenced.emplace_back(id);
        field_of.emplace(std::string(id), std::string(field));
      });
    }
    // Personal fields are sealed before they reach the store: the log, the
    // outbox and every topic only ever hold them encrypted. Each person's
    // key is fetched (or made) once per command.
    auto lookup = [&](std::string_view subject) -> std::optional<domain::KeyRef> {
      auto it = keys_.find(subject);
      if (it == keys_.end()) {
        try {
          if (subject.starts_with("~domain:")) {
            it = keys_.emplace(std::string(subject), domain_secret(std::string(subject))).first;
          } else {
            const auto k = infra::ensure_person_key(tx_.sql(), std::string(subject));
            it = keys_.emplace(std::string(subject), CommandKey{k.key_id, k.key}).first;
          }
        } catch (const infra::PersonErased& gone) {
          // Erased, and only referred to (or this is their erasure): their
          // fields are written as null.
          if (referred.contains(subject) || allow_erased_) return domain::KeyRef{};
          const auto f = field_of.find(subject);
          throw PersonGone(f == field_of.end() ? "user_id" : f->second, gone.subject());
        }
      }
      return domain::KeyRef{it->second.key_id, it->second.key.data()};
    };
    auto sealed = domain::seal_personal(ne.type, ne.schema_version, ne.event_id, ne.payload, lookup,
                                        [](unsigned char* b, std::size_t n) { infra::random_bytes(b, n); });
    if (!sealed) throw std::invalid_argument("event " + ne.type + ": " + sealed.error().message);
    ne.payload = std::move(sealed).value();
    batch.push_back(std::move(ne));
  }
  try {
    for (auto& e : tx_.append(stream, expected_version, batch)) written_.push_back(std::move(e));
  } catch (const infra::PersonErased& gone) {
    const auto it = field_of.find(gone.subject());
    throw PersonGone(it == field_of.end() ? "user_id" : it->second, gone.subject());
  }
  return written_;
}

domain::Result<std::vector<domain::Envelope>> run_command(EventStore& store, const CommandContext& ctx,
                                                          const CommandBody& body) {
  CommandContext full = ctx;
  if (full.correlation_id.empty()) full.correlation_id = infra::new_uuid();
  if (full.causation_id.empty()) full.causation_id = full.correlation_id;
  // Decide on fresh state each time: a conflict means a stream moved, and
  // the command may now be valid differently or not at all.
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    std::optional<domain::DomainError> refused;
    std::vector<domain::Envelope> written;
    std::vector<std::function<void()>> hooks;
    try {
      store.transact([&](EventStore::Transaction& tx) {
        CommandTx ctx_tx(tx, full, attempt);
        refused = body(ctx_tx);
        if (refused) return false;
        written = ctx_tx.written();
        hooks = std::move(ctx_tx.commit_hooks());
        return true;
      });
    } catch (const ConcurrencyConflict&) {
      if (attempt == kAttempts) throw;
      continue;
    } catch (const PersonGone& gone) {
      return domain::DomainError{domain::ErrorCode::gone, gone.field(), "the person " + gone.subject() + " is erased"};
    } catch (const infra::PersonErased& gone) {
      // Their key was asked for: something personal of theirs was to be sealed.
      return domain::DomainError{domain::ErrorCode::gone, "user_id", "the person " + gone.subject() + " is erased"};
    }
    if (refused) return *refused;
    for (auto& hook : hooks) hook();  // committed: caches may learn what was written
    return written;
  }
}

std::vector<domain::Envelope> open_stream(const std::string& conninfo, const std::vector<domain::Envelope>& events) {
  auto conn = infra::connect(conninfo);
  return infra::translate_pg("open personal fields", [&] {
    pqxx::read_transaction tx(*conn);
    std::map<std::string, infra::PersonKey> keys;
    auto opened = open_all(tx, events, keys);
    // In today's shape: an older schema version lifted by its upcasters.
    for (auto& e : opened)
      if (auto lifted = domain::upcast_payload(e.type, e.schema_version, e.payload)) {
        e.schema_version = lifted->first;
        e.payload = std::move(lifted->second);
      }
    return opened;
  });
}

}  // namespace lethe::producers
