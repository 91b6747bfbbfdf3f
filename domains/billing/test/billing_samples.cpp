// The samples of every event the billing domain can produce, by running its
// decisions: schemas_test validates each against its schema (the build
// gathers every domain folder's samples, test/support/samples.hpp).
#include <boost/test/unit_test.hpp>

#include "billing.hpp"
#include "support/samples.hpp"
#include "users.hpp"

namespace {

namespace b = lethe::domain::billing;
namespace u = lethe::domain::users;
using lethe::test::Runner;

// Every event the billing domain can produce, by running its commands.
std::vector<b::Event> every_billing_event() {
  std::vector<b::Event> out;
  const u::Actor customer{"c1", u::Role::user}, admin{"a1", u::Role::admin};
  Runner<b::Profile, b::Event> profile{{}, &out};
  profile.take(
      b::decide(profile.state, b::SetProfile{"c1", "Zoë Q.", "1 Main St\nSpringfield", "DE123456789"}, customer));
  profile.take(b::decide(profile.state, b::SetProfile{"c1", "Zoë Q.", "1 Main St", ""}, admin));  // no tax id
  Runner<b::Subscription, b::Event> sub{{}, &out};
  sub.take(b::decide(sub.state, b::CreateSubscription{"s1", "c1", "pro_yearly"}, customer));
  sub.take(b::decide(sub.state, b::CancelSubscription{"s1", "too expensive"}, customer));
  Runner<b::Transaction, b::Event> tx{{}, &out};
  tx.take(b::decide(tx.state, b::RecordCharge{"t1", "c1", b::kMaxAmount, "EUR", "Pro plan, yearly"}, admin));
  tx.take(b::decide(tx.state, b::RecordRefund{"t1", "r1", 1, "EUR", "goodwill"}, admin));
  tx.take(b::decide(tx.state, b::IssueCreditNote{"t1", "cn1", b::kMaxAmount, "EUR", "price correction"}, admin));
  // A plan's life: a trial used up, a card, a plan and a month's usage, the
  // card removed; another customer's trial converted, a third's expired.
  const std::string now = "2026-12-06T10:00:00.000000Z", later = "2026-12-20T10:00:00.000000Z";
  Runner<b::Plan, b::Event> plan{{}, &out};
  plan.take(b::decide(plan.state, b::StartTrial{"c1", "pro", 10, later, now}, customer));
  plan.take(b::decide(plan.state, b::RecordUsage{"c1", 10, now}, admin));  // used up
  plan.take(b::decide(plan.state, b::SetPaymentMethod{"c1", "visa", "4242", "12/29"}, customer));
  plan.take(b::decide(plan.state, b::SetPlan{"c1", "pro", 1000}, admin));
  plan.take(b::decide(plan.state, b::RecordUsage{"c1", 7, now}, u::Actor{"meter", u::Role::service}));
  plan.take(b::decide(plan.state, b::RemovePaymentMethod{"c1"}, customer));
  Runner<b::Plan, b::Event> converted{{}, &out};
  converted.take(b::decide(converted.state, b::StartTrial{"c2", "pro", 10, later, now}, admin));
  converted.take(b::decide(converted.state, b::SetPaymentMethod{"c2", "amex", "0005", "01/30"}, admin));
  converted.take(b::decide(converted.state, b::SetPlan{"c2", "basic", 100}, admin));
  Runner<b::Plan, b::Event> expired{{}, &out};
  expired.take(b::decide(expired.state, b::SetPaymentMethod{"c3", "visa", "1111", "02/31"}, admin));
  expired.take(b::decide(expired.state, b::SetPlan{"c3", "basic", 100}, admin));
  expired.take(b::decide(expired.state, b::StartTrial{"c3", "pro", 10, later, now}, admin));
  expired.take(b::decide(expired.state, b::RecordUsage{"c3", 1, "2026-12-21T00:00:00.000000Z"}, admin));
  return out;
}

}  // namespace

namespace lethe::test {

std::vector<EventSample> billing_event_samples() {
  return samples_of(every_billing_event());
}

}  // namespace lethe::test
