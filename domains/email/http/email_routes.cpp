// Email logs: written by a service account (an admin or owner, or the
// CLI's system actor); read by admins and owners, or the recipient.
#include "email.hpp"
#include "email_log_service.hpp"
#include "email_queries.hpp"
#include "lethe/infra/ids.hpp"
#include "route_kit.hpp"

namespace lethe::api {

namespace {

namespace q = projections::email_queries;

namespace email = domain::email;

void log_email(Call& c) {
  const auto id = infra::new_uuid();
  const auto w = ok_or_throw(c.service<producers::EmailLogService>().handle(
      email::LogEmailSent{id, c.field("recipient_id"), c.field("template"), c.field("subject"), c.field("sent_at")},
      c.ctx));
  c.written(201, id, w);
}

void list_email_logs(Call& c) {
  await_reflection(c);
  const auto page = page_of(c);
  const auto recipient = admin_or_owner(c) ? c.req.get_param_value("recipient_id") : c.who->user_id;
  pqxx::read_transaction tx(reads(c));
  page_of_query(c, "email_logs", tx, page, q::kList, recipient, page.limit, page.offset);
}

}  // namespace

DomainRoutes email_routes() {
  return {{
              {"POST", "/email-logs", kAdminUp, log_email},
              {"GET", "/email-logs", kActors, list_email_logs},
          },
          {
              {"email-", q::kFresh},
          }};
}

}  // namespace lethe::api
