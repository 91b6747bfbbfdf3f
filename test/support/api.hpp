#pragma once
// A running `lethe serve` for API tests, and a small client: every API test
// talks HTTP to the real server, which talks to the real PostgreSQL.
#include <rapidjson/document.h>

#include <chrono>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/fixtures.hpp"

namespace lethe::test {

struct Reply {
  int status = 0;  // 0: no answer (connection refused or reset)
  std::string body;
  std::multimap<std::string, std::string> headers;
  rapidjson::Document json;  // parsed body (Null when not JSON)

  std::string str(const char* member) const;   // "" when absent or not a string
  std::int64_t num(const char* member) const;  // -1 when absent
  std::string header(const std::string& name) const;
};

// A JSON value as compact text (an answer's object, to compare whole).
std::string json_text(const rapidjson::Value& v);

// A port on 127.0.0.1 that nothing listens on now, for a server a test
// starts: below the kernel's ephemeral range (32768 and up), so that no
// outgoing connection of another process takes it meanwhile.
int unused_port();

// A TCP connection to 127.0.0.1:port with send and receive timeouts, or -1;
// from `source` (another loopback address, such as 127.0.0.2) when given.
int connect_local(int port, int timeout_seconds = 30, const std::string& source = "");

// One request written byte for byte on a fresh connection (for what the
// client library will not send: chunked bodies, empty header values,
// hostile framing), and the answer up to the server's close. Status 0: no
// answer. The body parts are sent after the head, each as far as the
// server reads it (it may answer and close early).
Reply raw_http(int port, const std::string& head, const std::vector<std::string>& body_parts = {},
               const std::string& source = "");

// A body framed with Transfer-Encoding: chunked, in chunks of 64 KiB.
std::vector<std::string> chunked(const std::string& body);

class Api;
// GET `path` until `done` holds, at most `limit`, and the last answer. For
// reads that span streams (and so partitions) which a projection may apply
// in any order: read-your-writes waits for one stream's version only.
Reply poll(const Api& api, const std::string& path, const std::string& token,
           const std::function<bool(const Reply&)>& done, std::chrono::seconds limit = std::chrono::seconds(15));

// {"k": v, ...} for test bodies: a value that is all digits, true, or starts
// with { or [ is written as it is, any other as a JSON string (unescaped:
// test data only).
std::string json_object(std::initializer_list<std::pair<std::string, std::string>> fields);

// The reply, once its status is exactly `status` (what the API documents
// for it); else throws, naming `what`, which fails the test case.
Reply must(Reply&& r, int status, const std::string& what);

// The reply, checked (a Boost.Test check, so the case goes on) to have
// exactly `status` and, when given, to name `field` in its error.
Reply exactly(Reply&& r, int status, const std::string& what, const std::string& field = "");

// GET /erasure-requests/{id} until every projection's receipt has its
// applied_at (at most 45 s), and the last answer.
Reply until_erasure_applied(const Api& api, const std::string& request_id, const std::string& token);

class Api {
 public:
  // Starts `lethe serve` on a free port against the schema (and topics, for
  // /ready), with extra arguments, and bootstraps the owner.
  explicit Api(const TestSchema& schema, const TestTopics* topics = nullptr, std::vector<std::string> extra_args = {},
               bool bootstrap = true);
  ~Api();
  int port() const { return port_; }
  // The owner made by `lethe bootstrap`.
  const std::string& owner_key() const { return owner_key_; }
  const std::string& owner_id() const { return owner_id_; }

  Reply call(const std::string& method, const std::string& path, const std::string& body = "",
             const std::string& token = "", const std::map<std::string, std::string>& headers = {}) const;
  // POST /users then, when password is given, POST /sessions: the new user's id and session token.
  struct Person {
    std::string id, token, email;
  };
  Person person(const std::string& email, const std::string& role = "user",
                const std::string& password = "a good password");
  Process& process() { return *server_; }
  // Starts a second `lethe serve` on the same database (for limits shared across processes).
  std::unique_ptr<Api> twin() const;

 private:
  Api(const TestSchema& schema, const TestTopics* topics, std::vector<std::string> extra_args, bool bootstrap,
      bool start);
  void start();
  const TestSchema& schema_;
  const TestTopics* topics_;
  std::vector<std::string> args_;
  int port_ = 0;
  std::unique_ptr<Process> server_;
  std::string owner_key_, owner_id_;
};

// `lethe serve`, a relay and a projector of every projection, started at
// once on a schema and topics of the test's own (one partition per topic,
// batches of 5 ms): what an API test of one domain stands on.
struct Stack {
  TestSchema db;
  TestTopics topics;
  Api api{db, &topics};
  Process relay{{"relay"}, lethe_env(db, topics)};
  Process projector{{"project", "--batch-wait-ms", "5"}, lethe_env(db, topics)};
};

// `lethe serve`, `lethe relay` and `lethe project` (every projection) on a
// schema and topics of the test's own: the stack most API tests stand on.
struct Served {
  struct Options {
    std::vector<std::string> serve_args = {};
    std::vector<std::string> project_args{"--batch-wait-ms", "5"};
    std::map<std::string, std::string> topic_config = {};
  };
  Served();
  explicit Served(Options o);
  std::map<std::string, std::string> env() const;
  void start_projector();
  // SIGTERM, then throws unless it exited 0.
  void stop_projector();

  Options options;
  TestSchema db;
  // The schema's clock, for tests of expiry and deadlines (see SchemaClock).
  SchemaClock clock;
  TestTopics topics;
  Api api;
  Process relay;
  std::optional<Process> projector;
};

// Every projection `lethe project` runs, sorted: each owes a receipt per erasure.
std::vector<std::string> all_projections();

}  // namespace lethe::test
