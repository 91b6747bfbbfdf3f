#include "lethe/producers/user_service.hpp"

#include "lethe/infra/ids.hpp"

namespace lethe::producers {

namespace users = domain::users;

users::User UserService::load(const std::string& user_id) {
  users::User state;
  for (const auto& e : store_.read_stream(domain::stream_of("user", user_id))) {
    auto ev = users::decode_payload(e.type, e.payload);
    if (ev) state = users::evolve(std::move(state), ev.value());
  }
  return state;
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
    auto decided = users::decide(state, command);
    if (!decided) return decided.error();
    std::vector<NewEvent> batch;
    const auto now = infra::utc_now();
    for (const auto& ev : decided.value()) {
      batch.push_back(NewEvent{infra::new_uuid(), std::string(users::type_of(ev)), users::version_of(ev),
                               users::encode_payload(ev), now, ctx.actor, correlation, causation});
    }
    try {
      return store_.append(stream, state.version, batch);
    } catch (const ConcurrencyConflict&) {
      if (attempt == kAttempts) throw;
    }
  }
}

}  // namespace lethe::producers
