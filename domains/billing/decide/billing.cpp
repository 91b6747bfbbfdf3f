#include "billing.hpp"

#include <algorithm>
#include <limits>

#include "checks.hpp"
#include "codec.hpp"

namespace lethe::domain::billing {

namespace {

using checks::overloaded;
using users::Actor;
using Decision = Result<std::vector<Event>>;

constexpr auto kEventTypes = codec::event_specs<Event>("billing");
constexpr std::string_view kProjections[] = {"billing"};
constexpr TopicSpec kTopics[] = {{"billing", 3, "billing profiles, subscriptions, transactions, credit notes"}};

Decision one(Event e) {
  return std::vector<Event>{std::move(e)};
}

bool is_plan(std::string_view plan) {
  return !plan.empty() && plan.size() <= kMaxPlan && std::all_of(plan.begin(), plan.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

std::optional<DomainError> check_plan(std::string_view plan) {
  if (!is_plan(plan)) return invalid("plan", "plan must be 1 to " + std::to_string(kMaxPlan) + " of a-z, 0-9, _ and -");
  return std::nullopt;
}

std::optional<DomainError> check_amount(std::int64_t amount) {
  if (amount <= 0) return invalid("amount", "amount must be a positive whole number of minor units");
  if (amount > kMaxAmount)
    return invalid("amount", "amount must be at most " + std::to_string(kMaxAmount) + " minor units");
  return std::nullopt;
}

std::optional<DomainError> check_currency(std::string_view currency) {
  if (!is_currency(currency)) return invalid("currency", "currency must be an ISO 4217 code such as EUR");
  return std::nullopt;
}

// A sum folded from the log: past the int64 range it stays at the bound, so
// that what is left refundable (or creditable) reads as nothing, never as a
// wrapped-around fortune.
std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  if (const auto sum = checked_add(a, b)) return *sum;
  return b > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
}

// amount - used, never below zero (nor wrapping around when `used` is
// negative, which no decision of ours writes).
std::int64_t left_of(std::int64_t amount, std::int64_t used) {
  std::int64_t left = 0;
  if (__builtin_sub_overflow(amount, used, &left) || left < 0) return 0;
  return left;
}

std::string money(std::int64_t amount, std::string_view currency) {
  return std::to_string(amount) + " " + std::string(currency) + " (minor units)";
}

DomainError no_billing_right(std::string_view what) {
  return checks::forbidden("", "only an admin or owner (the billing right) " + std::string(what));
}

// The checks a refund and a credit note share, before their own sums: the
// charge exists, this is its stream, the id is new, the amount is in range,
// in the charge's currency, with a reason.
std::optional<DomainError> check_against_charge(const Transaction& state, std::string_view transaction_id,
                                                std::string_view id_field, std::string_view id,
                                                const std::set<std::string>& used_ids, std::int64_t amount,
                                                std::string_view currency, std::string_view reason) {
  if (!state.exists) return checks::not_found("transaction_id", "no charge with this transaction id");
  if (transaction_id != state.transaction_id)
    return invalid("transaction_id", "the command names another transaction than this stream's");
  if (auto err = checks::id(id_field, id)) return err;
  if (used_ids.contains(std::string(id)))
    return checks::already_exists(std::string(id_field), std::string(id_field) + " is used already");
  if (auto err = check_amount(amount)) return err;
  if (auto err = check_currency(currency)) return err;
  if (auto err = checks::text("reason", reason, kMaxReason)) return err;
  if (currency != state.currency)
    return checks::rule(
        "currency", "the charge is in " + state.currency + ", not " + std::string(currency) + ": same currency only");
  return std::nullopt;
}

}  // namespace

const DomainSpec& spec() {
  static const DomainSpec s{"billing", kEventTypes, kProjections, kTopics};
  return s;
}

std::vector<std::string_view> event_types() {
  return type_names(spec());
}

std::string profile_stream(std::string_view user_id) {
  return "billingprofile-" + std::string(user_id);
}
std::string subscription_stream(std::string_view subscription_id) {
  return "subscription-" + std::string(subscription_id);
}
std::string transaction_stream(std::string_view transaction_id) {
  return "transaction-" + std::string(transaction_id);
}
std::string plan_stream(std::string_view user_id) {
  return "billingplan-" + std::string(user_id);
}

namespace {

// The month of an RFC 3339 time: "2026-12".
std::string month_of(std::string_view time) {
  return std::string(time.substr(0, 7));
}

bool all_of_chars(std::string_view s, bool (*ok)(char)) {
  return std::all_of(s.begin(), s.end(), ok);
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_lower(char c) {
  return c >= 'a' && c <= 'z';
}

std::optional<DomainError> check_limit(std::string_view field, std::int64_t limit) {
  if (limit <= 0 || limit > kMaxLimit)
    return invalid(std::string(field), std::string(field) + " must be 1 to " + std::to_string(kMaxLimit) + " units");
  return std::nullopt;
}

// "the monthly limit of 100 units would be passed: 95 used, 5 left"
DomainError over_limit(std::string_view what, std::int64_t limit, std::int64_t used) {
  return checks::rule("units", std::string(what) + " of " + std::to_string(limit) + " units would be passed: " +
                                   std::to_string(used) + " used, " + std::to_string(left_of(limit, used)) + " left");
}

}  // namespace

bool Plan::trial_running(std::string_view now) const {
  return trial_taken && trial_ended.empty() && now < trial_ends_at;
}

std::int64_t Plan::used_in(std::string_view now) const {
  return period == month_of(now) ? used : 0;
}

bool has_billing_right(const Actor& actor) noexcept {
  return checks::is_admin_or_owner(actor);
}

bool is_currency(std::string_view code) noexcept {
  return code.size() == 3 && std::all_of(code.begin(), code.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

std::optional<std::int64_t> checked_add(std::int64_t a, std::int64_t b) noexcept {
  std::int64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) return std::nullopt;
  return sum;
}

std::int64_t refundable(const Transaction& t) noexcept {
  return left_of(t.amount, t.refunded);
}

std::int64_t creditable(const Transaction& t) noexcept {
  return left_of(t.amount, t.credited);
}

Decision decide(const Profile& state, const ProfileCommand& command, const Actor& actor) {
  if (auto err = checks::may_change_anything(actor)) return *err;
  return std::visit(
      overloaded{
          [&](const SetProfile& c) -> Decision {
            if (auto err = checks::id("user_id", c.user_id)) return *err;
            if (state.exists && c.user_id != state.user_id)
              return invalid("user_id", "the command names another user than this profile's");
            if (actor.id != c.user_id && !has_billing_right(actor))
              return checks::forbidden("user_id",
                                       "only the user themself, or an admin or owner (the billing right), sets a "
                                       "billing profile");
            if (auto err = checks::text("holder_name", c.holder_name, kMaxHolderName)) return *err;
            if (auto err = checks::text("address", c.address, kMaxAddress)) return *err;
            if (auto err = checks::optional_text("tax_id", c.tax_id, kMaxTaxId)) return *err;
            if (state.exists && state.holder_name == c.holder_name && state.address == c.address &&
                state.tax_id == c.tax_id)
              return checks::no_change("", "the billing profile is unchanged");
            return one(ProfileSet{c.user_id, c.holder_name, c.address, c.tax_id});
          },
      },
      command);
}

Decision decide(const Subscription& state, const SubscriptionCommand& command, const Actor& actor) {
  if (auto err = checks::may_change_anything(actor)) return *err;
  return std::visit(
      overloaded{
          [&](const CreateSubscription& c) -> Decision {
            if (auto err = checks::id("subscription_id", c.subscription_id)) return *err;
            if (auto err = checks::id("user_id", c.user_id)) return *err;
            if (actor.id != c.user_id && !has_billing_right(actor))
              return checks::forbidden("user_id",
                                       "only the user themself, or an admin or owner (the billing right), "
                                       "subscribes them");
            if (state.exists) return checks::already_exists("subscription_id", "the subscription exists already");
            if (auto err = check_plan(c.plan)) return *err;
            return one(SubscriptionCreated{c.subscription_id, c.user_id, c.plan});
          },
          [&](const CancelSubscription& c) -> Decision {
            if (!state.exists) return checks::not_found("subscription_id", "no such subscription");
            if (c.subscription_id != state.subscription_id)
              return invalid("subscription_id", "the command names another subscription than this stream's");
            if (actor.id != state.user_id && !has_billing_right(actor))
              return checks::forbidden("subscription_id",
                                       "only the subscriber, or an admin or owner (the billing right), cancels a "
                                       "subscription");
            if (state.cancelled) return checks::conflict("subscription_id", "the subscription is cancelled already");
            if (auto err = checks::text("reason", c.reason, kMaxReason)) return *err;
            return one(SubscriptionCancelled{state.subscription_id, state.user_id, c.reason});
          },
      },
      command);
}

Decision decide(const Transaction& state, const TransactionCommand& command, const Actor& actor) {
  if (auto err = checks::may_change_anything(actor)) return *err;
  return std::visit(
      overloaded{
          [&](const RecordCharge& c) -> Decision {
            if (!has_billing_right(actor)) return no_billing_right("records charges");
            if (auto err = checks::id("transaction_id", c.transaction_id)) return *err;
            if (auto err = checks::id("user_id", c.user_id)) return *err;
            if (state.exists) return checks::already_exists("transaction_id", "the transaction is charged already");
            if (auto err = check_amount(c.amount)) return *err;
            if (auto err = check_currency(c.currency)) return *err;
            if (auto err = checks::text("description", c.description, kMaxDescription)) return *err;
            return one(ChargeRecorded{c.transaction_id, c.user_id, c.amount, c.currency, c.description});
          },
          [&](const RecordRefund& c) -> Decision {
            if (!has_billing_right(actor)) return no_billing_right("records refunds");
            if (auto err = check_against_charge(state, c.transaction_id, "refund_id", c.refund_id, state.refund_ids,
                                                c.amount, c.currency, c.reason))
              return *err;
            // Against what is left (computed without overflow), never
            // refunds-so-far + amount, which could wrap around.
            if (c.amount > refundable(state))
              return checks::rule("amount", "a refund of " + money(c.amount, c.currency) +
                                                " exceeds what is left refundable of the charge: " +
                                                money(refundable(state), state.currency));
            return one(
                RefundRecorded{state.transaction_id, state.user_id, c.refund_id, c.amount, c.currency, c.reason});
          },
          [&](const IssueCreditNote& c) -> Decision {
            if (!has_billing_right(actor)) return no_billing_right("issues credit notes");
            if (auto err = check_against_charge(state, c.transaction_id, "credit_note_id", c.credit_note_id,
                                                state.credit_note_ids, c.amount, c.currency, c.reason))
              return *err;
            if (c.amount > creditable(state))
              return checks::rule("amount", "a credit note of " + money(c.amount, c.currency) +
                                                " takes the credit notes above the charge: " +
                                                money(creditable(state), state.currency) + " left to credit");
            return one(CreditNoteIssued{state.transaction_id, state.user_id, c.credit_note_id, c.amount, c.currency,
                                        c.reason});
          },
      },
      command);
}

namespace {

// The customer themself, or the billing right, may do `what`.
std::optional<DomainError> self_or_billing_right(bool self, const Actor& actor, std::string_view what) {
  if (self || has_billing_right(actor)) return std::nullopt;
  return checks::forbidden(
      "user_id", "only the customer themself, or an admin or owner (the billing right), " + std::string(what));
}

}  // namespace

Decision decide(const Plan& state, const PlanCommand& command, const Actor& actor) {
  if (auto err = checks::may_change_anything(actor)) return *err;
  const auto user_id = std::visit([](const auto& c) { return c.user_id; }, command);
  if (auto err = checks::id("user_id", user_id)) return *err;
  if (!state.user_id.empty() && user_id != state.user_id)
    return invalid("user_id", "the command names another user than this plan's");
  const bool self = actor.id == user_id && actor.role != users::Role::service;
  return std::visit(
      overloaded{
          [&](const SetPlan& c) -> Decision {
            if (!has_billing_right(actor)) return no_billing_right("sets a plan");
            if (auto err = check_plan(c.plan)) return *err;
            if (auto err = check_limit("monthly_limit", c.monthly_limit)) return *err;
            if (!state.payment_method) return checks::rule("payment_method", "a plan needs a payment method on file");
            if (c.plan == state.plan && c.monthly_limit == state.monthly_limit)
              return checks::no_change("plan", "the plan and its limit are unchanged");
            std::vector<Event> out;
            if (state.trial_taken && state.trial_ended.empty()) out.push_back(TrialEnded{user_id, "converted"});
            out.push_back(PlanSet{user_id, c.plan, c.monthly_limit});
            return out;
          },
          [&](const StartTrial& c) -> Decision {
            if (auto err = self_or_billing_right(self, actor, "starts a trial")) return *err;
            if (state.trial_taken) return checks::conflict("plan", "a customer has one trial, and this one had it");
            if (auto err = check_plan(c.plan)) return *err;
            if (auto err = check_limit("limit", c.limit)) return *err;
            if (c.ends_at <= c.now) return invalid("days", "a trial must end in the future");
            return one(TrialStarted{user_id, c.plan, c.limit, c.ends_at});
          },
          [&](const RecordUsage& c) -> Decision {
            if (!has_billing_right(actor) && actor.role != users::Role::service)
              return no_billing_right("or a service records usage");
            if (c.units <= 0 || c.units > kMaxUsageUnits)
              return invalid("units", "units must be 1 to " + std::to_string(kMaxUsageUnits));
            std::vector<Event> out;
            if (state.trial_running(c.now)) {
              const auto used = saturating_add(state.trial_used, c.units);
              if (used > state.trial_limit) return over_limit("the trial's limit", state.trial_limit, state.trial_used);
              out.push_back(UsageRecorded{user_id, c.units, month_of(c.now), "trial"});
              if (used == state.trial_limit) out.push_back(TrialEnded{user_id, "used_up"});
              return out;
            }
            if (state.trial_taken && state.trial_ended.empty()) out.push_back(TrialEnded{user_id, "expired"});
            if (state.plan.empty())
              return checks::rule("plan", "no plan and no running trial: there is no limit to count usage against");
            const auto used = state.used_in(c.now);
            if (saturating_add(used, c.units) > state.monthly_limit)
              return over_limit("the monthly limit", state.monthly_limit, used);
            out.push_back(UsageRecorded{user_id, c.units, month_of(c.now), "plan"});
            return out;
          },
          [&](const SetPaymentMethod& c) -> Decision {
            if (auto err = self_or_billing_right(self, actor, "sets a payment method")) return *err;
            if (c.brand.empty() || c.brand.size() > 20 || !all_of_chars(c.brand, is_lower))
              return invalid("brand", "brand must be 1 to 20 of a-z, such as visa");
            if (c.last4.size() != 4 || !all_of_chars(c.last4, is_digit))
              return invalid("last4", "last4 must be the card's last four digits");
            const bool expires_ok = c.expires.size() == 5 && c.expires[2] == '/' && is_digit(c.expires[0]) &&
                                    is_digit(c.expires[1]) && is_digit(c.expires[3]) && is_digit(c.expires[4]) &&
                                    c.expires.substr(0, 2) >= "01" && c.expires.substr(0, 2) <= "12";
            if (!expires_ok) return invalid("expires", "expires must be MM/YY");
            if (state.payment_method && state.brand == c.brand && state.last4 == c.last4 && state.expires == c.expires)
              return checks::no_change("last4", "the payment method is unchanged");
            return one(PaymentMethodSet{user_id, c.brand, c.last4, c.expires});
          },
          [&](const RemovePaymentMethod&) -> Decision {
            if (auto err = self_or_billing_right(self, actor, "removes a payment method")) return *err;
            if (!state.payment_method) return checks::not_found("payment_method", "no payment method on file");
            return one(PaymentMethodRemoved{user_id});
          },
      },
      command);
}

Plan evolve(Plan s, const Event& event) {
  std::visit(overloaded{
                 [&](const PlanSet& e) {
                   s.user_id = e.user_id;
                   s.plan = e.plan;
                   s.monthly_limit = e.monthly_limit;
                 },
                 [&](const TrialStarted& e) {
                   s.user_id = e.user_id;
                   s.trial_taken = true;
                   s.trial_plan = e.plan;
                   s.trial_limit = e.limit;
                   s.trial_ends_at = e.ends_at;
                 },
                 [&](const TrialEnded& e) { s.trial_ended = e.reason; },
                 [&](const UsageRecorded& e) {
                   if (e.against == "trial") {
                     s.trial_used = saturating_add(s.trial_used, e.units);
                   } else if (e.period != s.period) {
                     s.period = e.period;
                     s.used = e.units;
                   } else {
                     s.used = saturating_add(s.used, e.units);
                   }
                 },
                 [&](const PaymentMethodSet& e) {
                   s.user_id = e.user_id;
                   s.payment_method = true;
                   s.brand = e.brand;
                   s.last4 = e.last4;
                   s.expires = e.expires;
                 },
                 [&](const PaymentMethodRemoved&) {
                   s.payment_method = false;
                   s.brand.clear();
                   s.last4.clear();
                   s.expires.clear();
                 },
                 [&](const auto&) {},
             },
             event);
  ++s.version;
  return s;
}

Profile evolve(Profile s, const Event& event) {
  if (const auto* e = std::get_if<ProfileSet>(&event)) {
    s.exists = true;
    s.user_id = e->user_id;
    s.holder_name = e->holder_name;
    s.address = e->address;
    s.tax_id = e->tax_id;
  }
  ++s.version;
  return s;
}

Subscription evolve(Subscription s, const Event& event) {
  std::visit(overloaded{
                 [&](const SubscriptionCreated& e) {
                   s.exists = true;
                   s.subscription_id = e.subscription_id;
                   s.user_id = e.user_id;
                   s.plan = e.plan;
                 },
                 [&](const SubscriptionCancelled& e) {
                   s.cancelled = true;
                   s.reason = e.reason;
                 },
                 [&](const auto&) {},
             },
             event);
  ++s.version;
  return s;
}

Transaction evolve(Transaction s, const Event& event) {
  std::visit(overloaded{
                 [&](const ChargeRecorded& e) {
                   s.exists = true;
                   s.transaction_id = e.transaction_id;
                   s.user_id = e.user_id;
                   s.amount = e.amount;
                   s.currency = e.currency;
                 },
                 [&](const RefundRecorded& e) {
                   s.refunded = saturating_add(s.refunded, e.amount);
                   s.refund_ids.insert(e.refund_id);
                 },
                 [&](const CreditNoteIssued& e) {
                   s.credited = saturating_add(s.credited, e.amount);
                   s.credit_note_ids.insert(e.credit_note_id);
                 },
                 [&](const auto&) {},
             },
             event);
  ++s.version;
  return s;
}

LETHE_DEFINE_EVENT_CODEC("billing")

std::string user_id_of(const Event& e) {
  return std::visit([](const auto& ev) { return ev.user_id; }, e);
}

}  // namespace lethe::domain::billing
