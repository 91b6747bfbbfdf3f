#define BOOST_TEST_MODULE erasure
// The erasure domain's rules, pure: who may erase whom, the last owner, the
// self-service request, external tasks once and only after the erasure, and
// when a request is complete.
#include "erasure.hpp"

#include <boost/test/unit_test.hpp>

namespace er = lethe::domain::erasure;
namespace u = lethe::domain::users;
using lethe::domain::ErrorCode;

namespace {

er::Target target(u::Role role, int owners = 2) {
  return {"t1", true, false, true, role, owners};
}

std::string refusal(const std::optional<lethe::domain::DomainError>& e) {
  return e ? std::string(lethe::domain::to_string(e->code)) + ":" + e->field : "ok";
}

}  // namespace

BOOST_AUTO_TEST_CASE(who_may_erase_whom) {
  const u::Actor owner{"o1", u::Role::owner}, admin{"a1", u::Role::admin}, staff{"s1", u::Role::staff},
      user{"u1", u::Role::user}, auditor{"x1", u::Role::auditor}, anonymous{"", std::nullopt};
  // Admins and owners erase users and staff.
  for (const auto& actor : {owner, admin})
    for (auto role : {u::Role::user, u::Role::staff}) BOOST_TEST(refusal(er::may_erase(actor, target(role))) == "ok");
  // Nobody else erases anyone.
  for (const auto& actor : {staff, user, auditor, anonymous})
    BOOST_TEST(refusal(er::may_erase(actor, target(u::Role::user))) == "forbidden:user_id");
  // Only an owner erases an owner, an admin or an auditor.
  for (auto role : {u::Role::owner, u::Role::admin, u::Role::auditor}) {
    BOOST_TEST(refusal(er::may_erase(admin, target(role))) == "forbidden:user_id");
    BOOST_TEST(refusal(er::may_erase(owner, target(role))) == "ok");
  }
  // Nobody erases themselves through the admin path.
  auto self = target(u::Role::user);
  self.user_id = admin.id;
  const auto refused = er::may_erase(admin, self);
  BOOST_TEST(refusal(refused) == "forbidden:user_id");
  BOOST_TEST(refused->message.find("themselves") != std::string::npos);
  // The last owner stays; unknown is 404; erased is 410.
  BOOST_TEST(refusal(er::may_erase(owner, target(u::Role::owner, 1))) == "rule_violated:user_id");
  auto unknown = target(u::Role::user);
  unknown.exists = false;
  BOOST_TEST(refusal(er::may_erase(owner, unknown)) == "not_found:user_id");
  auto erased = target(u::Role::user);
  erased.erased = true;
  BOOST_TEST(refusal(er::may_erase(owner, erased)) == "gone:user_id");
}

BOOST_AUTO_TEST_CASE(a_person_asks_for_their_own_erasure) {
  BOOST_TEST(refusal(er::may_request_own(target(u::Role::user))) == "ok");
  BOOST_TEST(refusal(er::may_request_own(target(u::Role::owner, 2))) == "ok");
  BOOST_TEST(refusal(er::may_request_own(target(u::Role::owner, 1))) == "rule_violated:user_id");
  // A deactivated owner is not the last active one.
  auto inactive = target(u::Role::owner, 1);
  inactive.active = false;
  BOOST_TEST(refusal(er::may_request_own(inactive)) == "ok");
}

BOOST_AUTO_TEST_CASE(a_request_is_complete_when_every_projection_applied_it_and_every_task_is_confirmed) {
  er::Request r;
  r = er::evolve(r, er::self_request("r1", "u1", "2026-11-26T08:00:00Z", {"payment_provider", "newsletter"}));
  BOOST_TEST(er::to_string(r.status) == "awaiting_confirmation");
  BOOST_TEST(er::decide_task(r, "newsletter").error().field == "task");  // not erased yet
  BOOST_TEST((er::decide_task(r, "newsletter").error().code == ErrorCode::rule_violated));
  r = er::evolve(r, er::ErasureConfirmed{"r1", "u1", 1});
  BOOST_TEST(er::to_string(r.status) == "pending");
  r = er::evolve(r, er::UserErased{"r1", "u1", "f", er::string_array({"users", "shop"}), "x", ""});
  BOOST_TEST(er::to_string(r.status) == "erased");
  BOOST_TEST(!er::complete(r));
  r = er::evolve(r, er::ErasureApplied{"r1", "u1", "users"});
  r = er::evolve(r, er::ErasureApplied{"r1", "u1", "shop"});
  BOOST_TEST(!er::complete(r));  // the tasks wait
  for (const std::string task : {"payment_provider", "newsletter"}) {
    auto decided = er::decide_task(r, task);
    BOOST_TEST_REQUIRE(decided.ok());
    r = er::evolve(r, decided.value());
    BOOST_TEST(!er::decide_task(r, task).ok());  // once
  }
  BOOST_TEST(er::complete(r));
  BOOST_TEST((er::decide_task(r, "fax").error().code == ErrorCode::not_found));
  BOOST_TEST(er::decide_task(er::Request{}, "fax").error().field == "request_id");
}

BOOST_AUTO_TEST_CASE(a_request_is_cancelled_only_before_it_is_carried_out) {
  auto code = [](const er::Request& r) {
    const auto d = er::decide_cancel(r);
    return d.ok() ? std::string("ok") : std::string(lethe::domain::to_string(d.error().code));
  };
  BOOST_TEST(code(er::Request{}) == "not_found");
  er::Request r = er::evolve({}, er::self_request("r1", "u1", "2026-11-26T08:00:00Z", {}));
  BOOST_TEST(code(r) == "ok");  // awaiting its token
  const auto confirmed = er::evolve(r, er::ErasureConfirmed{"r1", "u1", 1});
  BOOST_TEST(code(confirmed) == "ok");  // confirmed, waiting for an admin
  const auto decided = er::decide_cancel(confirmed);
  BOOST_TEST_REQUIRE(decided.ok());
  const auto& cancelled = std::get<er::ErasureCancelled>(decided.value());
  BOOST_TEST(cancelled.request_id == "r1");
  BOOST_TEST(cancelled.user_id == "u1");
  const auto after = er::evolve(confirmed, decided.value());
  BOOST_TEST(er::to_string(after.status) == "cancelled");
  BOOST_TEST(code(after) == "conflict");  // once
  BOOST_TEST(code(er::evolve(confirmed, er::UserErased{"r1", "u1", "f", er::string_array({}), "x", ""})) == "gone");
  // The admin's own request is pending from its first event: cancellable too.
  BOOST_TEST(code(er::evolve({}, er::admin_request("r2", "u2", {}))) == "ok");
}

BOOST_AUTO_TEST_CASE(json_lists_round_trip) {
  const std::vector<std::string> items{"a", "b \"quoted\"", "c"};
  BOOST_TEST(er::strings_of(er::string_array(items)) == items);
  BOOST_TEST(er::records_of({{"ticket", "t-1"}}).text == R"([{"kind":"ticket","id":"t-1"}])");
  BOOST_TEST(er::strings_of(lethe::domain::Json{"not json"}).empty());
}
