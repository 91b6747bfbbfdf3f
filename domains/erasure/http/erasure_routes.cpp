// The right to erasure over HTTP: an admin erases someone; a person asks
// for their own erasure and confirms it with a token; the person or an
// admin may cancel it until it is carried out; an admin carries out a
// confirmed request and confirms each external task; admins and auditors
// follow each request's receipts.
#include <map>

#include "erasure.hpp"
#include "erasure_queries.hpp"
#include "event_log_queries.hpp"
#include "lethe/projections/projection.hpp"
#include "route_kit.hpp"

namespace lethe::api {

namespace {

namespace q = projections::erasure_queries;

namespace erasure = domain::erasure;

// The request a command wrote to (its stream is erasure-<request id>).
std::string erasure_request_of(const producers::Written& w) {
  constexpr std::string_view kPrefix = "erasure-";
  return w.empty() ? std::string() : w.back().stream_id.substr(kPrefix.size());
}

void erase_user(Call& c) {
  const auto started = ok_or_throw(c.services().erasure.erase(c.params.at(0), c.ctx));
  c.written(202, started.request_id, started.written, [&](Json& j) { j.str("status", "erased"); });
}

void request_own(Call& c) {
  const auto started = ok_or_throw(c.services().erasure.request_own(c.ctx));
  c.written(201, started.request_id, started.written, [&](Json& j) {
    j.str("status", "awaiting_confirmation").str("token", started.token).str("confirm_by", started.confirm_by);
  });
}

void confirm_own(Call& c) {
  // The token came to this same session: the password proves the person
  // is there, not only someone holding their session.
  if (auto err = c.services().users.check_own_password(c.who->user_id, c.field("password"), "password"))
    throw from_domain(*err);
  const auto w = ok_or_throw(c.services().erasure.confirm_own(c.field("token"), c.ctx));
  c.written(200, erasure_request_of(w), w, [](Json& j) { j.str("status", "pending"); });
}

void cancel_own(Call& c) {
  const auto w = ok_or_throw(c.services().erasure.cancel("", c.ctx));
  c.written(200, erasure_request_of(w), w, [](Json& j) { j.str("status", "cancelled"); });
}

void cancel(Call& c) {
  const auto w = ok_or_throw(c.services().erasure.cancel(c.params.at(0), c.ctx));
  c.written(200, c.params.at(0), w, [](Json& j) { j.str("status", "cancelled"); });
}

void execute(Call& c) {
  const auto w = ok_or_throw(c.services().erasure.execute(c.params.at(0), c.ctx));
  c.written(200, c.params.at(0), w, [](Json& j) { j.str("status", "erased"); });
}

void confirm_task(Call& c) {
  const auto w = ok_or_throw(c.services().erasure.confirm_task(c.params.at(0), c.params.at(1), c.ctx));
  c.written(200, c.params.at(0), w);
}

// What each projection does to a person's rows, rule by rule
// ("users.user_id: anonymize"), from its declared erasure policy: the rules
// the projection itself runs.
const std::map<std::string, std::vector<std::string>>& policies() {
  static const auto all = [] {
    std::map<std::string, std::vector<std::string>> out;
    for (const auto& name : projections::projection_names()) {
      auto& lines = out[name];
      const auto projection = projections::make_projection(name);
      for (const auto& rule : projection->erasure_policy()) {
        const char* action = rule.action == projections::Erase::delete_row  ? "delete"
                             : rule.action == projections::Erase::set_null  ? "nullify"
                             : rule.action == projections::Erase::anonymize ? "anonymize"
                                                                            : "keep the id";
        lines.push_back(std::string(rule.table) + "." + std::string(rule.column) + ": " + action);
      }
    }
    return out;
  }();
  return all;
}

void get_request(Call& c) {
  const auto& id = c.params.at(0);
  await_reflection(c, erasure::request_stream(id));
  pqxx::read_transaction tx(reads(c));
  const auto rows = run(tx, q::kRequest, id);
  ensure_found(c, !rows.empty(), "erasure request");
  Json j;
  j.begin();
  row_fields(j, rows[0]);
  // Every projection that must apply it, with when it did (null: not yet).
  j.begin_array("receipts");
  for (const auto& r : run(tx, q::kReceipts, id)) row_json(j, r);
  j.end_array();
  // What each projection will do, or did, to the person's rows.
  j.begin_array("policies");
  for (const auto& [projection, rules] : policies()) {
    j.begin().str("projection", projection).begin_array("rules");
    for (const auto& rule : rules) j.str("", rule);
    j.end_array().end();
  }
  j.end_array();
  j.begin_array("tasks");
  for (const auto& r : run(tx, q::kTasks, id)) row_json(j, r);
  j.end_array();
  // Their streams on the topics (personal fields there sealed under their
  // key): their account's and every one they wrote to, from the event log.
  j.begin_array("streams");
  for (const auto& r : run(tx, projections::event_log_queries::kStreamsOf, rows[0]["user_id"].c_str())) row_json(j, r);
  j.end_array();
  j.end();
  c.res.set_header("ETag", "\"" + std::string(rows[0]["version"].c_str()) + "\"");
  c.json(200, j.text());
}

void list_requests(Call& c) {
  await_reflection(c);
  const auto page = page_of(c);
  const auto status = c.req.get_param_value("status");
  if (!status.empty() && status != "awaiting_confirmation" && status != "pending" && status != "erased" &&
      status != "complete" && status != "expired" && status != "cancelled" && status != "open")
    throw HttpError{
        400, "invalid_argument", "status",
        "status must be one of awaiting_confirmation, pending, erased, complete, expired, cancelled, open (the first "
        "two)"};
  pqxx::read_transaction tx(reads(c));
  page_of_rows(
      c, "erasure_requests",
      run(tx, q::kRequests, c.req.get_param_value("user_id"), status, page.limit, page.offset, email_index_param(c)),
      page);
}

}  // namespace

DomainRoutes erasure_routes() {
  return {{
              {"POST", "/users/{id}/erasure", kAdminUp, erase_user},
              {"POST", "/me/erasure", kActors, request_own},
              {"POST", "/me/erasure/confirm", kActors, confirm_own},
              {"POST", "/me/erasure/cancel", kActors, cancel_own},
              {"POST", "/erasure-requests/{id}/execute", kAdminUp, execute},
              {"POST", "/erasure-requests/{id}/cancel", kAdminUp, cancel},
              {"POST", "/erasure-requests/{id}/tasks/{task}/confirm", kAdminUp, confirm_task},
              {"GET", "/erasure-requests", kAdminUp | kAuditor, list_requests},
              {"GET", "/erasure-requests/{id}", kAdminUp | kAuditor, get_request},
          },
          {
              {"erasure-", q::kFresh},
          }};
}

}  // namespace lethe::api
