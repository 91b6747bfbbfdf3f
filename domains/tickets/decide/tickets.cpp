#include "tickets.hpp"

#include <algorithm>

#include "checks.hpp"
#include "codec.hpp"
#include "json_util.hpp"

namespace lethe::domain::tickets {

namespace {

using checks::forbidden;
using checks::overloaded;
using users::Actor;
using users::Role;

constexpr std::size_t kMaxComment = 10000;
constexpr std::size_t kMaxNote = 10000;

constexpr auto kEventTypes = codec::event_specs<Event>("tickets");
constexpr std::string_view kProjections[] = {"tickets"};
constexpr TopicSpec kTopics[] = {{"tickets", 3, "ticket.* events"}};

// ticket.opened v1 -> v2: tickets opened before priorities were normal.
std::string opened_v1_to_v2(std::string_view payload_json) {
  rapidjson::Document doc;
  std::string buffer;
  if (json::parse_object(doc, payload_json, buffer)) return std::string(payload_json);  // the decoder says why
  if (!doc.HasMember("priority"))
    doc.AddMember("priority", rapidjson::Value(kDefaultPriority.data(), doc.GetAllocator()), doc.GetAllocator());
  return codec::compact(doc);
}
constexpr Upcaster kUpcasters[] = {{"ticket.opened", 1, opened_v1_to_v2}};

Result<std::vector<Event>> one(Event e) {
  return std::vector<Event>{std::move(e)};
}

// What a customer is told about a ticket that is not theirs: the same as
// for one that does not exist, so ids cannot be probed.
DomainError no_such_ticket() {
  return {ErrorCode::not_found, "ticket_id", "no such ticket"};
}

bool staff_role(std::optional<Role> r) {
  return r == Role::staff || r == Role::admin || r == Role::owner;
}

std::string moves_text(Status from) {
  std::string out;
  for (const auto s : allowed_moves(from)) out += (out.empty() ? "" : ", ") + std::string(to_string(s));
  return out.empty() ? "none" : out;
}

}  // namespace

const DomainSpec& spec() {
  static const DomainSpec s{"tickets", kEventTypes, kProjections, kTopics, kUpcasters};
  return s;
}

std::vector<std::string_view> event_types() {
  return type_names(spec());
}

std::string_view to_string(Status s) noexcept {
  switch (s) {
    case Status::open:
      return "open";
    case Status::in_progress:
      return "in_progress";
    case Status::resolved:
      return "resolved";
    case Status::closed:
      return "closed";
  }
  return "open";
}

std::optional<Status> parse_status(std::string_view s) noexcept {
  for (Status st : {Status::open, Status::in_progress, Status::resolved, Status::closed})
    if (to_string(st) == s) return st;
  return std::nullopt;
}

std::vector<Status> allowed_moves(Status from) {
  switch (from) {
    case Status::open:
      return {Status::in_progress};
    case Status::in_progress:
      return {Status::resolved};
    case Status::resolved:
      return {Status::closed, Status::open};
    case Status::closed:
      return {};
  }
  return {};
}

bool is_staff(const Actor& actor) {
  return staff_role(actor.role);
}

bool may_read(const Ticket& t, const Actor& actor) {
  return t.exists && (is_staff(actor) || actor.role == Role::auditor || (actor.role && t.requester_id == actor.id));
}

Result<std::vector<Event>> decide(const Ticket& state, const Command& command, const Actor& actor, const Facts& facts) {
  if (!actor.role || actor.role == Role::auditor)
    return forbidden("", actor.role ? "an auditor changes nothing" : "sign in first");
  if (!std::holds_alternative<OpenTicket>(command) && !may_read(state, actor)) return no_such_ticket();
  const bool requester = state.exists && state.requester_id == actor.id;
  return std::visit(
      overloaded{
          [&](const OpenTicket& c) -> Result<std::vector<Event>> {
            if (c.ticket_id.empty()) return invalid("ticket_id", "ticket_id must not be empty");
            if (state.exists) return DomainError{ErrorCode::already_exists, "ticket_id", "ticket exists already"};
            if (auto err = checks::text("subject", c.subject, kMaxSubject)) return *err;
            if (auto err = checks::text("body", c.body, kMaxBody)) return *err;
            if (std::find(std::begin(kPriorities), std::end(kPriorities), c.priority) == std::end(kPriorities))
              return invalid("priority", "priority must be one of low, normal, high, urgent");
            return one(TicketOpened{c.ticket_id, actor.id, c.subject, c.body, c.priority});
          },
          [&](const AssignTicket& c) -> Result<std::vector<Event>> {
            if (!is_staff(actor)) return forbidden("assignee_id", "only staff assign tickets");
            if (c.assignee_id.empty()) return invalid("assignee_id", "assignee_id must not be empty");
            if (facts.assignee_erased) return DomainError{ErrorCode::gone, "assignee_id", "the person is erased"};
            if (!facts.assignee_role) return DomainError{ErrorCode::not_found, "assignee_id", "no such active account"};
            if (!staff_role(facts.assignee_role))
              return DomainError{ErrorCode::rule_violated, "assignee_id",
                                 "tickets are assigned to staff only; this account's role is " +
                                     std::string(users::to_string(*facts.assignee_role))};
            if (state.status == Status::closed)
              return DomainError{ErrorCode::conflict, "ticket_id", "the ticket is closed"};
            if (c.assignee_id == state.assignee_id)
              return DomainError{ErrorCode::no_change, "assignee_id", "the ticket is assigned to them already"};
            return one(TicketAssigned{state.ticket_id, c.assignee_id, state.assignee_id});
          },
          [&](const ChangeStatus& c) -> Result<std::vector<Event>> {
            const auto to = parse_status(c.status);
            if (!to) return invalid("status", "status must be one of open, in_progress, resolved, closed");
            if (*to == state.status)
              return DomainError{ErrorCode::no_change, "status", "the ticket is " + c.status + " already"};
            const auto moves = allowed_moves(state.status);
            if (std::find(moves.begin(), moves.end(), *to) == moves.end())
              return DomainError{ErrorCode::rule_violated, "status",
                                 "a ticket that is " + std::string(to_string(state.status)) + " cannot become " +
                                     c.status + "; allowed: " + moves_text(state.status)};
            // The requester may reopen or close what staff resolved.
            if (!is_staff(actor) && !(requester && state.status == Status::resolved))
              return forbidden("status", "customers may only reopen or close a resolved ticket of their own");
            return one(TicketStatusChanged{state.ticket_id, c.status, std::string(to_string(state.status))});
          },
          [&](const Comment& c) -> Result<std::vector<Event>> {
            if (!is_staff(actor) && !requester) return no_such_ticket();
            if (state.status == Status::closed)
              return DomainError{ErrorCode::conflict, "ticket_id", "the ticket is closed; reopen it first"};
            if (c.comment_id.empty()) return invalid("comment_id", "comment_id must not be empty");
            if (auto err = checks::text("body", c.body, kMaxComment)) return *err;
            return one(TicketCommented{state.ticket_id, c.comment_id, actor.id, c.body, state.requester_id});
          },
          [&](const AddInternalNote& c) -> Result<std::vector<Event>> {
            if (!is_staff(actor)) return no_such_ticket();
            if (c.note_id.empty()) return invalid("note_id", "note_id must not be empty");
            if (auto err = checks::text("text", c.text, kMaxNote)) return *err;
            return one(InternalNoteAdded{state.ticket_id, c.note_id, actor.id, state.requester_id, c.text});
          },
      },
      command);
}

std::optional<Event> hand_over(const Ticket& t, const std::string& from, const std::string& to) {
  if (!t.exists || t.assignee_id != from) return std::nullopt;
  return TicketAssigned{t.ticket_id, to, from};
}

Ticket evolve(Ticket s, const Event& event) {
  std::visit(overloaded{
                 [&](const TicketOpened& e) {
                   s.exists = true;
                   s.ticket_id = e.ticket_id;
                   s.requester_id = e.requester_id;
                   s.status = Status::open;
                 },
                 [&](const TicketAssigned& e) { s.assignee_id = e.assignee_id; },
                 [&](const TicketStatusChanged& e) { s.status = parse_status(e.status).value_or(s.status); },
                 [&](const auto&) {},
             },
             event);
  ++s.version;
  return s;
}

LETHE_DEFINE_EVENT_CODEC("ticket")

}  // namespace lethe::domain::tickets
