#pragma once
// What the domains' command services share (billing, content, files,
// email): an id checked before it names a stream, If-Match compared with
// the main stream's version, and the one-stream command: read the stream
// (before anything is written: the relay's order, see
// EventStore::Transaction), fold it, check If-Match, load the actor in the
// same transaction, decide, append at the version read.
#include <optional>
#include <string>
#include <string_view>

#include "lethe/domain/envelope.hpp"
#include "lethe/domain/result.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/producers/command_path.hpp"
#include "user_service.hpp"

namespace lethe::producers::stream_command {

// The id must name a stream within the store's bound once `stream_prefix`
// ("post-") is put before it.
inline std::optional<domain::DomainError> check_id(std::string_view field, std::string_view id,
                                                   std::string_view stream_prefix) {
  if (id.empty()) return domain::invalid(std::string(field), std::string(field) + " must not be empty");
  const auto max = domain::kMaxStreamIdBytes - stream_prefix.size();
  if (id.size() > max)
    return domain::invalid(std::string(field),
                           std::string(field) + " must be at most " + std::to_string(max) + " bytes");
  return std::nullopt;
}

// A command that reads and appends one stream. decide(state, actor) returns
// the domain's Result of events.
template <class State, class Decode, class Evolve, class Decide>
domain::Result<Written> run(EventStore& store, const CommandContext& ctx, const std::string& stream,
                            std::string_view what, Decode&& decode, Evolve&& evolve, Decide&& decide) {
  return run_command(store, ctx, [&](CommandTx& tx) -> std::optional<domain::DomainError> {
    const auto state = fold<State>(tx.read(stream), decode, evolve);
    if (auto err = check_if_match(tx.context(), state.version, what)) return err;
    auto decided = decide(state, actor_in(tx.sql(), tx.context()));
    if (!decided) return decided.error();
    tx.append(stream, state.version, drafts_of(decided.value()));
    return std::nullopt;
  });
}

}  // namespace lethe::producers::stream_command
