#include "tickets_queries.hpp"

namespace lethe::projections::tickets_queries {

#define LETHE_TICKET_COLUMNS                                                                \
  "ticket_id, requester_id, assignee_id, subject, body, status, priority, " LETHE_UTC_TEXT( \
      "opened_at") ", " LETHE_UTC_TEXT("updated_at") ", version"

const Query kList{"tickets.list",
                  "SELECT " LETHE_TICKET_COLUMNS
                  " FROM tickets WHERE ($1 = '' OR requester_id = $1) AND ($2 = '' OR status = $2)"
                  " ORDER BY opened_at DESC, ticket_id LIMIT $3 OFFSET $4",
                  {"subject", "body"}};
const Query kOne{
    "tickets.one", "SELECT " LETHE_TICKET_COLUMNS " FROM tickets WHERE ticket_id = $1", {"subject", "body"}};
const Query kExists{"tickets.exists", "SELECT 1 FROM tickets WHERE ticket_id = $1"};
const Query kComments{"tickets.comments",
                      "SELECT comment_id, author_id, body, " LETHE_UTC_TEXT(
                          "created_at") " FROM ticket_comments WHERE ticket_id = $1"
                                        " ORDER BY ticket_version LIMIT $2 OFFSET $3",
                      {"body"}};
const Query kInternalNotes{"tickets.internal_notes",
                           "SELECT note_id, author_id, text, " LETHE_UTC_TEXT(
                               "created_at") " FROM ticket_internal_notes WHERE ticket_id = $1 ORDER BY stream_version",
                           {"text"}};
const Query kTicketFresh{"tickets.fresh",
                         "SELECT EXISTS (SELECT 1 FROM tickets WHERE ticket_id = $1 AND version >= $2)"};
const Query kNotesFresh{
    "tickets.notes_fresh",
    "SELECT EXISTS (SELECT 1 FROM ticket_internal_notes WHERE ticket_id = $1 AND stream_version >= $2)"};

#undef LETHE_TICKET_COLUMNS

}  // namespace lethe::projections::tickets_queries
