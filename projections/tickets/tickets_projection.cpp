#include "tickets/tickets_projection.hpp"

#include <map>
#include <unordered_map>

#include "lethe/domain/personal.hpp"
#include "lethe/domain/tickets.hpp"
#include "lethe/infra/keyring.hpp"
#include "lethe/infra/pg.hpp"
#include "stream_batch.hpp"

namespace lethe::projections {

namespace tickets = domain::tickets;

namespace {

constexpr const char* kLoadSql =
    "SELECT ticket_id, coalesce(requester_id, ''), coalesce(assignee_id, ''), subject, body, status,"
    " opened_at::text, version FROM tickets WHERE ticket_id = ANY($1::text[])";

// Staging tables: COPY in, then one statement each moves the batch into the
// read model. An empty string stands for NULL (no id or text in them is
// ever empty: the domain refuses empty ones).
constexpr const char* kStageSql =
    "CREATE TEMP TABLE IF NOT EXISTS tickets_stage (LIKE tickets) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS ticket_comments_stage (LIKE ticket_comments) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS ticket_internal_notes_stage (LIKE ticket_internal_notes) ON COMMIT DELETE ROWS";
const std::vector<std::string> kTicketColumns{"ticket_id", "requester_id", "assignee_id", "subject", "body",
                                              "status",    "opened_at",    "updated_at",  "version", "last_event_id"};
// A row only moves forward: a stale or repeated version never overwrites.
constexpr const char* kMergeTicketsSql =
    "INSERT INTO tickets (ticket_id, requester_id, assignee_id, subject, body, status, opened_at, updated_at,"
    " version, last_event_id)"
    " SELECT ticket_id, NULLIF(requester_id, ''), NULLIF(assignee_id, ''), subject, body, status, opened_at,"
    " updated_at, version, last_event_id FROM tickets_stage"
    " ON CONFLICT (ticket_id) DO UPDATE SET assignee_id = EXCLUDED.assignee_id, status = EXCLUDED.status,"
    " updated_at = EXCLUDED.updated_at, version = EXCLUDED.version, last_event_id = EXCLUDED.last_event_id"
    " WHERE tickets.version < EXCLUDED.version";
// Comments and notes are keyed by their own ids: applying one twice changes nothing.
constexpr const char* kMergeCommentsSql =
    "INSERT INTO ticket_comments (comment_id, ticket_id, author_id, body, created_at, ticket_version)"
    " SELECT comment_id, ticket_id, NULLIF(author_id, ''), body, created_at, ticket_version"
    " FROM ticket_comments_stage ON CONFLICT (comment_id) DO NOTHING";
const std::vector<std::string> kCommentColumns{"comment_id", "ticket_id",  "author_id",
                                               "body",       "created_at", "ticket_version"};
constexpr const char* kMergeNotesSql =
    "INSERT INTO ticket_internal_notes SELECT note_id, ticket_id, NULLIF(author_id, ''), NULLIF(requester_id, ''),"
    " NULLIF(text, ''), created_at, stream_version FROM ticket_internal_notes_stage"
    " ON CONFLICT (note_id) DO NOTHING";

struct Row {
  std::string requester_id, assignee_id, subject, body, status, opened_at, updated_at, last_event_id;
  std::int64_t version = 0;
  bool exists = false;
  bool dirty = false;
};

std::string text_or_empty(const std::string& s) {
  return domain::is_erased(s) ? std::string() : s;
}

}  // namespace

ApplyResult TicketsProjection::apply(std::span<const Delivered> batch, pqxx::dbtransaction& tx) {
  ApplyResult result;
  // Decoded with one key query for the people the batch's sealed fields
  // name (the requesters of internal notes); a bad payload is rejected alone.
  const auto decoded = stream_batch::decode<tickets::Event>(batch, "ticket.", tickets::decode_sealed, tx, result);
  std::vector<std::string> ids;  // ticket id of decoded[k]
  for (const auto& d : decoded) ids.push_back(std::visit([](const auto& e) { return e.ticket_id; }, d.event));
  if (decoded.empty()) return result;

  std::unordered_map<std::string, Row> rows;
  for (const auto& r : tx.exec_params(kLoadSql, infra::pg_text_array(ids)))
    rows[r[0].c_str()] = Row{r[1].c_str(), r[2].c_str(), r[3].c_str(),
                             r[4].c_str(), r[5].c_str(), r[6].c_str(),
                             "",           "",           r[7].as<std::int64_t>(),
                             true,         false};

  struct CommentRow {
    std::string comment_id, ticket_id, author_id, body, created_at;
    std::int64_t ticket_version;
  };
  struct NoteRow {
    std::string note_id, ticket_id, author_id, requester_id, text, created_at;
    std::int64_t stream_version;
  };
  std::vector<CommentRow> comments;
  std::vector<NoteRow> notes;
  for (std::size_t k = 0; k < decoded.size(); ++k) {
    const auto& [index, ev] = decoded[k];
    const auto& id = ids[k];
    const auto& env = batch[index].envelope;
    if (const auto* note = std::get_if<tickets::InternalNoteAdded>(&ev)) {
      notes.push_back({note->note_id, id, note->author_id, note->requester_id, text_or_empty(note->text),
                       env.occurred_at, env.stream_version});
      ++result.applied;
      continue;
    }
    if (!stream_batch::on_stream(batch[index], index, domain::stream_of("ticket", id), result)) continue;
    auto& row = rows[id];
    if (!stream_batch::is_next(batch[index], index, row.version, row.exists,
                               std::holds_alternative<tickets::TicketOpened>(ev), result))
      continue;
    std::visit(
        [&](const auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, tickets::TicketOpened>) {
            row.requester_id = e.requester_id;
            row.subject = e.subject;
            row.body = e.body;
            row.status = std::string(tickets::to_string(tickets::Status::open));
            row.opened_at = env.occurred_at;
          } else if constexpr (std::is_same_v<T, tickets::TicketAssigned>) {
            row.assignee_id = e.assignee_id;
          } else if constexpr (std::is_same_v<T, tickets::TicketStatusChanged>) {
            row.status = e.status;
          } else if constexpr (std::is_same_v<T, tickets::TicketCommented>) {
            comments.push_back({e.comment_id, id, e.author_id, e.body, env.occurred_at, env.stream_version});
          }
        },
        ev);
    row.exists = row.dirty = true;
    row.version = env.stream_version;
    row.updated_at = env.occurred_at;
    row.last_event_id = env.event_id;
    ++result.applied;
  }

  tx.exec(kStageSql);
  {
    pqxx::stream_to copy(tx, "tickets_stage", kTicketColumns);
    for (const auto& [id, r] : rows) {
      if (!r.dirty) continue;
      copy << std::make_tuple(id, r.requester_id, r.assignee_id, r.subject, r.body, r.status, r.opened_at, r.updated_at,
                              r.version, r.last_event_id);
    }
    copy.complete();
  }
  tx.exec(kMergeTicketsSql);
  if (!comments.empty()) {
    pqxx::stream_to copy(tx, "ticket_comments_stage", kCommentColumns);
    for (const auto& c : comments)
      copy << std::make_tuple(c.comment_id, c.ticket_id, c.author_id, c.body, c.created_at, c.ticket_version);
    copy.complete();
    tx.exec(kMergeCommentsSql);
  }
  if (!notes.empty()) {
    pqxx::stream_to copy(tx, "ticket_internal_notes_stage");
    for (const auto& n : notes)
      copy << std::make_tuple(n.note_id, n.ticket_id, n.author_id, n.requester_id, n.text, n.created_at,
                              n.stream_version);
    copy.complete();
    tx.exec(kMergeNotesSql);
  }
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

}  // namespace lethe::projections
