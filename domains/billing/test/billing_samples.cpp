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
  return out;
}

}  // namespace

namespace lethe::test {

std::vector<EventSample> billing_event_samples() {
  return samples_of(every_billing_event());
}

}  // namespace lethe::test
