#pragma once
// The billing domain: billing profiles, subscriptions, and transactions (a
// charge, its refunds and its credit notes). Pure: ids come with the
// commands, made outside (producers/), never from a clock or a random source
// here.
//
// Streams: a person's billing profile is billingprofile-<user id>; their
// plan, trial, usage and payment method are billingplan-<user id>; a
// subscription is subscription-<id>; a transaction is transaction-<id>, the
// charge and every refund and credit note against it on that one stream, so
// what is left refundable (and creditable) is folded state, checked and
// appended in one decision.
//
// Money is an integer number of minor units (cents) with its ISO 4217
// currency code (three capital letters), never floating point; every sum is
// checked for overflow.
//
// The billing right: the admin and owner roles hold it. They record charges,
// refunds and credit notes, and manage anyone's profile and subscriptions.
// A customer manages their own profile and subscriptions; which of them they
// may read (their own: every state carries user_id) is the API's concern.
#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lethe/domain/event_fields.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/domain/registry.hpp"
#include "lethe/domain/result.hpp"
#include "users.hpp"

namespace lethe::domain::billing {

inline constexpr std::size_t kMaxHolderName = 200;
inline constexpr std::size_t kMaxAddress = 1000;
inline constexpr std::size_t kMaxTaxId = 50;
inline constexpr std::size_t kMaxPlan = 50;
inline constexpr std::size_t kMaxReason = 500;
inline constexpr std::size_t kMaxDescription = 500;
// The largest amount of one charge, refund or credit note, in minor units.
inline constexpr std::int64_t kMaxAmount = 1'000'000'000'000;

// Stream names.
std::string profile_stream(std::string_view user_id);
std::string subscription_stream(std::string_view subscription_id);
std::string transaction_stream(std::string_view transaction_id);
std::string plan_stream(std::string_view user_id);

// The most units one usage record may count, and a limit's largest value.
inline constexpr std::int64_t kMaxUsageUnits = 1'000'000;
inline constexpr std::int64_t kMaxLimit = 1'000'000'000;

// ---- Events (see lethe/domain/event_fields.hpp). ----
// Stream billingprofile-<user id>. holder_name, address and tax_id are the
// person's (sealed under user_id's key); an empty tax_id is left out.
struct ProfileSet {
  LETHE_EVENT("billing.profile_set");
  std::string user_id, holder_name, address, tax_id;
  static constexpr auto fields() {
    using E = ProfileSet;
    return std::array<FieldSpec<E>, 4>{{{"user_id", &E::user_id},
                                        {"holder_name", &E::holder_name},
                                        {"address", &E::address},
                                        {"tax_id", &E::tax_id, true}}};
  }
};
// Stream subscription-<id>.
struct SubscriptionCreated {
  LETHE_EVENT("billing.subscription_created");
  std::string subscription_id, user_id, plan;
  static constexpr auto fields() {
    using E = SubscriptionCreated;
    return std::array<FieldSpec<E>, 3>{
        {{"subscription_id", &E::subscription_id}, {"user_id", &E::user_id}, {"plan", &E::plan}}};
  }
};
struct SubscriptionCancelled {
  LETHE_EVENT("billing.subscription_cancelled");
  std::string subscription_id, user_id, reason;
  static constexpr auto fields() {
    using E = SubscriptionCancelled;
    return std::array<FieldSpec<E>, 3>{
        {{"subscription_id", &E::subscription_id}, {"user_id", &E::user_id}, {"reason", &E::reason}}};
  }
};
// Stream transaction-<id>: the charge, then its refunds and credit notes.
struct ChargeRecorded {
  LETHE_EVENT("billing.charge_recorded");
  std::string transaction_id, user_id;
  std::int64_t amount = 0;  // minor units
  std::string currency, description;
  static constexpr auto fields() {
    using E = ChargeRecorded;
    return std::array<FieldSpec<E>, 5>{{{"transaction_id", &E::transaction_id},
                                        {"user_id", &E::user_id},
                                        {"amount", &E::amount},
                                        {"currency", &E::currency},
                                        {"description", &E::description}}};
  }
};
struct RefundRecorded {
  LETHE_EVENT("billing.refund_recorded");
  std::string transaction_id, user_id, refund_id;
  std::int64_t amount = 0;  // minor units
  std::string currency, reason;
  static constexpr auto fields() {
    using E = RefundRecorded;
    return std::array<FieldSpec<E>, 6>{{{"transaction_id", &E::transaction_id},
                                        {"user_id", &E::user_id},
                                        {"refund_id", &E::refund_id},
                                        {"amount", &E::amount},
                                        {"currency", &E::currency},
                                        {"reason", &E::reason}}};
  }
};
struct CreditNoteIssued {
  LETHE_EVENT("billing.credit_note_issued");
  std::string transaction_id, user_id, credit_note_id;
  std::int64_t amount = 0;  // minor units
  std::string currency, reason;
  static constexpr auto fields() {
    using E = CreditNoteIssued;
    return std::array<FieldSpec<E>, 6>{{{"transaction_id", &E::transaction_id},
                                        {"user_id", &E::user_id},
                                        {"credit_note_id", &E::credit_note_id},
                                        {"amount", &E::amount},
                                        {"currency", &E::currency},
                                        {"reason", &E::reason}}};
  }
};
// Stream billingplan-<user id>: a customer's plan, trial, usage and
// payment method.
// A plan with its monthly usage limit (in units, whatever the product meters).
struct PlanSet {
  LETHE_EVENT("billing.plan_set");
  std::string user_id, plan;
  std::int64_t monthly_limit = 0;
  static constexpr auto fields() {
    using E = PlanSet;
    return std::array<FieldSpec<E>, 3>{
        {{"user_id", &E::user_id}, {"plan", &E::plan}, {"monthly_limit", &E::monthly_limit}}};
  }
};
// A trial: a plan with a limit of its own for the whole trial, until ends_at
// (RFC 3339, UTC). One per customer, ever.
struct TrialStarted {
  LETHE_EVENT("billing.trial_started");
  std::string user_id, plan;
  std::int64_t limit = 0;
  std::string ends_at;
  static constexpr auto fields() {
    using E = TrialStarted;
    return std::array<FieldSpec<E>, 4>{
        {{"user_id", &E::user_id}, {"plan", &E::plan}, {"limit", &E::limit}, {"ends_at", &E::ends_at}}};
  }
};
// reason: "expired" (ends_at passed), "used_up" (its limit reached) or
// "converted" (a plan was set during it).
struct TrialEnded {
  LETHE_EVENT("billing.trial_ended");
  std::string user_id, reason;
  static constexpr auto fields() {
    using E = TrialEnded;
    return std::array<FieldSpec<E>, 2>{{{"user_id", &E::user_id}, {"reason", &E::reason}}};
  }
};
// Units used, counted against the trial or the plan's month (period: the
// month in UTC, "2026-12", whose counter it adds to; a new month starts at 0).
struct UsageRecorded {
  LETHE_EVENT("billing.usage_recorded");
  std::string user_id;
  std::int64_t units = 0;
  std::string period, against;  // against: "trial" or "plan"
  static constexpr auto fields() {
    using E = UsageRecorded;
    return std::array<FieldSpec<E>, 4>{
        {{"user_id", &E::user_id}, {"units", &E::units}, {"period", &E::period}, {"against", &E::against}}};
  }
};
// A card on file: its brand, last four digits (the person's, sealed) and
// expiry ("MM/YY"). The card itself is the payment provider's, never here.
struct PaymentMethodSet {
  LETHE_EVENT("billing.payment_method_set");
  std::string user_id, brand, last4, expires;
  static constexpr auto fields() {
    using E = PaymentMethodSet;
    return std::array<FieldSpec<E>, 4>{
        {{"user_id", &E::user_id}, {"brand", &E::brand}, {"last4", &E::last4}, {"expires", &E::expires}}};
  }
};
struct PaymentMethodRemoved {
  LETHE_EVENT("billing.payment_method_removed");
  std::string user_id;
  static constexpr auto fields() {
    return std::array<FieldSpec<PaymentMethodRemoved>, 1>{{{"user_id", &PaymentMethodRemoved::user_id}}};
  }
};

using Event = std::variant<ProfileSet, SubscriptionCreated, SubscriptionCancelled, ChargeRecorded, RefundRecorded,
                           CreditNoteIssued, PlanSet, TrialStarted, TrialEnded, UsageRecorded, PaymentMethodSet,
                           PaymentMethodRemoved>;

// The billing domain as the registry knows it: every event on the billing
// topic, read by the billing projection.
const DomainSpec& spec();
// Every event type this domain can emit, for schema checks and docs.
std::vector<std::string_view> event_types();

// ---- Commands, one variant per kind of stream ----
struct SetProfile {
  std::string user_id, holder_name, address, tax_id;  // tax_id: empty when none
};
using ProfileCommand = std::variant<SetProfile>;

struct CreateSubscription {
  std::string subscription_id, user_id, plan;
};
struct CancelSubscription {
  std::string subscription_id, reason;
};
using SubscriptionCommand = std::variant<CreateSubscription, CancelSubscription>;

struct RecordCharge {
  std::string transaction_id, user_id;
  std::int64_t amount = 0;
  std::string currency, description;
};
struct RecordRefund {
  std::string transaction_id, refund_id;
  std::int64_t amount = 0;
  std::string currency, reason;
};
struct IssueCreditNote {
  std::string transaction_id, credit_note_id;
  std::int64_t amount = 0;
  std::string currency, reason;
};
using TransactionCommand = std::variant<RecordCharge, RecordRefund, IssueCreditNote>;

// Times are RFC 3339 in UTC as the store writes them ("2026-12-06T10:00:00.000000Z"),
// read from the clock outside (producers/): `now` is the command's time.
struct SetPlan {
  std::string user_id, plan;
  std::int64_t monthly_limit = 0;
};
struct StartTrial {
  std::string user_id, plan;
  std::int64_t limit = 0;
  std::string ends_at, now;
};
struct RecordUsage {
  std::string user_id;
  std::int64_t units = 0;
  std::string now;
};
struct SetPaymentMethod {
  std::string user_id, brand, last4, expires;
};
struct RemovePaymentMethod {
  std::string user_id;
};
using PlanCommand = std::variant<SetPlan, StartTrial, RecordUsage, SetPaymentMethod, RemovePaymentMethod>;

// ---- States ----
struct Profile {
  bool exists = false;
  std::string user_id, holder_name, address, tax_id;
  std::int64_t version = 0;  // number of events folded
};
struct Subscription {
  bool exists = false;
  bool cancelled = false;
  std::string subscription_id, user_id, plan, reason;
  std::int64_t version = 0;
};
struct Plan {
  std::string user_id;
  std::string plan;  // "" until a plan is set
  std::int64_t monthly_limit = 0;
  std::string period;                                  // the month `used` counts
  std::int64_t used = 0;                               // units of the plan in that month
  bool trial_taken = false;                            // one trial per customer, ever
  std::string trial_plan, trial_ends_at, trial_ended;  // trial_ended: "" while it runs, else the reason
  std::int64_t trial_limit = 0, trial_used = 0;
  bool payment_method = false;
  std::string brand, last4, expires;
  std::int64_t version = 0;
  // A trial started, not ended, and not past ends_at at `now`.
  bool trial_running(std::string_view now) const;
  // Units of the plan used in the month of `now` (0 in a month not counted yet).
  std::int64_t used_in(std::string_view now) const;
};
struct Transaction {
  bool exists = false;
  std::string transaction_id, user_id, currency;
  std::int64_t amount = 0;    // the charge, minor units
  std::int64_t refunded = 0;  // sum of refunds (saturating: a sum past int64 stays at its maximum)
  std::int64_t credited = 0;  // sum of credit notes (saturating likewise)
  std::set<std::string> refund_ids, credit_note_ids;
  std::int64_t version = 0;
};

// Does the actor hold the billing right (admin or owner)?
bool has_billing_right(const users::Actor& actor) noexcept;
// Three capital ASCII letters (the shape of an ISO 4217 code).
bool is_currency(std::string_view code) noexcept;
// a + b, or nullopt when the sum does not fit in int64.
std::optional<std::int64_t> checked_add(std::int64_t a, std::int64_t b) noexcept;
// What is left to refund of the charge: its amount less its refunds, never
// below zero.
std::int64_t refundable(const Transaction& t) noexcept;
// What credit notes may still cover: the amount less the credit notes so
// far, never below zero.
std::int64_t creditable(const Transaction& t) noexcept;

// The rules (auditors and anonymous callers change nothing, always
// forbidden):
// - profile: the user themself, or the billing right; holder_name 1..200
//   bytes, address 1..1000, tax_id 0..50; setting what is there already is
//   no_change;
// - subscription: created for the user by themself or the billing right, on
//   a plan [a-z0-9_-]{1,50}; cancelled by that user or the billing right,
//   with a reason 1..500 bytes; a second cancel is a conflict;
// - charge: the billing right only; amount 1..kMaxAmount minor units with a
//   currency, description 1..500; a transaction id is charged once;
// - refund: the billing right; the charge must exist (not_found); amount
//   1..kMaxAmount; its currency is the charge's (rule_violated "currency");
//   the refunds never exceed the charge (rule_violated "amount", naming what
//   is left refundable); a refund id is used once;
// - credit note: the billing right; the charge must exist; amount
//   1..kMaxAmount in the charge's currency; the credit notes together never
//   exceed the charge (rule_violated "amount"); a credit note id is used once.
// Refunds and credit notes are counted apart: what is left refundable is the
// amount less the refunds only.
Result<std::vector<Event>> decide(const Profile& state, const ProfileCommand& command, const users::Actor& actor);
Result<std::vector<Event>> decide(const Subscription& state, const SubscriptionCommand& command,
                                  const users::Actor& actor);
Result<std::vector<Event>> decide(const Transaction& state, const TransactionCommand& command,
                                  const users::Actor& actor);
// A customer's plan (stream billingplan-<user id>; every command names that
// user):
// - plan: the billing right sets it, [a-z0-9_-]{1,50}, a monthly limit of
//   1..kMaxLimit units, and only with a payment method on file
//   (rule_violated "payment_method"); the same plan and limit again is
//   no_change; set during a running trial, it ends the trial (converted);
// - trial: the customer themself or the billing right starts one, once ever
//   (conflict "plan"), with its own limit (1..kMaxLimit) and an end in the
//   future (invalid "days" otherwise);
// - usage: the billing right or a service records 1..kMaxUsageUnits units.
//   While a trial runs they count against it; past its end the trial ends
//   (expired) and they count against the plan. The plan counts per month
//   (UTC) and starts each month at 0. Usage that would pass the limit is
//   refused whole (rule_violated "units", saying the limit, what is used and
//   what is left); with neither a running trial nor a plan it is refused
//   (rule_violated "plan"). Reaching a trial's limit exactly ends it (used_up);
// - payment method: the customer themself or the billing right; brand
//   [a-z]{1,20}, last4 four digits, expires "MM/YY"; removing needs one on
//   file (not_found).
Result<std::vector<Event>> decide(const Plan& state, const PlanCommand& command, const users::Actor& actor);
// Each state folds the events of its own kind of stream and ignores the
// others (counting them in version all the same).
Profile evolve(Profile state, const Event& event);
Subscription evolve(Subscription state, const Event& event);
Transaction evolve(Transaction state, const Event& event);
Plan evolve(Plan state, const Event& event);

LETHE_DECLARE_EVENT_CODEC();
// Every billing event names the person it is about.
std::string user_id_of(const Event& e);

}  // namespace lethe::domain::billing
