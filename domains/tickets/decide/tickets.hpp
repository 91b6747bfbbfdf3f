#pragma once
// The tickets domain: a customer opens a support ticket, staff assign it
// (to staff only) and move it through its statuses, the requester and staff
// comment in public, and staff add internal notes. Pure: ids and time come
// in with the commands.
//
// Streams: a ticket is ticket-<id>; its internal notes are ticketnotes-<id>,
// a stream of its own whose events go to the restricted staff topic (and a
// staff-only read model), so that nothing a customer can read ever carries
// one. Status moves: open -> in_progress -> resolved -> closed, and
// resolved -> open (reopen); nothing else.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "lethe/domain/event_fields.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/domain/registry.hpp"
#include "lethe/domain/result.hpp"
#include "users.hpp"

namespace lethe::domain::tickets {

enum class Status { open, in_progress, resolved, closed };
// How urgent a ticket is, set by the requester when they open it (from
// ticket.opened v2; a v1 event is lifted to "normal").
inline constexpr std::string_view kPriorities[] = {"low", "normal", "high", "urgent"};
inline constexpr std::string_view kDefaultPriority = "normal";
std::string_view to_string(Status s) noexcept;
std::optional<Status> parse_status(std::string_view s) noexcept;
// The statuses a ticket may move to from `from`.
std::vector<Status> allowed_moves(Status from);

inline constexpr std::size_t kMaxSubject = 300;
inline constexpr std::size_t kMaxBody = 20000;

// ---- Events ----
// v2 adds the priority; v1 events are lifted by the upcaster in tickets.cpp.
struct TicketOpened {
  LETHE_EVENT_V("ticket.opened", 2);
  std::string ticket_id, requester_id, subject, body, priority;
  static constexpr auto fields() {
    using E = TicketOpened;
    return std::array<FieldSpec<E>, 5>{{{"ticket_id", &E::ticket_id},
                                        {"requester_id", &E::requester_id},
                                        {"subject", &E::subject},
                                        {"body", &E::body},
                                        {"priority", &E::priority}}};
  }
};
struct TicketAssigned {
  LETHE_EVENT("ticket.assigned");
  std::string ticket_id, assignee_id, previous_assignee_id;
  static constexpr auto fields() {
    using E = TicketAssigned;
    return std::array<FieldSpec<E>, 3>{{{"ticket_id", &E::ticket_id},
                                        {"assignee_id", &E::assignee_id},
                                        {"previous_assignee_id", &E::previous_assignee_id, true}}};
  }
};
struct TicketStatusChanged {
  LETHE_EVENT("ticket.status_changed");
  std::string ticket_id, status, previous_status;
  static constexpr auto fields() {
    using E = TicketStatusChanged;
    return std::array<FieldSpec<E>, 3>{
        {{"ticket_id", &E::ticket_id}, {"status", &E::status}, {"previous_status", &E::previous_status}}};
  }
};
// The body is its author's and, when staff wrote it, the requester's too (a
// reply is about the customer's matter and may name them; it is the staff
// member's words and may name them): sealed under both people's keys, so
// that erasing either makes it unreadable. requester_id is absent from
// comments written before it was carried.
struct TicketCommented {
  LETHE_EVENT("ticket.commented");
  std::string ticket_id, comment_id, author_id, body, requester_id;
  static constexpr auto fields() {
    using E = TicketCommented;
    return std::array<FieldSpec<E>, 5>{{{"ticket_id", &E::ticket_id},
                                        {"comment_id", &E::comment_id},
                                        {"author_id", &E::author_id},
                                        {"body", &E::body},
                                        {"requester_id", &E::requester_id, true}}};
  }
};
// Stream ticketnotes-<ticket id>, on the restricted staff topic. The text
// is the requester's personal data (what staff note about a customer), so
// it is sealed under the requester's key.
struct InternalNoteAdded {
  LETHE_EVENT("ticket.internal_note_added");
  static constexpr std::string_view kTopic = "staff";
  std::string ticket_id, note_id, author_id, requester_id, text;
  static constexpr auto fields() {
    using E = InternalNoteAdded;
    return std::array<FieldSpec<E>, 5>{{{"ticket_id", &E::ticket_id},
                                        {"note_id", &E::note_id},
                                        {"author_id", &E::author_id},
                                        {"requester_id", &E::requester_id},
                                        {"text", &E::text}}};
  }
};

using Event = std::variant<TicketOpened, TicketAssigned, TicketStatusChanged, TicketCommented, InternalNoteAdded>;

const DomainSpec& spec();
std::vector<std::string_view> event_types();

// ---- Commands ----
struct OpenTicket {
  std::string ticket_id, subject, body;    // the requester is the actor
  std::string priority{kDefaultPriority};  // one of kPriorities
};
struct AssignTicket {
  std::string ticket_id, assignee_id;
};
struct ChangeStatus {
  std::string ticket_id, status;
};
struct Comment {
  std::string ticket_id, comment_id, body;
};
struct AddInternalNote {
  std::string ticket_id, note_id, text;
};
using Command = std::variant<OpenTicket, AssignTicket, ChangeStatus, Comment, AddInternalNote>;

struct Ticket {
  bool exists = false;
  std::string ticket_id, requester_id, assignee_id;
  Status status = Status::open;
  std::int64_t version = 0;
};

// What a decision needs beyond the ticket's stream, read by the command
// service in the command's transaction: the role the assignee holds now
// (nullopt: no such active account), and whether that is because they were
// erased.
struct Facts {
  std::optional<users::Role> assignee_role;
  bool assignee_erased = false;
};

// The rules:
// - open: any signed-in user but an auditor; they are the requester;
// - assign: staff, admins and owners, to an active staff member, admin or
//   owner (not to a customer; to an erased person: gone);
// - status: staff and above make any allowed move; the requester may only
//   reopen (resolved -> open) or close (resolved -> closed) their own;
// - comment: the requester on their own ticket, or staff and above; not on a
//   closed ticket;
// - internal note: staff and above only.
// A customer acting on another's ticket is told it does not exist.
Result<std::vector<Event>> decide(const Ticket& state, const Command& command, const users::Actor& actor,
                                  const Facts& facts = {});
Ticket evolve(Ticket state, const Event& event);
// The erasure's hand-over: a ticket assigned to the erased staff member goes
// to the erasing admin (ticket.assigned, previous_assignee_id them); nullopt
// when it is not assigned to them.
std::optional<Event> hand_over(const Ticket& t, const std::string& from, const std::string& to);
// May this actor see the ticket (customers: their own; staff and above and
// auditors: all)?
bool may_read(const Ticket& t, const users::Actor& actor);
bool is_staff(const users::Actor& actor);

LETHE_DECLARE_EVENT_CODEC();

}  // namespace lethe::domain::tickets
