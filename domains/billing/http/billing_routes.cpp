#include "billing.hpp"
#include "billing_queries.hpp"
#include "billing_service.hpp"
#include "lethe/infra/ids.hpp"
#include "route_kit.hpp"

namespace lethe::api {

namespace {

namespace q = projections::billing_queries;

namespace billing = domain::billing;
using domain::users::Role;

// The billing right (admins and owners, see billing.hpp) reads everything;
// anyone else reads their own.
bool has_billing_right(const Call& c) {
  return c.who && (c.who->role == Role::admin || c.who->role == Role::owner);
}
std::string only_own(const Call& c, const char* param) {
  return has_billing_right(c) ? c.req.get_param_value(param) : c.who->user_id;
}

void set_profile(Call& c) {
  const auto w = ok_or_throw(c.service<producers::BillingService>().handle(
      billing::SetProfile{c.params.at(0), c.field("holder_name"), c.field("address"),
                          c.optional_field("tax_id").value_or("")},
      with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

void get_profile(Call& c) {
  const auto& id = c.params.at(0);
  await_reflection(c, domain::stream_of("billingprofile", id));
  pqxx::read_transaction tx(reads(c));
  const auto rows = run(tx, q::kProfile, id);
  ensure_found(c, !rows.empty(), "billing profile");
  Opened opened(tx);
  opened.add(q::kProfile, rows);
  Json j;
  row_json(j, rows[0], &opened);
  c.json(200, j.text());
}

void create_subscription(Call& c) {
  const auto id = infra::new_uuid();
  const auto user = c.optional_field("user_id").value_or(c.who->user_id);
  const auto w = ok_or_throw(
      c.service<producers::BillingService>().handle(billing::CreateSubscription{id, user, c.field("plan")}, c.ctx));
  c.written(201, id, w);
}

void list_subscriptions(Call& c) {
  await_reflection(c);
  const auto page = page_of(c);
  pqxx::read_transaction tx(reads(c));
  page_of_query(c, "subscriptions", tx, page, q::kSubscriptions, only_own(c, "user_id"), page.limit, page.offset);
}

void cancel_subscription(Call& c) {
  const auto w = ok_or_throw(c.service<producers::BillingService>().handle(
      billing::CancelSubscription{c.params.at(0), c.field("reason")}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

void record_charge(Call& c) {
  const auto id = infra::new_uuid();
  const auto w = ok_or_throw(c.service<producers::BillingService>().handle(
      billing::RecordCharge{id, c.field("user_id"), c.int_field("amount"), c.field("currency"), c.field("description")},
      c.ctx));
  c.written(201, id, w);
}

void list_transactions(Call& c) {
  await_reflection(c);
  const auto page = page_of(c);
  pqxx::read_transaction tx(reads(c));
  page_of_query(c, "transactions", tx, page, q::kTransactions, only_own(c, "user_id"), page.limit, page.offset);
}

void get_transaction(Call& c) {
  const auto& id = c.params.at(0);
  await_reflection(c, domain::stream_of("transaction", id));
  pqxx::read_transaction tx(reads(c));
  const auto rows = run(tx, q::kTransaction, id);
  ensure_found(c, !rows.empty() && (has_billing_right(c) || text_or_empty(rows[0]["user_id"]) == c.who->user_id),
               "transaction");
  // The row, its refunds and its credit notes, in the order they were
  // written; their texts opened with one key query.
  const auto refunds = run(tx, q::kRefunds, id);
  const auto credit_notes = run(tx, q::kCreditNotes, id);
  Opened opened(tx);
  opened.add(q::kTransaction, rows);
  opened.add(q::kRefunds, refunds);
  opened.add(q::kCreditNotes, credit_notes);
  Json j;
  j.begin();
  row_fields(j, rows[0], &opened);
  for (const auto& [name, lines] : {std::pair<const char*, const pqxx::result*>{"refunds", &refunds},
                                    std::pair<const char*, const pqxx::result*>{"credit_notes", &credit_notes}}) {
    j.begin_array(name);
    for (const auto& r : *lines) row_json(j, r, &opened);
    j.end_array();
  }
  j.end();
  c.res.set_header("ETag", "\"" + std::string(rows[0]["version"].c_str()) + "\"");
  c.json(200, j.text());
}

void record_refund(Call& c) {
  const auto id = infra::new_uuid();
  const auto w = ok_or_throw(c.service<producers::BillingService>().handle(
      billing::RecordRefund{c.params.at(0), id, c.int_field("amount"), c.field("currency"), c.field("reason")},
      with_if_match(c)));
  c.written(201, id, w);
}

void issue_credit_note(Call& c) {
  const auto id = infra::new_uuid();
  const auto w = ok_or_throw(c.service<producers::BillingService>().handle(
      billing::IssueCreditNote{c.params.at(0), id, c.int_field("amount"), c.field("currency"), c.field("reason")},
      with_if_match(c)));
  c.written(201, id, w);
}

}  // namespace

DomainRoutes billing_routes() {
  return {{
              {"PUT", "/users/{id}/billing-profile", kAdminUp | kSelf, set_profile},
              {"GET", "/users/{id}/billing-profile", kAdminUp | kSelf, get_profile},
              {"POST", "/subscriptions", kActors, create_subscription},
              {"GET", "/subscriptions", kActors, list_subscriptions},
              {"POST", "/subscriptions/{id}/cancel", kActors, cancel_subscription},
              {"POST", "/transactions", kAdminUp, record_charge},
              {"GET", "/transactions", kActors, list_transactions},
              {"GET", "/transactions/{id}", kActors, get_transaction},
              {"POST", "/transactions/{id}/refunds", kAdminUp, record_refund},
              {"POST", "/transactions/{id}/credit-notes", kAdminUp, issue_credit_note},
          },
          {
              {"billingprofile-", q::kProfileFresh},
              {"subscription-", q::kSubscriptionFresh},
              {"transaction-", q::kTransactionFresh},
          }};
}

}  // namespace lethe::api
