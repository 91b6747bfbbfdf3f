#include "tickets_projection.hpp"

#include "lethe/domain/personal.hpp"
#include "lethe/infra/keyring.hpp"
#include "lethe/infra/pg.hpp"
#include "stream_batch.hpp"
#include "table.hpp"
#include "tickets.hpp"

namespace lethe::projections {

namespace tickets = domain::tickets;

namespace {

using stream_batch::opened;

// A row only moves forward: a stale or repeated version never overwrites;
// what the erasure policy may null (the requester) is written once.
const table::Spec kTickets{"tickets",
                           {"ticket_id", table::text},
                           {{"requester_id", table::text, table::kOnCreate, table::Mark::person},
                            {"assignee_id", table::text, table::Mark::person},
                            {"subject", table::text, table::Mark::sealed, table::kOnCreate},
                            {"body", table::text, table::Mark::sealed, table::kOnCreate},
                            {"status", table::text},
                            {"priority", table::text, table::kOnCreate},
                            {"opened_at", table::timestamptz, table::kOnCreate},
                            {"updated_at", table::timestamptz},
                            {"version", table::bigint},
                            {"last_event_id", table::uuid}}};
// Comments and notes are keyed by their own ids: applying one twice changes nothing.
const table::Spec kComments{"ticket_comments",
                            {"comment_id", table::text},
                            {{"ticket_id", table::text},
                             {"author_id", table::text, table::Mark::person},
                             {"body", table::text, table::Mark::sealed},
                             {"created_at", table::timestamptz},
                             {"ticket_version", table::bigint}},
                            table::Moves::once};
const table::Spec kNotes{"ticket_internal_notes",
                         {"note_id", table::text},
                         {{"ticket_id", table::text},
                          {"author_id", table::text, table::Mark::person},
                          {"requester_id", table::text, table::Mark::person},
                          {"text", table::text, table::Mark::sealed},
                          {"created_at", table::timestamptz},
                          {"stream_version", table::bigint}},
                         table::Moves::once};

}  // namespace

ApplyResult TicketsProjection::apply(std::span<const Delivered> batch, infra::Tx tx) {
  ApplyResult result;
  // Personal text (subjects, bodies, comments, staff notes) stays sealed in
  // the tables, opened only when a query answers: no key is read here. A
  // bad payload is rejected alone.
  const auto decoded = stream_batch::decode_kept<tickets::Event>(batch, "ticket.", tickets::decode_sealed, result);
  std::vector<std::string> ids;  // ticket id of decoded[k]
  for (const auto& d : decoded) ids.push_back(std::visit([](const auto& e) { return e.ticket_id; }, d.event));
  if (decoded.empty()) return result;

  table::Rows rows(kTickets), comments(kComments), notes(kNotes);
  rows.load(tx, ids);
  for (std::size_t k = 0; k < decoded.size(); ++k) {
    const auto& [index, ev] = decoded[k];
    const auto& id = ids[k];
    const auto& env = batch[index].envelope;
    if (const auto* note = std::get_if<tickets::InternalNoteAdded>(&ev)) {
      notes.add(note->note_id)
          .set("ticket_id", id)
          .set("author_id", opened(note->author_id))
          .set("requester_id", opened(note->requester_id))
          .set("text", opened(note->text))
          .set("created_at", env.occurred_at)
          .set("stream_version", env.stream_version);
      ++result.applied;
      continue;
    }
    if (!stream_batch::on_stream(batch[index], index, domain::stream_of("ticket", id), result)) continue;
    auto& row = rows.row(id);
    if (!stream_batch::is_next(batch[index], index, row.version(), row.exists(),
                               std::holds_alternative<tickets::TicketOpened>(ev), result))
      continue;
    std::visit(
        [&](const auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, tickets::TicketOpened>) {
            row.set("requester_id", opened(e.requester_id))
                .set("subject", e.subject)
                .set("body", e.body)
                .set("status", std::string(tickets::to_string(tickets::Status::open)))
                .set("priority", e.priority)
                .set("opened_at", env.occurred_at);
          } else if constexpr (std::is_same_v<T, tickets::TicketAssigned>) {
            row.set("assignee_id", opened(e.assignee_id));
          } else if constexpr (std::is_same_v<T, tickets::TicketStatusChanged>) {
            row.set("status", e.status);
          } else if constexpr (std::is_same_v<T, tickets::TicketCommented>) {
            comments.add(e.comment_id)
                .set("ticket_id", id)
                .set("author_id", opened(e.author_id))
                .set("body", opened(e.body))
                .set("created_at", env.occurred_at)
                .set("ticket_version", env.stream_version);
          }
        },
        ev);
    row.set("updated_at", env.occurred_at).set("last_event_id", env.event_id).applied(env.stream_version);
    ++result.applied;
  }
  rows.write(tx);
  comments.write(tx);
  notes.write(tx);
  return result;
}

// How this read model forgets a person (see ErasureRule); its migrations
// mark the columns it must cover.
const ErasurePolicy& TicketsProjection::erasure_policy() const {
  static const ErasurePolicy policy{
      {"ticket_internal_notes", "requester_id", Erase::delete_row, {}, {}, "staff notes about the person"},
      {"ticket_internal_notes", "author_id", Erase::set_null},
      {"tickets",
       "requester_id",
       Erase::set_null,
       {{"anonymized_at", "coalesce(anonymized_at, now())"}},
       {},
       "support history stays, anonymous"},
      // Handed to the erasing admin by a ticket.assigned first; NULL only
      // while a replay has not reached that event yet.
      {"tickets", "assignee_id", Erase::set_null},
      {"ticket_comments", "author_id", Erase::set_null, {{"anonymized_at", "coalesce(anonymized_at, now())"}}},
  };
  return policy;
}

std::vector<DeclaredColumn> TicketsProjection::declared_columns() const {
  return table::declared({&kTickets, &kComments, &kNotes});
}

std::vector<ReadModel> tickets_read_models() {
  return {{"tickets", []() -> std::unique_ptr<Projection> { return std::make_unique<TicketsProjection>(); }}};
}

}  // namespace lethe::projections
