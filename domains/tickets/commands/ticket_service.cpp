#include "ticket_service.hpp"

#include "lethe/infra/keyring.hpp"
#include "lethe/infra/pg.hpp"

namespace lethe::producers {

namespace tickets = domain::tickets;
namespace users = domain::users;
using domain::DomainError;

domain::Result<Written> TicketService::handle(const tickets::Command& command, const CommandContext& ctx) {
  const auto ticket_id = std::visit([](const auto& c) { return c.ticket_id; }, command);
  if (ticket_id.empty()) return domain::invalid("ticket_id", "ticket_id must not be empty");
  if (ticket_id.size() > domain::kMaxStreamIdBytes - 12)
    return domain::invalid("ticket_id",
                           "ticket_id must be at most " + std::to_string(domain::kMaxStreamIdBytes - 12) + " bytes");
  const bool note = std::holds_alternative<tickets::AddInternalNote>(command);
  return run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    // Every stream this command may append to is read before anything is
    // written (the relay's order, see EventStore::Transaction).
    const auto stream = domain::stream_of("ticket", ticket_id);
    bool cached = false;
    const auto state = cached_state(tx, tickets_, stream, cached, [](const std::vector<domain::Envelope>& events) {
      return fold<tickets::Ticket>(events, tickets::decode_payload, tickets::evolve);
    });
    const auto notes_stream = domain::stream_of("ticketnotes", ticket_id);
    std::int64_t notes_version = 0;
    if (note) {
      const auto notes = tx.read(notes_stream);
      notes_version = notes.empty() ? 0 : notes.back().stream_version;
    }
    if (auto err = check_if_match(tx.context(), state.version, "ticket")) return err;
    tickets::Facts facts;
    if (const auto* assign = std::get_if<tickets::AssignTicket>(&command)) {
      facts.assignee_role = active_role(tx.sql(), assign->assignee_id);
      facts.assignee_erased = !facts.assignee_role && !infra::erased_among(tx.sql(), {assign->assignee_id}).empty();
    }
    auto decided = tickets::decide(state, command, actor_in(tx.sql(), tx.context()), facts);
    if (!decided) {
      if (cached) decide_again(stream);
      return decided.error();
    }
    if (note) {
      tx.append(notes_stream, notes_version, drafts_of(decided.value()));
    } else {
      tx.append(stream, state.version, drafts_of(decided.value()));
      remember(tx, tickets_, stream, state, decided.value(), tickets::evolve);
    }
    return std::nullopt;
  });
}

}  // namespace lethe::producers
