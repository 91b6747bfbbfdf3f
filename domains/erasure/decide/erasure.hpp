#pragma once
// The erasure domain: a person's right to be forgotten, as a request with a
// stream of its own (erasure-<request id>, on the erasure topic, which every
// projection reads). Its events hold ids and counts, never personal data:
//
//   erasure.requested              by an admin for someone else, or by the
//                                  person themself (then it waits for their
//                                  confirmation token)
//   erasure.confirmed              the person confirmed; their sessions ended
//   erasure.ownership_handed_over  the records they owned went to the
//                                  erasing admin (each also by an event of
//                                  its own on its record's stream)
//   user.erased                    their key was destroyed in the same
//                                  transaction; it names the key by its
//                                  fingerprint and lists the projections
//                                  that must apply it
//   erasure.applied                one per projection, appended from that
//                                  projection's own transaction
//   erasure.task_confirmed         an admin confirmed an external system
//                                  (payment provider, newsletter) forgot them
//   erasure.cancelled              the person or an admin withdrew the request
//                                  before it was carried out
//
// Pure: ids, times and the token check come in from the write side.
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "lethe/domain/event_fields.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/domain/registry.hpp"
#include "lethe/domain/result.hpp"
#include "users.hpp"

namespace lethe::domain::erasure {

std::string request_stream(std::string_view request_id);

// What lies outside lethe's reach, said plainly on every user.erased event.
inline constexpr std::string_view kBeyondReach =
    "Copies taken before the erasure are outside lethe: database backups and WAL archives still hold the "
    "destroyed key, wrapped under the master key version of their day, until that version is destroyed "
    "(readable_in_backups_until), and exports or downstream systems hold what they were sent. A database restored "
    "from an older backup forgets the person again from the erasure topic (lethe gdpr reapply, and every lethe "
    "process at its start).";

// ---- Events (see lethe/domain/event_fields.hpp); all on the erasure topic ----
struct ErasureRequested {
  LETHE_EVENT("erasure.requested");
  static constexpr std::string_view kTopic = "erasure";
  std::string request_id, user_id;
  std::string mode;        // "admin" (an admin erases someone) or "self" (the person asks)
  std::string confirm_by;  // self: when the confirmation token expires (RFC 3339)
  Json tasks;              // the external systems to be told, ["payment_provider", "newsletter"]
  static constexpr auto fields() {
    using E = ErasureRequested;
    return std::array<FieldSpec<E>, 5>{{{"request_id", &E::request_id},
                                        {"user_id", &E::user_id},
                                        {"mode", &E::mode},
                                        {"confirm_by", &E::confirm_by, true},
                                        {"tasks", &E::tasks}}};
  }
};
struct ErasureConfirmed {
  LETHE_EVENT("erasure.confirmed");
  static constexpr std::string_view kTopic = "erasure";
  std::string request_id, user_id;
  std::int64_t sessions_ended = 0;
  static constexpr auto fields() {
    using E = ErasureConfirmed;
    return std::array<FieldSpec<E>, 3>{
        {{"request_id", &E::request_id}, {"user_id", &E::user_id}, {"sessions_ended", &E::sessions_ended}}};
  }
};
struct OwnershipHandedOver {
  LETHE_EVENT("erasure.ownership_handed_over");
  static constexpr std::string_view kTopic = "erasure";
  std::string request_id, user_id, to_user_id;
  Json records;  // [{"kind": "ticket", "id": "..."}, ...]
  static constexpr auto fields() {
    using E = OwnershipHandedOver;
    return std::array<FieldSpec<E>, 4>{{{"request_id", &E::request_id},
                                        {"user_id", &E::user_id},
                                        {"to_user_id", &E::to_user_id},
                                        {"records", &E::records}}};
  }
};
struct UserErased {
  LETHE_EVENT("user.erased");
  static constexpr std::string_view kTopic = "erasure";
  std::string request_id, user_id, key_fingerprint;
  Json projections;  // every projection that must apply it
  std::string beyond_reach;
  std::string readable_in_backups_until;  // RFC 3339; empty without a master key
  static constexpr auto fields() {
    using E = UserErased;
    return std::array<FieldSpec<E>, 6>{{{"request_id", &E::request_id},
                                        {"user_id", &E::user_id},
                                        {"key_fingerprint", &E::key_fingerprint},
                                        {"projections", &E::projections},
                                        {"beyond_reach", &E::beyond_reach},
                                        {"readable_in_backups_until", &E::readable_in_backups_until, true}}};
  }
};
struct ErasureApplied {
  LETHE_EVENT("erasure.applied");
  static constexpr std::string_view kTopic = "erasure";
  std::string request_id, user_id, projection;
  static constexpr auto fields() {
    using E = ErasureApplied;
    return std::array<FieldSpec<E>, 3>{
        {{"request_id", &E::request_id}, {"user_id", &E::user_id}, {"projection", &E::projection}}};
  }
};
struct TaskConfirmed {
  LETHE_EVENT("erasure.task_confirmed");
  static constexpr std::string_view kTopic = "erasure";
  std::string request_id, task;
  static constexpr auto fields() {
    using E = TaskConfirmed;
    return std::array<FieldSpec<E>, 2>{{{"request_id", &E::request_id}, {"task", &E::task}}};
  }
};

struct ErasureCancelled {
  LETHE_EVENT("erasure.cancelled");
  static constexpr std::string_view kTopic = "erasure";
  std::string request_id, user_id;
  static constexpr auto fields() {
    using E = ErasureCancelled;
    return std::array<FieldSpec<E>, 2>{{{"request_id", &E::request_id}, {"user_id", &E::user_id}}};
  }
};

using Event = std::variant<ErasureRequested, ErasureConfirmed, OwnershipHandedOver, UserErased, ErasureApplied,
                           TaskConfirmed, ErasureCancelled>;

const DomainSpec& spec();
std::vector<std::string_view> event_types();

// ---- The request, folded from its stream ----
enum class Status { none, awaiting_confirmation, pending, erased, cancelled };
std::string_view to_string(Status s) noexcept;

struct Request {
  Status status = Status::none;
  std::string request_id, user_id, mode, confirm_by;
  std::vector<std::string> tasks;         // as requested, in order
  std::map<std::string, bool> task_done;  // task -> confirmed
  std::vector<std::string> projections;   // from user.erased
  std::set<std::string> applied;          // projections that applied it
  std::int64_t version = 0;
};
Request evolve(Request state, const Event& event);
// Every projection applied it and every external task is confirmed.
bool complete(const Request& r);

// ---- Decisions ----
// What the rules need to know about the person to erase, read on the write
// side in the command's transaction.
struct Target {
  std::string user_id;
  bool exists = false;
  bool erased = false;
  bool active = true;  // a deactivated owner is not the last owner
  users::Role role = users::Role::user;
  int active_owners = 0;  // counted when the target is an owner
};

// The rules of the admin path (an admin erases someone, or carries out a
// confirmed self-service request):
// - only an admin or an owner erases (403);
// - nobody erases themselves this way (403: ask for it with POST /me/erasure,
//   and another admin carries it out);
// - only an owner erases an owner, an admin or an auditor (403);
// - the last active owner cannot be erased (422);
// - an unknown person is 404, an erased one 410.
std::optional<DomainError> may_erase(const users::Actor& actor, const Target& target);
// The person asks for their own erasure: the same last-owner rule.
std::optional<DomainError> may_request_own(const Target& target);

// The admin path: requested (and, being the admin's own act, needing no
// token) then the erasure itself.
ErasureRequested admin_request(const std::string& request_id, const std::string& user_id,
                               const std::vector<std::string>& tasks);
ErasureRequested self_request(const std::string& request_id, const std::string& user_id, const std::string& confirm_by,
                              const std::vector<std::string>& tasks);

// The person or an admin withdraws a request that is not carried out yet:
// an unknown request is 404, a carried-out one 410, a cancelled one 409.
Result<Event> decide_cancel(const Request& r);

// An admin confirms one external task, once, after the erasure.
Result<Event> decide_task(const Request& r, const std::string& task);

LETHE_DECLARE_EVENT_CODEC();

// The records handed over, as erasure.ownership_handed_over lists them.
struct RecordRef {
  std::string kind, id;  // "ticket", "product", "category"
};
Json records_of(const std::vector<RecordRef>& records);

// The JSON array of strings, ["a","b"], and back (items that are not
// strings are skipped).
Json string_array(const std::vector<std::string>& items);
std::vector<std::string> strings_of(const Json& array);

}  // namespace lethe::domain::erasure
