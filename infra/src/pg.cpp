#include "lethe/infra/pg.hpp"

#include <poll.h>

#include <map>
#include <mutex>
#include <regex>
#include <stdexcept>
#include <utility>

#include "lethe/infra/errors.hpp"

namespace lethe::infra {

namespace {

// "postgresql://user:secret@host/db" -> "postgresql://user@host/db"; also
// drops password=... from key/value strings. Error lines must not leak it.
std::string redact(const std::string& conninfo) {
  static const std::regex uri_pw(R"((://[^:/@]+):[^@/]*@)");
  static const std::regex kv_pw(R"(password\s*=\s*\S+)");
  return std::regex_replace(std::regex_replace(conninfo, uri_pw, "$1@"), kv_pw, "password=***");
}

std::string quote_element(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace

namespace {

constexpr std::pair<const char*, const char*> kClientKeepalives[] = {
    {"keepalives", "1"},
    {"keepalives_idle", "10"},
    {"keepalives_interval", "5"},
    {"keepalives_count", "3"},
    {"tcp_user_timeout", "30000"},  // ms: unacknowledged data for this long ends the
                                    // connection
    {"connect_timeout", "5"},       // s: a server that does not answer is not waited for
};

// The server side of the same watch, and no NOTICE chatter ("relation
// already exists, skipping"); warnings and errors still reach us.
constexpr const char* kSessionSql =
    "SELECT set_config('client_min_messages', 'warning', false),"
    " set_config('tcp_keepalives_idle', '10', false), set_config('tcp_keepalives_interval', '5', false),"
    " set_config('tcp_keepalives_count', '3', false), set_config('tcp_user_timeout', '30000', false)";

// The connection string each connection was opened with (by connect),
// with its server process id, which tells a later connection at the same
// address apart.
struct Opened {
  int pid = 0;
  std::string conninfo;
};
std::mutex& opened_mutex() {
  static std::mutex m;
  return m;
}
std::map<const pqxx::connection_base*, Opened>& opened_connections() {
  static std::map<const pqxx::connection_base*, Opened> opened;
  return opened;
}

}  // namespace

std::string conninfo_of(const pqxx::connection_base& conn) {
  std::lock_guard lock(opened_mutex());
  const auto& opened = opened_connections();
  const auto it = opened.find(&conn);
  return it != opened.end() && it->second.pid == conn.backendpid() ? it->second.conninfo : std::string();
}

std::string with_keepalives(const std::string& conninfo) {
  const bool uri = conninfo.find("://") != std::string::npos;
  std::string out = conninfo;
  for (const auto& [key, value] : kClientKeepalives) {
    if (conninfo.find(std::string(key) + "=") != std::string::npos) continue;  // the operator's choice wins
    if (uri)
      out += std::string(out.find('?') == std::string::npos ? "?" : "&") + key + "=" + value;
    else
      out += std::string(" ") + key + "=" + value;
  }
  return out;
}

bool peer_closed(const pqxx::connection& conn) {
  if (!conn.is_open()) return true;
  pollfd p{conn.sock(), POLLIN, 0};
  return ::poll(&p, 1, 0) != 0;
}

std::unique_ptr<pqxx::connection> connect(const std::string& conninfo, const std::string& application_name) {
  try {
    std::string full = with_keepalives(conninfo);
    if (conninfo.find("application_name=") == std::string::npos)
      full +=
          std::string(full.find("://") != std::string::npos ? (full.find('?') == std::string::npos ? "?" : "&") : " ") +
          "application_name=" + application_name;
    auto conn = std::make_unique<pqxx::connection>(full);
    // libpqxx would otherwise reconnect silently on the next statement,
    // dropping session state (advisory locks, temp tables) behind our back.
    // A broken connection stays broken; its owner reconnects on purpose.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    conn->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    pqxx::nontransaction(*conn).exec(kSessionSql);
    std::lock_guard lock(opened_mutex());
    opened_connections()[conn.get()] = {conn->backendpid(), conninfo};
    return conn;
  } catch (const pqxx::broken_connection& e) {
    throw Unavailable("PostgreSQL unreachable at " + redact(conninfo) + " (" + first_line(e.what()) +
                      "): is it running and does the database exist? Start it with scripts/postgres start, "
                      "or set LETHE_PG / --pg");
  }
}

void rethrow_pg(const std::string& what) {
  try {
    throw;
  } catch (const pqxx::in_doubt_error& e) {
    throw CommitInDoubt(what + ": commit outcome unknown (" + first_line(e.what()) + ")");
  } catch (const pqxx::broken_connection& e) {
    throw Unavailable(what + ": PostgreSQL connection lost (" + first_line(e.what()) +
                      "); is scripts/postgres running?");
  } catch (const pqxx::undefined_table& e) {
    throw Misconfigured(what + ": " + first_line(e.what()) + "; run `lethe migrate` first");
  }
}

PgFailure classify_pg(std::string_view s) noexcept {
  if (s == "57014") return PgFailure::timeout;
  if (s == "55P03") return PgFailure::lock;
  if (s.starts_with("42") || s == "23502" || s == "23503" || s == "22P04") return PgFailure::schema;
  if (s.starts_with("22") || s.starts_with("23")) return PgFailure::constraint;
  if (s == "LE410") return PgFailure::erased;
  if (s.starts_with("08") || s == "57P01" || s == "57P02" || s == "57P03") return PgFailure::connection;
  return PgFailure::other;
}

std::string prepared_name(pqxx::transaction_base& tx, const char* sql) {
  // The name is the text's hash; libpqxx keeps the definitions per
  // connection and prepares on first use; the same definition again is a
  // no-op.
  auto name = "lethe_" + std::to_string(std::hash<std::string_view>{}(sql));
  tx.conn().prepare(name, sql);
  return name;
}

std::vector<TableColumn> table_columns(pqxx::transaction_base& tx, const std::vector<std::string>& tables) {
  std::vector<TableColumn> out;
  for (const auto& row :
       exec_hot(tx,
                "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod),"
                " coalesce(col_description(c.oid, a.attnum), '')"
                " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
                " WHERE c.oid IN (SELECT to_regclass(t) FROM unnest($1::text[]) AS t) AND a.attnum > 0"
                " AND NOT a.attisdropped ORDER BY c.relname, a.attnum",
                pg_text_array(tables)))
    out.push_back({row[0].c_str(), row[1].c_str(), row[2].c_str(), row[3].c_str()});
  return out;
}

pqxx::dbtransaction& Tx::db() const {
  if (db_ == nullptr) throw std::logic_error("a statement that needs a transaction ran in autocommit");
  return *db_;
}

std::string first_line(std::string_view text) {
  return std::string(text.substr(0, text.find('\n')));
}

std::string pg_text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += quote_element(items[i]);
  }
  out += '}';
  return out;
}

std::string pg_bigint_array(const std::vector<long long>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(items[i]);
  }
  out += '}';
  return out;
}

std::string with_search_path(const std::string& conninfo, const std::string& schema) {
  // libpq accepts URI query parameters and key/value pairs alike.
  const std::string option = "options=-csearch_path%3D" + schema;
  if (conninfo.find("://") != std::string::npos) {
    return conninfo + (conninfo.find('?') == std::string::npos ? "?" : "&") + option;
  }
  return conninfo + " options='-csearch_path=" + schema + "'";
}

std::string search_path_of(const std::string& conninfo) {
  static const std::regex option(R"(search_path(?:%3D|=)([A-Za-z0-9_]+))");
  std::smatch m;
  return std::regex_search(conninfo, m, option) ? m[1].str() : std::string();
}

}  // namespace lethe::infra
