// The samples of every event the email domain can produce, by running its
// decisions: schemas_test validates each against its schema (the build
// gathers every domain folder's samples, test/support/samples.hpp).
#include <boost/test/unit_test.hpp>

#include "email.hpp"
#include "support/samples.hpp"
#include "users.hpp"

namespace {

namespace m = lethe::domain::email;
namespace u = lethe::domain::users;
using lethe::test::Runner;

// Every event the email domain can produce, by running its commands.
std::vector<m::Event> every_email_event() {
  std::vector<m::Event> out;
  Runner<m::EmailLog, m::Event> email{{}, &out};
  email.take(m::decide(email.state,
                       m::LogEmailSent{"e1", "c1", "billing.receipt", "Your receipt, Zoë", "2026-11-25T08:00:00.123Z"},
                       u::Actor{"system:mailer", u::Role::owner}));
  return out;
}

}  // namespace

namespace lethe::test {

std::vector<EventSample> email_event_samples() {
  return samples_of(every_email_event());
}

}  // namespace lethe::test
