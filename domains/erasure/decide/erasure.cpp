#include "erasure.hpp"

#include <algorithm>

#include "checks.hpp"
#include "codec.hpp"
#include "json_util.hpp"

namespace lethe::domain::erasure {

namespace {

using checks::overloaded;
using users::Role;

constexpr auto kEventTypes = codec::event_specs<Event>("erasure");
constexpr std::string_view kProjections[] = {"erasure"};
constexpr TopicSpec kTopics[] = {
    {"erasure", 3, "erasure requests, user.erased and each projection's receipt; read by every projection"}};

bool manages_privileged(Role r) {
  return r == Role::owner || r == Role::admin || r == Role::auditor;
}

}  // namespace

const DomainSpec& spec() {
  static const DomainSpec s{"erasure", kEventTypes, kProjections, kTopics};
  return s;
}

std::vector<std::string_view> event_types() {
  return type_names(spec());
}

std::string request_stream(std::string_view request_id) {
  return "erasure-" + std::string(request_id);
}

std::string_view to_string(Status s) noexcept {
  switch (s) {
    case Status::none:
      return "none";
    case Status::awaiting_confirmation:
      return "awaiting_confirmation";
    case Status::pending:
      return "pending";
    case Status::erased:
      return "erased";
    case Status::cancelled:
      return "cancelled";
  }
  return "none";
}

Json string_array(const std::vector<std::string>& items) {
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  w.StartArray();
  for (const auto& s : items) w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  w.EndArray();
  return Json{std::string(buf.GetString(), buf.GetSize())};
}

Json records_of(const std::vector<RecordRef>& records) {
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  w.StartArray();
  for (const auto& r : records) {
    w.StartObject();
    json::field(w, "kind", r.kind);
    json::field(w, "id", r.id);
    w.EndObject();
  }
  w.EndArray();
  return Json{std::string(buf.GetString(), buf.GetSize())};
}

std::vector<std::string> strings_of(const Json& array) {
  std::vector<std::string> out;
  rapidjson::Document doc;
  doc.Parse(array.text.data(), array.text.size());
  if (doc.HasParseError() || !doc.IsArray()) return out;
  for (const auto& v : doc.GetArray())
    if (v.IsString()) out.emplace_back(v.GetString(), v.GetStringLength());
  return out;
}

Request evolve(Request s, const Event& event) {
  std::visit(overloaded{
                 [&](const ErasureRequested& e) {
                   s.request_id = e.request_id;
                   s.user_id = e.user_id;
                   s.mode = e.mode;
                   s.confirm_by = e.confirm_by;
                   s.tasks = strings_of(e.tasks);
                   for (const auto& t : s.tasks) s.task_done.emplace(t, false);
                   s.status = e.mode == "self" ? Status::awaiting_confirmation : Status::pending;
                 },
                 [&](const ErasureConfirmed&) { s.status = Status::pending; },
                 [&](const OwnershipHandedOver&) {},
                 [&](const UserErased& e) {
                   s.status = Status::erased;
                   s.projections = strings_of(e.projections);
                 },
                 [&](const ErasureApplied& e) { s.applied.insert(e.projection); },
                 [&](const TaskConfirmed& e) { s.task_done[e.task] = true; },
                 [&](const ErasureCancelled&) { s.status = Status::cancelled; },
             },
             event);
  ++s.version;
  return s;
}

bool complete(const Request& r) {
  if (r.status != Status::erased) return false;
  const bool all_applied =
      std::all_of(r.projections.begin(), r.projections.end(), [&](const auto& p) { return r.applied.contains(p); });
  const bool all_told = std::all_of(r.task_done.begin(), r.task_done.end(), [](const auto& t) { return t.second; });
  return all_applied && all_told;
}

std::optional<DomainError> may_erase(const users::Actor& actor, const Target& target) {
  if (actor.role != Role::admin && actor.role != Role::owner)
    return checks::forbidden("user_id", "only an admin or an owner erases another user");
  if (actor.id == target.user_id)
    return checks::forbidden("user_id",
                             "nobody erases themselves through the admin path: ask for it with POST /me/erasure, and "
                             "another admin carries it out");
  if (!target.exists) return checks::not_found("user_id", "no such user");
  if (target.erased) return DomainError{ErrorCode::gone, "user_id", "the user is erased already"};
  if (manages_privileged(target.role) && actor.role != Role::owner)
    return checks::forbidden("user_id", "only an owner erases an owner, an admin or an auditor");
  return may_request_own(target);
}

std::optional<DomainError> may_request_own(const Target& target) {
  if (!target.exists) return checks::not_found("user_id", "no such user");
  if (target.erased) return DomainError{ErrorCode::gone, "user_id", "the user is erased already"};
  if (target.role == Role::owner && target.active && target.active_owners <= 1)
    return checks::rule("user_id", "the last owner cannot be erased: make another owner first");
  return std::nullopt;
}

ErasureRequested admin_request(const std::string& request_id, const std::string& user_id,
                               const std::vector<std::string>& tasks) {
  return {request_id, user_id, "admin", "", string_array(tasks)};
}

ErasureRequested self_request(const std::string& request_id, const std::string& user_id, const std::string& confirm_by,
                              const std::vector<std::string>& tasks) {
  return {request_id, user_id, "self", confirm_by, string_array(tasks)};
}

Result<Event> decide_cancel(const Request& r) {
  switch (r.status) {
    case Status::none:
      return checks::not_found("request_id", "no such erasure request");
    case Status::erased:
      return DomainError{ErrorCode::gone, "request_id", "the request is carried out already"};
    case Status::cancelled:
      return checks::conflict("request_id", "the request is cancelled already");
    case Status::awaiting_confirmation:
    case Status::pending:
      break;
  }
  return Event{ErasureCancelled{r.request_id, r.user_id}};
}

Result<Event> decide_task(const Request& r, const std::string& task) {
  if (r.status == Status::none) return checks::not_found("request_id", "no such erasure request");
  const auto it = r.task_done.find(task);
  if (it == r.task_done.end()) return checks::not_found("task", "the request has no task '" + task + "'");
  if (r.status != Status::erased)
    return checks::rule("task", "external tasks are confirmed after the erasure itself, which has not happened yet");
  if (it->second) return checks::conflict("task", "the task is confirmed already");
  return Event{TaskConfirmed{r.request_id, task}};
}

LETHE_DEFINE_EVENT_CODEC("erasure")

}  // namespace lethe::domain::erasure
