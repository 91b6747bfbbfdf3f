// The samples of every event the operations domain can produce, by running
// its decisions: schemas_test validates each against its schema.
#include <boost/test/unit_test.hpp>

#include "operations.hpp"
#include "support/samples.hpp"
#include "users.hpp"

namespace {

namespace o = lethe::domain::operations;
namespace u = lethe::domain::users;
using lethe::test::Runner;

std::vector<o::Event> every_operations_event() {
  std::vector<o::Event> out;
  Runner<o::Record, o::Event> letter{{}, &out};
  letter.take(o::decide(letter.state, o::RevealDeadLetter{o::dead_letter_id(0, 17), "users", "lethe.users[2]@40"},
                        u::Actor{"a1", u::Role::admin}));
  Runner<o::Record, o::Event> projection{{}, &out};
  projection.take(
      o::decide(projection.state, o::StartProjectionJob{"users", "rebuild"}, u::Actor{"o1", u::Role::owner}));
  return out;
}

}  // namespace

namespace lethe::test {

std::vector<EventSample> operations_event_samples() {
  return samples_of(every_operations_event());
}

}  // namespace lethe::test
