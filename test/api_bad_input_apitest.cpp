#define BOOST_TEST_MODULE api_bad_input
// Hostile and broken input against a running `lethe serve`: bodies that are
// not JSON, not objects, of the wrong shape, too large, with bytes that are
// not UTF-8 or NUL characters; headers, queries, routes and methods that do
// not exist. Every one gets a 4xx JSON {error, field, message} naming the
// field at fault, nothing is written, and the server goes on serving.

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "support/api.hpp"
#include "support/fixtures.hpp"

using namespace lethe;
using test::Api;

namespace {

bool is_json_error(const test::Reply& r) {
  return r.json.IsObject() && !r.str("error").empty() && r.json.HasMember("field") && r.json["field"].IsString() &&
         r.json.HasMember("message") && r.json["message"].IsString();
}

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

// One route under attack: its body is an object with `field` (a string the
// cases corrupt) and `rest` (other members that keep it otherwise valid).
struct Target {
  std::string method, path, token;
  std::string field;
  std::string valid;  // a valid JSON value for field
  std::string rest;   // JSON members without braces, "" for none
  // Bodies lacking a required member, with the field the answer should name
  // ("" when no single field is at fault).
  std::vector<std::pair<std::string, std::string>> missing;
  // Other string members that take the 10,000-character treatment.
  std::vector<std::string> long_fields;

  std::string op() const { return method + " " + path; }
  // The body with `field` set to a JSON value.
  std::string with(const std::string& json_value, const std::string& name = "") const {
    const auto& f = name.empty() ? field : name;
    return "{" + rest + (rest.empty() ? "" : ",") + quoted(f) + ":" + json_value + "}";
  }
};

struct Case {
  std::string what, body;
  std::optional<std::string> field;  // nullopt: any field (no single one is at fault)
  int status = 0;                    // 0: any 4xx
};

std::vector<Case> cases_for(const Target& t) {
  std::vector<Case> out;
  const auto& f = t.field;
  // Not JSON, or not an object.
  out.push_back({"malformed JSON", "{" + quoted(f) + ": \"abc\", ", std::nullopt, 400});
  out.push_back({"truncated JSON", "{" + quoted(f), std::nullopt, 400});
  out.push_back({"not JSON at all", "hello", std::nullopt, 400});
  out.push_back({"trailing garbage", t.with(t.valid) + " x", std::nullopt, 400});
  out.push_back({"a JSON array", "[" + t.with(t.valid) + "]", std::nullopt, 400});
  out.push_back({"a JSON string", "\"abc\"", std::nullopt, 400});
  out.push_back({"JSON null", "null", std::nullopt, 400});
  out.push_back({"an empty body", "", std::nullopt, 400});
  // Wrong types.
  for (const auto& [kind, value] : std::vector<std::pair<std::string, std::string>>{{"a number", "12"},
                                                                                    {"a boolean", "true"},
                                                                                    {"null", "null"},
                                                                                    {"an object", "{\"a\":\"b\"}"},
                                                                                    {"an array", "[\"abc\"]"}})
    out.push_back({f + " as " + kind, t.with(value), f, 400});
  // Missing required members.
  for (const auto& [body, field] : t.missing)
    out.push_back(
        {"missing member, body " + body, body, field.empty() ? std::nullopt : std::optional<std::string>(field), 400});
  // Unknown members.
  out.push_back({"unknown member x",
                 "{" + t.rest + (t.rest.empty() ? "" : ",") + "\"x\":1," + quoted(f) + ":" + t.valid + "}", "x", 400});
  out.push_back({"unknown member isAdmin", t.with(t.valid).insert(1, "\"isAdmin\":true,"), "isAdmin", 400});
  // Bytes that are not UTF-8, inside a string.
  out.push_back({"invalid UTF-8 (0xff 0xfe)", t.with("\"ab\xff\xfe\""), std::nullopt, 400});
  out.push_back({"invalid UTF-8 (truncated sequence)", t.with("\"ab\xc3\""), std::nullopt, 400});
  out.push_back({"invalid UTF-8 (overlong /)", t.with("\"ab\xc0\xaf\""), std::nullopt, 400});
  out.push_back({"invalid UTF-8 (a lone surrogate, encoded)", t.with("\"ab\xed\xa0\x80\""), std::nullopt, 400});
  out.push_back({"a lone surrogate escape", t.with("\"ab\\ud800\""), std::nullopt, 400});
  // NUL characters.
  out.push_back({"a \\u0000 escape", t.with("\"ab\\u0000cd\""), f, 400});
  out.push_back({"a raw NUL byte", t.with(std::string("\"ab\0cd\"", 7)), std::nullopt, 400});
  // Very long strings.
  out.push_back({f + " of 10,000 characters", t.with(quoted(std::string(10000, 'a'))), f, 400});
  for (const auto& name : t.long_fields) {
    auto body = t.with(t.valid);
    const auto at = body.find(quoted(name) + ":\"");
    BOOST_REQUIRE(at != std::string::npos);
    const auto start = at + name.size() + 4, end = body.find('"', start);
    body.replace(start, end - start, std::string(10000, 'b') + "@example.org");
    out.push_back({name + " of 10,000 characters", body, name, 400});
  }
  // Too large for the server (1 MiB by default): 413 before anything else.
  out.push_back({"a body of 3 MiB", t.with(quoted(std::string(3 << 20, 'a'))), std::nullopt, 413});
  return out;
}

struct Server {
  test::TestSchema db;
  Api api{db};
  std::string target;  // a plain user the owner's calls are made on
  Server() {
    auto r = api.call("POST", "/users", "{\"email\":\"target@example.org\",\"name\":\"Target\"}", api.owner_key());
    BOOST_REQUIRE_MESSAGE(r.status == 201, r.body);
    target = r.str("id");
  }
  std::size_t events() const { return std::stoul(db.scalar("SELECT count(*) FROM events")); }
};

}  // namespace

BOOST_AUTO_TEST_CASE(bad_bodies_get_a_4xx_json_error_naming_the_field_and_write_nothing) {
  Server s;
  const auto& owner = s.api.owner_key();
  const std::vector<Target> targets{
      {"POST",
       "/users",
       "",
       "name",
       "\"N\"",
       "\"email\":\"bad-input@example.org\"",
       {{"{\"name\":\"N\"}", "email"}, {"{\"email\":\"a@example.org\"}", "name"}, {"{}", ""}},
       {"email"}},
      {"PATCH", "/users/" + s.target, owner, "name", "\"N\"", "", {{"{}", ""}}, {}},
      {"PATCH", "/users/" + s.target, owner, "email", "\"n@example.org\"", "", {}, {}},
      {"PUT", "/users/" + s.target + "/role", owner, "role", "\"staff\"", "", {{"{}", "role"}}, {}},
      {"POST",
       "/sessions",
       "",
       "email",
       "\"n@example.org\"",
       "\"password\":\"some password\"",
       {{"{\"password\":\"p\"}", "email"}, {"{\"email\":\"a@example.org\"}", "password"}},
       {}},
      {"POST", "/sessions", "", "password", "\"some password\"", "\"email\":\"nobody@example.org\"", {}, {}},
      {"POST",
       "/users/" + s.target + "/api-keys",
       owner,
       "name",
       "\"N\"",
       "",
       {{"{}", "name"}, {"{\"expires_at\":\"2030-01-01T00:00:00Z\"}", "name"}},
       {}},
  };

  const auto before = s.events();
  int checked = 0;
  for (const auto& t : targets) {
    for (const auto& c : cases_for(t)) {
      ++checked;
      const auto r = s.api.call(t.method, t.path, c.body, t.token);
      const std::string shown =
          c.body.size() > 120 ? c.body.substr(0, 120) + "...(" + std::to_string(c.body.size()) + " bytes)" : c.body;
      const std::string what = t.op() + " with " + c.what + " [body " + shown + "]: got " + std::to_string(r.status) +
                               " " + r.body.substr(0, 300);
      if (c.status)
        BOOST_TEST(r.status == c.status, what);
      else
        BOOST_TEST((r.status >= 400 && r.status < 500), what);
      BOOST_TEST(is_json_error(r), "not a JSON error {error, field, message}: " << what);
      if (c.field) BOOST_TEST(r.str("field") == *c.field, "field should be \"" << *c.field << "\": " << what);
      // And the server is still there after each.
      if (r.status == 0 || r.status >= 500)
        BOOST_TEST(s.api.call("GET", "/health").status == 200, "the server stopped answering after: " << what);
    }
  }
  BOOST_TEST_MESSAGE(checked << " bad bodies sent");
  BOOST_TEST(s.events() == before, "bad bodies wrote " << (s.events() - before) << " events");
  BOOST_TEST(s.api.call("GET", "/health").status == 200);
}

BOOST_AUTO_TEST_CASE(bad_tokens_are_401_json) {
  Server s;
  for (const auto& header : std::vector<std::string>{"Basic dXNlcjpwYXNzd29yZA==", "bearer lk_abc", "Bearer", "Bearer ",
                                                     "Token abc", "lk_abc"}) {
    const auto r = s.api.call("GET", "/me", "", "", {{"Authorization", header}});
    BOOST_TEST(r.status == 401, "Authorization: " << header << ": got " << r.status << " " << r.body);
    BOOST_TEST(is_json_error(r), "Authorization: " << header << ": " << r.body);
    BOOST_TEST(r.str("field") == "Authorization", "Authorization: " << header << ": " << r.body);
  }
  const auto long_token = "lk_" + std::string(4997, 'a');
  BOOST_REQUIRE(long_token.size() == 5000);
  for (const auto& path : {"/me", "/health"}) {
    const auto r = s.api.call("GET", path, "", long_token);
    BOOST_TEST(r.status == 401,
               "GET " << path << " with a token of 5,000 characters: got " << r.status << " " << r.body);
    BOOST_TEST(is_json_error(r), r.body);
  }
  const auto unknown = s.api.call("GET", "/me", "", "lk_unknown");
  BOOST_TEST(unknown.status == 401);
  BOOST_TEST(is_json_error(unknown));
  BOOST_TEST(s.api.call("GET", "/health").status == 200);
}

BOOST_AUTO_TEST_CASE(bad_if_match_and_bad_query_parameters_are_400_naming_them) {
  Server s;
  const auto& owner = s.api.owner_key();
  const auto before = s.events();
  for (const auto& value : std::vector<std::string>{"abc", "\"abc\"", "-1", "\"-1\"", "1.5", "\"\"", "0x1",
                                                    "99999999999999999999", "*", "W/\"1\""}) {
    const auto r = s.api.call("PATCH", "/users/" + s.target, "{\"name\":\"Renamed\"}", owner, {{"If-Match", value}});
    BOOST_TEST(r.status == 400, "If-Match: [" << value << "]: got " << r.status << " " << r.body);
    BOOST_TEST(is_json_error(r), "If-Match: [" << value << "]: " << r.body);
    BOOST_TEST(r.str("field") == "If-Match", "If-Match: [" << value << "]: " << r.body);
  }
  for (const auto& query : {"limit=abc", "limit=", "limit=0", "limit=501", "limit=-1", "limit=1e3", "limit=5x"}) {
    const auto r = s.api.call("GET", std::string("/users?") + query, "", owner);
    BOOST_TEST(r.status == 400, "GET /users?" << query << ": got " << r.status << " " << r.body);
    BOOST_TEST(is_json_error(r), "GET /users?" << query << ": " << r.body);
    BOOST_TEST(r.str("field") == "limit", "GET /users?" << query << ": " << r.body);
  }
  const std::vector<std::pair<std::string, std::string>> waits{{"min_position=abc", "min_position"},
                                                               {"min_position=0", "min_position"},
                                                               {"min_position=1&wait_ms=abc", "wait_ms"},
                                                               {"min_position=1&wait_ms=-5", "wait_ms"}};
  for (const auto& [query, name] : waits) {
    const auto r = s.api.call("GET", "/users?" + query, "", owner);
    BOOST_TEST(r.status == 400, "GET /users?" << query << ": got " << r.status << " " << r.body);
    BOOST_TEST(r.str("field") == name, "GET /users?" << query << ": " << r.body);
  }
  BOOST_TEST(s.events() == before);
  BOOST_TEST(s.api.call("GET", "/health").status == 200);
}

BOOST_AUTO_TEST_CASE(unknown_routes_and_wrong_methods_are_json) {
  Server s;
  const auto& owner = s.api.owner_key();
  for (const auto& path : {"/no-such-route", "/users/x/y/z", "/me/", "/", "/health/extra"}) {
    const auto r = s.api.call("GET", path, "", owner);
    BOOST_TEST(r.status == 404, "GET " << path << ": got " << r.status << " " << r.body);
    BOOST_TEST(is_json_error(r), "GET " << path << ": " << r.body);
  }
  const std::vector<std::pair<std::string, std::string>> wrong{{"DELETE", "/me"},
                                                               {"POST", "/me"},
                                                               {"PUT", "/health"},
                                                               {"PATCH", "/users"},
                                                               {"DELETE", "/users"},
                                                               {"GET", "/sessions"},
                                                               {"PUT", "/users/" + s.target + "/deactivate"}};
  for (const auto& [method, path] : wrong) {
    const auto r = s.api.call(method, path, "{}", owner);
    BOOST_TEST((r.status == 404 || r.status == 405), method << " " << path << ": got " << r.status << " " << r.body);
    BOOST_TEST(is_json_error(r), method << " " << path << ": " << r.body);
  }
  BOOST_TEST(s.api.call("GET", "/health").status == 200);
}

BOOST_AUTO_TEST_CASE(a_chunked_body_beyond_the_limit_is_413_too) {
  Server s;
  const auto before = s.events();
  // A valid registration, padded with JSON whitespace to 3 MiB and sent
  // chunked: the size limit holds whatever the framing.
  const auto body = "{\"email\":\"chunked@example.org\",\"name\":\"C\"" + std::string(3 << 20, ' ') + "}";
  const auto r = test::raw_http(s.api.port(),
                                "POST /users HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                                test::chunked(body));
  // The server needs the length up front: it refuses any chunked body (411).
  BOOST_TEST(r.status == 411, "POST /users, 3 MiB chunked: got " << r.status << " " << r.body);
  BOOST_TEST(is_json_error(r), r.body);
  BOOST_TEST(s.events() == before,
             "a 3 MiB chunked body was accepted and wrote " << (s.events() - before) << " events");
  // The same with Content-Length is refused (as the bad-bodies case checks for every route).
  const auto framed = test::raw_http(s.api.port(),
                                     "POST /users HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                     "Content-Type: application/json\r\nContent-Length: " +
                                         std::to_string(body.size()) + "\r\n\r\n",
                                     {body});
  BOOST_TEST(framed.status == 413, framed.body);
  BOOST_TEST(is_json_error(framed), framed.body);
  BOOST_TEST(s.api.call("GET", "/health").status == 200);
}
