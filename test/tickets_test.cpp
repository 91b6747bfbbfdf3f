#define BOOST_TEST_MODULE tickets
#include "tickets.hpp"

#include <boost/test/unit_test.hpp>
#include <string>
#include <variant>
#include <vector>

#include "lethe/domain/personal.hpp"
#include "lethe/domain/registry.hpp"

// Every rule and every refusal of the tickets domain. A refusal is checked
// as "<code>:<field>", so that the ErrorCode and the field are asserted at once.

namespace d = lethe::domain;
namespace t = lethe::domain::tickets;
namespace u = lethe::domain::users;
using d::ErrorCode;

namespace {

const u::Actor kCustomer{"cust-1", u::Role::user}, kOther{"cust-2", u::Role::user}, kStaff{"staff-1", u::Role::staff},
    kAdmin{"admin-1", u::Role::admin}, kAuditor{"aud-1", u::Role::auditor}, kAnonymous{"", std::nullopt};

template <class T>
std::string outcome(const d::Result<T>& r) {
  if (r.ok()) return "ok";
  return std::string(d::to_string(r.error().code)) + ":" + r.error().field;
}
std::string refused(ErrorCode code, const std::string& field) {
  return std::string(d::to_string(code)) + ":" + field;
}

// Applies a command that must be accepted and returns the new state.
t::Ticket apply(t::Ticket s, const t::Command& c, const u::Actor& actor, t::Facts facts = {}) {
  auto r = t::decide(s, c, actor, facts);
  BOOST_REQUIRE_MESSAGE(r.ok(), "refused: " << outcome(r) << " (" << (r.ok() ? "" : r.error().message) << ")");
  for (const auto& e : r.value()) s = t::evolve(s, e);
  return s;
}

t::Ticket opened() {
  return apply({}, t::OpenTicket{"t1", "Printer", "It smokes."}, kCustomer);
}

t::Ticket with_status(t::Status to) {
  auto s = opened();
  const std::vector<std::string> path{"in_progress", "resolved", "closed"};
  for (const auto& step : path) {
    if (s.status == to) break;
    s = apply(s, t::ChangeStatus{"t1", step}, kStaff);
  }
  BOOST_REQUIRE((s.status == to));
  return s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(opening_makes_the_actor_the_requester) {
  auto r = t::decide({}, t::OpenTicket{"t1", "Printer", "It smokes."}, kCustomer);
  BOOST_REQUIRE(r.ok());
  BOOST_REQUIRE_EQUAL(r.value().size(), 1u);
  const auto& e = std::get<t::TicketOpened>(r.value()[0]);
  BOOST_TEST(e.requester_id == "cust-1");
  BOOST_TEST(e.subject == "Printer");
  const auto s = t::evolve({}, r.value()[0]);
  BOOST_TEST(s.exists);
  BOOST_TEST((s.status == t::Status::open));
  BOOST_TEST(s.version == 1);
}

BOOST_AUTO_TEST_CASE(opening_refusals) {
  BOOST_TEST(outcome(t::decide({}, t::OpenTicket{"t1", "", "b"}, kCustomer)) ==
             refused(ErrorCode::invalid_argument, "subject"));
  BOOST_TEST(outcome(t::decide({}, t::OpenTicket{"t1", std::string(301, 'x'), "b"}, kCustomer)) ==
             refused(ErrorCode::invalid_argument, "subject"));
  BOOST_TEST(outcome(t::decide({}, t::OpenTicket{"t1", "s", ""}, kCustomer)) ==
             refused(ErrorCode::invalid_argument, "body"));
  BOOST_TEST(outcome(t::decide({}, t::OpenTicket{"t1", "s", "b"}, kAnonymous)) == refused(ErrorCode::forbidden, ""));
  BOOST_TEST(outcome(t::decide({}, t::OpenTicket{"t1", "s", "b"}, kAuditor)) == refused(ErrorCode::forbidden, ""));
  BOOST_TEST(outcome(t::decide(opened(), t::OpenTicket{"t1", "s", "b"}, kCustomer)) ==
             refused(ErrorCode::already_exists, "ticket_id"));
}

BOOST_AUTO_TEST_CASE(staff_assign_to_staff_only) {
  auto s = opened();
  BOOST_TEST(outcome(t::decide(s, t::AssignTicket{"t1", "staff-2"}, kStaff, t::Facts{u::Role::staff})) == "ok");
  BOOST_TEST(outcome(t::decide(s, t::AssignTicket{"t1", "admin-1"}, kAdmin, t::Facts{u::Role::admin})) == "ok");
  // To a customer, an auditor, or nobody.
  BOOST_TEST(outcome(t::decide(s, t::AssignTicket{"t1", "cust-2"}, kStaff, t::Facts{u::Role::user})) ==
             refused(ErrorCode::rule_violated, "assignee_id"));
  BOOST_TEST(outcome(t::decide(s, t::AssignTicket{"t1", "aud-1"}, kStaff, t::Facts{u::Role::auditor})) ==
             refused(ErrorCode::rule_violated, "assignee_id"));
  BOOST_TEST(outcome(t::decide(s, t::AssignTicket{"t1", "ghost"}, kStaff, t::Facts{})) ==
             refused(ErrorCode::not_found, "assignee_id"));
  BOOST_TEST(outcome(t::decide(s, t::AssignTicket{"t1", "erased-1"}, kStaff, t::Facts{std::nullopt, true})) ==
             refused(ErrorCode::gone, "assignee_id"));
  // By the requester: not staff.
  BOOST_TEST(outcome(t::decide(s, t::AssignTicket{"t1", "staff-2"}, kCustomer, t::Facts{u::Role::staff})) ==
             refused(ErrorCode::forbidden, "assignee_id"));
  s = apply(s, t::AssignTicket{"t1", "staff-2"}, kStaff, t::Facts{u::Role::staff});
  BOOST_TEST(s.assignee_id == "staff-2");
  auto again = t::decide(s, t::AssignTicket{"t1", "staff-3"}, kStaff, t::Facts{u::Role::staff});
  BOOST_REQUIRE(again.ok());
  BOOST_TEST(std::get<t::TicketAssigned>(again.value()[0]).previous_assignee_id == "staff-2");
  BOOST_TEST(outcome(t::decide(s, t::AssignTicket{"t1", "staff-2"}, kStaff, t::Facts{u::Role::staff})) ==
             refused(ErrorCode::no_change, "assignee_id"));
  BOOST_TEST(outcome(t::decide(with_status(t::Status::closed), t::AssignTicket{"t1", "staff-2"}, kStaff,
                               t::Facts{u::Role::staff})) == refused(ErrorCode::conflict, "ticket_id"));
}

BOOST_AUTO_TEST_CASE(status_moves_follow_the_workflow) {
  auto s = opened();
  s = apply(s, t::ChangeStatus{"t1", "in_progress"}, kStaff);
  s = apply(s, t::ChangeStatus{"t1", "resolved"}, kStaff);
  s = apply(s, t::ChangeStatus{"t1", "open"}, kStaff);  // reopen
  BOOST_TEST((s.status == t::Status::open));
  s = apply(s, t::ChangeStatus{"t1", "in_progress"}, kStaff);
  s = apply(s, t::ChangeStatus{"t1", "resolved"}, kStaff);
  s = apply(s, t::ChangeStatus{"t1", "closed"}, kStaff);
  BOOST_TEST((s.status == t::Status::closed));
  BOOST_TEST(s.version == 7);
}

BOOST_AUTO_TEST_CASE(every_other_move_is_refused_naming_the_allowed_ones) {
  const std::vector<std::string> all{"open", "in_progress", "resolved", "closed"};
  for (const auto from : {t::Status::open, t::Status::in_progress, t::Status::resolved, t::Status::closed}) {
    const auto s = with_status(from);
    const auto allowed = t::allowed_moves(from);
    for (const auto& to : all) {
      const auto target = *t::parse_status(to);
      const auto r = t::decide(s, t::ChangeStatus{"t1", to}, kStaff);
      if (target == from) {
        BOOST_TEST(outcome(r) == refused(ErrorCode::no_change, "status"), to);
      } else if (std::find(allowed.begin(), allowed.end(), target) != allowed.end()) {
        BOOST_TEST(outcome(r) == "ok", std::string(t::to_string(from)) + " -> " + to);
      } else {
        BOOST_TEST(outcome(r) == refused(ErrorCode::rule_violated, "status"),
                   std::string(t::to_string(from)) + " -> " + to);
        BOOST_TEST(r.error().message.find("allowed:") != std::string::npos, r.error().message);
      }
    }
  }
  // The messages name the moves: open may only go to in_progress.
  const auto r = t::decide(opened(), t::ChangeStatus{"t1", "closed"}, kStaff);
  BOOST_TEST(r.error().message.find("allowed: in_progress") != std::string::npos, r.error().message);
  BOOST_TEST(outcome(t::decide(opened(), t::ChangeStatus{"t1", "done"}, kStaff)) ==
             refused(ErrorCode::invalid_argument, "status"));
}

BOOST_AUTO_TEST_CASE(the_requester_may_only_reopen_or_close_a_resolved_ticket) {
  BOOST_TEST(outcome(t::decide(opened(), t::ChangeStatus{"t1", "in_progress"}, kCustomer)) ==
             refused(ErrorCode::forbidden, "status"));
  const auto resolved = with_status(t::Status::resolved);
  BOOST_TEST(outcome(t::decide(resolved, t::ChangeStatus{"t1", "open"}, kCustomer)) == "ok");
  BOOST_TEST(outcome(t::decide(resolved, t::ChangeStatus{"t1", "closed"}, kCustomer)) == "ok");
  // Another customer does not even learn that it exists.
  BOOST_TEST(outcome(t::decide(resolved, t::ChangeStatus{"t1", "closed"}, kOther)) ==
             refused(ErrorCode::not_found, "ticket_id"));
}

BOOST_AUTO_TEST_CASE(comments_by_the_requester_or_staff_and_not_on_closed_tickets) {
  const auto s = opened();
  auto r = t::decide(s, t::Comment{"t1", "k1", "Any news?"}, kCustomer);
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(std::get<t::TicketCommented>(r.value()[0]).author_id == "cust-1");
  BOOST_TEST(outcome(t::decide(s, t::Comment{"t1", "k2", "On it."}, kStaff)) == "ok");
  BOOST_TEST(outcome(t::decide(s, t::Comment{"t1", "k3", "Me too"}, kOther)) ==
             refused(ErrorCode::not_found, "ticket_id"));
  BOOST_TEST(outcome(t::decide(s, t::Comment{"t1", "k3", "Look"}, kAuditor)) == refused(ErrorCode::forbidden, ""));
  BOOST_TEST(outcome(t::decide(s, t::Comment{"t1", "k3", ""}, kCustomer)) ==
             refused(ErrorCode::invalid_argument, "body"));
  BOOST_TEST(outcome(t::decide(with_status(t::Status::closed), t::Comment{"t1", "k3", "Hello?"}, kCustomer)) ==
             refused(ErrorCode::conflict, "ticket_id"));
  BOOST_TEST(outcome(t::decide(t::Ticket{}, t::Comment{"t9", "k3", "Hello?"}, kStaff)) ==
             refused(ErrorCode::not_found, "ticket_id"));
}

BOOST_AUTO_TEST_CASE(internal_notes_by_staff_only_and_about_the_requester) {
  const auto s = opened();
  auto r = t::decide(s, t::AddInternalNote{"t1", "n1", "Sounds upset."}, kStaff);
  BOOST_REQUIRE(r.ok());
  const auto& note = std::get<t::InternalNoteAdded>(r.value()[0]);
  BOOST_TEST(note.requester_id == "cust-1");
  BOOST_TEST(note.author_id == "staff-1");
  // The requester is told the ticket does not exist rather than that notes do.
  BOOST_TEST(outcome(t::decide(s, t::AddInternalNote{"t1", "n2", "x"}, kCustomer)) ==
             refused(ErrorCode::not_found, "ticket_id"));
  BOOST_TEST(outcome(t::decide(s, t::AddInternalNote{"t1", "n2", ""}, kStaff)) ==
             refused(ErrorCode::invalid_argument, "text"));
  // An internal note leaves the ticket's own state as it was.
  BOOST_TEST((t::evolve(s, r.value()[0]).status == s.status));
}

BOOST_AUTO_TEST_CASE(who_may_read) {
  const auto s = opened();
  BOOST_TEST(t::may_read(s, kCustomer));
  BOOST_TEST(!t::may_read(s, kOther));
  BOOST_TEST(t::may_read(s, kStaff));
  BOOST_TEST(t::may_read(s, kAuditor));
  BOOST_TEST(!t::may_read(s, kAnonymous));
  BOOST_TEST(!t::may_read(t::Ticket{}, kStaff));
}

BOOST_AUTO_TEST_CASE(internal_notes_go_to_the_staff_topic_and_the_rest_to_tickets) {
  for (const auto& e : t::spec().events) {
    const std::string expected = e.type == "ticket.internal_note_added" ? "staff" : "tickets";
    BOOST_TEST(std::string(e.topic) == expected, std::string(e.type));
  }
  BOOST_TEST(t::spec().events.size() == t::event_types().size());
  BOOST_REQUIRE(d::find_event_type("ticket.opened") != nullptr);
}

BOOST_AUTO_TEST_CASE(every_event_round_trips_and_unknown_types_fail_loudly) {
  const std::vector<t::Event> events{t::TicketOpened{"t1", "c1", "S", "B \"quoted\"", "high"},
                                     t::TicketAssigned{"t1", "s1", ""},
                                     t::TicketAssigned{"t1", "s2", "s1"},
                                     t::TicketStatusChanged{"t1", "resolved", "in_progress"},
                                     t::TicketCommented{"t1", "k1", "s1", "Done", "c1"},
                                     t::InternalNoteAdded{"t1", "n1", "s1", "c1", "note"}};
  for (const auto& e : events) {
    const auto payload = t::encode_payload(e);
    auto back = t::decode_payload(t::type_of(e), t::version_of(e), payload);
    BOOST_REQUIRE_MESSAGE(back.ok(), payload);
    BOOST_TEST(t::encode_payload(back.value()) == payload);
  }
  // An optional field left empty is left out.
  BOOST_TEST(t::encode_payload(events[1]).find("previous_assignee_id") == std::string::npos);
  BOOST_TEST(outcome(t::decode_payload("ticket.opened", 3, "{}")) == refused(ErrorCode::invalid_argument, "type"));
  BOOST_TEST(outcome(t::decode_payload("ticket.vanished", 1, "{}")) == refused(ErrorCode::invalid_argument, "type"));
  BOOST_TEST(outcome(t::decode_payload("ticket.opened", 1, R"({"ticket_id":"t1"})")) ==
             refused(ErrorCode::invalid_argument, "requester_id"));
}

// ticket.opened v1 (before priorities) is lifted by the domain's upcaster:
// decoded, it is today's event with priority "normal". A v2 payload keeps
// its own priority, and one outside the list is refused naming the field.
BOOST_AUTO_TEST_CASE(a_ticket_opened_at_v1_decodes_as_today_with_a_normal_priority) {
  const std::string v1 = R"({"ticket_id":"t1","requester_id":"c1","subject":"S","body":"B"})";
  auto lifted = t::decode_payload("ticket.opened", 1, v1);
  BOOST_REQUIRE(lifted.ok());
  const auto& opened = std::get<t::TicketOpened>(lifted.value());
  BOOST_TEST(opened.priority == "normal");
  BOOST_TEST(opened.subject == "S");
  BOOST_TEST(t::version_of(lifted.value()) == 2);
  BOOST_TEST(t::encode_payload(lifted.value()) ==
             R"({"ticket_id":"t1","requester_id":"c1","subject":"S","body":"B","priority":"normal"})");
  // The registry's one step, as every decoder applies it.
  const auto step = d::upcast_payload("ticket.opened", 1, v1);
  BOOST_REQUIRE(step.has_value());
  BOOST_TEST(step->first == 2);
  BOOST_TEST(!d::upcast_payload("ticket.opened", 2, v1).has_value());  // today's needs none
  // A v2 payload without a priority is not lifted: it is invalid.
  BOOST_TEST(outcome(t::decode_payload("ticket.opened", 2, v1)) == refused(ErrorCode::invalid_argument, "priority"));
  BOOST_TEST(outcome(t::decide({}, t::OpenTicket{"t1", "S", "B", "whenever"}, kCustomer)) ==
             refused(ErrorCode::invalid_argument, "priority"));
  auto urgent = t::decide({}, t::OpenTicket{"t1", "S", "B", "urgent"}, kCustomer);
  BOOST_REQUIRE(urgent.ok());
  BOOST_TEST(std::get<t::TicketOpened>(urgent.value()[0]).priority == "urgent");
  auto by_default = t::decide({}, t::OpenTicket{"t2", "S", "B"}, kCustomer);
  BOOST_REQUIRE(by_default.ok());
  BOOST_TEST(std::get<t::TicketOpened>(by_default.value()[0]).priority == "normal");
}

BOOST_AUTO_TEST_CASE(a_note_whose_key_is_gone_decodes_as_erased) {
  // The note text is sealed under the requester's key; with the key gone
  // it opens as null and must still decode (and fold).
  auto r = t::decode_payload("ticket.internal_note_added", 1,
                             R"({"ticket_id":"t1","note_id":"n1","author_id":"s1","requester_id":"c1","text":null})");
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(d::is_erased(std::get<t::InternalNoteAdded>(r.value()).text));
  // So does a comment's body (its author's and its requester's).
  auto c =
      t::decode_payload("ticket.commented", 1, R"({"ticket_id":"t1","comment_id":"k","author_id":"s1","body":null})");
  BOOST_REQUIRE(c.ok());
  BOOST_TEST(d::is_erased(std::get<t::TicketCommented>(c.value()).body));
  // A field that is not personal may not be null.
  BOOST_TEST(outcome(t::decode_payload("ticket.status_changed", 1,
                                       R"({"ticket_id":"t1","status":null,"previous_status":"open"})")) ==
             refused(ErrorCode::invalid_argument, "status"));
}
