#include "billing_projection.hpp"

#include "billing.hpp"
#include "lethe/infra/pg.hpp"
#include "stream_batch.hpp"
#include "table.hpp"

namespace lethe::projections {

namespace billing = domain::billing;
using stream_batch::opened;

namespace {

// A row only moves forward; an update sets only what events change, so a
// person column that the erasure policy has nulled stays so.
const table::Spec kProfiles{"billing_profiles",
                            {"user_id", table::text, table::Mark::person},
                            {{"holder_name", table::text, table::Mark::sealed},
                             {"address", table::text, table::Mark::sealed},
                             {"tax_id", table::text, table::Mark::sealed},
                             {"updated_at", table::timestamptz},
                             {"version", table::bigint}}};
const table::Spec kSubscriptions{"billing_subscriptions",
                                 {"subscription_id", table::text},
                                 {{"user_id", table::text, table::kOnCreate, table::Mark::person},
                                  {"plan", table::text, table::kOnCreate},
                                  {"status", table::text},
                                  {"cancel_reason", table::text, table::Mark::sealed},
                                  {"created_at", table::timestamptz, table::kOnCreate},
                                  {"cancelled_at", table::timestamptz},
                                  {"version", table::bigint}}};
const table::Spec kTransactions{"billing_transactions",
                                {"transaction_id", table::text},
                                {{"user_id", table::text, table::kOnCreate, table::Mark::person},
                                 {"amount", table::bigint, table::kOnCreate},
                                 {"currency", table::text, table::kOnCreate},
                                 {"description", table::text, table::Mark::sealed, table::kOnCreate},
                                 {"refunded", table::bigint},
                                 {"credited", table::bigint},
                                 {"created_at", table::timestamptz, table::kOnCreate},
                                 {"updated_at", table::timestamptz},
                                 {"version", table::bigint}}};
// Refunds and credit notes are keyed by their own ids: applying one twice
// changes nothing.
const std::vector<table::Column> kLineColumns{
    {"transaction_id", table::text},  {"user_id", table::text, table::Mark::person}, {"amount", table::bigint},
    {"currency", table::text},        {"reason", table::text, table::Mark::sealed},  {"at", table::timestamptz},
    {"stream_version", table::bigint}};
const table::Spec kRefunds{"billing_refunds", {"refund_id", table::text}, kLineColumns, table::Moves::once};
const table::Spec kCreditNotes{
    "billing_credit_notes", {"credit_note_id", table::text}, kLineColumns, table::Moves::once};
const table::Spec kPlans{"billing_plans",
                         {"user_id", table::text, table::Mark::person},
                         {{"plan", table::text},
                          {"monthly_limit", table::bigint},
                          {"period", table::text},
                          {"used", table::bigint},
                          {"trial_plan", table::text},
                          {"trial_limit", table::bigint},
                          {"trial_used", table::bigint},
                          {"trial_ends_at", table::timestamptz},
                          {"trial_state", table::text},
                          {"payment_brand", table::text},
                          {"payment_last4", table::text, table::Mark::sealed},
                          {"payment_expires", table::text},
                          {"updated_at", table::timestamptz},
                          {"version", table::bigint}}};

enum class Kind { profile, subscription, transaction, plan };

template <class T>
constexpr bool is_plan_event =
    std::is_same_v<T, billing::PlanSet> || std::is_same_v<T, billing::TrialStarted> ||
    std::is_same_v<T, billing::TrialEnded> || std::is_same_v<T, billing::UsageRecorded> ||
    std::is_same_v<T, billing::PaymentMethodSet> || std::is_same_v<T, billing::PaymentMethodRemoved>;

// Folds one event of a customer's plan stream into its row.
void fold_plan(table::Row& row, const billing::Event& ev) {
  if (!row.exists()) row.set("used", std::int64_t{0}).set("trial_used", std::int64_t{0});
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, billing::PlanSet>) {
          row.set("plan", e.plan).set("monthly_limit", e.monthly_limit);
        } else if constexpr (std::is_same_v<T, billing::TrialStarted>) {
          row.set("trial_plan", e.plan)
              .set("trial_limit", e.limit)
              .set("trial_ends_at", e.ends_at)
              .set("trial_state", "running")
              .set("trial_used", std::int64_t{0});
        } else if constexpr (std::is_same_v<T, billing::TrialEnded>) {
          row.set("trial_state", e.reason);
        } else if constexpr (std::is_same_v<T, billing::UsageRecorded>) {
          if (e.against == "trial")
            row.set("trial_used", row.integer("trial_used") + e.units);
          else if (row.text("period") != e.period)
            row.set("period", e.period).set("used", e.units);
          else
            row.set("used", row.integer("used") + e.units);
        } else if constexpr (std::is_same_v<T, billing::PaymentMethodSet>) {
          row.set("payment_brand", e.brand).set("payment_last4", opened(e.last4)).set("payment_expires", e.expires);
        } else if constexpr (std::is_same_v<T, billing::PaymentMethodRemoved>) {
          row.set("payment_brand", table::Value{})
              .set("payment_last4", table::Value{})
              .set("payment_expires", table::Value{});
        }
      },
      ev);
}

// Which row an event folds into, and that row's id.
std::pair<Kind, std::string> row_of(const billing::Event& ev) {
  return std::visit(
      [](const auto& e) -> std::pair<Kind, std::string> {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, billing::ProfileSet>)
          return {Kind::profile, e.user_id};
        else if constexpr (is_plan_event<T>)
          return {Kind::plan, e.user_id};
        else if constexpr (std::is_same_v<T, billing::SubscriptionCreated> ||
                           std::is_same_v<T, billing::SubscriptionCancelled>)
          return {Kind::subscription, e.subscription_id};
        else
          return {Kind::transaction, e.transaction_id};
      },
      ev);
}

std::string stream_of(Kind kind, const std::string& id) {
  switch (kind) {
    case Kind::profile:
      return billing::profile_stream(id);
    case Kind::subscription:
      return billing::subscription_stream(id);
    case Kind::plan:
      return billing::plan_stream(id);
    case Kind::transaction:
      break;
  }
  return billing::transaction_stream(id);
}

}  // namespace

ApplyResult BillingProjection::apply(std::span<const Delivered> batch, infra::Tx tx) {
  ApplyResult result;
  // A profile's name, address and tax id, and the texts about a person's
  // money (descriptions, reasons), stay sealed in the tables, opened only
  // when a query answers: no key is read here.
  auto decoded = stream_batch::decode_kept<billing::Event>(batch, "billing.", billing::decode_sealed, result);
  if (decoded.empty()) return result;

  // Collapse keys: each row loaded once, its events folded in memory, each
  // changed row written once.
  std::vector<std::pair<Kind, std::string>> keys;
  keys.reserve(decoded.size());
  std::vector<std::string> ids[4];
  for (const auto& d : decoded) {
    keys.push_back(row_of(d.event));
    ids[static_cast<int>(keys.back().first)].push_back(keys.back().second);
  }
  table::Rows profiles(kProfiles), subscriptions(kSubscriptions), transactions(kTransactions), refunds(kRefunds),
      credit_notes(kCreditNotes), plans(kPlans);
  plans.load(tx, ids[static_cast<int>(Kind::plan)]);
  profiles.load(tx, ids[static_cast<int>(Kind::profile)]);
  subscriptions.load(tx, ids[static_cast<int>(Kind::subscription)]);
  transactions.load(tx, ids[static_cast<int>(Kind::transaction)]);

  for (std::size_t k = 0; k < decoded.size(); ++k) {
    const auto index = decoded[k].index;
    const auto& ev = decoded[k].event;
    const auto kind = keys[k].first;
    const auto& id = keys[k].second;
    const auto& d = batch[index];
    const auto& env = d.envelope;
    if (!stream_batch::on_stream(d, index, stream_of(kind, id), result)) continue;
    std::visit(
        [&](const auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (is_plan_event<T>) {
            auto& row = plans.row(id);
            if (!stream_batch::is_next(d, index, row.version(), row.exists(), true, result)) return;
            fold_plan(row, ev);
            row.set("updated_at", env.occurred_at).applied(env.stream_version);
          } else if constexpr (std::is_same_v<T, billing::ProfileSet>) {
            auto& row = profiles.row(id);
            if (!stream_batch::is_next(d, index, row.version(), row.exists(), true, result)) return;
            row.set("holder_name", opened(e.holder_name))
                .set("address", opened(e.address))
                .set("tax_id", opened(e.tax_id))
                .set("updated_at", env.occurred_at)
                .applied(env.stream_version);
          } else if constexpr (std::is_same_v<T, billing::SubscriptionCreated> ||
                               std::is_same_v<T, billing::SubscriptionCancelled>) {
            constexpr bool kCreates = std::is_same_v<T, billing::SubscriptionCreated>;
            auto& row = subscriptions.row(id);
            if (!stream_batch::is_next(d, index, row.version(), row.exists(), kCreates, result)) return;
            if constexpr (kCreates)
              row.set("user_id", e.user_id)
                  .set("plan", e.plan)
                  .set("status", "active")
                  .set("created_at", env.occurred_at);
            else
              row.set("status", "cancelled")
                  .set("cancel_reason", opened(e.reason))
                  .set("cancelled_at", env.occurred_at);
            row.applied(env.stream_version);
          } else {
            constexpr bool kCreates = std::is_same_v<T, billing::ChargeRecorded>;
            auto& row = transactions.row(id);
            if (!stream_batch::is_next(d, index, row.version(), row.exists(), kCreates, result)) return;
            if constexpr (kCreates) {
              row.set("user_id", e.user_id)
                  .set("amount", e.amount)
                  .set("currency", e.currency)
                  .set("description", opened(e.description))
                  .set("refunded", std::int64_t{0})
                  .set("credited", std::int64_t{0})
                  .set("created_at", env.occurred_at);
            } else {
              constexpr bool kRefund = std::is_same_v<T, billing::RefundRecorded>;
              const char* sum_column = kRefund ? "refunded" : "credited";
              std::int64_t next = 0;
              if (__builtin_add_overflow(row.integer(sum_column), e.amount, &next)) {
                result.rejected.push_back(
                    {index, env.type + " on " + env.stream_id + ": the sum of its amounts overflows bigint"});
                return;
              }
              row.set(sum_column, next);
              std::string line_id;
              if constexpr (kRefund)
                line_id = e.refund_id;
              else
                line_id = e.credit_note_id;
              (kRefund ? refunds : credit_notes)
                  .add(line_id)
                  .set("transaction_id", id)
                  .set("user_id", opened(e.user_id))
                  .set("amount", e.amount)
                  .set("currency", e.currency)
                  .set("reason", opened(e.reason))
                  .set("at", env.occurred_at)
                  .set("stream_version", env.stream_version);
            }
            row.set("updated_at", env.occurred_at).applied(env.stream_version);
          }
          ++result.applied;
        },
        ev);
  }
  for (auto* rows : {&profiles, &subscriptions, &transactions, &refunds, &credit_notes, &plans}) rows->write(tx);
  return result;
}

// How this read model forgets a person (see ErasureRule); its migrations
// mark the columns it must cover.
const ErasurePolicy& BillingProjection::erasure_policy() const {
  static const ErasurePolicy policy{
      {"billing_profiles",
       "user_id",
       Erase::delete_row,
       {},
       {},
       "name, address and tax id",
       "'billingprofile-' || user_id"},
      {"billing_subscriptions", "user_id", Erase::set_null, {}, {}, "financial records stay, without the person"},
      {"billing_transactions", "user_id", Erase::set_null, {}, {}, "financial records stay, without the person"},
      {"billing_refunds", "user_id", Erase::set_null, {}, {}, "financial records stay, without the person"},
      {"billing_credit_notes", "user_id", Erase::set_null, {}, {}, "financial records stay, without the person"},
      {"billing_plans",
       "user_id",
       Erase::delete_row,
       {},
       {},
       "plan, trial, usage and card on file",
       "'billingplan-' || user_id"},
  };
  return policy;
}

std::vector<DeclaredColumn> BillingProjection::declared_columns() const {
  return table::declared({&kProfiles, &kSubscriptions, &kTransactions, &kRefunds, &kCreditNotes, &kPlans});
}

std::vector<ReadModel> billing_read_models() {
  return {{"billing", []() -> std::unique_ptr<Projection> { return std::make_unique<BillingProjection>(); }}};
}

}  // namespace lethe::projections
