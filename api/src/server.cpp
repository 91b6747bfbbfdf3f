#include "lethe/api/server.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <regex>
#include <thread>

#include "http.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/ids.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/projections/projection.hpp"
#include "routes.hpp"
#include "validation.hpp"

namespace lethe::api {

namespace {

constexpr std::size_t kMaxHeaderValue = 200;
constexpr int kListenBacklog = 1024;  // correlation ids land in events, whose fields are bounded

// The route a worker thread is serving, for the request log line.
thread_local const char* current_route = nullptr;
thread_local std::string current_correlation;
thread_local std::unique_ptr<Services> services;

std::string to_regex(const std::string& path) {
  return std::regex_replace(path, std::regex(R"(\{[a-z_]+\})"), "([^/]+)");
}

bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char ch) { return ch >= 0x20 && ch < 0x7f; });
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
  }
  return std::nullopt;
}

class Server {
 public:
  Server(const infra::Config& cfg, const ServeOptions& options)
      : shared_(cfg, options), validator_(openapi_document()) {}

  int run(const std::atomic<bool>& stop) {
    const auto& o = shared_.options;
    svr_.new_task_queue = [n = o.threads] { return new httplib::ThreadPool(static_cast<std::size_t>(n)); };
    // httplib writes headers and body in two sends: without TCP_NODELAY the
    // body waits for the client's delayed ACK (~40 ms per request). A
    // keep-alive connection holds its worker thread until it idles out, so
    // the idle timeout is short: clients beyond --threads wait at most that.
    svr_.set_tcp_nodelay(true);
    svr_.set_keep_alive_max_count(1000000);
    svr_.set_keep_alive_timeout(5);
    svr_.set_payload_max_length(o.max_body_bytes);
    svr_.set_read_timeout(10, 0);
    svr_.set_write_timeout(10, 0);
    for (const auto& route : routes()) {
      const auto pattern = to_regex(route.path);
      auto handler = [this, &route](const httplib::Request& req, httplib::Response& res) { serve(route, req, res); };
      if (route.method == "GET") svr_.Get(pattern, handler);
      if (route.method == "POST") svr_.Post(pattern, handler);
      if (route.method == "PUT") svr_.Put(pattern, handler);
      if (route.method == "PATCH") svr_.Patch(pattern, handler);
      if (route.method == "DELETE") svr_.Delete(pattern, handler);
    }
    // Whatever httplib answers by itself (no route, body too large, a header
    // line too long, a malformed request) is JSON too.
    svr_.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return;
      const auto status = res.status;
      if (status == 404)
        send_error(res, {404, "not_found", "path", "no such route"});
      else if (status == 413)
        send_error(res, {413, "payload_too_large", "", "the body is larger than the server accepts"});
      else
        send_error(res, {status, status == 405 ? "method_not_allowed" : "bad_request", "",
                         "the request could not be read as HTTP/1.1 (a header line too long, or malformed)"});
    });
    svr_.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
      started = std::chrono::steady_clock::now();
      current_route = nullptr;
      current_correlation.clear();
      // httplib bounds a body by its Content-Length only: a chunked body
      // would be read whole, however large. Refused before it is read.
      auto encoding = req.get_header_value("Transfer-Encoding");
      std::transform(encoding.begin(), encoding.end(), encoding.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      if (encoding.find("chunked") != std::string::npos) {
        res.set_header("Connection", "close");
        send_error(res, {411, "length_required", "Transfer-Encoding",
                         "send the body with a Content-Length; chunked bodies are not accepted"});
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    svr_.set_logger([](const httplib::Request& req, const httplib::Response& res) { log_request(req, res); });

    // httplib's own socket options set SO_REUSEPORT, which would let a second
    // server bind the same port unnoticed; ours set SO_REUSEADDR only. The
    // library listens with a backlog of 5, so a burst of new connections
    // would be dropped: once bound, the socket listens again with a deep one.
    int listen_fd = -1;
    svr_.set_socket_options([&listen_fd](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      listen_fd = sock;
    });
    if (!svr_.bind_to_port(o.host, o.port)) {
      spdlog::error("serve: cannot listen on {}:{} (in use, or not an address of this machine)", o.host, o.port);
      return 2;
    }
    if (listen_fd >= 0 && ::listen(listen_fd, kListenBacklog) != 0)
      spdlog::warn("serve: could not deepen the listen backlog: {}", std::strerror(errno));
    std::thread watcher([&] {
      while (!stop.load() && !svr_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      spdlog::info("serve: stopping; requests in flight finish first");
      svr_.stop();
    });
    spdlog::info("serve: listening on http://{}:{} with {} worker threads, {} password slots", o.host, o.port,
                 o.threads, o.password_slots);
    svr_.listen_after_bind();
    watcher.join();
    spdlog::info("serve: stopped");
    return 0;
  }

 private:
  static thread_local std::chrono::steady_clock::time_point started;

  static void log_request(const httplib::Request& req, const httplib::Response& res) {
    const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    // Method, route pattern (never the raw path or query), status, time and
    // correlation id: nothing a client sent as data.
    spdlog::info("http {} {} {} {:.1f}ms correlation={}", req.method, current_route ? current_route : "(no route)",
                 res.status, ms, current_correlation);
    current_route = nullptr;
    current_correlation.clear();
  }

  Services& thread_services() {
    if (!services)
      services = std::make_unique<Services>(shared_.cfg, shared_.options, shared_.passwords, shared_.policy);
    return *services;
  }

  void serve(const Route& route, const httplib::Request& req, httplib::Response& res) {
    current_route = route.path.c_str();
    try {
      // The correlation id is the client's, within bounds, or a new one.
      std::string correlation = req.get_header_value("X-Correlation-Id");
      if (correlation.size() > kMaxHeaderValue || !printable_ascii(correlation))
        throw HttpError{400, "invalid_header", "X-Correlation-Id",
                        "X-Correlation-Id must be at most 200 printable ASCII characters"};
      if (correlation.empty()) correlation = infra::new_uuid();
      current_correlation = correlation;
      res.set_header("X-Correlation-Id", correlation);

      Call call{req, res, shared_, [this]() -> Services& { return thread_services(); }, {}, std::nullopt, {}, {}};
      for (std::size_t i = 1; i < req.matches.size(); ++i) call.params.push_back(req.matches[i].str());
      authenticate(call, route);
      call.ctx.actor = call.who ? call.who->user_id : "anonymous";
      call.ctx.correlation_id = correlation;
      if (auto err = validator_.parse(route.method, route.path, req.body, call.body)) throw *err;
      route.handler(call);
    } catch (const HttpError& e) {
      send_error(res, e);
    } catch (const infra::Busy& e) {
      send_error(res, {503, "busy", "", e.what(), 1});
    } catch (const infra::Unavailable& e) {
      services.reset();  // the next request connects again
      spdlog::warn("{} {}: {}", route.method, route.path, infra::first_line(e.what()));
      send_error(res, {503, "unavailable", "", "the database is unavailable; try again shortly", 1});
    } catch (const pqxx::broken_connection& e) {
      services.reset();
      spdlog::warn("{} {}: {}", route.method, route.path, infra::first_line(e.what()));
      send_error(res, {503, "unavailable", "", "the database is unavailable; try again shortly", 1});
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
    } catch (const pqxx::sql_error& e) {
      // A lock held elsewhere past --lock-timeout-ms, or a statement past
      // its timeout: the request gives up instead of hanging.
      const auto state = e.sqlstate();
      if (state != "55P03" && state != "57014") {
        spdlog::error("{} {}: {}", route.method, route.path, infra::first_line(e.what()));
        send_error(res, {500, "internal", "", "internal error; the server log has the details"});
      } else {
        spdlog::warn("{} {}: {}", route.method, route.path, infra::first_line(e.what()));
        send_error(res, {503, "timeout", "", "the database did not answer in time; try again shortly", 1});
      }
    } catch (const pqxx::usage_error& e) {
      spdlog::error("{} {}: {}", route.method, route.path, infra::first_line(e.what()));
      send_error(res, {500, "internal", "", "internal error; the server log has the details"});
    } catch (const pqxx::argument_error& e) {
      spdlog::error("{} {}: {}", route.method, route.path, infra::first_line(e.what()));
      send_error(res, {500, "internal", "", "internal error; the server log has the details"});
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
    if ((route.access & kSelf) && !call.params.empty() && call.params[0] == call.who->user_id) return;
    // Refused by the route table, for the caller's role: the field is the
    // credential, as for 401 (a refusal by the domain's finer rules names
    // the field it is about).
    throw HttpError{403, "forbidden", "Authorization",
                    route.method + " " + route.path + " is for: " + describe_access(route.access)};
  }

  Shared shared_;
  RequestValidator validator_;
  httplib::Server svr_;
};

thread_local std::chrono::steady_clock::time_point Server::started;

}  // namespace

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

void send_error(httplib::Response& res, const HttpError& e) {
  res.status = e.status;
  if (e.retry_after > 0) res.set_header("Retry-After", std::to_string(e.retry_after));
  res.set_content(Json().begin().str("error", e.code).str("field", e.field).str("message", e.message).end().text(),
                  "application/json");
}

Services::Services(const infra::Config& cfg, const ServeOptions& options, infra::PasswordPool& passwords,
                   const producers::LoginPolicy& policy)
    : store(cfg.pg),
      users(store, passwords, policy),
      tickets(store),
      shop(store),
      billing(store),
      content(store),
      files(store),
      email(store),
      erasure(store, producers::ErasureSettings{options.erasures_per_hour, options.erasure_token_ttl,
                                                options.erasure_tasks, projections::projection_names()}) {
  store.autocommit([&](pqxx::transaction_base& tx) { limit_waits(tx, options); });
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
      started_at(infra::utc_now()) {}

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
