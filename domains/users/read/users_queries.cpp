#include "users_queries.hpp"

namespace lethe::projections::users_queries {

#define LETHE_USER_COLUMNS \
  "user_id, email, name, role, active, " LETHE_UTC_TEXT("registered_at") ", " LETHE_UTC_TEXT("updated_at") ", version"

const Query kList{"users.list",
                  "SELECT " LETHE_USER_COLUMNS
                  " FROM users WHERE ($1 OR active) AND user_id > $2 ORDER BY user_id LIMIT $3",
                  {"email", "name"}};
// The accounts whose email has this blind index (64 hex digits), active or
// not: the write side's index is the only place an email can be looked up.
const Query kByEmail{"users.by_email",
                     "SELECT " LETHE_USER_COLUMNS
                     " FROM users WHERE user_id IN (SELECT user_id FROM accounts WHERE email_index = decode($1, 'hex'))"
                     " AND ($2 OR active) ORDER BY user_id",
                     {"email", "name"}};
const Query kOne{"users.one", "SELECT " LETHE_USER_COLUMNS " FROM users WHERE user_id = $1", {"email", "name"}};
const Query kNotes{"users.notes",
                   "SELECT note_id, text, author, " LETHE_UTC_TEXT(
                       "added_at") " FROM user_notes WHERE user_id = $1 ORDER BY added_at, note_id",
                   {"text"}};
const Query kIdentities{"users.identities",
                        "SELECT provider, subject, " LETHE_UTC_TEXT(
                            "linked_at") " FROM user_oauth_identities WHERE user_id = $1 ORDER BY linked_at, provider",
                        {"subject"}};
const Query kUserFresh{"users.fresh", "SELECT EXISTS (SELECT 1 FROM users WHERE user_id = $1 AND version >= $2)"};
const Query kNotesFresh{"users.notes_fresh", "SELECT count(*) >= $2 FROM user_notes WHERE user_id = $1"};

#undef LETHE_USER_COLUMNS

}  // namespace lethe::projections::users_queries
