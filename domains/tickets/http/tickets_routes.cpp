#include "lethe/infra/ids.hpp"
#include "route_kit.hpp"
#include "ticket_service.hpp"
#include "tickets_queries.hpp"

namespace lethe::api {

namespace users = domain::users;

namespace {

namespace tickets = domain::tickets;

// Staff, admins, owners and auditors read every ticket; a customer only
// their own (another's answers 404, as if it did not exist).
bool reads_all_tickets(const Call& c) {
  using R = users::Role;
  return c.who && c.who->role != R::user;
}

namespace q = projections::tickets_queries;

void ticket_json(Json& j, const pqxx::row& r, Opened& opened) {
  j.str("id", r["ticket_id"].c_str())
      .str_or_null("requester_id", r["requester_id"].is_null() ? "" : r["requester_id"].c_str())
      .str_or_null("assignee_id", r["assignee_id"].is_null() ? "" : r["assignee_id"].c_str())
      .str_or_null("subject", opened.text(r["subject"]))
      .str_or_null("body", opened.text(r["body"]))
      .str("status", r["status"].c_str())
      .str("priority", r["priority"].c_str())
      .str("opened_at", r["opened_at"].c_str())
      .str("updated_at", r["updated_at"].c_str())
      .num("version", r["version"].as<std::int64_t>());
}

void open_ticket(Call& c) {
  const auto id = infra::new_uuid();
  tickets::OpenTicket open{id, c.field("subject"), c.field("body")};
  if (auto priority = c.optional_field("priority")) open.priority = std::move(*priority);
  const auto w = ok_or_throw(c.service<producers::TicketService>().handle(open, c.ctx));
  c.written(201, id, w);
}

void list_tickets(Call& c) {
  await_reflection(c);
  const auto page = page_of(c);
  const auto status = c.req.get_param_value("status");
  if (!status.empty() && !tickets::parse_status(status))
    throw HttpError{400, "invalid_argument", "status", "status must be one of open, in_progress, resolved, closed"};
  // A customer's filter is always themself.
  const auto requester = reads_all_tickets(c) ? c.req.get_param_value("requester_id") : c.who->user_id;
  pqxx::read_transaction tx(reads(c));
  Opened opened(tx);
  const auto rows = run(tx, q::kList, requester, status, page.limit, page.offset);
  opened.add(q::kList, rows);
  Json j;
  j.begin().begin_array("tickets");
  for (const auto& r : rows) {
    j.begin();
    ticket_json(j, r, opened);
    j.end();
  }
  j.end_array();
  page_json(j, page, rows.size());
  c.json(200, j.end().text());
}

void get_ticket(Call& c) {
  const auto& id = c.params.at(0);
  await_reflection(c, domain::stream_of("ticket", id));
  pqxx::read_transaction tx(reads(c));
  const auto rows = run(tx, q::kOne, id);
  ensure_found(c, !rows.empty() && (reads_all_tickets(c) || rows[0]["requester_id"].c_str() == c.who->user_id),
               "ticket");
  // The public comments a page at a time (?limit, ?offset), oldest first.
  const auto page = page_of(c);
  Opened opened(tx);
  opened.add(q::kOne, rows);
  const auto comments = run(tx, q::kComments, id, page.limit, page.offset);
  opened.add(q::kComments, comments);
  Json j;
  j.begin();
  ticket_json(j, rows[0], opened);
  j.begin_array("comments");
  for (const auto& r : comments)
    j.begin()
        .str("id", r["comment_id"].c_str())
        .str_or_null("author_id", r["author_id"].is_null() ? "" : r["author_id"].c_str())
        .str_or_null("body", opened.text(r["body"]))
        .str("created_at", r["created_at"].c_str())
        .end();
  j.end_array();
  page_json(j, page, comments.size(), "comments_");
  j.end();
  c.res.set_header("ETag", "\"" + std::string(rows[0]["version"].c_str()) + "\"");
  c.json(200, j.text());
}

void assign_ticket(Call& c) {
  const auto w = ok_or_throw(c.service<producers::TicketService>().handle(
      tickets::AssignTicket{c.params.at(0), c.field("assignee_id")}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

void change_ticket_status(Call& c) {
  const auto w = ok_or_throw(c.service<producers::TicketService>().handle(
      tickets::ChangeStatus{c.params.at(0), c.field("status")}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

void comment_ticket(Call& c) {
  const auto id = infra::new_uuid();
  const auto w = ok_or_throw(c.service<producers::TicketService>().handle(
      tickets::Comment{c.params.at(0), id, c.field("body")}, with_if_match(c)));
  c.written(201, id, w);
}

void add_internal_note(Call& c) {
  const auto id = infra::new_uuid();
  const auto w = ok_or_throw(c.service<producers::TicketService>().handle(
      tickets::AddInternalNote{c.params.at(0), id, c.field("text")}, c.ctx));
  c.written(201, id, w);
}

void list_internal_notes(Call& c) {
  await_reflection(c);
  pqxx::read_transaction tx(reads(c));
  Opened opened(tx);
  const auto notes = run(tx, q::kInternalNotes, c.params.at(0));
  opened.add(q::kInternalNotes, notes);
  // Notes and tickets are on different topics: a note waited for
  // (?min_position) can be in its table before its ticket's row is in
  // theirs. A ticket with notes exists.
  ensure_found(c, !notes.empty() || !run(tx, q::kExists, c.params.at(0)).empty(), "ticket");
  Json j;
  j.begin().begin_array("notes");
  for (const auto& r : notes)
    j.begin()
        .str("id", r["note_id"].c_str())
        .str_or_null("author_id", r["author_id"].is_null() ? "" : r["author_id"].c_str())
        .str_or_null("text", opened.text(r["text"]))
        .str("created_at", r["created_at"].c_str())
        .end();
  c.json(200, j.end_array().end().text());
}

}  // namespace

DomainRoutes tickets_routes() {
  return {{
              {"POST", "/tickets", kActors, open_ticket},
              {"GET", "/tickets", kSignedIn, list_tickets},
              {"GET", "/tickets/{id}", kSignedIn, get_ticket},
              {"POST", "/tickets/{id}/assign", kStaffUp, assign_ticket},
              {"POST", "/tickets/{id}/status", kActors, change_ticket_status},
              {"POST", "/tickets/{id}/comments", kActors, comment_ticket},
              {"POST", "/tickets/{id}/internal-notes", kStaffUp, add_internal_note},
              {"GET", "/tickets/{id}/internal-notes", kStaffUp, list_internal_notes},
          },
          {
              {"ticket-", q::kTicketFresh},
              {"ticketnotes-", q::kNotesFresh},
          }};
}

}  // namespace lethe::api
