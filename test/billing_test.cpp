#define BOOST_TEST_MODULE billing
#include "billing.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "lethe/domain/envelope.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/domain/registry.hpp"

// Every rule and every refusal of the billing domain (pure decide/evolve and
// the payload codec). A refusal is checked as "<code>:<field>", so that the
// ErrorCode and the field it names are asserted at once.

namespace d = lethe::domain;
namespace b = lethe::domain::billing;
namespace u = lethe::domain::users;
using d::ErrorCode;

namespace {

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

const u::Actor kOwner{"owner-1", u::Role::owner}, kAdmin{"admin-1", u::Role::admin}, kStaff{"staff-1", u::Role::staff},
    kCustomer{"cust-1", u::Role::user}, kOther{"cust-2", u::Role::user}, kAuditor{"aud-1", u::Role::auditor},
    kAnonymous{"", std::nullopt};

std::string str(std::string_view s) {
  return std::string(s);
}

template <class T>
std::string outcome(const d::Result<T>& r) {
  if (r.ok()) return "ok";
  return str(d::to_string(r.error().code)) + ":" + r.error().field;
}
std::string refused(ErrorCode code, const std::string& field) {
  return str(d::to_string(code)) + ":" + field;
}

// The one event of an accepted decision, of type E.
template <class E>
E only(const d::Result<std::vector<b::Event>>& r) {
  BOOST_REQUIRE_MESSAGE(r.ok(), "refused: " << outcome(r) << " (" << (r.ok() ? "" : r.error().message) << ")");
  BOOST_REQUIRE_EQUAL(r.value().size(), 1U);
  const auto* e = std::get_if<E>(&r.value()[0]);
  BOOST_REQUIRE_MESSAGE(e, "expected " << str(E::kType) << ", got " << str(b::type_of(r.value()[0])));
  return *e;
}

// Decides, requires acceptance, and folds the events into the state.
template <class State, class Command>
State apply(State s, const Command& c, const u::Actor& actor) {
  const auto r = b::decide(s, c, actor);
  BOOST_REQUIRE_MESSAGE(r.ok(), "refused: " << outcome(r) << " (" << (r.ok() ? "" : r.error().message) << ")");
  for (const auto& e : r.value()) s = b::evolve(std::move(s), e);
  return s;
}

template <class State>
State fold(const std::vector<b::Event>& events, State s = {}) {
  for (const auto& e : events) s = b::evolve(std::move(s), e);
  return s;
}

b::Profile profile() {
  return apply(b::Profile{}, b::SetProfile{"cust-1", "Ann Lee", "1 Main St, Springfield", "DE123456789"}, kCustomer);
}
b::Subscription subscription() {
  return apply(b::Subscription{}, b::CreateSubscription{"sub-1", "cust-1", "pro"}, kCustomer);
}
// A charge of 10000 EUR minor units to cust-1.
b::Transaction charged(std::int64_t amount = 10000) {
  return apply(b::Transaction{}, b::RecordCharge{"tx-1", "cust-1", amount, "EUR", "Pro plan, March"}, kAdmin);
}
b::RecordRefund refund(const std::string& id, std::int64_t amount, const std::string& currency = "EUR") {
  return b::RecordRefund{"tx-1", id, amount, currency, "goodwill"};
}
b::IssueCreditNote credit(const std::string& id, std::int64_t amount, const std::string& currency = "EUR") {
  return b::IssueCreditNote{"tx-1", id, amount, currency, "price correction"};
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

template <class Variant, class F>
void for_each_alternative(F&& f) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (f(std::in_place_type<std::variant_alternative_t<I, Variant>>), ...);
  }
  (std::make_index_sequence<std::variant_size_v<Variant>>{});
}

// An event of type E with every field set: strings to a value that needs
// escaping, integers to distinct values beyond 32 bits.
template <class E>
E filled() {
  E ev{};
  std::int64_t n = 4'000'000'000'001;
  for (const auto& f : E::fields())
    std::visit(
        [&](auto member) {
          using T = std::decay_t<decltype(ev.*member)>;
          if constexpr (std::is_same_v<T, std::string>)
            ev.*member = std::string(f.name) + " \"q\" \xc3\xa9 \\ / \t\n<" + str(E::kType) + ">";
          else if constexpr (std::is_same_v<T, std::int64_t>)
            ev.*member = n++;
        },
        f.member);
  return ev;
}

// The names of the fields where a and b differ.
template <class E>
std::string differing_fields(const E& a, const E& b) {
  std::string out;
  for (const auto& f : E::fields())
    std::visit(
        [&](auto member) {
          if (!(a.*member == b.*member)) out += std::string(f.name) + " ";
        },
        f.member);
  return out;
}

// A JSON object of the fields of E (strings "v", integers 7), leaving `skip`
// out; `null_field` written as null, `wrong_field` with a value of the wrong
// type (42 for a string, "v" for an integer).
template <class E>
std::string payload_of(std::string_view skip, std::string_view null_field = {}, std::string_view wrong_field = {}) {
  std::string json = "{";
  for (const auto& f : E::fields()) {
    if (f.name == skip) continue;
    const bool integer = std::holds_alternative<std::int64_t E::*>(f.member);
    if (json.size() > 1) json += ',';
    json += '"' + std::string(f.name) + "\":";
    if (f.name == null_field)
      json += "null";
    else if (f.name == wrong_field)
      json += integer ? "\"v\"" : "42";
    else
      json += integer ? "7" : "\"v\"";
  }
  return json + "}";
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_billing_right_is_held_by_admins_and_owners_only) {
  BOOST_TEST(b::has_billing_right(kOwner));
  BOOST_TEST(b::has_billing_right(kAdmin));
  BOOST_TEST(!b::has_billing_right(kStaff));
  BOOST_TEST(!b::has_billing_right(kCustomer));
  BOOST_TEST(!b::has_billing_right(kAuditor));
  BOOST_TEST(!b::has_billing_right(kAnonymous));
}

BOOST_AUTO_TEST_CASE(currency_codes_are_three_capital_letters) {
  for (const auto* ok : {"EUR", "USD", "JPY", "XAU"}) BOOST_TEST(b::is_currency(ok), ok);
  for (const auto* bad : {"", "EU", "EURO", "eur", "Eur", "E1R", "EU ", " EUR", "\xc3\x89UR"})
    BOOST_TEST(!b::is_currency(bad), bad);
}

BOOST_AUTO_TEST_CASE(checked_add_refuses_what_does_not_fit_in_int64) {
  BOOST_TEST(b::checked_add(2, 3).value() == 5);
  BOOST_TEST(b::checked_add(kInt64Max - 1, 1).value() == kInt64Max);
  BOOST_TEST(!b::checked_add(kInt64Max, 1).has_value());
  BOOST_TEST(!b::checked_add(kInt64Max, kInt64Max).has_value());
  BOOST_TEST(!b::checked_add(std::numeric_limits<std::int64_t>::min(), -1).has_value());
  BOOST_TEST(b::checked_add(kInt64Max, -1).value() == kInt64Max - 1);
  BOOST_TEST(b::kMaxAmount == 1'000'000'000'000);
}

BOOST_AUTO_TEST_CASE(auditors_and_anonymous_callers_change_nothing) {
  const auto sub = subscription();
  const auto tx = charged();
  for (const auto& actor : {kAuditor, kAnonymous}) {
    BOOST_TEST_CONTEXT(actor.id) {
      // Even on what would be their own (an auditor named as the user).
      BOOST_TEST(outcome(b::decide(b::Profile{}, b::SetProfile{actor.id, "A", "B", ""}, actor)) ==
                 refused(ErrorCode::forbidden, ""));
      BOOST_TEST(outcome(b::decide(b::Subscription{}, b::CreateSubscription{"s9", actor.id, "pro"}, actor)) ==
                 refused(ErrorCode::forbidden, ""));
      BOOST_TEST(outcome(b::decide(sub, b::CancelSubscription{"sub-1", "r"}, actor)) ==
                 refused(ErrorCode::forbidden, ""));
      BOOST_TEST(outcome(b::decide(b::Transaction{}, b::RecordCharge{"tx-9", "cust-1", 100, "EUR", "d"}, actor)) ==
                 refused(ErrorCode::forbidden, ""));
      BOOST_TEST(outcome(b::decide(tx, refund("r1", 100), actor)) == refused(ErrorCode::forbidden, ""));
      BOOST_TEST(outcome(b::decide(tx, credit("c1", 100), actor)) == refused(ErrorCode::forbidden, ""));
    }
  }
}

BOOST_AUTO_TEST_CASE(a_profile_is_set_by_the_user_or_the_billing_right) {
  const auto own =
      only<b::ProfileSet>(b::decide(b::Profile{}, b::SetProfile{"cust-1", "Ann", "1 Main St", ""}, kCustomer));
  BOOST_TEST(own.user_id == "cust-1");
  BOOST_TEST(own.holder_name == "Ann");
  BOOST_TEST(own.address == "1 Main St");
  BOOST_TEST(own.tax_id == "");
  for (const auto& actor : {kAdmin, kOwner})
    BOOST_TEST(outcome(b::decide(b::Profile{}, b::SetProfile{"cust-1", "Ann", "1 Main St", "X1"}, actor)) == "ok",
               actor.id);
  for (const auto& actor : {kOther, kStaff})
    BOOST_TEST(outcome(b::decide(b::Profile{}, b::SetProfile{"cust-1", "Ann", "1 Main St", ""}, actor)) ==
                   refused(ErrorCode::forbidden, "user_id"),
               actor.id);
  // The profile folds; a change replaces it.
  auto s = profile();
  BOOST_TEST(s.exists);
  BOOST_TEST(s.user_id == "cust-1");
  BOOST_TEST(s.holder_name == "Ann Lee");
  BOOST_TEST(s.tax_id == "DE123456789");
  BOOST_TEST(s.version == 1);
  s = apply(s, b::SetProfile{"cust-1", "Ann Lee", "2 High St", ""}, kAdmin);
  BOOST_TEST(s.address == "2 High St");
  BOOST_TEST(s.tax_id == "");
  BOOST_TEST(s.version == 2);
}

BOOST_AUTO_TEST_CASE(profile_fields_are_bounded_and_an_unchanged_profile_is_no_change) {
  const auto set = [](std::string user, std::string name, std::string address, std::string tax) {
    return outcome(b::decide(b::Profile{}, b::SetProfile{user, name, address, tax}, kAdmin));
  };
  BOOST_TEST(set("", "A", "B", "") == refused(ErrorCode::invalid_argument, "user_id"));
  BOOST_TEST(set(std::string(201, 'u'), "A", "B", "") == refused(ErrorCode::invalid_argument, "user_id"));
  BOOST_TEST(set("cust-1", "", "B", "") == refused(ErrorCode::invalid_argument, "holder_name"));
  BOOST_TEST(set("cust-1", std::string(200, 'n'), "B", "") == "ok");
  BOOST_TEST(set("cust-1", std::string(201, 'n'), "B", "") == refused(ErrorCode::invalid_argument, "holder_name"));
  BOOST_TEST(set("cust-1", "A", "", "") == refused(ErrorCode::invalid_argument, "address"));
  BOOST_TEST(set("cust-1", "A", std::string(1000, 'a'), "") == "ok");
  BOOST_TEST(set("cust-1", "A", std::string(1001, 'a'), "") == refused(ErrorCode::invalid_argument, "address"));
  BOOST_TEST(set("cust-1", "A", "B", std::string(50, 't')) == "ok");
  BOOST_TEST(set("cust-1", "A", "B", std::string(51, 't')) == refused(ErrorCode::invalid_argument, "tax_id"));
  // Characters, not bytes (as the schemas' maxLength counts): 200 two-byte
  // characters are 400 bytes and allowed, 201 are not.
  std::string e_acute;
  for (int i = 0; i < 200; ++i) e_acute += "\xc3\xa9";
  BOOST_TEST(set("cust-1", e_acute, "B", "") == "ok");
  BOOST_TEST(set("cust-1", e_acute + "\xc3\xa9", "B", "") == refused(ErrorCode::invalid_argument, "holder_name"));

  const auto s = profile();
  BOOST_TEST(outcome(b::decide(s, b::SetProfile{"cust-1", "Ann Lee", "1 Main St, Springfield", "DE123456789"},
                               kCustomer)) == refused(ErrorCode::no_change, ""));
  // Clearing the tax id is a change.
  BOOST_TEST(outcome(b::decide(s, b::SetProfile{"cust-1", "Ann Lee", "1 Main St, Springfield", ""}, kCustomer)) ==
             "ok");
  // The stream is one person's: a command naming another is refused.
  BOOST_TEST(outcome(b::decide(s, b::SetProfile{"cust-2", "A", "B", ""}, kAdmin)) ==
             refused(ErrorCode::invalid_argument, "user_id"));
}

BOOST_AUTO_TEST_CASE(a_subscription_is_created_by_the_user_or_the_billing_right_on_a_plan) {
  const auto e = only<b::SubscriptionCreated>(
      b::decide(b::Subscription{}, b::CreateSubscription{"sub-1", "cust-1", "pro_2026-yearly"}, kCustomer));
  BOOST_TEST(e.subscription_id == "sub-1");
  BOOST_TEST(e.user_id == "cust-1");
  BOOST_TEST(e.plan == "pro_2026-yearly");
  for (const auto& actor : {kAdmin, kOwner})
    BOOST_TEST(outcome(b::decide(b::Subscription{}, b::CreateSubscription{"s", "cust-1", "pro"}, actor)) == "ok");
  for (const auto& actor : {kOther, kStaff})
    BOOST_TEST(outcome(b::decide(b::Subscription{}, b::CreateSubscription{"s", "cust-1", "pro"}, actor)) ==
                   refused(ErrorCode::forbidden, "user_id"),
               actor.id);
  const auto create = [](const std::string& id, const std::string& user, const std::string& plan) {
    return outcome(b::decide(b::Subscription{}, b::CreateSubscription{id, user, plan}, kAdmin));
  };
  BOOST_TEST(create("s", "cust-1", std::string(50, 'p')) == "ok");
  for (const auto& bad : {std::string(), std::string(51, 'p'), std::string("Pro"), std::string("pro plan"),
                          std::string("pro.plan"), std::string("pro/x"), std::string("\xc3\xa9")})
    BOOST_TEST(create("s", "cust-1", bad) == refused(ErrorCode::invalid_argument, "plan"), bad);
  BOOST_TEST(create("", "cust-1", "pro") == refused(ErrorCode::invalid_argument, "subscription_id"));
  BOOST_TEST(create("s", "", "pro") == refused(ErrorCode::invalid_argument, "user_id"));
  // Once per id.
  const auto s = subscription();
  BOOST_TEST(s.exists);
  BOOST_TEST(!s.cancelled);
  BOOST_TEST(s.plan == "pro");
  BOOST_TEST(outcome(b::decide(s, b::CreateSubscription{"sub-1", "cust-1", "pro"}, kCustomer)) ==
             refused(ErrorCode::already_exists, "subscription_id"));
}

BOOST_AUTO_TEST_CASE(a_subscription_is_cancelled_once_by_its_user_or_the_billing_right) {
  BOOST_TEST(outcome(b::decide(b::Subscription{}, b::CancelSubscription{"sub-1", "r"}, kAdmin)) ==
             refused(ErrorCode::not_found, "subscription_id"));
  const auto s = subscription();
  for (const auto& actor : {kOther, kStaff})
    BOOST_TEST(outcome(b::decide(s, b::CancelSubscription{"sub-1", "r"}, actor)) ==
                   refused(ErrorCode::forbidden, "subscription_id"),
               actor.id);
  BOOST_TEST(outcome(b::decide(s, b::CancelSubscription{"sub-1", ""}, kCustomer)) ==
             refused(ErrorCode::invalid_argument, "reason"));
  BOOST_TEST(outcome(b::decide(s, b::CancelSubscription{"sub-1", std::string(501, 'r')}, kCustomer)) ==
             refused(ErrorCode::invalid_argument, "reason"));
  BOOST_TEST(outcome(b::decide(s, b::CancelSubscription{"sub-1", std::string(500, 'r')}, kCustomer)) == "ok");
  BOOST_TEST(outcome(b::decide(s, b::CancelSubscription{"sub-2", "r"}, kCustomer)) ==
             refused(ErrorCode::invalid_argument, "subscription_id"));
  // An admin cancels; the event names the subscriber, not the admin.
  const auto e = only<b::SubscriptionCancelled>(b::decide(s, b::CancelSubscription{"sub-1", "too expensive"}, kAdmin));
  BOOST_TEST(e.user_id == "cust-1");
  BOOST_TEST(e.reason == "too expensive");
  const auto cancelled = apply(s, b::CancelSubscription{"sub-1", "too expensive"}, kCustomer);
  BOOST_TEST(cancelled.cancelled);
  BOOST_TEST(cancelled.version == 2);
  // A second cancel is a conflict, whoever asks.
  for (const auto& actor : {kCustomer, kAdmin, kOwner})
    BOOST_TEST(outcome(b::decide(cancelled, b::CancelSubscription{"sub-1", "again"}, actor)) ==
                   refused(ErrorCode::conflict, "subscription_id"),
               actor.id);
}

BOOST_AUTO_TEST_CASE(charges_are_recorded_by_the_billing_right_only) {
  const auto e = only<b::ChargeRecorded>(
      b::decide(b::Transaction{}, b::RecordCharge{"tx-1", "cust-1", 1999, "EUR", "Pro plan"}, kOwner));
  BOOST_TEST(e.transaction_id == "tx-1");
  BOOST_TEST(e.user_id == "cust-1");
  BOOST_TEST(e.amount == 1999);
  BOOST_TEST(e.currency == "EUR");
  BOOST_TEST(e.description == "Pro plan");
  // Not staff, not a customer, not even for themselves.
  for (const auto& actor : {kStaff, kCustomer})
    BOOST_TEST(outcome(b::decide(b::Transaction{}, b::RecordCharge{"tx-1", "cust-1", 1, "EUR", "d"}, actor)) ==
                   refused(ErrorCode::forbidden, ""),
               actor.id);
  const auto s = charged();
  BOOST_TEST(s.exists);
  BOOST_TEST(s.user_id == "cust-1");
  BOOST_TEST(s.amount == 10000);
  BOOST_TEST(b::refundable(s) == 10000);
  BOOST_TEST(b::creditable(s) == 10000);
  BOOST_TEST(outcome(b::decide(s, b::RecordCharge{"tx-1", "cust-1", 5, "EUR", "again"}, kAdmin)) ==
             refused(ErrorCode::already_exists, "transaction_id"));
}

BOOST_AUTO_TEST_CASE(charge_amounts_currencies_and_descriptions_are_checked) {
  const auto charge = [](std::int64_t amount, const std::string& currency, const std::string& description) {
    return outcome(
        b::decide(b::Transaction{}, b::RecordCharge{"tx-1", "cust-1", amount, currency, description}, kAdmin));
  };
  BOOST_TEST(charge(1, "EUR", "d") == "ok");
  BOOST_TEST(charge(b::kMaxAmount, "EUR", "d") == "ok");
  for (const std::int64_t bad :
       {std::int64_t{0}, std::int64_t{-1}, b::kMaxAmount + 1, kInt64Max, std::numeric_limits<std::int64_t>::min()})
    BOOST_TEST(charge(bad, "EUR", "d") == refused(ErrorCode::invalid_argument, "amount"), bad);
  for (const auto* bad : {"", "eur", "EURO", "E1R"})
    BOOST_TEST(charge(100, bad, "d") == refused(ErrorCode::invalid_argument, "currency"), bad);
  BOOST_TEST(charge(100, "EUR", "") == refused(ErrorCode::invalid_argument, "description"));
  BOOST_TEST(charge(100, "EUR", std::string(500, 'd')) == "ok");
  BOOST_TEST(charge(100, "EUR", std::string(501, 'd')) == refused(ErrorCode::invalid_argument, "description"));
  BOOST_TEST(outcome(b::decide(b::Transaction{}, b::RecordCharge{"", "cust-1", 1, "EUR", "d"}, kAdmin)) ==
             refused(ErrorCode::invalid_argument, "transaction_id"));
  BOOST_TEST(outcome(b::decide(b::Transaction{}, b::RecordCharge{"tx-1", "", 1, "EUR", "d"}, kAdmin)) ==
             refused(ErrorCode::invalid_argument, "user_id"));
}

BOOST_AUTO_TEST_CASE(partial_refunds_go_up_to_exactly_the_charge_and_not_one_unit_over) {
  auto s = charged(10000);
  s = apply(s, refund("r1", 3000), kAdmin);
  BOOST_TEST(s.refunded == 3000);
  BOOST_TEST(b::refundable(s) == 7000);
  s = apply(s, refund("r2", 5000), kOwner);
  BOOST_TEST(b::refundable(s) == 2000);
  // One unit over what is left: refused, naming the amount and what is left.
  const auto over = b::decide(s, refund("r3", 2001), kAdmin);
  BOOST_TEST_REQUIRE(outcome(over) == refused(ErrorCode::rule_violated, "amount"));
  BOOST_TEST(contains(over.error().message, "2000 EUR"), over.error().message);
  // Exactly what is left: accepted, and nothing is left.
  const auto last = only<b::RefundRecorded>(b::decide(s, refund("r3", 2000), kAdmin));
  BOOST_TEST(last.amount == 2000);
  BOOST_TEST(last.user_id == "cust-1");  // the charge's customer, not the admin
  BOOST_TEST(last.transaction_id == "tx-1");
  BOOST_TEST(last.refund_id == "r3");
  s = apply(s, refund("r3", 2000), kAdmin);
  BOOST_TEST(s.refunded == 10000);
  BOOST_TEST(b::refundable(s) == 0);
  BOOST_TEST(s.version == 4);
  const auto after = b::decide(s, refund("r4", 1), kAdmin);
  BOOST_TEST_REQUIRE(outcome(after) == refused(ErrorCode::rule_violated, "amount"));
  BOOST_TEST(contains(after.error().message, "0 EUR"), after.error().message);
  // A single refund of the whole charge, and one of a unit more.
  BOOST_TEST(outcome(b::decide(charged(10000), refund("r1", 10000), kAdmin)) == "ok");
  BOOST_TEST(outcome(b::decide(charged(10000), refund("r1", 10001), kAdmin)) ==
             refused(ErrorCode::rule_violated, "amount"));
}

BOOST_AUTO_TEST_CASE(refund_refusals) {
  BOOST_TEST(outcome(b::decide(b::Transaction{}, refund("r1", 100), kAdmin)) ==
             refused(ErrorCode::not_found, "transaction_id"));
  const auto s = charged();
  for (const auto& actor : {kStaff, kCustomer})
    BOOST_TEST(outcome(b::decide(s, refund("r1", 100), actor)) == refused(ErrorCode::forbidden, ""), actor.id);
  // The currency is the charge's.
  const auto usd = b::decide(s, refund("r1", 100, "USD"), kAdmin);
  BOOST_TEST_REQUIRE(outcome(usd) == refused(ErrorCode::rule_violated, "currency"));
  BOOST_TEST(contains(usd.error().message, "EUR"));
  BOOST_TEST(outcome(b::decide(s, refund("r1", 100, "eur"), kAdmin)) ==
             refused(ErrorCode::invalid_argument, "currency"));
  for (const std::int64_t bad : {std::int64_t{0}, std::int64_t{-100}, b::kMaxAmount + 1, kInt64Max})
    BOOST_TEST(outcome(b::decide(s, refund("r1", bad), kAdmin)) == refused(ErrorCode::invalid_argument, "amount"), bad);
  BOOST_TEST(outcome(b::decide(s, refund("", 100), kAdmin)) == refused(ErrorCode::invalid_argument, "refund_id"));
  BOOST_TEST(outcome(b::decide(s, b::RecordRefund{"tx-1", "r1", 100, "EUR", ""}, kAdmin)) ==
             refused(ErrorCode::invalid_argument, "reason"));
  BOOST_TEST(outcome(b::decide(s, b::RecordRefund{"tx-1", "r1", 100, "EUR", std::string(501, 'r')}, kAdmin)) ==
             refused(ErrorCode::invalid_argument, "reason"));
  BOOST_TEST(outcome(b::decide(s, b::RecordRefund{"tx-2", "r1", 100, "EUR", "r"}, kAdmin)) ==
             refused(ErrorCode::invalid_argument, "transaction_id"));
  // A refund id is used once: a retried refund does not pay twice.
  const auto once = apply(s, refund("r1", 100), kAdmin);
  BOOST_TEST(outcome(b::decide(once, refund("r1", 100), kAdmin)) == refused(ErrorCode::already_exists, "refund_id"));
}

BOOST_AUTO_TEST_CASE(credit_notes_together_never_exceed_the_charge) {
  auto s = charged(10000);
  s = apply(s, credit("c1", 4000), kAdmin);
  s = apply(s, credit("c2", 5000), kOwner);
  BOOST_TEST(s.credited == 9000);
  BOOST_TEST(b::creditable(s) == 1000);
  const auto over = b::decide(s, credit("c3", 1001), kAdmin);
  BOOST_TEST_REQUIRE(outcome(over) == refused(ErrorCode::rule_violated, "amount"));
  BOOST_TEST(contains(over.error().message, "1000 EUR"), over.error().message);
  const auto e = only<b::CreditNoteIssued>(b::decide(s, credit("c3", 1000), kAdmin));
  BOOST_TEST(e.user_id == "cust-1");
  BOOST_TEST(e.credit_note_id == "c3");
  BOOST_TEST(e.amount == 1000);
  s = apply(s, credit("c3", 1000), kAdmin);
  BOOST_TEST(b::creditable(s) == 0);
  BOOST_TEST(outcome(b::decide(s, credit("c4", 1), kAdmin)) == refused(ErrorCode::rule_violated, "amount"));
  // Credit notes and refunds are counted apart: refunds left untouched.
  BOOST_TEST(b::refundable(s) == 10000);
  BOOST_TEST(outcome(b::decide(s, refund("r1", 10000), kAdmin)) == "ok");
  const auto refunded = apply(charged(), refund("r1", 10000), kAdmin);
  BOOST_TEST(outcome(b::decide(refunded, credit("c1", 10000), kAdmin)) == "ok");
}

BOOST_AUTO_TEST_CASE(credit_note_refusals) {
  BOOST_TEST(outcome(b::decide(b::Transaction{}, credit("c1", 100), kAdmin)) ==
             refused(ErrorCode::not_found, "transaction_id"));
  const auto s = charged();
  for (const auto& actor : {kStaff, kCustomer})
    BOOST_TEST(outcome(b::decide(s, credit("c1", 100), actor)) == refused(ErrorCode::forbidden, ""), actor.id);
  BOOST_TEST(outcome(b::decide(s, credit("c1", 100, "GBP"), kAdmin)) == refused(ErrorCode::rule_violated, "currency"));
  BOOST_TEST(outcome(b::decide(s, credit("c1", 100, "E"), kAdmin)) == refused(ErrorCode::invalid_argument, "currency"));
  for (const std::int64_t bad : {std::int64_t{0}, std::int64_t{-1}, b::kMaxAmount + 1})
    BOOST_TEST(outcome(b::decide(s, credit("c1", bad), kAdmin)) == refused(ErrorCode::invalid_argument, "amount"), bad);
  BOOST_TEST(outcome(b::decide(s, credit("", 100), kAdmin)) == refused(ErrorCode::invalid_argument, "credit_note_id"));
  BOOST_TEST(outcome(b::decide(s, b::IssueCreditNote{"tx-1", "c1", 100, "EUR", ""}, kAdmin)) ==
             refused(ErrorCode::invalid_argument, "reason"));
  const auto once = apply(s, credit("c1", 100), kAdmin);
  BOOST_TEST(outcome(b::decide(once, credit("c1", 100), kAdmin)) ==
             refused(ErrorCode::already_exists, "credit_note_id"));
}

BOOST_AUTO_TEST_CASE(sums_folded_from_the_log_saturate_instead_of_overflowing) {
  // Events past what decide would ever allow (a log written by another
  // version, or by hand): the sums stop at the int64 bound, so what is left
  // reads as nothing and every further refund or credit note is refused.
  const b::ChargeRecorded huge{"tx-1", "cust-1", kInt64Max, "EUR", "d"};
  auto s = fold<b::Transaction>({huge, b::RefundRecorded{"tx-1", "cust-1", "r1", kInt64Max, "EUR", "r"},
                                 b::RefundRecorded{"tx-1", "cust-1", "r2", kInt64Max, "EUR", "r"}});
  BOOST_TEST(s.refunded == kInt64Max);
  BOOST_TEST(b::refundable(s) == 0);
  BOOST_TEST(outcome(b::decide(s, refund("r3", 1), kAdmin)) == refused(ErrorCode::rule_violated, "amount"));
  // Refunds so far plus this one would overflow: refused, not wrapped around.
  s = fold<b::Transaction>({huge, b::CreditNoteIssued{"tx-1", "cust-1", "c1", kInt64Max - 5, "EUR", "r"}});
  BOOST_TEST(b::creditable(s) == 5);
  BOOST_TEST(outcome(b::decide(s, credit("c2", 5), kAdmin)) == "ok");
  BOOST_TEST(outcome(b::decide(s, credit("c2", 6), kAdmin)) == refused(ErrorCode::rule_violated, "amount"));
  BOOST_TEST(outcome(b::decide(s, credit("c2", b::kMaxAmount), kAdmin)) == refused(ErrorCode::rule_violated, "amount"));
  // A negative sum (never written by decide) does not make refunds unbounded.
  s = fold<b::Transaction>(
      {b::ChargeRecorded{"tx-1", "cust-1", 100, "EUR", "d"},
       b::RefundRecorded{"tx-1", "cust-1", "r1", std::numeric_limits<std::int64_t>::min(), "EUR", "r"}});
  BOOST_TEST(b::refundable(s) == 0);
  BOOST_TEST(outcome(b::decide(s, refund("r2", 1), kAdmin)) == refused(ErrorCode::rule_violated, "amount"));
}

BOOST_AUTO_TEST_CASE(each_state_folds_its_own_stream_and_counts_every_event) {
  const std::vector<b::Event> all{
      b::ProfileSet{"cust-1", "Ann", "addr", "T"},
      b::SubscriptionCreated{"sub-1", "cust-1", "pro"},
      b::SubscriptionCancelled{"sub-1", "cust-1", "bye"},
      b::ChargeRecorded{"tx-1", "cust-1", 500, "EUR", "d"},
      b::RefundRecorded{"tx-1", "cust-1", "r1", 100, "EUR", "r"},
      b::CreditNoteIssued{"tx-1", "cust-1", "c1", 50, "EUR", "r"},
  };
  const auto p = fold<b::Profile>(all);
  BOOST_TEST(p.holder_name == "Ann");
  BOOST_TEST(p.version == 6);
  const auto sub = fold<b::Subscription>(all);
  BOOST_TEST(sub.cancelled);
  BOOST_TEST(sub.reason == "bye");
  BOOST_TEST(sub.version == 6);
  const auto tx = fold<b::Transaction>(all);
  BOOST_TEST(tx.amount == 500);
  BOOST_TEST(tx.refunded == 100);
  BOOST_TEST(tx.credited == 50);
  BOOST_TEST(b::refundable(tx) == 400);
  BOOST_TEST(b::creditable(tx) == 450);
  BOOST_TEST(tx.version == 6);
  // Another stream's events leave a state as it was.
  BOOST_TEST(!fold<b::Profile>({all[3]}).exists);
  BOOST_TEST(!fold<b::Transaction>({all[0], all[1]}).exists);
  BOOST_TEST(!fold<b::Subscription>({all[0], all[3]}).exists);
  BOOST_TEST(b::user_id_of(all[4]) == "cust-1");
}

BOOST_AUTO_TEST_CASE(payload_codec_round_trips_every_event_type) {
  int checked = 0;
  for_each_alternative<b::Event>([&]<class E>(std::in_place_type_t<E>) {
    BOOST_TEST_CONTEXT(str(E::kType)) {
      const E ev = filled<E>();
      const b::Event e{ev};
      BOOST_TEST(str(b::type_of(e)) == str(E::kType));
      BOOST_TEST(b::version_of(e) == 1);
      const auto json = b::encode_payload(e);
      for (const auto& f : E::fields()) BOOST_TEST(contains(json, '"' + std::string(f.name) + "\":"), f.name);
      const auto back = b::decode_payload(E::kType, E::kVersion, json);
      BOOST_TEST_REQUIRE(outcome(back) == "ok");
      BOOST_TEST_REQUIRE(std::holds_alternative<E>(back.value()));
      BOOST_TEST(differing_fields(std::get<E>(back.value()), ev) == "");
      BOOST_TEST(b::encode_payload(back.value()) == json);
      // Blank: optional strings left out, the rest written; decodes back the same.
      const E blank{};
      const auto blank_back = b::decode_payload(E::kType, E::kVersion, b::encode_payload(b::Event{blank}));
      BOOST_TEST_REQUIRE(outcome(blank_back) == "ok");
      BOOST_TEST(differing_fields(std::get<E>(blank_back.value()), blank) == "");
      ++checked;
    }
  });
  BOOST_TEST(checked == static_cast<int>(std::variant_size_v<b::Event>));
  // Amounts are JSON integers.
  BOOST_TEST(b::encode_payload(b::ChargeRecorded{"t", "u", 1999, "EUR", "d"}) ==
             R"({"transaction_id":"t","user_id":"u","amount":1999,"currency":"EUR","description":"d"})");
  // An empty tax id is left out.
  BOOST_TEST(b::encode_payload(b::ProfileSet{"u", "A", "B", ""}) ==
             R"({"user_id":"u","holder_name":"A","address":"B"})");
}

BOOST_AUTO_TEST_CASE(payload_decoding_refuses_unknown_types_versions_missing_and_mistyped_fields) {
  BOOST_TEST(outcome(b::decode_payload("billing.exploded", 1, "{}")) == refused(ErrorCode::invalid_argument, "type"));
  BOOST_TEST(outcome(b::decode_payload("user.registered", 1, "{}")) == refused(ErrorCode::invalid_argument, "type"));
  BOOST_TEST(outcome(b::decode_payload("", 1, "{}")) == refused(ErrorCode::invalid_argument, "type"));
  for_each_alternative<b::Event>([&]<class E>(std::in_place_type_t<E>) {
    BOOST_TEST_CONTEXT(str(E::kType)) {
      const auto full = payload_of<E>("");
      BOOST_TEST(outcome(b::decode_payload(E::kType, E::kVersion, full)) == "ok");
      for (const int v : {0, 2, -1})
        BOOST_TEST(outcome(b::decode_payload(E::kType, v, full)) == refused(ErrorCode::invalid_argument, "type"), v);
      for (const auto& f : E::fields()) {
        BOOST_TEST(outcome(b::decode_payload(E::kType, E::kVersion, payload_of<E>(f.name))) ==
                       (f.optional ? std::string("ok") : refused(ErrorCode::invalid_argument, f.name)),
                   "without " << f.name);
        BOOST_TEST(outcome(b::decode_payload(E::kType, E::kVersion, payload_of<E>("", {}, f.name))) ==
                       refused(ErrorCode::invalid_argument, f.name),
                   "wrong type in " << f.name);
      }
    }
  });
  // Money is never a fraction, nor beyond int64.
  const auto charge = [](const std::string& amount) {
    return outcome(b::decode_payload(
        "billing.charge_recorded", 1,
        R"({"transaction_id":"t","user_id":"u","amount":)" + amount + R"(,"currency":"EUR","description":"d"})"));
  };
  BOOST_TEST(charge("1999") == "ok");
  BOOST_TEST(charge("19.99") == refused(ErrorCode::invalid_argument, "amount"));
  BOOST_TEST(charge("1e3") == refused(ErrorCode::invalid_argument, "amount"));
  BOOST_TEST(charge("9223372036854775808") == refused(ErrorCode::invalid_argument, "amount"));
  BOOST_TEST(charge("\"1999\"") == refused(ErrorCode::invalid_argument, "amount"));
}

// The profile, and every text about a person's money (a charge's
// description, the reasons of refunds, credit notes and cancellations), are
// personal data of the user the event names; nothing else is.
BOOST_AUTO_TEST_CASE(the_profile_and_the_texts_are_personal_to_their_user_and_nothing_else_is) {
  std::vector<std::string> fields;
  for (const auto type : b::event_types())
    for (const auto& f : d::personal_fields(type, 1))
      fields.push_back(std::string(type) + "." + std::string(f.field) + ":" + std::string(f.subject_field) +
                       std::string(f.also_field));
  std::sort(fields.begin(), fields.end());
  BOOST_TEST((fields ==
              std::vector<std::string>{
                  "billing.charge_recorded.description:user_id", "billing.credit_note_issued.reason:user_id",
                  "billing.payment_method_set.last4:user_id", "billing.profile_set.address:user_id",
                  "billing.profile_set.holder_name:user_id", "billing.profile_set.tax_id:user_id",
                  "billing.refund_recorded.reason:user_id", "billing.subscription_cancelled.reason:user_id"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(an_erased_profile_field_decodes_to_erased) {
  for (const auto* field : {"holder_name", "address", "tax_id"}) {
    const auto r = b::decode_payload("billing.profile_set", 1, payload_of<b::ProfileSet>("", field));
    BOOST_TEST_REQUIRE(outcome(r) == "ok", field);
    const auto& p = std::get<b::ProfileSet>(r.value());
    BOOST_TEST(d::is_erased(p.holder_name) == (str(field) == "holder_name"));
    BOOST_TEST(d::is_erased(p.address) == (str(field) == "address"));
    BOOST_TEST(d::is_erased(p.tax_id) == (str(field) == "tax_id"));
    BOOST_TEST(p.user_id == "v");
  }
  // A field that is not personal may not be null.
  BOOST_TEST(outcome(b::decode_payload("billing.profile_set", 1, payload_of<b::ProfileSet>("", "user_id"))) ==
             refused(ErrorCode::invalid_argument, "user_id"));
  const auto charge = b::decode_payload("billing.charge_recorded", 1, payload_of<b::ChargeRecorded>("", "description"));
  BOOST_TEST_REQUIRE(outcome(charge) == "ok");
  BOOST_TEST(d::is_erased(std::get<b::ChargeRecorded>(charge.value()).description));
  BOOST_TEST(outcome(b::decode_payload("billing.charge_recorded", 1, payload_of<b::ChargeRecorded>("", "amount"))) ==
             refused(ErrorCode::invalid_argument, "amount"));
}

BOOST_AUTO_TEST_CASE(a_sealed_profile_hides_its_fields_and_opens_to_erased_once_the_key_is_gone) {
  BOOST_REQUIRE(sodium_init() >= 0);
  std::array<unsigned char, d::kPersonKeyBytes> key{};
  randombytes_buf(key.data(), key.size());
  const auto keys = [&](std::string_view subject) -> std::optional<d::KeyRef> {
    if (subject == "cust-1" || subject == d::key_domain_subject("billing")) return d::KeyRef{1, key.data()};
    return std::nullopt;
  };
  const d::RandomFill random = [](unsigned char* p, std::size_t n) { randombytes_buf(p, n); };
  const std::string event_id = "4b14c0de-0000-4000-8000-00000000b111";
  const auto plain = b::encode_payload(b::ProfileSet{"cust-1", "Ann Lee", "1 Main St", "DE123456789"});
  const auto sealed = d::seal_personal("billing.profile_set", 1, event_id, plain, keys, random);
  BOOST_TEST_REQUIRE(outcome(sealed) == "ok");
  for (const auto* secret : {"Ann Lee", "1 Main St", "DE123456789"}) BOOST_TEST(!contains(sealed.value(), secret));
  BOOST_TEST(contains(sealed.value(), R"("user_id":"cust-1")"));
  const std::vector<d::SealedPayload> items{{"billing.profile_set", 1, event_id, sealed.value()}};
  // With the key: the plaintext again.
  const auto opened = b::decode_sealed(items, [&](const std::vector<std::string>&) { return d::KeyLookup(keys); });
  BOOST_TEST_REQUIRE(opened.size() == 1U);
  BOOST_TEST_REQUIRE(outcome(opened[0]) == "ok");
  const auto& p = std::get<b::ProfileSet>(opened[0].value());
  BOOST_TEST(p.holder_name == "Ann Lee");
  BOOST_TEST(p.tax_id == "DE123456789");
  // Key gone (the person was erased): every personal field is erased(), the rest intact.
  const auto gone = b::decode_sealed(items, [](const std::vector<std::string>&) {
    return d::KeyLookup([](std::string_view) -> std::optional<d::KeyRef> { return std::nullopt; });
  });
  BOOST_TEST_REQUIRE(outcome(gone[0]) == "ok");
  const auto& e = std::get<b::ProfileSet>(gone[0].value());
  BOOST_TEST(d::is_erased(e.holder_name));
  BOOST_TEST(d::is_erased(e.address));
  BOOST_TEST(d::is_erased(e.tax_id));
  BOOST_TEST(e.user_id == "cust-1");
}

BOOST_AUTO_TEST_CASE(every_billing_event_is_registered_on_the_billing_topic) {
  const auto& spec = b::spec();
  BOOST_TEST(str(spec.name) == "billing");
  BOOST_TEST((std::vector<std::string_view>(spec.projections.begin(), spec.projections.end()) ==
              std::vector<std::string_view>{"billing"}));
  BOOST_TEST((std::find(d::domains().begin(), d::domains().end(), &spec) != d::domains().end()));
  BOOST_TEST(b::event_types().size() == std::variant_size_v<b::Event>);
  for_each_alternative<b::Event>([&]<class E>(std::in_place_type_t<E>) {
    const auto* registered = d::find_event_type(E::kType, E::kVersion);
    BOOST_TEST_REQUIRE(registered, str(E::kType));
    BOOST_TEST(str(registered->topic) == "billing", str(E::kType));
    BOOST_TEST(d::topic_of(E::kType) == "billing", str(E::kType));
  });
  BOOST_TEST(b::profile_stream("cust-1") == "billingprofile-cust-1");
  BOOST_TEST(b::subscription_stream("s1") == "subscription-s1");
  BOOST_TEST(b::transaction_stream("t1") == "transaction-t1");
}

// ---- Plans, trials, usage and the card on file (stream billingplan-<user id>) ----

namespace {

const std::string kNow = "2026-12-06T10:00:00.000000Z", kLater = "2026-12-20T10:00:00.000000Z",
                  kNextMonth = "2027-01-02T10:00:00.000000Z";
const u::Actor kMeter{"meter-1", u::Role::service};

// Folds a decision's events into the state (the decision must be accepted).
b::Plan take(b::Plan s, const d::Result<std::vector<b::Event>>& r) {
  BOOST_REQUIRE_MESSAGE(r.ok(), "refused: " << outcome(r) << " (" << (r.ok() ? "" : r.error().message) << ")");
  for (const auto& e : r.value()) s = b::evolve(std::move(s), e);
  return s;
}
// The types of a decision's events, in order.
std::vector<std::string> types(const d::Result<std::vector<b::Event>>& r) {
  std::vector<std::string> out;
  if (r.ok())
    for (const auto& e : r.value()) out.emplace_back(b::type_of(e));
  return out;
}
// A customer with a card on file and the plan "pro", 100 units a month.
b::Plan on_plan() {
  auto s = take({}, b::decide(b::Plan{}, b::SetPaymentMethod{"cust-1", "visa", "4242", "12/29"}, kCustomer));
  return take(s, b::decide(s, b::SetPlan{"cust-1", "pro", 100}, kAdmin));
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_plan_is_set_by_the_billing_right_with_a_card_on_file) {
  BOOST_TEST(outcome(b::decide(b::Plan{}, b::SetPlan{"cust-1", "pro", 100}, kAdmin)) ==
             refused(ErrorCode::rule_violated, "payment_method"));
  auto s = take({}, b::decide(b::Plan{}, b::SetPaymentMethod{"cust-1", "visa", "4242", "12/29"}, kCustomer));
  for (const auto& who : {kCustomer, kStaff, kMeter})
    BOOST_TEST(outcome(b::decide(s, b::SetPlan{"cust-1", "pro", 100}, who)) == refused(ErrorCode::forbidden, ""));
  BOOST_TEST(outcome(b::decide(s, b::SetPlan{"cust-1", "Pro!", 100}, kAdmin)) ==
             refused(ErrorCode::invalid_argument, "plan"));
  for (const std::int64_t limit : {std::int64_t{0}, std::int64_t{-1}, b::kMaxLimit + 1})
    BOOST_TEST(outcome(b::decide(s, b::SetPlan{"cust-1", "pro", limit}, kAdmin)) ==
                   refused(ErrorCode::invalid_argument, "monthly_limit"),
               limit);
  BOOST_TEST(outcome(b::decide(s, b::SetPlan{"cust-2", "pro", 100}, kAdmin)) ==
             refused(ErrorCode::invalid_argument, "user_id"));
  const auto set = only<b::PlanSet>(b::decide(s, b::SetPlan{"cust-1", "pro", 100}, kOwner));
  BOOST_TEST(set.monthly_limit == 100);
  s = b::evolve(s, set);
  BOOST_TEST(outcome(b::decide(s, b::SetPlan{"cust-1", "pro", 100}, kAdmin)) == refused(ErrorCode::no_change, "plan"));
  BOOST_TEST(only<b::PlanSet>(b::decide(s, b::SetPlan{"cust-1", "pro", 200}, kAdmin)).monthly_limit == 200);
}

BOOST_AUTO_TEST_CASE(usage_counts_against_the_month_and_is_refused_whole_above_the_limit) {
  BOOST_TEST(outcome(b::decide(b::Plan{}, b::RecordUsage{"cust-1", 1, kNow}, kAdmin)) ==
             refused(ErrorCode::rule_violated, "plan"));
  auto s = on_plan();
  for (const auto& who : {kCustomer, kStaff, kAuditor})
    BOOST_TEST(outcome(b::decide(s, b::RecordUsage{"cust-1", 1, kNow}, who)) == refused(ErrorCode::forbidden, ""));
  for (const std::int64_t units : {std::int64_t{0}, std::int64_t{-5}, b::kMaxUsageUnits + 1})
    BOOST_TEST(outcome(b::decide(s, b::RecordUsage{"cust-1", units, kNow}, kMeter)) ==
                   refused(ErrorCode::invalid_argument, "units"),
               units);
  const auto used = only<b::UsageRecorded>(b::decide(s, b::RecordUsage{"cust-1", 60, kNow}, kMeter));
  BOOST_TEST(used.period == "2026-12");
  BOOST_TEST(used.against == "plan");
  s = b::evolve(s, used);
  // 41 more would make 101 of 100: refused whole, saying what is left.
  const auto over = b::decide(s, b::RecordUsage{"cust-1", 41, kNow}, kAdmin);
  BOOST_TEST(outcome(over) == refused(ErrorCode::rule_violated, "units"));
  BOOST_TEST(over.error().message == "the monthly limit of 100 units would be passed: 60 used, 40 left");
  s = take(s, b::decide(s, b::RecordUsage{"cust-1", 40, kNow}, kAdmin));  // exactly the limit
  BOOST_TEST(s.used_in(kNow) == 100);
  BOOST_TEST(outcome(b::decide(s, b::RecordUsage{"cust-1", 1, kNow}, kAdmin)) ==
             refused(ErrorCode::rule_violated, "units"));
  // A new month starts at 0.
  BOOST_TEST(s.used_in(kNextMonth) == 0);
  s = take(s, b::decide(s, b::RecordUsage{"cust-1", 100, kNextMonth}, kMeter));
  BOOST_TEST(s.period == "2027-01");
  BOOST_TEST(s.used == 100);
}

BOOST_AUTO_TEST_CASE(a_trial_has_its_own_limit_ends_when_used_up_or_expired_and_is_taken_once) {
  b::Plan s;
  BOOST_TEST(outcome(b::decide(s, b::StartTrial{"cust-1", "pro", 10, kLater, kNow}, kOther)) ==
             refused(ErrorCode::forbidden, "user_id"));
  BOOST_TEST(outcome(b::decide(s, b::StartTrial{"cust-1", "pro", 10, kNow, kNow}, kCustomer)) ==
             refused(ErrorCode::invalid_argument, "days"));
  BOOST_TEST(outcome(b::decide(s, b::StartTrial{"cust-1", "pro", 0, kLater, kNow}, kCustomer)) ==
             refused(ErrorCode::invalid_argument, "limit"));
  s = take(s, b::decide(s, b::StartTrial{"cust-1", "pro", 10, kLater, kNow}, kCustomer));
  BOOST_TEST(s.trial_running(kNow));
  BOOST_TEST(outcome(b::decide(s, b::StartTrial{"cust-1", "pro", 10, kLater, kNow}, kAdmin)) ==
             refused(ErrorCode::conflict, "plan"));
  s = take(s, b::decide(s, b::RecordUsage{"cust-1", 6, kNow}, kMeter));
  BOOST_TEST(s.trial_used == 6);
  const auto over = b::decide(s, b::RecordUsage{"cust-1", 5, kNow}, kMeter);
  BOOST_TEST(outcome(over) == refused(ErrorCode::rule_violated, "units"));
  BOOST_TEST(over.error().message == "the trial's limit of 10 units would be passed: 6 used, 4 left");
  // Reaching the limit exactly ends it: used up.
  const auto last = b::decide(s, b::RecordUsage{"cust-1", 4, kNow}, kMeter);
  BOOST_TEST((types(last) == std::vector<std::string>{"billing.usage_recorded", "billing.trial_ended"}));
  s = take(s, last);
  BOOST_TEST(s.trial_ended == "used_up");
  BOOST_TEST(!s.trial_running(kNow));
  BOOST_TEST(outcome(b::decide(s, b::RecordUsage{"cust-1", 1, kNow}, kMeter)) ==
             refused(ErrorCode::rule_violated, "plan"));

  // Expired: past its end the usage counts against the plan, and the trial
  // ends with it; without a plan the usage is refused and nothing is written.
  auto t = take({}, b::decide(b::Plan{}, b::StartTrial{"cust-1", "pro", 10, kLater, kNow}, kCustomer));
  BOOST_TEST(!t.trial_running(kLater));
  BOOST_TEST(outcome(b::decide(t, b::RecordUsage{"cust-1", 1, kLater}, kMeter)) ==
             refused(ErrorCode::rule_violated, "plan"));
  t = take(t, b::decide(t, b::SetPaymentMethod{"cust-1", "visa", "4242", "12/29"}, kCustomer));
  auto planned = on_plan();
  planned = take(planned, b::decide(planned, b::StartTrial{"cust-1", "pro", 10, kLater, kNow}, kCustomer));
  const auto expired = b::decide(planned, b::RecordUsage{"cust-1", 3, kLater}, kMeter);
  BOOST_TEST((types(expired) == std::vector<std::string>{"billing.trial_ended", "billing.usage_recorded"}));
  planned = take(planned, expired);
  BOOST_TEST(planned.trial_ended == "expired");
  BOOST_TEST(planned.used == 3);
  BOOST_TEST(planned.trial_used == 0);

  // Converted: a plan set during a trial ends it.
  const auto converted = b::decide(t, b::SetPlan{"cust-1", "basic", 50}, kAdmin);
  BOOST_TEST((types(converted) == std::vector<std::string>{"billing.trial_ended", "billing.plan_set"}));
  BOOST_TEST(take(t, converted).trial_ended == "converted");
}

BOOST_AUTO_TEST_CASE(a_card_on_file_is_the_customers_or_the_billing_rights_to_set_and_remove) {
  b::Plan s;
  BOOST_TEST(outcome(b::decide(s, b::SetPaymentMethod{"cust-1", "visa", "4242", "12/29"}, kOther)) ==
             refused(ErrorCode::forbidden, "user_id"));
  BOOST_TEST(outcome(b::decide(s, b::SetPaymentMethod{"cust-1", "visa", "4242", "12/29"}, kMeter)) ==
             refused(ErrorCode::forbidden, "user_id"));
  BOOST_TEST(outcome(b::decide(s, b::SetPaymentMethod{"cust-1", "Visa", "4242", "12/29"}, kCustomer)) ==
             refused(ErrorCode::invalid_argument, "brand"));
  for (const auto* last4 : {"424", "42424", "42a2", ""})
    BOOST_TEST(outcome(b::decide(s, b::SetPaymentMethod{"cust-1", "visa", last4, "12/29"}, kCustomer)) ==
                   refused(ErrorCode::invalid_argument, "last4"),
               last4);
  for (const auto* expires : {"13/29", "00/29", "1/29", "12-29", "12/2029"})
    BOOST_TEST(outcome(b::decide(s, b::SetPaymentMethod{"cust-1", "visa", "4242", expires}, kCustomer)) ==
                   refused(ErrorCode::invalid_argument, "expires"),
               expires);
  BOOST_TEST(outcome(b::decide(s, b::RemovePaymentMethod{"cust-1"}, kCustomer)) ==
             refused(ErrorCode::not_found, "payment_method"));
  s = take(s, b::decide(s, b::SetPaymentMethod{"cust-1", "visa", "4242", "12/29"}, kCustomer));
  BOOST_TEST(s.payment_method);
  BOOST_TEST(outcome(b::decide(s, b::SetPaymentMethod{"cust-1", "visa", "4242", "12/29"}, kAdmin)) ==
             refused(ErrorCode::no_change, "last4"));
  s = take(s, b::decide(s, b::RemovePaymentMethod{"cust-1"}, kAdmin));
  BOOST_TEST(!s.payment_method);
  BOOST_TEST(s.last4.empty());
}
