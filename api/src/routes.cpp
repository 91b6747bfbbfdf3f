#include "routes.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <mutex>
#include <thread>

#include "console.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/infra/access.hpp"
#include "lethe/infra/pg.hpp"
#include "ready.hpp"
#include "route_kit.hpp"
#include "users.hpp"

namespace lethe::api {

namespace {

// Whether the read models reflect version `version` of `stream`. Streams
// without a read model to wait for (sessions, login attempts) always do.
bool reflects(pqxx::transaction_base& tx, const std::string& stream, std::int64_t version) {
  for (const auto& d : domain_routes())
    for (const auto& f : d.freshness)
      if (stream.starts_with(f.stream_prefix))
        return run(tx, f.query, stream.substr(f.stream_prefix.size()), version)[0][0].as<bool>();
  return true;
}

void health(Call& c) {
  c.json(200, Json().begin().str("status", "alive").str("started_at", c.shared.started_at).end().text());
}

}  // namespace

pqxx::connection& reads(Call& c) {
  auto& conn = c.services().reads;
  if (!conn || !conn->is_open()) {
    conn = infra::connect(c.shared.cfg.pg, "lethe-serve-reads");
    pqxx::nontransaction tx(*conn);
    limit_waits(tx, c.shared.options);
  }
  return *conn;
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

std::string email_index_param(const Call& c) {
  constexpr std::size_t kMaxEmail = 254;  // RFC 5321's longest path
  const auto email = c.req.get_param_value("email");
  if (email.empty()) return {};
  if (email.size() > kMaxEmail)
    throw HttpError{400, "invalid_argument", "email", "email must be at most 254 characters"};
  return infra::email_index_hex(domain::users::normalize_email(email));
}

namespace {

// ?wait_ms, at most the server's --max-wait-ms (a longer one waits that long).
std::int64_t wait_ms_of(const Call& c) {
  const auto max_ms = static_cast<std::int64_t>(c.shared.options.max_wait.count());
  return std::min(int_param(c, "wait_ms", 0, INT64_MAX).value_or(max_ms), max_ms);
}

// A wait holds no worker: a handler that must wait throws WaitAgain, and
// the server answers the request again after a pause (1 ms, doubling to
// 20 ms) until the read model shows the write or the deadline passes. One
// caller (a signed-in person, or an address) has at most kWaitsPerCaller
// waits at once (429 beyond).
constexpr int kWaitsPerCaller = 4;

class WaitSlots {
 public:
  // A share of `caller`'s waits, given back when the last copy is dropped;
  // throws 429 when the caller holds them all.
  std::shared_ptr<void> take(const std::string& caller) {
    std::lock_guard lock(mutex_);
    auto& mine = per_caller_[caller];
    if (mine >= kWaitsPerCaller)
      throw HttpError{429, "rate_limited", "wait_ms",
                      "at most " + std::to_string(kWaitsPerCaller) + " waiting queries at once per caller", 1};
    ++mine;
    return std::shared_ptr<void>(nullptr, [this, caller](void*) { give_back(caller); });
  }

 private:
  void give_back(const std::string& caller) {
    std::lock_guard lock(mutex_);
    if (--per_caller_[caller] == 0) per_caller_.erase(caller);
  }
  std::mutex mutex_;
  std::map<std::string, int> per_caller_;
};

WaitSlots& wait_slots() {
  static WaitSlots slots;
  return slots;
}

// Until `seen` holds or wait_ms runs out (then the answer is marked stale),
// looking again after 1 ms, doubling up to `longest` between looks.
template <class Seen>
void wait_for(Call& c, std::int64_t wait_ms, Seen&& seen,
              std::chrono::milliseconds longest = std::chrono::milliseconds(20)) {
  {
    pqxx::read_transaction tx(reads(c));
    if (seen(tx)) return;
  }
  auto& wait = c.req.wait;
  const auto now = std::chrono::steady_clock::now();
  if (!wait.deadline) {
    if (wait_ms <= 0) return c.res.set_header("X-Lethe-Stale", "true");
    wait.slot = wait_slots().take(c.who ? "user:" + c.who->user_id : "address:" + c.req.remote);
    wait.deadline = now + std::chrono::milliseconds(wait_ms);
  } else {
    wait.pause = std::min(wait.pause * 2, longest);
  }
  if (now >= *wait.deadline) return c.res.set_header("X-Lethe-Stale", "true");
  throw WaitAgain{};
}

}  // namespace

void await_reflection(Call& c, const std::string& resource_stream) {
  const auto position = int_param(c, "min_position", 1, INT64_MAX);
  const auto version = resource_stream.empty() ? std::nullopt : int_param(c, "min_version", 1, INT64_MAX);
  if (!position && !version) return;
  const auto wait_ms = wait_ms_of(c);
  auto& wait = c.req.wait;
  if (!wait.deadline) {  // the first answer: what to wait for
    wait.stream = version ? resource_stream : "";
    wait.version = version.value_or(0);
    auto& conn = reads(c);
    if (version) {
      // Only a version that was written can be waited for; the route says
      // so once it knows the caller may see the resource (ensure_found).
      pqxx::read_transaction tx(conn);
      if (tx.exec_params("SELECT 1 FROM events WHERE stream_id = $1 AND stream_version = $2", wait.stream, wait.version)
              .empty()) {
        wait.unwritten = true;
        return;
      }
    }
    if (position) {
      pqxx::read_transaction tx(conn);
      const auto r =
          tx.exec_params("SELECT stream_id, stream_version FROM events WHERE global_position = $1", *position);
      if (r.empty()) throw HttpError{404, "not_found", "min_position", "no event has this position"};
      wait.stream = r[0][0].c_str();
      wait.version = r[0][1].as<std::int64_t>();
    }
  }
  wait_for(c, wait_ms, [&](pqxx::transaction_base& tx) { return reflects(tx, wait.stream, wait.version); });
}

void await_event(Call& c, const char* table, bool (*kept)(std::string_view type)) {
  const auto position = int_param(c, "min_position", 1, INT64_MAX);
  if (!position) return;
  const auto wait_ms = wait_ms_of(c);
  auto& wait = c.req.wait;
  if (!wait.deadline) {  // the first answer: the event to wait for (its id in wait.stream)
    pqxx::read_transaction tx(reads(c));
    const auto r = tx.exec_params("SELECT event_id::text, type FROM events WHERE global_position = $1", *position);
    if (r.empty()) throw HttpError{404, "not_found", "min_position", "no event has this position"};
    if (!kept(r[0][1].c_str())) return;  // the log never holds it: nothing to wait for
    wait.stream = r[0][0].c_str();
  }
  const auto sql = std::string("SELECT 1 FROM ") + table + " WHERE event_id = $1::uuid";
  wait_for(c, wait_ms, [&](pqxx::transaction_base& tx) { return !tx.exec_params(sql, wait.stream).empty(); });
}

void changes(Call& c) {
  // Every batch of every projection moves its offsets forward (a cut-over
  // may move them back): their sum changes whenever a read model does.
  constexpr const char* kProgressSql = "SELECT coalesce(sum(next_offset), 0)::bigint FROM projection_offsets";
  const auto after = int_param(c, "after", 0, INT64_MAX);
  std::int64_t now = 0;
  const auto moved = [&](pqxx::transaction_base& tx) {
    now = tx.exec(kProgressSql)[0][0].as<std::int64_t>();
    return !after || now != *after;
  };
  // A console keeps this open all the time: it looks every 250 ms at most,
  // not every 20 ms like a read-your-writes wait.
  wait_for(c, after ? wait_ms_of(c) : 0, moved, std::chrono::milliseconds(250));
  c.json(200, Json().begin().num("progress", now).boolean("changed", !after || now != *after).end().text());
}

bool admin_or_owner(const Call& c) {
  return c.who && (c.who->role == domain::users::Role::admin || c.who->role == domain::users::Role::owner);
}

void ensure_found(const Call& c, bool found, const char* what) {
  if (!found) throw HttpError{404, "not_found", "id", std::string("no such ") + what};
  if (c.req.wait.unwritten) throw HttpError{404, "not_found", "min_version", "the stream has no such version"};
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

Page page_of(const Call& c) {
  // Deep offsets make PostgreSQL read and skip every row before them.
  constexpr std::int64_t kMaxOffset = 100'000;
  return {int_param(c, "limit", 1, 500).value_or(50), int_param(c, "offset", 0, kMaxOffset).value_or(0)};
}

void page_json(Json& j, const Page& p, std::size_t rows, const std::string& prefix) {
  j.num(prefix + "limit", p.limit).num(prefix + "offset", p.offset);
  if (static_cast<std::int64_t>(rows) == p.limit)
    j.num(prefix + "next_offset", p.offset + p.limit);
  else
    j.null(prefix + "next_offset");
}

void Opened::add(const projections::Query& query, const pqxx::result& rows) {
  for (const auto* column : query.sealed) {
    if (column == nullptr) break;
    columns_.emplace_back(column);
    const auto at = rows.column_number(column);
    for (const auto& r : rows)
      if (!r[at].is_null())
        for (auto& s : domain::sealed_text_subjects(r[at].c_str())) subjects_.push_back(std::move(s));
  }
}

bool Opened::sealed(std::string_view column) const {
  return std::find(columns_.begin(), columns_.end(), column) != columns_.end();
}

const std::map<std::string, infra::PersonKey>& Opened::keys() {
  if (!keys_) {
    std::sort(subjects_.begin(), subjects_.end());
    subjects_.erase(std::unique(subjects_.begin(), subjects_.end()), subjects_.end());
    keys_ = infra::load_person_keys(tx_, subjects_);
  }
  return *keys_;
}

std::string Opened::text(const pqxx::field& f) {
  if (f.is_null()) return {};
  if (!sealed(f.name())) return f.c_str();
  auto opened = domain::open_sealed_text(f.c_str(), domain::lookup_in(keys()));
  if (!opened) throw std::runtime_error(std::string("column ") + f.name() + ": " + opened.error().message);
  return opened.value().value_or(std::string());
}

std::string Opened::json(const pqxx::field& f) {
  if (f.is_null()) return "null";
  if (!sealed(f.name())) return f.c_str();
  auto opened = domain::open_sealed_json(f.c_str(), domain::lookup_in(keys()));
  if (!opened) throw std::runtime_error(std::string("column ") + f.name() + ": " + opened.error().message);
  return std::move(opened).value();
}

void row_fields(Json& j, const pqxx::row& r, Opened* opened) {
  // PostgreSQL type oids: bool, int8, int2, int4, json, jsonb.
  constexpr pqxx::oid kBool = 16, kInt8 = 20, kInt2 = 21, kInt4 = 23, kJson = 114, kJsonb = 3802;
  for (const auto& f : r) {
    const auto type = f.type();
    if (f.is_null())
      j.null(f.name());
    else if (opened && opened->sealed(f.name()))
      j.str_or_null(f.name(), opened->text(f));
    else if (type == kBool)
      j.boolean(f.name(), f.as<bool>());
    else if (type == kInt8 || type == kInt2 || type == kInt4)
      j.num(f.name(), f.as<std::int64_t>());
    else if (type == kJson || type == kJsonb)
      j.raw(f.name(), f.c_str());
    else
      j.str(f.name(), f.c_str());
  }
}

void row_json(Json& j, const pqxx::row& r, Opened* opened) {
  j.begin();
  row_fields(j, r, opened);
  j.end();
}

void page_of_rows(Call& c, const char* name, const pqxx::result& rows, const Page& page, Opened* opened) {
  Json j;
  j.begin().begin_array(name);
  for (const auto& r : rows) row_json(j, r, opened);
  j.end_array();
  page_json(j, page, rows.size());
  c.json(200, j.end().text());
}

const std::vector<Route>& routes() {
  static const std::vector<Route> all = [] {
    std::vector<Route> out{
        {"GET", "/health", kAnyone, health},
        {"GET", "/ready", kAnyone, ready},
        {"GET", "/operations", kStaffUp | kAuditor, operations},
        {"GET", "/changes", kStaffUp | kAuditor, changes},
        {"GET", "/console", kAnyone, console_page},
        {"GET", "/console/{file}", kAnyone, console_file},
    };
    for (const auto& d : domain_routes()) out.insert(out.end(), d.routes.begin(), d.routes.end());
    return out;
  }();
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
  add(kService, "service");
  add(kSelf, "self");
  return out;
}

std::vector<RouteInfo> route_table() {
  std::vector<RouteInfo> out;
  for (const auto& r : routes()) out.push_back({r.method, r.path, describe_access(r.access)});
  return out;
}

}  // namespace lethe::api
