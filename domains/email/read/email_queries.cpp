#include "email_queries.hpp"

namespace lethe::projections::email_queries {

const Query kList{"email.list", "SELECT email_id AS id, recipient_id, template, subject, " LETHE_UTC_TEXT(
                                    "sent_at") ", version FROM email_logs WHERE ($1 = '' OR recipient_id = $1)"
                                               " ORDER BY sent_at DESC, email_id LIMIT $2 OFFSET $3",
                  {"subject"}};
const Query kFresh{"email.fresh", "SELECT EXISTS (SELECT 1 FROM email_logs WHERE email_id = $1 AND version >= $2)"};

}  // namespace lethe::projections::email_queries
