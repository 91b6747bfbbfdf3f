#include "routes.hpp"

#include <spdlog/spdlog.h>

#include <charconv>
#include <thread>

#include "lethe/infra/ids.hpp"
#include "lethe/infra/pg.hpp"
#include "ready.hpp"

namespace lethe::api {

namespace users = domain::users;

namespace {

// ---- Reads of the projections, and read-your-writes ----

// A timestamp column as RFC 3339 text in UTC, under its own name.
#define LETHE_UTC_TEXT(column) "to_char(" column " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS " column

constexpr const char* kUserColumns = "user_id, email, name, role, active, " LETHE_UTC_TEXT(
    "registered_at") ", " LETHE_UTC_TEXT("updated_at") ", version";

void user_json(Json& j, const pqxx::row& r) {
  j.begin()
      .str("id", r["user_id"].c_str())
      .str("email", r["email"].c_str())
      .str("name", r["name"].c_str())
      .str("role", r["role"].c_str())
      .boolean("active", r["active"].as<bool>())
      .str("registered_at", r["registered_at"].c_str())
      .str("updated_at", r["updated_at"].c_str())
      .num("version", r["version"].as<std::int64_t>())
      .end();
}

pqxx::connection& reads(Call& c) {
  auto& conn = c.services().reads;
  if (!conn || !conn->is_open()) {
    conn = infra::connect(c.shared.cfg.pg, "lethe-serve-reads");
    pqxx::nontransaction tx(*conn);
    limit_waits(tx, c.shared.options);
  }
  return *conn;
}

// Whether the read models reflect version `version` of `stream`.
bool reflects(pqxx::transaction_base& tx, const std::string& stream, std::int64_t version) {
  if (stream.starts_with("user-"))
    return !tx.exec_params("SELECT 1 FROM users WHERE user_id = $1 AND version >= $2", stream.substr(5), version)
                .empty();
  if (stream.starts_with("usernotes-"))
    return tx.exec_params("SELECT count(*) >= $2 FROM user_notes WHERE user_id = $1", stream.substr(10), version)[0][0]
        .as<bool>();
  if (stream.starts_with("ticket-"))
    return !tx.exec_params("SELECT 1 FROM tickets WHERE ticket_id = $1 AND version >= $2", stream.substr(7), version)
                .empty();
  if (stream.starts_with("ticketnotes-"))
    return !tx.exec_params("SELECT 1 FROM ticket_internal_notes WHERE ticket_id = $1 AND stream_version >= $2",
                           stream.substr(12), version)
                .empty();
  return true;  // sessions and login attempts have no read model to wait for
}

std::optional<std::int64_t> int_param(const Call& c, const char* name, std::int64_t min, std::int64_t max) {
  if (!c.req.has_param(name)) return std::nullopt;
  const auto text = c.req.get_param_value(name);
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max)
    throw HttpError{
        400, "invalid_argument", name,
        std::string(name) + " must be an integer from " + std::to_string(min) + " to " + std::to_string(max)};
  return v;
}

// Read-your-writes: with ?min_position=P (a command's global position) or,
// on one stream's resource (a user, a ticket), ?min_version=V, waits (up to
// ?wait_ms, bounded by the server's max wait) until the read model reflects
// that write. When the wait runs out the answer is what the read model has,
// marked `X-Lethe-Stale: true`.
void await_reflection(Call& c, const std::string& resource_stream = {}) {
  const auto position = int_param(c, "min_position", 1, INT64_MAX);
  const auto version = resource_stream.empty() ? std::nullopt : int_param(c, "min_version", 1, INT64_MAX);
  if (!position && !version) return;
  const auto max_ms = static_cast<std::int64_t>(c.shared.options.max_wait.count());
  const auto wait_ms = int_param(c, "wait_ms", 0, max_ms).value_or(max_ms);
  std::string stream = version ? resource_stream : "";
  std::int64_t at = version.value_or(0);
  auto& conn = reads(c);
  if (version) {
    // Only a version that was written can be waited for.
    pqxx::read_transaction tx(conn);
    if (tx.exec_params("SELECT 1 FROM events WHERE stream_id = $1 AND stream_version = $2", stream, at).empty())
      throw HttpError{404, "not_found", "min_version", "the stream has no such version"};
  }
  if (position) {
    pqxx::read_transaction tx(conn);
    const auto r = tx.exec_params("SELECT stream_id, stream_version FROM events WHERE global_position = $1", *position);
    if (r.empty()) throw HttpError{404, "not_found", "min_position", "no event has this position"};
    stream = r[0][0].c_str();
    at = r[0][1].as<std::int64_t>();
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (auto pause = std::chrono::milliseconds(1);; pause = std::min(pause * 2, std::chrono::milliseconds(20))) {
    {
      pqxx::read_transaction tx(conn);
      if (reflects(tx, stream, at)) return;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(pause);
  }
  c.res.set_header("X-Lethe-Stale", "true");
}

void ensure_found(bool found, const char* what) {
  if (!found) throw HttpError{404, "not_found", "id", std::string("no such ") + what};
}

producers::CommandContext with_if_match(Call& c) {
  auto ctx = c.ctx;
  if (c.req.has_header("If-Match")) {
    auto text = c.req.get_header_value("If-Match");
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"') text = text.substr(1, text.size() - 2);
    std::int64_t v = -1;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size() || v < 0)
      throw HttpError{400, "invalid_argument", "If-Match", "If-Match must be a stream version, e.g. \"3\""};
    ctx.expected_version = v;
  }
  return ctx;
}

template <class T>
T ok_or_throw(domain::Result<T>&& r) {
  if (!r) throw from_domain(r.error());
  return std::move(r).value();
}

// ---- Handlers ----

void health(Call& c) {
  c.json(200, Json().begin().str("status", "alive").str("started_at", c.shared.started_at).end().text());
}

void register_user(Call& c) {
  const auto id = infra::new_uuid();
  const auto password = c.optional_field("password").value_or("");
  const auto w = ok_or_throw(c.services().users.register_user(
      users::RegisterUser{id, c.field("email"), c.field("name"), c.optional_field("role").value_or("user"), ""},
      password, c.ctx));
  c.written(201, id, w);
}

void list_users(Call& c) {
  await_reflection(c);
  const bool include_deleted = c.req.get_param_value("include_deleted") == "true";
  const auto limit = int_param(c, "limit", 1, 500).value_or(50);
  const auto after = c.req.get_param_value("after");
  pqxx::read_transaction tx(reads(c));
  const auto rows = tx.exec_params(std::string("SELECT ") + kUserColumns +
                                       " FROM users WHERE ($1 OR active) AND user_id > $2 ORDER BY user_id LIMIT $3",
                                   include_deleted, after, limit);
  Json j;
  j.begin().begin_array("users");
  for (const auto& r : rows) user_json(j, r);
  j.end_array();
  if (static_cast<std::int64_t>(rows.size()) == limit) j.str("next_after", rows.back()["user_id"].c_str());
  c.json(200, j.end().text());
}

void get_user_by_id(Call& c, const std::string& id) {
  await_reflection(c, domain::stream_of("user", id));
  pqxx::read_transaction tx(reads(c));
  const auto rows = tx.exec_params(std::string("SELECT ") + kUserColumns + " FROM users WHERE user_id = $1", id);
  ensure_found(!rows.empty(), "user");
  Json j;
  user_json(j, rows[0]);
  c.res.set_header("ETag", "\"" + std::string(rows[0]["version"].c_str()) + "\"");
  c.json(200, j.text());
}

void get_user(Call& c) {
  get_user_by_id(c, c.params.at(0));
}

void me(Call& c) {
  get_user_by_id(c, c.who->user_id);
}

void change_profile(Call& c) {
  const auto w = ok_or_throw(c.services().users.handle(
      users::ChangeProfile{c.params.at(0), c.optional_field("name"), c.optional_field("email")}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

void change_password(Call& c) {
  auto ctx = with_if_match(c);
  // Other sessions end; the one that asked stays signed in.
  const auto keep = c.who && c.who->kind == "session" ? c.who->credential_id : std::string();
  const auto w = ok_or_throw(c.services().users.change_password(c.params.at(0), c.optional_field("current_password"),
                                                                c.field("new_password"), ctx, keep));
  c.written(200, c.params.at(0), w);
}

void change_role(Call& c) {
  const auto w =
      ok_or_throw(c.services().users.handle(users::ChangeRole{c.params.at(0), c.field("role")}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

void deactivate(Call& c) {
  const auto w = ok_or_throw(c.services().users.handle(users::Deactivate{c.params.at(0)}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

void restore(Call& c) {
  const auto w = ok_or_throw(c.services().users.handle(users::Restore{c.params.at(0)}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

void list_api_keys(Call& c) {
  Json j;
  j.begin().begin_array("api_keys");
  for (const auto& k : c.services().users.api_keys(c.params.at(0)))
    j.begin()
        .str("key_id", k.key_id)
        .str("name", k.name)
        .str("prefix", k.prefix)
        .str("created_at", k.created_at)
        .str_or_null("expires_at", k.expires_at)
        .str_or_null("last_used_at", k.last_used_at)
        .str_or_null("revoked_at", k.revoked_at)
        .end();
  c.json(200, j.end_array().end().text());
}

void issue_api_key(Call& c) {
  const auto issued = ok_or_throw(c.services().users.issue_api_key(
      c.params.at(0), c.field("name"), c.optional_field("expires_at").value_or(""), with_if_match(c)));
  // The key is in this answer and nowhere else: it is stored as a hash.
  c.written(201, issued.key_id, issued.written, [&](Json& j) {
    j.str("key", issued.key).str("prefix", issued.prefix).str_or_null("expires_at", issued.expires_at);
  });
}

void revoke_api_key(Call& c) {
  const auto w =
      ok_or_throw(c.services().users.handle(users::RevokeApiKey{c.params.at(0), c.params.at(1)}, with_if_match(c)));
  c.written(200, c.params.at(1), w);
}

// Answers {"<name>": [row, ...]} with every column as a string (null for
// NULL), for the read models' lists about one user.
void list_rows(Call& c, const char* name, const char* sql) {
  await_reflection(c);
  pqxx::read_transaction tx(reads(c));
  const auto rows = tx.exec_params(sql, c.params.at(0));
  Json j;
  j.begin().begin_array(name);
  for (const auto& r : rows) {
    j.begin();
    for (const auto& field : r) j.str_or_null(field.name(), field.is_null() ? "" : field.c_str());
    j.end();
  }
  c.json(200, j.end_array().end().text());
}

void list_notes(Call& c) {
  list_rows(c, "notes",
            "SELECT note_id, text, author, " LETHE_UTC_TEXT("added_at") " FROM user_notes WHERE user_id = $1"
            " ORDER BY added_at, note_id");
}

void add_note(Call& c) {
  const auto w = ok_or_throw(c.services().users.add_note(c.params.at(0), c.field("text"), c.ctx));
  c.written(201, c.params.at(0), w);
}

void list_oauth(Call& c) {
  list_rows(c, "identities",
            "SELECT provider, subject, " LETHE_UTC_TEXT("linked_at") " FROM user_oauth_identities WHERE user_id = $1"
            " ORDER BY linked_at, provider");
}

void link_oauth(Call& c) {
  const auto w = ok_or_throw(c.services().users.handle(
      users::LinkOAuth{c.params.at(0), c.field("provider"), c.field("subject")}, with_if_match(c)));
  c.written(201, c.params.at(0), w);
}

void login(Call& c) {
  const auto r = c.services().users.login(c.field("email"), c.field("password"), c.ctx);
  using O = producers::LoginResult::Outcome;
  if (r.outcome == O::limited)
    throw HttpError{429, "rate_limited", "email", "too many failed logins for this email; try again later",
                    r.retry_after_seconds};
  if (r.outcome == O::refused) throw HttpError{401, "unauthenticated", "password", "wrong email or password"};
  c.written(201, r.session_id, r.written,
            [&](Json& j) { j.str("token", r.token).str("user_id", r.user_id).str("expires_at", r.expires_at); });
}

void logout(Call& c) {
  const auto w = ok_or_throw(c.services().users.logout(*c.who, c.ctx));
  c.written(200, c.who->credential_id, w);
}

// ---- Tickets ----

namespace tickets = domain::tickets;

// Staff, admins, owners and auditors read every ticket; a customer only
// their own (another's answers 404, as if it did not exist).
bool reads_all_tickets(const Call& c) {
  using R = users::Role;
  return c.who && c.who->role != R::user;
}

constexpr const char* kTicketColumns = "ticket_id, requester_id, assignee_id, subject, body, status, " LETHE_UTC_TEXT(
    "opened_at") ", " LETHE_UTC_TEXT("updated_at") ", version";

void ticket_json(Json& j, const pqxx::row& r) {
  j.str("id", r["ticket_id"].c_str())
      .str_or_null("requester_id", r["requester_id"].is_null() ? "" : r["requester_id"].c_str())
      .str_or_null("assignee_id", r["assignee_id"].is_null() ? "" : r["assignee_id"].c_str())
      .str("subject", r["subject"].c_str())
      .str("body", r["body"].c_str())
      .str("status", r["status"].c_str())
      .str("opened_at", r["opened_at"].c_str())
      .str("updated_at", r["updated_at"].c_str())
      .num("version", r["version"].as<std::int64_t>());
}

// A page: ?limit (default 50, at most 500) and ?offset, in a stable order.
struct Page {
  std::int64_t limit, offset;
};
Page page_of(const Call& c) {
  return {int_param(c, "limit", 1, 500).value_or(50), int_param(c, "offset", 0, 1'000'000'000).value_or(0)};
}
void page_json(Json& j, const Page& p, std::size_t rows) {
  j.num("limit", p.limit).num("offset", p.offset);
  if (static_cast<std::int64_t>(rows) == p.limit)
    j.num("next_offset", p.offset + p.limit);
  else
    j.null("next_offset");
}

void open_ticket(Call& c) {
  const auto id = infra::new_uuid();
  const auto w =
      ok_or_throw(c.services().tickets.handle(tickets::OpenTicket{id, c.field("subject"), c.field("body")}, c.ctx));
  c.written(201, id, w);
}

void list_tickets(Call& c) {
  await_reflection(c);
  const auto page = page_of(c);
  const auto status = c.req.get_param_value("status");
  if (!status.empty() && !tickets::parse_status(status))
    throw HttpError{400, "invalid_argument", "status", "status must be one of open, in_progress, resolved, closed"};
  // A customer's filter is always themself.
  const auto requester = reads_all_tickets(c) ? c.req.get_param_value("requester_id") : c.who->user_id;
  pqxx::read_transaction tx(reads(c));
  const auto rows = tx.exec_params(std::string("SELECT ") + kTicketColumns +
                                       " FROM tickets WHERE ($1 = '' OR requester_id = $1) AND ($2 = '' OR status = $2)"
                                       " ORDER BY opened_at DESC, ticket_id LIMIT $3 OFFSET $4",
                                   requester, status, page.limit, page.offset);
  Json j;
  j.begin().begin_array("tickets");
  for (const auto& r : rows) {
    j.begin();
    ticket_json(j, r);
    j.end();
  }
  j.end_array();
  page_json(j, page, rows.size());
  c.json(200, j.end().text());
}

void get_ticket(Call& c) {
  const auto& id = c.params.at(0);
  await_reflection(c, domain::stream_of("ticket", id));
  pqxx::read_transaction tx(reads(c));
  const auto rows = tx.exec_params(std::string("SELECT ") + kTicketColumns + " FROM tickets WHERE ticket_id = $1", id);
  ensure_found(!rows.empty() && (reads_all_tickets(c) || rows[0]["requester_id"].c_str() == c.who->user_id), "ticket");
  Json j;
  j.begin();
  ticket_json(j, rows[0]);
  j.begin_array("comments");
  for (const auto& r : tx.exec_params("SELECT comment_id, author_id, body, " LETHE_UTC_TEXT(
                                          "created_at") " FROM ticket_comments WHERE ticket_id = $1"
                                                        " ORDER BY ticket_version",
                                      id))
    j.begin()
        .str("id", r["comment_id"].c_str())
        .str_or_null("author_id", r["author_id"].is_null() ? "" : r["author_id"].c_str())
        .str("body", r["body"].c_str())
        .str("created_at", r["created_at"].c_str())
        .end();
  j.end_array().end();
  c.res.set_header("ETag", "\"" + std::string(rows[0]["version"].c_str()) + "\"");
  c.json(200, j.text());
}

void assign_ticket(Call& c) {
  const auto w = ok_or_throw(
      c.services().tickets.handle(tickets::AssignTicket{c.params.at(0), c.field("assignee_id")}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

void change_ticket_status(Call& c) {
  const auto w = ok_or_throw(
      c.services().tickets.handle(tickets::ChangeStatus{c.params.at(0), c.field("status")}, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

void comment_ticket(Call& c) {
  const auto id = infra::new_uuid();
  const auto w =
      ok_or_throw(c.services().tickets.handle(tickets::Comment{c.params.at(0), id, c.field("body")}, with_if_match(c)));
  c.written(201, id, w);
}

void add_internal_note(Call& c) {
  const auto id = infra::new_uuid();
  const auto w =
      ok_or_throw(c.services().tickets.handle(tickets::AddInternalNote{c.params.at(0), id, c.field("text")}, c.ctx));
  c.written(201, id, w);
}

void list_internal_notes(Call& c) {
  await_reflection(c);
  pqxx::read_transaction tx(reads(c));
  ensure_found(!tx.exec_params("SELECT 1 FROM tickets WHERE ticket_id = $1", c.params.at(0)).empty(), "ticket");
  Json j;
  j.begin().begin_array("notes");
  for (const auto& r : tx.exec_params("SELECT note_id, author_id, text, " LETHE_UTC_TEXT(
                                          "created_at") " FROM ticket_internal_notes WHERE ticket_id = $1"
                                                        " ORDER BY stream_version",
                                      c.params.at(0)))
    j.begin()
        .str("id", r["note_id"].c_str())
        .str_or_null("author_id", r["author_id"].is_null() ? "" : r["author_id"].c_str())
        .str_or_null("text", r["text"].is_null() ? "" : r["text"].c_str())
        .str("created_at", r["created_at"].c_str())
        .end();
  c.json(200, j.end_array().end().text());
}

}  // namespace

const std::vector<Route>& routes() {
  static const std::vector<Route> all{
      {"GET", "/health", kAnyone, health},
      {"GET", "/ready", kAnyone, ready},
      {"POST", "/sessions", kAnyone, login},
      {"DELETE", "/sessions/current", kSignedIn, logout},
      {"GET", "/me", kSignedIn, me},
      {"POST", "/users", kAnyone, register_user},
      {"GET", "/users", kStaffUp, list_users},
      {"GET", "/users/{id}", kStaffUp | kSelf, get_user},
      {"PATCH", "/users/{id}", kAdminUp | kSelf, change_profile},
      {"PUT", "/users/{id}/password", kAdminUp | kSelf, change_password},
      {"PUT", "/users/{id}/role", kAdminUp, change_role},
      {"POST", "/users/{id}/deactivate", kAdminUp, deactivate},
      {"POST", "/users/{id}/restore", kAdminUp, restore},
      {"GET", "/users/{id}/api-keys", kAdminUp | kSelf, list_api_keys},
      {"POST", "/users/{id}/api-keys", kOwner | kSelf, issue_api_key},
      {"DELETE", "/users/{id}/api-keys/{key_id}", kAdminUp | kSelf, revoke_api_key},
      {"GET", "/users/{id}/notes", kStaffUp, list_notes},
      {"POST", "/users/{id}/notes", kStaffUp, add_note},
      {"GET", "/users/{id}/oauth-identities", kAdminUp | kSelf, list_oauth},
      {"POST", "/users/{id}/oauth-identities", kAdminUp | kSelf, link_oauth},
      {"POST", "/tickets", kActors, open_ticket},
      {"GET", "/tickets", kSignedIn, list_tickets},
      {"GET", "/tickets/{id}", kSignedIn, get_ticket},
      {"POST", "/tickets/{id}/assign", kStaffUp, assign_ticket},
      {"POST", "/tickets/{id}/status", kActors, change_ticket_status},
      {"POST", "/tickets/{id}/comments", kActors, comment_ticket},
      {"POST", "/tickets/{id}/internal-notes", kStaffUp, add_internal_note},
      {"GET", "/tickets/{id}/internal-notes", kStaffUp, list_internal_notes},
  };
  return all;
}

std::string describe_access(unsigned access) {
  if ((access & kAnyone) == kAnyone) return "anyone";
  std::string out;
  auto add = [&](unsigned bit, const char* name) {
    if (access & bit) out += (out.empty() ? "" : ", ") + std::string(name);
  };
  add(kUser, "user");
  add(kStaff, "staff");
  add(kAdmin, "admin");
  add(kOwner, "owner");
  add(kAuditor, "auditor");
  add(kSelf, "self");
  return out;
}

std::vector<RouteInfo> route_table() {
  std::vector<RouteInfo> out;
  for (const auto& r : routes()) out.push_back({r.method, r.path, describe_access(r.access)});
  return out;
}

}  // namespace lethe::api
