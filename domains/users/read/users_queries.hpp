#pragma once
// The named queries of the users read models (V100__users.sql and after),
// run by the users routes.
#include "lethe/projections/query.hpp"

namespace lethe::projections::users_queries {

// Users by id after $2 ('' from the start), active ones unless $1, at most $3.
extern const Query kList;
extern const Query kByEmail;
// One user: $1 user id.
extern const Query kOne;
// The staff notes about a user, oldest first: $1 user id.
extern const Query kNotes;
// A user's OAuth identities, oldest first: $1 user id.
extern const Query kIdentities;
// Freshness ($1 id, $2 version): the user row; the notes about them.
extern const Query kUserFresh;
extern const Query kNotesFresh;

}  // namespace lethe::projections::users_queries
