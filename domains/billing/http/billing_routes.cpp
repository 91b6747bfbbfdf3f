#include <algorithm>

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

// A customer's plan page: plan and this month's usage, trial, card on file
// (200 with nulls when none was ever set).
void get_plan(Call& c) {
  const auto& id = c.params.at(0);
  await_reflection(c, billing::plan_stream(id));
  pqxx::read_transaction tx(reads(c));
  const auto rows = run(tx, q::kPlan, id);
  Opened opened(tx);
  opened.add(q::kPlan, rows);
  const auto number = [](const pqxx::field& f) { return f.is_null() ? std::int64_t{0} : f.as<std::int64_t>(); };
  Json j;
  j.begin().str("user_id", id);
  if (rows.empty() || rows[0]["plan"].is_null()) {
    j.null("plan");
  } else {
    const auto& r = rows[0];
    const auto limit = number(r["monthly_limit"]), used = number(r["used"]);
    j.begin("plan")
        .str("name", r["plan"].c_str())
        .num("monthly_limit", limit)
        .str("period", r["period"].c_str())
        .num("used", used)
        .num("left", std::max<std::int64_t>(0, limit - used))
        .end();
  }
  if (rows.empty() || rows[0]["trial_state"].is_null()) {
    j.null("trial");
  } else {
    const auto& r = rows[0];
    const auto limit = number(r["trial_limit"]), used = number(r["trial_used"]);
    j.begin("trial")
        .str("plan", r["trial_plan"].c_str())
        .num("limit", limit)
        .num("used", used)
        .num("left", std::max<std::int64_t>(0, limit - used))
        .str("ends_at", r["trial_ends_at"].c_str())
        .str("state", r["trial_state"].c_str())
        .end();
  }
  const bool on_file = !rows.empty() && !rows[0]["payment_brand"].is_null();
  j.begin("payment_method").boolean("on_file", on_file);
  if (on_file)
    j.str("brand", rows[0]["payment_brand"].c_str())
        .str_or_null("last4", opened.text(rows[0]["payment_last4"]))
        .str("expires", rows[0]["payment_expires"].c_str());
  j.end().num("version", rows.empty() ? 0 : number(rows[0]["version"]));
  c.json(200, j.end().text());
}

void set_plan(Call& c) {
  const auto w = ok_or_throw(c.service<producers::BillingService>().handle(
      billing::SetPlan{c.params.at(0), c.field("plan"), c.int_field("monthly_limit")}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

void start_trial(Call& c) {
  const auto w = ok_or_throw(c.service<producers::BillingService>().handle(
      billing::StartTrial{c.params.at(0), c.field("plan"), c.int_field("limit"), "", ""}, with_if_match(c),
      static_cast<int>(c.int_field("days"))));
  c.written(201, c.params.at(0), w);
}

// Usage above the limit is refused whole: 422 naming units, with the limit,
// what is used and what is left.
void record_usage(Call& c) {
  const auto w = ok_or_throw(c.service<producers::BillingService>().handle(
      billing::RecordUsage{c.params.at(0), c.int_field("units"), ""}, c.ctx));
  c.written(201, c.params.at(0), w);
}

void set_payment_method(Call& c) {
  const auto w = ok_or_throw(c.service<producers::BillingService>().handle(
      billing::SetPaymentMethod{c.params.at(0), c.field("brand"), c.field("last4"), c.field("expires")},
      with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

void remove_payment_method(Call& c) {
  const auto w = ok_or_throw(
      c.service<producers::BillingService>().handle(billing::RemovePaymentMethod{c.params.at(0)}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
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
              {"GET", "/users/{id}/plan", kStaffUp | kSelf, get_plan},
              {"PUT", "/users/{id}/plan", kAdminUp, set_plan},
              {"POST", "/users/{id}/trial", kAdminUp | kSelf, start_trial},
              {"POST", "/users/{id}/usage", kAdminUp | kService, record_usage},
              {"PUT", "/users/{id}/payment-method", kAdminUp | kSelf, set_payment_method},
              {"DELETE", "/users/{id}/payment-method", kAdminUp | kSelf, remove_payment_method},
          },
          {
              {"billingprofile-", q::kProfileFresh},
              {"subscription-", q::kSubscriptionFresh},
              {"transaction-", q::kTransactionFresh},
              {"billingplan-", q::kPlanFresh},
          }};
}

}  // namespace lethe::api
