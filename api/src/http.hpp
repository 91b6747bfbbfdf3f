#pragma once
// What a route handler sees and the helpers every handler shares: JSON out,
// errors out, the per-thread services (connections are per thread: libpqxx
// connections are not shared across threads).
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <typeindex>
#include <unordered_map>
#include <vector>

#include "erasure_service.hpp"
#include "lethe/api/server.hpp"
#include "lethe/domain/result.hpp"
#include "lethe/infra/access.hpp"
#include "lethe/producers/event_store.hpp"
#include "projection_jobs.hpp"
#include "user_service.hpp"

namespace lethe::api {

// A request as the server read it: the path and query already
// percent-decoded and checked to be UTF-8, header names compared without
// regard to case. The first value of a repeated query parameter or header
// counts.
struct Request {
  std::string method;
  std::string target;  // as sent: path and query, percent-encoded
  std::string path;    // the target's path, percent-encoded (segments are decoded when routed)
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote;  // the client's address, for limits per client
  // A read-your-writes wait in progress: the request is answered again
  // after a pause (see Response::again_in) until its deadline, holding no
  // worker in between. `slot` is its share of the caller's waits, given
  // back when the request is done.
  struct Wait {
    std::optional<std::chrono::steady_clock::time_point> deadline;
    std::chrono::milliseconds pause{1};
    std::shared_ptr<void> slot;
    // What it waits for, looked up in the event store on the first answer
    // (events never change): a stream and version, or (for the logs kept
    // by event) the event's id in `stream`.
    std::string stream;
    std::int64_t version = 0;
    // ?min_version= named a version never written: said only once the
    // route found the resource visible to the caller (ensure_found), so
    // that someone else's record answers as a missing one does.
    bool unwritten = false;
  };
  mutable Wait wait;

  bool has_param(std::string_view name) const;
  std::string get_param_value(std::string_view name) const;  // "" when absent
  bool has_header(std::string_view name) const;
  std::string get_header_value(std::string_view name) const;  // "" when absent
};

// An answer being built: status, extra headers, a body and its type.
struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type;
  // Set when the request is to be answered again after this pause (a wait
  // whose read model is not there yet): nothing is sent meanwhile.
  std::optional<std::chrono::milliseconds> again_in;
  void set_header(std::string name, std::string value);
  void set_content(std::string text, std::string type);
};

// Thrown by a handler whose wait goes on: the server answers the request
// again after req.wait.pause. Not an error; never reaches a client.
struct WaitAgain {};

// An answer that is not 2xx: always JSON {"error","field","message"}.
struct HttpError {
  int status;
  std::string code, field, message;
  int retry_after = 0;  // seconds, for 429 and 503
};
int status_of(domain::ErrorCode code) noexcept;
HttpError from_domain(const domain::DomainError& e);
void send_error(Response& res, const HttpError& e);
// The server's session settings (lock and statement timeouts) on a connection.
void limit_waits(pqxx::transaction_base& tx, const ServeOptions& options);

// UTF-8 without NUL characters: what a path segment or query value may
// hold, and what a JSON answer may carry as text.
bool valid_text(std::string_view s);
// A failure's reason up to its first ": ": what follows may quote a value
// PostgreSQL refused, so those who may not see the data see only this.
inline std::string reason_head(std::string_view reason) {
  return std::string(reason.substr(0, reason.find(": ")));
}

// Small JSON writer over RapidJSON.
class Json {
 public:
  Json() : w_(buf_) {}
  Json& begin() {
    w_.StartObject();
    return *this;
  }
  // An object as the value of `key`.
  Json& begin(std::string_view key) {
    k(key);
    w_.StartObject();
    return *this;
  }
  Json& end() {
    w_.EndObject();
    return *this;
  }
  Json& begin_array(std::string_view key) {
    k(key);
    w_.StartArray();
    return *this;
  }
  Json& end_array() {
    w_.EndArray();
    return *this;
  }
  Json& str(std::string_view key, std::string_view v) {
    k(key);
    w_.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    return *this;
  }
  Json& str_or_null(std::string_view key, std::string_view v) {
    k(key);
    if (v.empty())
      w_.Null();
    else
      w_.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    return *this;
  }
  // A JSON value given as its text (a jsonb column), written as it is.
  Json& raw(std::string_view key, std::string_view json) {
    k(key);
    w_.RawValue(json.data(), json.size(), rapidjson::kObjectType);
    return *this;
  }
  Json& null(std::string_view key) {
    k(key);
    w_.Null();
    return *this;
  }
  Json& num(std::string_view key, std::int64_t v) {
    k(key);
    w_.Int64(v);
    return *this;
  }
  // A number with a fraction, rounded to milliseconds (durations in seconds).
  Json& dbl(std::string_view key, double v) {
    k(key);
    w_.Double(static_cast<double>(static_cast<std::int64_t>(v * 1000)) / 1000);
    return *this;
  }
  Json& boolean(std::string_view key, bool v) {
    k(key);
    w_.Bool(v);
    return *this;
  }
  std::string text() const { return {buf_.GetString(), buf_.GetSize()}; }

 private:
  void k(std::string_view key) {
    if (!key.empty()) w_.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  }
  rapidjson::StringBuffer buf_;
  rapidjson::Writer<rapidjson::StringBuffer> w_;
};

// Connections and services of one worker thread, made on first use and
// dropped when PostgreSQL goes away (the next request reconnects).
struct Services {
  Services(const infra::Config& cfg, const ServeOptions& options, infra::PasswordPool& passwords,
           const producers::LoginPolicy& policy);
  producers::EventStore store;
  // Sign-in and erasure are the server's own concerns; every other domain's
  // command handler is made on first use by get().
  producers::UserService users;
  producers::ErasureService erasure;
  std::unique_ptr<pqxx::connection> reads;
  // Whether PostgreSQL closed one of these connections (a restart): then
  // they are dropped before a request uses them.
  bool stale() const;

  // A domain's command handler on this thread's event store, made on first
  // use: any type constructible from producers::EventStore&.
  template <class S>
  S& get() {
    auto& slot = handlers_[std::type_index(typeid(S))];
    if (!slot) slot = std::make_shared<S>(store);
    return *static_cast<S*>(slot.get());
  }

 private:
  std::unordered_map<std::type_index, std::shared_ptr<void>> handlers_;
};

struct Shared {
  infra::Config cfg;
  ServeOptions options;
  infra::PasswordPool passwords;
  producers::LoginPolicy policy;
  std::string started_at;
  ProjectionJobs jobs;  // last member: its jobs stop before the rest goes
  Shared(const infra::Config& c, const ServeOptions& o);
};

// One request as a handler sees it.
struct Call {
  const Request& req;
  Response& res;
  Shared& shared;
  // The thread's connections, made on first use: /health and /ready answer
  // without them while PostgreSQL is down.
  std::function<Services&()> services;
  std::vector<std::string> params;              // path parameters in order
  std::optional<producers::Authenticated> who;  // nullopt: anonymous
  rapidjson::Document body;                     // validated against the route's request schema
  producers::CommandContext ctx;

  // Body fields (the schema checked their types).
  std::string field(const char* name) const;
  std::optional<std::string> optional_field(const char* name) const;
  std::int64_t int_field(const char* name) const;
  std::optional<bool> optional_bool(const char* name) const;
  // A JSON value of the body as compact text (numbers as RapidJSON writes
  // them), or `absent` when the field is not there.
  std::string json_field(const char* name, const std::string& absent) const;
  bool is_self(const std::string& user_id) const { return who && who->user_id == user_id; }
  // A domain's command handler (Services::get).
  template <class S>
  S& service() const {
    return services().template get<S>();
  }
  void json(int status, const std::string& body);
  // A command's answer: id, stream version and global position of its last event.
  void written(int status, const std::string& id, const producers::Written& events,
               const std::function<void(Json&)>& extra = {});
};

}  // namespace lethe::api
