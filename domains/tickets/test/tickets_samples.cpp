// The samples of every event the tickets domain can produce, by running its
// decisions: schemas_test validates each against its schema (the build
// gathers every domain folder's samples, test/support/samples.hpp).
#include <boost/test/unit_test.hpp>

#include "support/samples.hpp"
#include "tickets.hpp"
#include "users.hpp"

namespace {

namespace t = lethe::domain::tickets;
namespace u = lethe::domain::users;

// Every event the tickets domain can produce, by running its commands.
std::vector<t::Event> every_ticket_event() {
  std::vector<t::Event> out;
  t::Ticket s;
  const u::Actor customer{"c1", u::Role::user}, staff{"s1", u::Role::staff};
  auto run = [&](const t::Command& c, const u::Actor& actor, t::Facts facts = {}) {
    auto r = t::decide(s, c, actor, facts);
    BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    for (auto& e : r.value()) {
      s = t::evolve(s, e);
      out.push_back(e);
    }
  };
  run(t::OpenTicket{"t1", "Printer on fire", "It smokes."}, customer);
  run(t::AssignTicket{"t1", "s1"}, staff, t::Facts{u::Role::staff});
  run(t::ChangeStatus{"t1", "in_progress"}, staff);
  run(t::Comment{"t1", "k1", "Unplug it, please."}, staff);
  run(t::AddInternalNote{"t1", "n1", "Customer sounded upset."}, staff);
  return out;
}

}  // namespace

namespace lethe::test {

std::vector<EventSample> tickets_event_samples() {
  return samples_of(every_ticket_event());
}

}  // namespace lethe::test
