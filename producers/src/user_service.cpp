#include "lethe/producers/user_service.hpp"

#include <map>
#include <stdexcept>

#include "lethe/domain/personal.hpp"
#include "lethe/infra/ids.hpp"
#include "lethe/infra/keyring.hpp"
#include "lethe/infra/pg.hpp"

namespace lethe::producers {

namespace users = domain::users;

namespace {

// Opens every event's personal fields with one key query.
std::vector<domain::Envelope> open_all(pqxx::connection& conn, std::vector<domain::Envelope> events) {
  std::vector<domain::SealedPayload> sealed;
  for (const auto& e : events) sealed.push_back({e.type, e.schema_version, e.event_id, e.payload});
  std::map<std::string, infra::PersonKey> keys;
  auto opened = domain::open_personal_batch(sealed, [&](const std::vector<std::string>& subjects) {
    if (!subjects.empty())
      keys = infra::translate_pg("load person keys", [&] {
        pqxx::read_transaction tx(conn);
        return infra::load_person_keys(tx, subjects);
      });
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

struct UserService::Keys {
  std::string conninfo;
  std::unique_ptr<pqxx::connection> conn;
  pqxx::connection& get() {
    if (!conn || !conn->is_open()) conn = infra::connect(conninfo);
    return *conn;
  }
};

UserService::UserService(EventStore& store, const std::string& conninfo)
    : store_(store), keys_(std::make_unique<Keys>(Keys{conninfo, nullptr})) {}

UserService::~UserService() = default;

std::vector<domain::Envelope> open_stream(const std::string& conninfo, const std::vector<domain::Envelope>& events) {
  auto conn = infra::connect(conninfo);
  return open_all(*conn, events);
}

users::User UserService::load(const std::string& user_id) {
  users::User state;
  const auto events = open_all(keys_->get(), store_.read_stream(domain::stream_of("user", user_id)));
  for (const auto& e : events) {
    auto ev = users::decode_payload(e.type, e.payload);
    if (!ev)
      throw std::runtime_error("cannot fold " + e.stream_id + " v" + std::to_string(e.stream_version) + " (" + e.type +
                               " v" + std::to_string(e.schema_version) + "): " + ev.error().message);
    state = users::evolve(std::move(state), ev.value());
  }
  // The stream's version is what the store holds, not what was folded.
  if (!events.empty()) state.version = events.back().stream_version;
  return state;
}

users::Actor UserService::actor(const std::string& id) {
  if (id == "system" || id.rfind("system:", 0) == 0) return {id, users::Role::owner};
  if (id.empty() || id.size() > domain::kMaxActorBytes) return {id, std::nullopt};
  const auto user = load(id);
  if (!user.exists) return {id, std::nullopt};
  return {id, user.role};
}

domain::Result<std::vector<domain::Envelope>> UserService::handle(const users::Command& command,
                                                                  const CommandContext& ctx) {
  const auto user_id = std::visit([](const auto& c) { return c.user_id; }, command);
  if (user_id.empty()) return domain::invalid("user_id", "user_id must not be empty");
  const auto stream = domain::stream_of("user", user_id);
  const auto correlation = ctx.correlation_id.empty() ? infra::new_uuid() : ctx.correlation_id;
  const auto causation = ctx.causation_id.empty() ? correlation : ctx.causation_id;

  // Decide on fresh state each time: a conflict means the stream moved, and
  // the command may now be valid differently or not at all.
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    const auto state = load(user_id);
    auto decided = users::decide(state, command, actor(ctx.actor));
    if (!decided) return decided.error();
    std::vector<NewEvent> batch;
    const auto now = infra::utc_now();
    // Personal fields are sealed before they reach the store: the log, the
    // outbox and every topic only ever hold them encrypted. Each person's
    // key is fetched (or made) once per command.
    std::map<std::string, infra::PersonKey> keys;
    auto lookup = [&](std::string_view subject) -> std::optional<domain::KeyRef> {
      auto it = keys.find(std::string(subject));
      if (it == keys.end())
        it = keys.emplace(std::string(subject), infra::ensure_person_key(keys_->get(), std::string(subject))).first;
      return domain::KeyRef{it->second.key_id, it->second.key.data()};
    };
    for (const auto& ev : decided.value()) {
      NewEvent ne{infra::new_uuid(),
                  std::string(users::type_of(ev)),
                  users::version_of(ev),
                  users::encode_payload(ev),
                  now,
                  ctx.actor,
                  correlation,
                  causation};
      auto sealed = domain::seal_personal(ne.type, ne.schema_version, ne.event_id, ne.payload, lookup,
                                          [](unsigned char* b, std::size_t n) { infra::random_bytes(b, n); });
      if (!sealed) return sealed.error();
      ne.payload = std::move(sealed).value();
      batch.push_back(std::move(ne));
    }
    try {
      return store_.append(stream, state.version, batch);
    } catch (const ConcurrencyConflict&) {
      if (attempt == kAttempts) throw;
    }
  }
}

}  // namespace lethe::producers
