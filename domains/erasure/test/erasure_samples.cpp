// The samples of every event the erasure domain can produce, by running its
// decisions: schemas_test validates each against its schema (the build
// gathers every domain folder's samples, test/support/samples.hpp).
#include <boost/test/unit_test.hpp>

#include "erasure.hpp"
#include "support/samples.hpp"

namespace {

namespace er = lethe::domain::erasure;

// The erasure request's stream, as the write side and the projections
// write it: requested (by an admin, and by the person), confirmed, handed
// over, erased, applied, task confirmed, and a request cancelled.
std::vector<er::Event> every_erasure_event() {
  const std::vector<std::string> tasks{"payment_provider", "newsletter"};
  std::vector<er::Event> out{
      er::admin_request("req-1", "user-1", tasks),
      er::self_request("req-2", "user-2", "2026-11-26T08:00:00Z", tasks),
      er::ErasureConfirmed{"req-2", "user-2", 2},
      er::OwnershipHandedOver{"req-1", "user-1", "admin-1", er::records_of({{"ticket", "t-1"}, {"product", "p-1"}})},
      er::UserErased{"req-1", "user-1", std::string(32, 'a'), er::string_array({"users", "shop"}),
                     std::string(er::kBeyondReach), "2027-02-01T00:00:00Z"},
      er::ErasureApplied{"req-1", "user-1", "users"},
  };
  er::Request r;
  for (const auto& e : out)
    if (std::visit([](const auto& ev) { return ev.request_id; }, e) == "req-1") r = er::evolve(r, e);
  auto task = er::decide_task(r, "newsletter");
  BOOST_REQUIRE(task.ok());
  out.push_back(task.value());
  auto cancelled =
      er::decide_cancel(er::evolve({}, er::self_request("req-3", "user-3", "2026-11-26T08:00:00Z", tasks)));
  BOOST_REQUIRE(cancelled.ok());
  out.push_back(cancelled.value());
  return out;
}

}  // namespace

namespace lethe::test {

std::vector<EventSample> erasure_event_samples() {
  return samples_of(every_erasure_event());
}

}  // namespace lethe::test
