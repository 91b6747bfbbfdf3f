#define BOOST_TEST_MODULE api_matrix
// The authorization matrix, against a running `lethe serve`: every route,
// called by every kind of caller on another user's account. The expected
// matrix is the contract: each operation's x-roles in the OpenAPI document,
// which each domain folder writes in its part (domains/<name>/http/
// <name>.openapi.json), apart from the server's route table (the access bits
// beside each route in <name>_routes.cpp). Changing who may call a route
// means changing both, and a route the contract does not list fails.
#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>
#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "lethe/api/server.hpp"
#include "support/api.hpp"
#include "support/fixtures.hpp"

using namespace lethe;
using test::Api;

namespace {

enum class Caller { anonymous, user, staff, admin, owner, auditor, service };
const char* const kCallerNames[] = {"anonymous", "user", "staff", "admin", "owner", "auditor", "service"};
constexpr Caller kCallers[] = {Caller::anonymous, Caller::user,    Caller::staff,  Caller::admin,
                               Caller::owner,     Caller::auditor, Caller::service};
const char* name_of(Caller c) {
  return kCallerNames[static_cast<int>(c)];
}

// Who may call a route. self: a signed-in user on their own account (the
// first path parameter is their id), whatever their role.
struct Row {
  std::string method;
  std::string path;
  bool anon, user, staff, admin, owner, auditor, service, self;
  std::set<int> success;  // the operation's documented 2xx answers

  bool allows(Caller c) const {
    switch (c) {
      case Caller::anonymous:
        return anon;
      case Caller::user:
        return this->user;
      case Caller::staff:
        return this->staff;
      case Caller::admin:
        return this->admin;
      case Caller::owner:
        return this->owner;
      case Caller::auditor:
        return this->auditor;
      case Caller::service:
        return this->service;
    }
    return false;
  }
  // The README's way of writing it ("anyone", "staff, admin, owner, self").
  std::string roles() const {
    if (anon && user && staff && admin && owner && auditor && service) return "anyone";
    std::string out;
    auto add = [&](bool on, const char* name) {
      if (on) out += (out.empty() ? "" : ", ") + std::string(name);
    };
    add(anon, "anonymous");
    add(user, "user");
    add(staff, "staff");
    add(admin, "admin");
    add(owner, "owner");
    add(auditor, "auditor");
    add(service, "service");
    add(self, "self");
    return out;
  }
};

// The matrix from the contract: a row per operation of the OpenAPI
// document, its roles parsed from x-roles ("anyone", or a list of user,
// staff, admin, owner, auditor, service and self).
std::vector<Row> contract_matrix() {
  rapidjson::Document doc;
  doc.Parse(lethe::api::openapi_document().c_str());
  BOOST_REQUIRE(!doc.HasParseError() && doc.HasMember("paths"));
  std::vector<Row> out;
  for (const auto& path : doc["paths"].GetObject())
    for (const auto& op : path.value.GetObject()) {
      std::string method = op.name.GetString();
      if (method != "get" && method != "post" && method != "put" && method != "patch" && method != "delete") continue;
      for (auto& ch : method) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      BOOST_REQUIRE_MESSAGE(op.value.HasMember("x-roles"), method << " " << path.name.GetString() << " has no x-roles");
      const std::string roles = op.value["x-roles"].GetString();
      Row row{method, path.name.GetString(), false, false, false, false, false, false, false, false, {}};
      BOOST_REQUIRE_MESSAGE(op.value.HasMember("responses"),
                            method << " " << path.name.GetString() << " has no responses");
      for (const auto& response : op.value["responses"].GetObject()) {
        const std::string code = response.name.GetString();
        if (code.size() == 3 && code[0] == '2') row.success.insert(std::stoi(code));
      }
      BOOST_REQUIRE_MESSAGE(!row.success.empty(), method << " " << path.name.GetString() << " documents no 2xx answer");
      if (roles == "anyone") {
        row.anon = row.user = row.staff = row.admin = row.owner = row.auditor = row.service = true;
      } else {
        std::stringstream list(roles);
        for (std::string role; std::getline(list, role, ',');) {
          role.erase(0, role.find_first_not_of(' '));
          bool* flag = role == "user"      ? &row.user
                       : role == "staff"   ? &row.staff
                       : role == "admin"   ? &row.admin
                       : role == "owner"   ? &row.owner
                       : role == "auditor" ? &row.auditor
                       : role == "service" ? &row.service
                       : role == "self"    ? &row.self
                                           : nullptr;
          BOOST_REQUIRE_MESSAGE(flag, method << " " << path.name.GetString() << ": unknown role " << role);
          *flag = true;
        }
      }
      out.push_back(std::move(row));
    }
  return out;
}

const std::vector<Row>& matrix() {
  static const std::vector<Row> rows = contract_matrix();
  return rows;
}

std::string key_of(const std::string& method, const std::string& path) {
  return method + " " + path;
}

std::string fill_path(std::string path, const std::string& id, const std::string& key_id) {
  if (auto at = path.find("{id}"); at != std::string::npos) path.replace(at, 4, id);
  if (auto at = path.find("{key_id}"); at != std::string::npos) path.replace(at, 8, key_id);
  if (auto at = path.find("{line_id}"); at != std::string::npos) path.replace(at, 9, key_id);
  if (auto at = path.find("{task}"); at != std::string::npos) path.replace(at, 6, "newsletter");
  if (auto at = path.find("{file}"); at != std::string::npos) path.replace(at, 6, "console.js");
  return path;
}

const std::string kPassword = "a good password";

// The whole stack (serve, relay, projector) on a schema of the test's own,
// so that reads answer from projected read models.
struct World {
  test::Served stack;
  test::TestSchema& db = stack.db;
  Api& api = stack.api;
  std::map<Caller, Api::Person> people;
  int serial = 0;
  // The position of the last command made for a cell: reads wait for it
  // (?min_position=, the documented read-your-writes).
  std::int64_t last_position = 0;

  World() {
    people[Caller::user] = api.person("matrix-user@example.org", "user", kPassword);
    people[Caller::staff] = api.person("matrix-staff@example.org", "staff", kPassword);
    people[Caller::admin] = api.person("matrix-admin@example.org", "admin", kPassword);
    // An owner with a session (the bootstrapped owner has an API key only).
    people[Caller::owner] = api.person("matrix-owner@example.org", "owner", kPassword);
    people[Caller::auditor] = api.person("matrix-auditor@example.org", "auditor", kPassword);
    people[Caller::service] = api.person("matrix-service@example.org", "service", kPassword);
    // GET /me reads each caller's projected row.
    for (auto& [caller, person] : people)
      BOOST_REQUIRE_MESSAGE(test::eventually([&] { return api.call("GET", "/me", "", person.token).status == 200; },
                                             std::chrono::seconds(20)),
                            name_of(caller) << "'s account was never projected");
  }

  // A command's reply, required to be `status`: its position noted.
  test::Reply made(test::Reply r, int status, const std::string& what) {
    BOOST_REQUIRE_MESSAGE(r.status == status, what << ": " << r.status << " " << r.body);
    last_position = r.num("position");
    BOOST_REQUIRE_MESSAGE(last_position > 0, what << " answered no position: " << r.body);
    return r;
  }

  std::string fresh(const std::string& what) { return what + "-" + std::to_string(++serial) + "@example.org"; }

  // A plain user of nobody's: the account the matrix is called on. Registered
  // by the owner (who is told its id) and without a password (no Argon2 hash: cheap).
  std::string target() {
    return made(api.call("POST", "/users", "{\"email\":\"" + fresh("target") + "\",\"name\":\"Target\"}",
                         api.owner_key()),
                201, "registering a target")
        .str("id");
  }

  // A fresh session of a caller (logout ends the one it is called with).
  std::string session(Caller c) {
    if (c == Caller::anonymous) return "";
    auto r =
        api.call("POST", "/sessions", "{\"email\":\"" + people[c].email + "\",\"password\":\"" + kPassword + "\"}");
    BOOST_REQUIRE_MESSAGE(r.status == 201, "login of " << name_of(c) << ": " << r.status << " " << r.body);
    return r.str("token");
  }

  // Something made by the bootstrapped owner: its id.
  std::string make(const std::string& path, const std::string& body) {
    return made(api.call("POST", path, body, api.owner_key()), 201, "POST " + path).str("id");
  }

  // A ticket opened by the bootstrapped owner.
  std::string ticket() {
    return made(api.call("POST", "/tickets", "{\"subject\":\"Matrix\",\"body\":\"A ticket\"}", api.owner_key()), 201,
                "opening a ticket")
        .str("id");
  }

  // The shop: a category and a product with stock, made by the owner.
  std::string category_id, product_id;
  std::int64_t product_position = 0;  // of its stock, the last event on its stream
  std::string product() {
    if (product_id.empty()) {
      auto cat = api.call("POST", "/categories", R"({"name":"Matrix","slug":"matrix"})", api.owner_key());
      BOOST_REQUIRE_MESSAGE(cat.status == 201, "a category: " << cat.status << " " << cat.body);
      category_id = cat.str("id");
      auto p = api.call("POST", "/products",
                        R"({"name":"Tee","price":1500,"currency":"EUR","category_id":")" + category_id + "\"}",
                        api.owner_key());
      BOOST_REQUIRE_MESSAGE(p.status == 201, "a product: " << p.status << " " << p.body);
      product_id = p.str("id");
      made(api.call("POST", "/products/" + product_id + "/inventory", R"({"delta":100000,"reason":"matrix"})",
                    api.owner_key()),
           200, "stock");
      product_position = last_position;
    }
    return product_id;
  }
  // Somebody else's cart with one line: (cart id, line id).
  std::pair<std::string, std::string> cart() {
    const auto owner = api.person(fresh("shopper"), "user", kPassword);
    auto c = api.call("POST", "/carts", "", owner.token);
    BOOST_REQUIRE_MESSAGE(c.status == 201, "a cart: " << c.status << " " << c.body);
    const auto line = made(api.call("POST", "/carts/" + c.str("id") + "/lines",
                                    R"({"product_id":")" + product() + R"(","quantity":1})", owner.token),
                           201, "a line");
    last_cart_owner = owner.token;
    return {c.str("id"), line.str("id")};
  }
  std::string last_cart_owner;
  // Somebody else's placed order.
  std::string order() {
    const auto [cart_id, line_id] = cart();
    return made(api.call("POST", "/carts/" + cart_id + "/convert", "", last_cart_owner), 201, "an order").str("id");
  }

  // A key of the user's, issued by the bootstrapped owner.
  std::string key_of_user(const std::string& user_id) {
    auto r = api.call("POST", "/users/" + user_id + "/api-keys", "{\"name\":\"matrix key\"}", api.owner_key());
    BOOST_REQUIRE_MESSAGE(r.status == 201, "issuing a key: " << r.status << " " << r.body);
    return r.str("id");
  }
};

// A valid body for a route (fresh where uniqueness matters).
std::string body_for(World& w, const std::string& op) {
  if (op == "POST /sessions")  // wrong credentials: the login is refused, the route is not
    return "{\"email\":\"" + w.fresh("nobody") + "\",\"password\":\"not the password\"}";
  if (op == "POST /users") return "{\"email\":\"" + w.fresh("new") + "\",\"name\":\"New\",\"role\":\"user\"}";
  if (op == "PATCH /users/{id}") return "{\"name\":\"Renamed " + std::to_string(++w.serial) + "\"}";
  if (op == "PUT /users/{id}/password") return "{\"new_password\":\"another good password\"}";
  if (op == "PUT /users/{id}/role") return "{\"role\":\"staff\"}";
  if (op == "POST /users/{id}/api-keys") return "{\"name\":\"matrix\"}";
  if (op == "POST /users/{id}/notes") return "{\"text\":\"a note\"}";
  if (op == "POST /categories") return "{\"name\":\"Cat\",\"slug\":\"cat-" + std::to_string(++w.serial) + "\"}";
  if (op == "POST /products" || op == "PUT /products/{id}")
    return "{\"name\":\"P\",\"price\":" + std::to_string(100 + ++w.serial) +
           ",\"currency\":\"EUR\",\"category_id\":\"" + (w.product(), w.category_id) + "\"}";
  if (op == "POST /products/{id}/inventory") return "{\"delta\":5,\"reason\":\"delivery\"}";
  if (op == "POST /carts/{id}/lines") return "{\"product_id\":\"" + w.product() + "\",\"quantity\":2}";
  if (op == "PUT /carts/{id}/lines/{line_id}") return "{\"quantity\":3}";
  if (op == "POST /orders/{id}/cancel") return "{\"reason\":\"matrix\"}";
  if (op == "PUT /users/{id}/billing-profile")  // a change each time: an unchanged profile is 422
    return "{\"holder_name\":\"H " + std::to_string(++w.serial) + R"(","address":"A street 1"})";
  if (op == "POST /subscriptions") return R"({"plan":"basic"})";
  if (op == "POST /subscriptions/{id}/cancel") return R"({"reason":"matrix"})";
  if (op == "POST /transactions")
    return "{\"user_id\":\"" + w.people[Caller::user].id + R"(","amount":1000,"currency":"EUR","description":"d"})";
  if (op == "POST /transactions/{id}/refunds" || op == "POST /transactions/{id}/credit-notes")
    return R"({"amount":10,"currency":"EUR","reason":"matrix"})";
  if (op == "POST /posts") return R"({"title":"T","body":"B"})";
  if (op == "PUT /posts/{id}")
    return R"({"title":"T","body":"B, edited"})";  // a change: an edit that changes nothing is 422
  if (op == "POST /posts/{id}/comments") return R"({"body":"C"})";
  if (op == "PUT /comments/{id}") return R"({"body":"C, edited"})";
  if (op == "POST /files")
    return R"({"name":"a.txt","size":3,"content_type":"text/plain","checksum":"sha256:)" + std::string(64, 'a') + "\"}";
  if (op == "POST /email-logs")
    return "{\"recipient_id\":\"" + w.people[Caller::user].id +
           R"(","template":"welcome","subject":"Hi","sent_at":"2026-11-25T08:00:00Z"})";
  if (op == "POST /me/erasure/confirm") return R"({"token":"not the token","password":"not the password"})";
  if (op == "POST /tickets") return "{\"subject\":\"Matrix\",\"body\":\"Cell\"}";
  if (op == "POST /tickets/{id}/assign") return "{\"assignee_id\":\"" + w.people[Caller::staff].id + "\"}";
  if (op == "POST /tickets/{id}/status") return "{\"status\":\"in_progress\"}";
  if (op == "POST /tickets/{id}/comments") return "{\"body\":\"a comment\"}";
  if (op == "POST /tickets/{id}/internal-notes") return "{\"text\":\"a note\"}";
  if (op == "PUT /users/{id}/plan") return R"({"plan":"pro","monthly_limit":100})";
  if (op == "POST /users/{id}/trial") return R"({"plan":"pro","limit":10,"days":14})";
  if (op == "POST /users/{id}/usage") return R"({"units":1})";
  if (op == "PUT /users/{id}/payment-method") return R"({"brand":"visa","last4":"4242","expires":"12/29"})";
  if (op == "PUT /users/{id}/entitlements") return R"({"topics":["users"]})";
  if (op == "POST /key-releases") return "{\"user_id\":\"" + w.people[Caller::user].id + R"(","topic":"users"})";
  if (op == "POST /users/{id}/oauth-identities")
    return "{\"provider\":\"github\",\"subject\":\"gh-" + std::to_string(++w.serial) + "\"}";
  return "";
}

// The call made for one cell: the route on a fresh target's account.
struct Cell {
  std::string path, body, token;
};

Cell prepare(World& w, const Row& row, Caller c, const std::string& target, std::string token) {
  const std::string op = key_of(row.method, row.path);
  std::string key_id = "no-such-key";
  if (op == "DELETE /users/{id}/api-keys/{key_id}") key_id = w.key_of_user(target);
  if (op == "POST /users/{id}/restore") {
    auto off = w.api.call("POST", "/users/" + target + "/deactivate", "", w.api.owner_key());
    BOOST_REQUIRE_MESSAGE(off.status == 200, "deactivating a target: " << off.status << " " << off.body);
  }
  if (op == "DELETE /sessions/current" && c != Caller::anonymous) token = w.session(c);
  // Reads of a person's billing profile and of an erasure request read
  // ones that exist: the target's, made by the bootstrapped owner.
  if (op == "GET /users/{id}/billing-profile")
    w.made(w.api.call("PUT", "/users/" + target + "/billing-profile", body_for(w, "PUT /users/{id}/billing-profile"),
                      w.api.owner_key()),
           200, "a billing profile");
  if (op == "GET /erasure-requests/{id}") {
    const auto request =
        w.made(w.api.call("POST", "/users/" + target + "/erasure", "", w.api.owner_key()), 202, "erasing a target");
    return {fill_path(row.path, request.str("id"), key_id), "", token};
  }
  // Shop routes act on somebody else's product, cart or order.
  const std::string path(row.path);
  if (path.starts_with("/products/{id}")) {
    const auto product = w.product();
    w.last_position = w.product_position;
    return {fill_path(row.path, product, key_id), body_for(w, op), token};
  }
  if (path.starts_with("/carts/{id}")) {
    const auto [cart_id, line_id] = w.cart();
    return {fill_path(row.path, cart_id, line_id), body_for(w, op), token};
  }
  if (path.starts_with("/orders/{id}")) return {fill_path(row.path, w.order(), key_id), body_for(w, op), token};
  // Billing and content routes act on the bootstrapped owner's things.
  if (path.starts_with("/subscriptions/{id}"))
    return {fill_path(row.path, w.make("/subscriptions", R"({"plan":"basic"})"), key_id), body_for(w, op), token};
  if (path.starts_with("/transactions/{id}")) {
    const auto tx_body =
        "{\"user_id\":\"" + w.api.owner_id() + R"(","amount":100000,"currency":"EUR","description":"d"})";
    return {fill_path(row.path, w.make("/transactions", tx_body), key_id), body_for(w, op), token};
  }
  if (path.starts_with("/posts/{id}"))
    return {fill_path(row.path, w.make("/posts", R"({"title":"T","body":"B"})"), key_id), body_for(w, op), token};
  if (path.starts_with("/comments/{id}")) {
    const auto post = w.make("/posts", R"({"title":"T","body":"B"})");
    return {fill_path(row.path, w.make("/posts/" + post + "/comments", R"({"body":"C"})"), key_id), body_for(w, op),
            token};
  }
  if (path.starts_with("/files/{id}"))
    return {fill_path(row.path,
                      w.make("/files", R"({"name":"a.txt","size":3,"content_type":"text/plain","checksum":"sha256:)" +
                                           std::string(64, 'a') + "\"}"),
                      key_id),
            body_for(w, op), token};
  // Ticket routes act on a ticket of somebody else's (the bootstrapped owner's).
  if (std::string(row.path).starts_with("/tickets/{id}"))
    return {fill_path(row.path, w.ticket(), key_id), body_for(w, op), token};
  return {fill_path(row.path, target, key_id), body_for(w, op), token};
}

// The allowed cells where a domain rule, not the route, answers otherwise
// than the documented success, as the matrix calls them (on somebody else's
// account or thing, with the bodies above), and the field that answer
// names. Every other allowed cell answers a documented success code.
struct Refusal {
  int status;
  std::string field;
};
std::optional<Refusal> domain_refusal(const std::string& op, Caller c) {
  const bool manager = c == Caller::admin || c == Caller::owner;
  // The login and the confirmation of one's own erasure are called with
  // credentials that are not the account's.
  if (op == "POST /sessions") return Refusal{401, "password"};
  if (op == "POST /me/erasure/confirm") return Refusal{403, "password"};
  // The matrix's service is entitled to nothing, and its target is a
  // customer, who has no entitlements to set.
  if (op == "POST /key-releases") return Refusal{403, "topic"};
  if (op == "PUT /users/{id}/entitlements") return Refusal{422, "user_id"};
  // The matrix's target has neither a card on file, nor a plan or trial.
  if (op == "PUT /users/{id}/plan") return Refusal{422, "payment_method"};
  if (op == "POST /users/{id}/usage") return Refusal{422, "plan"};
  if (op == "DELETE /users/{id}/payment-method") return Refusal{404, "payment_method"};
  // The id the matrix puts in the path of an erasure request's commands is
  // a user's: no such request.
  if (op.starts_with("POST /erasure-requests/{id}/")) return Refusal{404, "request_id"};
  // Nor is it a dead letter's place on the dead-letter topic.
  if (op == "POST /dead-letters/{id}/reveal") return Refusal{404, "id"};
  // Nor a projection's name: no job starts.
  if (op.starts_with("POST /projections/{name}/")) return Refusal{404, "name"};
  // A cart, an order and a ticket of somebody else's: a customer is told
  // none exists; staff may look at a cart but only its customer changes it.
  if (op.starts_with("POST /carts/{id}/lines") || op.starts_with("PUT /carts/{id}/lines") ||
      op.starts_with("DELETE /carts/{id}/lines"))
    return c == Caller::user ? Refusal{404, "cart_id"} : Refusal{403, "cart_id"};
  // Somebody else's cart, order, ticket, file or transaction reads as a
  // missing one for a customer; files and transactions for staff too (only
  // their holder, an admin or an owner sees them).
  if (c == Caller::user && (op == "GET /carts/{id}" || op == "GET /orders/{id}" || op == "GET /tickets/{id}"))
    return Refusal{404, "id"};
  if ((c == Caller::user || c == Caller::staff) && (op == "GET /files/{id}" || op == "GET /transactions/{id}"))
    return Refusal{404, "id"};
  if (c == Caller::user) {
    if (op == "POST /carts/{id}/convert") return Refusal{404, "cart_id"};
    if (op == "POST /orders/{id}/cancel") return Refusal{404, "order_id"};
    if (op == "POST /tickets/{id}/comments" || op == "POST /tickets/{id}/status") return Refusal{404, "ticket_id"};
  }
  // Posts, comments and files change by their author (or an admin or
  // owner); a subscription is cancelled by its holder (or an admin or owner).
  if (!manager) {
    if (op == "PUT /posts/{id}" || op == "DELETE /posts/{id}") return Refusal{403, "post_id"};
    if (op == "PUT /comments/{id}" || op == "DELETE /comments/{id}") return Refusal{403, "comment_id"};
    if (op == "DELETE /files/{id}") return Refusal{403, "file_id"};
    if (op == "POST /subscriptions/{id}/cancel") return Refusal{403, "subscription_id"};
  }
  return std::nullopt;
}

// A read of one thing waits until the read model holds what was made for it
// (?min_position=, the documented read-your-writes).
std::string waiting(const Row& row, const std::string& path, std::int64_t position) {
  if (row.method != "GET" || row.path.find('{') == std::string::npos) return path;
  return path + "?min_position=" + std::to_string(position);
}

bool is_json_error(const test::Reply& r) {
  return r.json.IsObject() && !r.str("error").empty() && r.json.HasMember("field") && r.json.HasMember("message");
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_matrix_here_lists_every_route_of_the_server) {
  BOOST_TEST(matrix().size() >= 60u);  // the contract was read: every domain's part
  std::map<std::string, std::string> expected, served;
  for (const auto& row : matrix()) {
    BOOST_TEST(!expected.contains(key_of(row.method, row.path)), "two rows for " << row.method << " " << row.path);
    expected[key_of(row.method, row.path)] = row.roles();
  }
  for (const auto& r : lethe::api::route_table()) served[key_of(r.method, r.path)] = r.roles;
  for (const auto& [op, roles] : served) BOOST_TEST(expected.contains(op), "no row in the matrix for " << op);
  for (const auto& [op, roles] : expected) BOOST_TEST(served.contains(op), "the server has no route " << op);
  // The roles as the server prints them (README, OpenAPI x-roles).
  for (const auto& [op, roles] : expected)
    if (served.contains(op)) BOOST_TEST(served[op] == roles, op << ": the server says \"" << served[op] << "\"");
}

BOOST_AUTO_TEST_CASE(every_route_for_every_caller_on_another_users_account) {
  World w;
  std::map<Caller, std::string> tokens;
  for (const auto c : kCallers)
    if (c != Caller::anonymous) tokens[c] = w.people[c].token;

  int cells = 0;
  for (const auto& row : matrix()) {
    const std::string op = key_of(row.method, row.path);
    for (const auto c : kCallers) {
      ++cells;
      const auto target = w.target();
      auto cell = prepare(w, row, c, target, tokens[c]);
      cell.path = waiting(row, cell.path, w.last_position);
      // The cell's own events, by its correlation id (erasures of earlier
      // cells append receipts meanwhile).
      const auto correlation = "matrix-cell-" + std::to_string(cells);
      const auto r = w.api.call(row.method, cell.path, cell.body, cell.token, {{"X-Correlation-Id", correlation}});
      const std::string who = std::string(name_of(c));
      const std::string what =
          op + " as " + who + " (" + row.method + " " + cell.path + "): got " + std::to_string(r.status) + " " + r.body;
      BOOST_TEST_INFO(what);
      if (row.allows(c)) {
        BOOST_TEST(r.header("X-Lethe-Stale") == "", "a read that never saw its write: " << what);
        // Allowed: the route lets the caller through. POST /sessions with
        // wrong credentials is refused with 401 by the login itself (field
        // "password"), not by authorization (field "Authorization").
        // The domain's finer rules may still refuse (a customer's cart is
        // theirs alone): such a 403 names the field it is about, never the
        // credential, as the route table's refusal does.
        const bool by_route = (r.status == 403 || r.status == 401) && r.str("field") == "Authorization";
        BOOST_TEST(!by_route, "allowed, but refused by the route: " << what);
        // Exactly the documented success, or exactly the domain's refusal
        // this cell is known for, with the field it names.
        if (const auto refusal = domain_refusal(op, c)) {
          BOOST_TEST(r.status == refusal->status,
                     "allowed, the domain refuses with " << refusal->status << ": " << what);
          BOOST_TEST(r.str("field") == refusal->field, "the refusal names " << refusal->field << ": " << what);
        } else {
          BOOST_TEST(row.success.contains(r.status), "allowed, expected a documented success: " << what);
        }
      } else {
        const int want = c == Caller::anonymous ? 401 : 403;
        BOOST_TEST(r.status == want, "not allowed, expected " << want << ": " << what);
        BOOST_TEST(is_json_error(r), "a refusal is JSON {error, field, message}: " << what);
        BOOST_TEST(r.str("error") == (c == Caller::anonymous ? "unauthenticated" : "forbidden"), what);
        BOOST_TEST(r.str("field") == "Authorization", what);
        BOOST_TEST(w.db.scalar("SELECT count(*) FROM events WHERE correlation_id = '" + correlation + "'") == "0",
                   "a refused call wrote events: " << what);
      }
    }
  }
  BOOST_TEST(cells == static_cast<int>(matrix().size()) * static_cast<int>(std::size(kCallers)));
  // The callers' own sessions still work: nothing above logged them out.
  // (A route that reads the write side: /me would need the projector.)
  // A service is nobody's "self": its own route is /me.
  for (const auto c : kCallers)
    if (c != Caller::anonymous) {
      const auto path = c == Caller::service ? std::string("/me") : "/users/" + w.people[c].id + "/api-keys";
      BOOST_TEST(w.api.call("GET", path, "", tokens[c]).status == 200, name_of(c) << "'s session ended");
    }
}

BOOST_AUTO_TEST_CASE(a_plain_user_on_their_own_account_passes_every_self_route) {
  World w;
  const auto me = w.api.person("matrix-self@example.org", "user", kPassword);
  // A key of their own, for the revoke route.
  w.made(w.api.call("PUT", "/users/" + me.id + "/billing-profile", body_for(w, "PUT /users/{id}/billing-profile"),
                    me.token),
         200, "their billing profile");
  const auto key = w.made(w.api.call("POST", "/users/" + me.id + "/api-keys", "{\"name\":\"own\"}", me.token), 201,
                          "a key of their own");
  int rows = 0;
  for (const auto& row : matrix()) {
    if (!row.self) continue;
    ++rows;
    const std::string op = key_of(row.method, row.path);
    std::string body = body_for(w, op);
    // Your own password needs the current one.
    if (op == "PUT /users/{id}/password")
      body = "{\"current_password\":\"" + kPassword + "\",\"new_password\":\"" + kPassword + "\"}";
    const auto path = waiting(row, fill_path(row.path, me.id, key.str("id")), key.num("position"));
    const auto r = w.api.call(row.method, path, body, me.token);
    const std::string what =
        op + " as self (" + row.method + " " + path + "): got " + std::to_string(r.status) + " " + r.body;
    if (const auto refusal = domain_refusal(op, Caller::user)) {
      BOOST_TEST(r.status == refusal->status, "self, the domain answers " << refusal->status << ": " << what);
      BOOST_TEST(r.str("field") == refusal->field, "the answer names " << refusal->field << ": " << what);
    } else {
      BOOST_TEST(row.success.contains(r.status), "self may, expected a documented success: " << what);
    }
    // A plain user, without self, would be refused: the row is about self.
    BOOST_TEST(!row.user, op << " is open to every user: its self flag says nothing");
  }
  BOOST_TEST(rows > 0);
  // And on someone else's account the same user is refused on every one of them.
  const auto other = w.target();
  for (const auto& row : matrix()) {
    if (!row.self) continue;
    const std::string op = key_of(row.method, row.path);
    const auto path = fill_path(row.path, other, "no-such-key");
    const auto r = w.api.call(row.method, path, body_for(w, op), me.token);
    BOOST_TEST(r.status == 403,
               op << " as user on another account (" << path << "): got " << r.status << " " << r.body);
  }
}
