#include <charconv>

#include "lethe/infra/ids.hpp"
#include "route_kit.hpp"
#include "users_queries.hpp"

namespace lethe::api {

namespace users = domain::users;

namespace {

namespace q = projections::users_queries;

void user_json(Json& j, const pqxx::row& r, Opened& opened) {
  j.begin()
      .str("id", r["user_id"].c_str())
      .str_or_null("email", opened.text(r["email"]))
      .str_or_null("name", opened.text(r["name"]))
      .str("role", r["role"].c_str())
      .boolean("active", r["active"].as<bool>())
      .str("registered_at", r["registered_at"].c_str())
      .str("updated_at", r["updated_at"].c_str())
      .num("version", r["version"].as<std::int64_t>())
      .end();
}

// An admin or owner gets the account's id (201) or hears the email is
// taken (409). Anyone else gets 202 either way, the same body, and learns
// their id at their first sign-in: registration tells nobody which emails
// have accounts.
void register_user(Call& c) {
  const auto id = infra::new_uuid();
  const auto password = c.optional_field("password").value_or("");
  auto written = c.services().users.register_user(
      users::RegisterUser{id, c.field("email"), c.field("name"), c.optional_field("role").value_or("user"), ""},
      password, c.ctx);
  if (admin_or_owner(c)) return c.written(201, id, ok_or_throw(std::move(written)));
  const bool taken =
      !written && written.error().code == domain::ErrorCode::conflict && written.error().field == "email";
  if (!written && !taken) throw from_domain(written.error());
  c.json(202, R"({"status":"accepted"})");
}

void list_users(Call& c) {
  await_reflection(c);
  const bool include_deleted = c.req.get_param_value("include_deleted") == "true";
  const auto limit = int_param(c, "limit", 1, 500).value_or(50);
  const auto after = c.req.get_param_value("after");
  const auto email = email_index_param(c);
  pqxx::read_transaction tx(reads(c));
  // ?email= finds the accounts with that email through the blind index.
  const auto& query = email.empty() ? q::kList : q::kByEmail;
  const auto rows =
      email.empty() ? run(tx, q::kList, include_deleted, after, limit) : run(tx, q::kByEmail, email, include_deleted);
  Opened opened(tx);
  opened.add(query, rows);
  Json j;
  j.begin().begin_array("users");
  for (const auto& r : rows) user_json(j, r, opened);
  j.end_array();
  if (email.empty() && static_cast<std::int64_t>(rows.size()) == limit)
    j.str("next_after", rows.back()["user_id"].c_str());
  c.json(200, j.end().text());
}

void get_user_by_id(Call& c, const std::string& id) {
  await_reflection(c, domain::stream_of("user", id));
  pqxx::read_transaction tx(reads(c));
  const auto rows = run(tx, q::kOne, id);
  ensure_found(c, !rows.empty(), "user");
  Opened opened(tx);
  opened.add(q::kOne, rows);
  Json j;
  user_json(j, rows[0], opened);
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
  const auto page = page_of(c);
  const auto keys = c.services().users.api_keys(c.params.at(0), page.limit, page.offset);
  Json j;
  j.begin().begin_array("api_keys");
  for (const auto& k : keys)
    j.begin()
        .str("key_id", k.key_id)
        .str("name", k.name)
        .str("prefix", k.prefix)
        .str("created_at", k.created_at)
        .str_or_null("expires_at", k.expires_at)
        .str_or_null("last_used_at", k.last_used_at)
        .str_or_null("revoked_at", k.revoked_at)
        .end();
  j.end_array();
  page_json(j, page, keys.size());
  c.json(200, j.end().text());
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
void list_rows(Call& c, const char* name, const projections::Query& query) {
  await_reflection(c);
  pqxx::read_transaction tx(reads(c));
  const auto rows = run(tx, query, c.params.at(0));
  Opened opened(tx);
  opened.add(query, rows);
  Json j;
  j.begin().begin_array(name);
  for (const auto& r : rows) {
    j.begin();
    for (const auto& field : r) j.str_or_null(field.name(), opened.text(field));
    j.end();
  }
  c.json(200, j.end_array().end().text());
}

void list_notes(Call& c) {
  list_rows(c, "notes", q::kNotes);
}

void add_note(Call& c) {
  const auto w = ok_or_throw(c.services().users.add_note(c.params.at(0), c.field("text"), c.ctx));
  c.written(201, c.params.at(0), w);
}

void list_oauth(Call& c) {
  list_rows(c, "identities", q::kIdentities);
}

void link_oauth(Call& c) {
  const auto w = ok_or_throw(c.services().users.handle(
      users::LinkOAuth{c.params.at(0), c.field("provider"), c.field("subject")}, with_if_match(c)));
  c.written(201, c.params.at(0), w);
}

void set_entitlements(Call& c) {
  users::SetEntitlements command{c.params.at(0), {}};
  // The request schema made it an array of strings.
  for (const auto& t : c.body["topics"].GetArray()) command.topics.emplace_back(t.GetString(), t.GetStringLength());
  const auto w = ok_or_throw(c.services().users.handle(command, with_if_match(c)));
  c.written(200, c.params.at(0), w);
}

// A person's key, to a service entitled to the topic: audited
// (user.key_released), 410 once the person is erased.
void release_key(Call& c) {
  const auto r = ok_or_throw(c.services().users.release_key(*c.who, c.field("user_id"), c.field("topic"), c.ctx));
  c.res.set_header("Cache-Control", "no-store");
  c.written(201, r.release_id, r.written, [&](Json& j) {
    j.str("user_id", r.user_id).str("topic", r.topic).num("key_id", r.key_id).str("key", r.key_base64);
    j.str_or_null("domain", r.domain);
  });
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

}  // namespace

DomainRoutes users_routes() {
  return {{
              {"POST", "/sessions", kAnyone, login, true},
              {"DELETE", "/sessions/current", kSignedIn, logout},
              {"GET", "/me", kSignedIn | kService, me},
              {"POST", "/users", kAnyone, register_user, true},
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
              {"PUT", "/users/{id}/entitlements", kOwner, set_entitlements},
              {"POST", "/key-releases", kService, release_key},
          },
          {
              {"user-", q::kUserFresh},
              {"usernotes-", q::kNotesFresh},
          }};
}

}  // namespace lethe::api
