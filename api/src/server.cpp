#include "lethe/api/server.hpp"

#include <rapidjson/encodings.h>
#include <rapidjson/memorystream.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "erasure_queries.hpp"
#include "http.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/ids.hpp"
#include "lethe/infra/metrics.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/projections/projection.hpp"
#include "routes.hpp"
#include "transport.hpp"
#include "validation.hpp"

namespace lethe::api {

namespace {

constexpr std::size_t kMaxHeaderValue = 200;  // correlation ids land in events, whose fields are bounded

thread_local std::unique_ptr<Services> services;

bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char ch) { return ch >= 0x20 && ch < 0x7f; });
}

// Percent-decodes a path segment or a query component ('+' is a space in
// a query only); nullopt for a malformed escape.
std::optional<std::string> percent_decoded(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
          !std::isxdigit(static_cast<unsigned char>(s[i + 2])))
        return std::nullopt;
      unsigned byte = 0;
      std::from_chars(s.data() + i + 1, s.data() + i + 3, byte, 16);  // two hex digits, checked above
      out.push_back(static_cast<char>(byte));
      i += 2;
    } else {
      out.push_back(plus_is_space && s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

// The target's path segments (percent-encoded) after the leading '/'.
std::vector<std::string_view> segments_of(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  for (;;) {
    const auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

// Fills the request's query from its target: every name and value decoded
// and checked, or 400 naming the parameter.
void parse_query(Request& req) {
  const auto mark = req.target.find('?');
  if (mark == std::string::npos) return;
  std::string_view rest(req.target);
  rest.remove_prefix(mark + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const auto part = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (part.empty()) continue;
    const auto eq = part.find('=');
    auto name = percent_decoded(part.substr(0, eq), true);
    if (!name || !valid_text(*name))
      throw HttpError{400, "invalid_argument", "query", "a query parameter's name is not valid percent-encoded UTF-8"};
    auto value = percent_decoded(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1), true);
    if (!value || !valid_text(*value))
      throw HttpError{400, "invalid_argument", *name, *name + " is not valid percent-encoded UTF-8"};
    req.query.emplace_back(std::move(*name), std::move(*value));
  }
}

std::optional<Access> role_bit(domain::users::Role r) {
  switch (r) {
    case domain::users::Role::owner:
      return kOwner;
    case domain::users::Role::admin:
      return kAdmin;
    case domain::users::Role::staff:
      return kStaff;
    case domain::users::Role::user:
      return kUser;
    case domain::users::Role::auditor:
      return kAuditor;
    case domain::users::Role::service:
      return kService;
  }
  return std::nullopt;
}

// A route's path as segments, "{}" standing for a parameter.
struct CompiledRoute {
  const Route* route;
  std::vector<std::string> segments;
};

// What `lethe serve` tells Prometheus (docs/operations.md, "Metrics"):
// every request's time by method, route pattern and status, and the open
// erasure requests, asked of PostgreSQL every 10 s by a thread of its own.
class ServeMetrics {
 public:
  explicit ServeMetrics(std::string conninfo)
      : conninfo_(std::move(conninfo)),
        requests_(
            infra::histogram_family("lethe_http_request_seconds",
                                    "Time from a request read to its answer, by method, route pattern and status")),
        open_(gauge("lethe_erasure_requests_open", "Erasure requests awaiting confirmation or pending")),
        oldest_(gauge("lethe_erasure_requests_oldest_open_seconds",
                      "Age of the oldest open erasure request (0: none); the legal deadline is one month")),
        overdue_(gauge("lethe_erasure_requests_overdue", "Open erasure requests made more than a month ago")),
        thread_([this](const std::stop_token& stop) { refresh(stop); }) {}

  // method is what the client sent: any but the known ones counts as
  // "other", so that a client cannot make series without end.
  void request(const std::string& method, const std::string& route, int status, double seconds) {
    static const std::set<std::string, std::less<>> known{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    requests_
        .Add({{"method", known.contains(method) ? method : "other"},
              {"route", route},
              {"status", std::to_string(status)}},
             infra::duration_buckets())
        .Observe(seconds);
  }

 private:
  static prometheus::Gauge& gauge(const char* name, const char* help) {
    return infra::gauge_family(name, help).Add({});
  }

  void refresh(const std::stop_token& stop) {
    std::unique_ptr<pqxx::connection> conn;
    std::mutex mutex;
    std::condition_variable_any wake;
    for (;;) {
      try {
        if (!conn || !conn->is_open()) conn = infra::connect(conninfo_, "lethe-metrics");
        pqxx::read_transaction tx(*conn);
        const auto row = tx.exec1(projections::erasure_queries::kOpen.sql);
        open_.Set(row["open"].as<double>());
        oldest_.Set(row["oldest_seconds"].as<double>());
        overdue_.Set(row["overdue"].as<double>());
      } catch (const std::exception& e) {
        conn.reset();
        spdlog::warn("metrics: erasure requests not counted: {}", infra::first_line(e.what()));
      }
      std::unique_lock lock(mutex);
      if (wake.wait_for(lock, stop, std::chrono::seconds(10), [] { return false; }); stop.stop_requested()) return;
    }
  }

  std::string conninfo_;
  prometheus::Family<prometheus::Histogram>& requests_;
  prometheus::Gauge &open_, &oldest_, &overdue_;
  std::jthread thread_;  // last: started once the rest is built
};

class Server {
 public:
  Server(const infra::Config& cfg, const ServeOptions& options)
      : shared_(cfg, options), validator_(openapi_document()), metrics_(cfg.pg) {
    for (const auto& route : routes()) {
      CompiledRoute c{&route, {}};
      for (const auto seg : segments_of(route.path))
        c.segments.emplace_back(seg.starts_with('{') ? std::string("{}") : std::string(seg));
      compiled_.push_back(std::move(c));
    }
  }

  int run(const std::atomic<bool>& stop) {
    const auto& o = shared_.options;
    TransportLimits limits;
    limits.max_body_bytes = o.max_body_bytes;
    limits.request_timeout = o.request_timeout;
    limits.max_connections = o.max_connections;
    limits.workers = o.threads;
    Handlers handlers{[this](Request& req) { return answer(req); },
                      // Liveness needs no database: answered even while every worker is busy.
                      [](const Request& req) { return req.method == "GET" && req.target == "/health"; },
                      [this](const Request& req, const Response& res) {
                        metrics_.request(req.method, "(refused before routing)", res.status, 0);
                        spdlog::info("http - (refused before routing) {} 0.0ms correlation=", res.status);
                      }};
    spdlog::info("serve: {} password slots, {} ms to read a request", o.password_slots, o.request_timeout.count());
    return run_transport(o.host, o.port, limits, handlers, stop);
  }

 private:
  // The answer to one request; never throws. One log line per request:
  // method, route pattern (never the raw path or query), status, time and
  // correlation id: nothing a client sent as data.
  Response answer(Request& req) {
    const auto started = std::chrono::steady_clock::now();
    Response res;
    const char* pattern = "(no route)";
    std::string correlation;
    try {
      req.query.clear();  // a request that waits is answered more than once
      parse_query(req);
      std::vector<std::string> params;
      const auto* route = match(req, params, res);
      if (route) {
        pattern = route->path.c_str();
        serve(*route, std::move(params), req, res, correlation);
      }
    } catch (const WaitAgain&) {
      Response again;
      again.again_in = req.wait.pause;
      return again;  // logged once, when it is answered
    } catch (const HttpError& e) {
      send_error(res, e);
    } catch (const std::exception& e) {
      spdlog::error("{} {}: {}", req.method, pattern, infra::first_line(e.what()));
      send_error(res, {500, "internal", "", "internal error; the server log has the details"});
    }
    const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    metrics_.request(req.method, pattern, res.status, ms / 1000);
    spdlog::info("http {} {} {} {:.1f}ms correlation={}", req.method, pattern, res.status, ms, correlation);
    return res;
  }

  // The route for the request's method and path, its path parameters
  // decoded into `params`; or nullptr with 404 (no such path) or 405 and
  // Allow (the path exists for other methods) in `res`.
  const Route* match(const Request& req, std::vector<std::string>& params, Response& res) const {
    const auto segments = segments_of(req.path);
    // A segment is decoded once, when a route first takes it as a parameter.
    std::vector<std::optional<std::string>> decoded(segments.size());
    const auto parameter = [&](std::size_t i) -> const std::string& {
      if (!decoded[i]) {
        decoded[i] = percent_decoded(segments[i], false);
        if (!decoded[i] || !valid_text(*decoded[i]))
          throw HttpError{400, "invalid_argument", "path", "the path is not valid percent-encoded UTF-8"};
      }
      return *decoded[i];
    };
    std::string allow;
    for (const auto& c : compiled_) {
      if (c.segments.size() != segments.size()) continue;
      std::vector<std::string> found;
      bool same = true;
      for (std::size_t i = 0; same && i < segments.size(); ++i) {
        if (c.segments[i] == "{}") {
          const auto& value = parameter(i);
          same = !value.empty();
          found.push_back(value);
        } else {
          same = c.segments[i] == segments[i];
        }
      }
      if (!same) continue;
      if (c.route->method == req.method) {
        params = std::move(found);
        return c.route;
      }
      if (allow.find(c.route->method) == std::string::npos) allow += (allow.empty() ? "" : ", ") + c.route->method;
    }
    if (allow.empty()) {
      send_error(res, {404, "not_found", "path", "no such route"});
    } else {
      send_error(res, {405, "method_not_allowed", "method", req.method + " is not allowed here; allowed: " + allow});
      res.set_header("Allow", allow);
    }
    return nullptr;
  }

  Services& thread_services() {
    if (!services)
      services = std::make_unique<Services>(shared_.cfg, shared_.options, shared_.passwords, shared_.policy);
    return *services;
  }

  // Runs the route; a read whose connection turns out broken is tried once
  // more on a fresh one (a command is not: it may have been stored).
  void serve(const Route& route, std::vector<std::string> params, const Request& req, Response& res,
             std::string& correlation) {
    // A pooled connection that PostgreSQL closed (a restart) is dropped
    // before it is used, so the request runs on a fresh one.
    if (services && services->stale()) services.reset();
    for (int attempt = 0;; ++attempt) {
      res = Response{};
      std::string lost;  // why the connection went, when it did
      try {
        run_route(route, params, req, res, correlation);
        return;
      } catch (const infra::Unavailable& e) {
        lost = e.what();
      } catch (const pqxx::broken_connection& e) {
        lost = e.what();
      }
      services.reset();  // the next try, or the next request, connects again
      if (attempt == 0 && route.method == "GET") continue;
      spdlog::warn("{} {}: {}", route.method, route.path, infra::first_line(lost));
      send_error(res, {503, "unavailable", "", "the database is unavailable; try again shortly", 1});
      if (!correlation.empty()) res.set_header("X-Correlation-Id", correlation);
      return;
    }
  }

  void run_route(const Route& route, const std::vector<std::string>& params, const Request& req, Response& res,
                 std::string& correlation) {
    try {
      // The correlation id is the client's, within bounds, or a new one.
      correlation = req.get_header_value("X-Correlation-Id");
      if (correlation.size() > kMaxHeaderValue || !printable_ascii(correlation)) {
        correlation.clear();
        throw HttpError{400, "invalid_header", "X-Correlation-Id",
                        "X-Correlation-Id must be at most 200 printable ASCII characters"};
      }
      if (correlation.empty()) correlation = infra::new_uuid();
      res.set_header("X-Correlation-Id", correlation);

      Call call{req, res, shared_, [this]() -> Services& { return thread_services(); }, params, std::nullopt, {}, {}};
      authenticate(call, route);
      if (route.limited_when_anonymous && !call.who)
        if (const auto wait =
                producers::count_anonymous_request(call.services().store, req.remote, shared_.options.anonymous))
          throw HttpError{429, "rate_limited", "",
                          "too many requests without a sign-in, from this address or from everyone; try again later",
                          wait};
      call.ctx.actor = call.who ? call.who->user_id : "anonymous";
      call.ctx.correlation_id = correlation;
      if (auto err = validator_.check_parameters(route.method, route.path, req, params)) throw *err;
      if (auto err = validator_.parse(route.method, route.path, req.body, call.body)) throw *err;
      route.handler(call);
    } catch (const HttpError& e) {
      send_error(res, e);
    } catch (const infra::Busy& e) {
      send_error(res, {503, "busy", "", e.what(), 1});
    } catch (const infra::CommitInDoubt& e) {
      // The connection died during COMMIT: the command may or may not be
      // stored. The client must read before it retries.
      services.reset();
      spdlog::warn("{} {}: {}", route.method, route.path, infra::first_line(e.what()));
      send_error(res, {503, "commit_in_doubt", "",
                       "the database went away while committing: the command may have been stored; read it back "
                       "before retrying",
                       1});
    } catch (const producers::ConcurrencyConflict&) {
      send_error(res, {409, "conflict", "", "the stream kept moving; try again"});
    } catch (const infra::Unavailable&) {
      throw;  // serve() decides whether to try again
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (const pqxx::sql_error& e) {
      // A lock held elsewhere past --lock-timeout-ms, or a statement past
      // its timeout: the request gives up instead of hanging.
      const auto failure = infra::classify_pg(e.sqlstate());
      if (failure != infra::PgFailure::lock && failure != infra::PgFailure::timeout) {
        spdlog::error("{} {}: {}", route.method, route.path, infra::first_line(e.what()));
        send_error(res, {500, "internal", "", "internal error; the server log has the details"});
      } else {
        spdlog::warn("{} {}: {}", route.method, route.path, infra::first_line(e.what()));
        send_error(res, {503, "timeout", "", "the database did not answer in time; try again shortly", 1});
      }
    } catch (const std::invalid_argument& e) {
      send_error(res, {400, "invalid_argument", "", infra::first_line(e.what())});
    } catch (const std::exception& e) {
      // Never a stack trace, nor a message that could quote a client's data.
      spdlog::error("{} {}: {}", route.method, route.path, infra::first_line(e.what()));
      send_error(res, {500, "internal", "", "internal error; the server log has the details"});
    }
  }

  void authenticate(Call& call, const Route& route) {
    const auto header = call.req.get_header_value("Authorization");
    if (!header.empty()) {
      if (!header.starts_with("Bearer ") || header.size() > kMaxHeaderValue)
        throw HttpError{401, "unauthenticated", "Authorization",
                        "use Authorization: Bearer <API key or session token>"};
      call.who = call.services().users.authenticate(header.substr(7));
      if (!call.who)
        throw HttpError{401, "unauthenticated", "Authorization", "the token is unknown, revoked or expired"};
    }
    if (route.access & kAnonymous) return;
    if (!call.who) throw HttpError{401, "unauthenticated", "Authorization", "this route needs a bearer token"};
    const auto bit = role_bit(call.who->role);
    if (bit && (route.access & *bit)) return;
    // "self" is a person on their own account: a service account is not one
    // (it calls only the routes that name kService).
    if ((route.access & kSelf) && call.who->role != domain::users::Role::service && !call.params.empty() &&
        call.params[0] == call.who->user_id)
      return;
    // Refused by the route table, for the caller's role: the field is the
    // credential, as for 401 (a refusal by the domain's finer rules names
    // the field it is about).
    throw HttpError{403, "forbidden", "Authorization",
                    route.method + " " + route.path + " is for: " + describe_access(route.access)};
  }

  Shared shared_;
  RequestValidator validator_;
  ServeMetrics metrics_;
  std::vector<CompiledRoute> compiled_;
};

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

template <class Pairs, class Same>
const std::string* first_of(const Pairs& pairs, std::string_view name, Same same) {
  for (const auto& [k, v] : pairs)
    if (same(k, name)) return &v;
  return nullptr;
}

}  // namespace

bool valid_text(std::string_view s) {
  struct Discard {
    void Put(char) {}
  } sink;
  rapidjson::MemoryStream in(s.data(), s.size());
  while (in.Tell() < s.size())
    if (in.Peek() == '\0' || !rapidjson::UTF8<>::Validate(in, sink)) return false;
  return true;
}

bool Request::has_param(std::string_view name) const {
  return first_of(query, name, std::equal_to<std::string_view>()) != nullptr;
}

std::string Request::get_param_value(std::string_view name) const {
  const auto* v = first_of(query, name, std::equal_to<std::string_view>());
  return v ? *v : std::string();
}

bool Request::has_header(std::string_view name) const {
  return first_of(headers, name, same_name) != nullptr;
}

std::string Request::get_header_value(std::string_view name) const {
  const auto* v = first_of(headers, name, same_name);
  return v ? *v : std::string();
}

void Response::set_header(std::string name, std::string value) {
  for (auto& [k, v] : headers)
    if (same_name(k, name)) {
      v = std::move(value);
      return;
    }
  headers.emplace_back(std::move(name), std::move(value));
}

void Response::set_content(std::string text, std::string type) {
  body = std::move(text);
  content_type = std::move(type);
}

int status_of(domain::ErrorCode code) noexcept {
  switch (code) {
    case domain::ErrorCode::invalid_argument:
      return 400;
    case domain::ErrorCode::not_found:
      return 404;
    case domain::ErrorCode::forbidden:
      return 403;
    case domain::ErrorCode::already_exists:
    case domain::ErrorCode::conflict:
      return 409;
    case domain::ErrorCode::no_change:
    case domain::ErrorCode::rule_violated:
      return 422;
    case domain::ErrorCode::gone:
      return 410;
    case domain::ErrorCode::rate_limited:
      return 429;
  }
  return 400;
}

HttpError from_domain(const domain::DomainError& e) {
  return {status_of(e.code), std::string(domain::to_string(e.code)), e.field, e.message, e.retry_after_seconds};
}

void send_error(Response& res, const HttpError& e) {
  res.status = e.status;
  if (e.retry_after > 0) res.set_header("Retry-After", std::to_string(e.retry_after));
  res.set_content(Json().begin().str("error", e.code).str("field", e.field).str("message", e.message).end().text(),
                  "application/json");
}

Services::Services(const infra::Config& cfg, const ServeOptions& options, infra::PasswordPool& passwords,
                   const producers::LoginPolicy& policy)
    : store(cfg.pg),
      users(store, passwords, policy),
      erasure(store, producers::ErasureSettings{options.erasures_per_hour, options.erasure_token_ttl,
                                                options.erasure_tasks, projections::projection_names()}) {
  store.autocommit([&](pqxx::transaction_base& tx) { limit_waits(tx, options); });
}

bool Services::stale() const {
  return store.connection_closed() || (reads && infra::peer_closed(*reads));
}

void limit_waits(pqxx::transaction_base& tx, const ServeOptions& options) {
  tx.exec_params("SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false)",
                 std::to_string(options.lock_timeout.count()), std::to_string(options.statement_timeout.count()));
}

Shared::Shared(const infra::Config& c, const ServeOptions& o)
    : cfg(c),
      options(o),
      passwords(o.password_slots),
      policy{o.login_max_failures, o.login_window, o.session_ttl},
      started_at(infra::utc_now()),
      jobs(o.projection_job) {}

std::string Call::field(const char* name) const {
  const auto it = body.FindMember(name);
  if (it == body.MemberEnd() || !it->value.IsString())
    throw HttpError{400, "invalid_argument", name, std::string(name) + " is required"};
  return {it->value.GetString(), it->value.GetStringLength()};
}

std::optional<std::string> Call::optional_field(const char* name) const {
  const auto it = body.FindMember(name);
  if (it == body.MemberEnd() || !it->value.IsString()) return std::nullopt;
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

std::int64_t Call::int_field(const char* name) const {
  const auto it = body.FindMember(name);
  if (it == body.MemberEnd() || !it->value.IsInt64())
    throw HttpError{400, "invalid_argument", name, std::string(name) + " is required and must be an integer"};
  return it->value.GetInt64();
}

std::optional<bool> Call::optional_bool(const char* name) const {
  const auto it = body.FindMember(name);
  if (it == body.MemberEnd() || !it->value.IsBool()) return std::nullopt;
  return it->value.GetBool();
}

std::string Call::json_field(const char* name, const std::string& absent) const {
  const auto it = body.FindMember(name);
  if (it == body.MemberEnd()) return absent;
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  it->value.Accept(w);
  return {buf.GetString(), buf.GetSize()};
}

void Call::json(int status, const std::string& text) {
  res.status = status;
  res.set_content(text, "application/json");
}

void Call::written(int status, const std::string& id, const producers::Written& events,
                   const std::function<void(Json&)>& extra) {
  Json j;
  j.begin().str("id", id);
  if (!events.empty()) {
    j.num("stream_version", events.back().stream_version).num("position", events.back().global_position);
    res.set_header("ETag", "\"" + std::to_string(events.back().stream_version) + "\"");
  }
  if (extra) extra(j);
  json(status, j.end().text());
}

int serve(const infra::Config& cfg, const ServeOptions& options, const std::atomic<bool>& stop) {
  infra::check_index_key();
  return Server(cfg, options).run(stop);
}

}  // namespace lethe::api
