#pragma once
// The named queries of the tickets read models (V104__tickets.sql and after),
// run by the tickets routes.
#include "lethe/projections/query.hpp"

namespace lethe::projections::tickets_queries {

// Tickets, newest first: $1 requester ('' any), $2 status ('' any), $3 limit, $4 offset.
extern const Query kList;
// One ticket: $1 ticket id.
extern const Query kOne;
// Whether a ticket exists: $1 ticket id (a row, or none).
extern const Query kExists;
// A ticket's public comments, oldest first: $1 ticket id, $2 limit, $3 offset.
extern const Query kComments;
// A ticket's internal notes, oldest first: $1 ticket id.
extern const Query kInternalNotes;
// Freshness ($1 id, $2 version): the ticket row; its internal notes' stream.
extern const Query kTicketFresh;
extern const Query kNotesFresh;

}  // namespace lethe::projections::tickets_queries
