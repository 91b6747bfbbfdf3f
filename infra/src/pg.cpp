#include "lethe/infra/pg.hpp"

#include <regex>

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

std::string first_line(const char* text) {
  std::string s(text);
  if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  return s;
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

std::unique_ptr<pqxx::connection> connect(const std::string& conninfo) {
  try {
    auto conn = std::make_unique<pqxx::connection>(conninfo);
    // libpqxx would otherwise reconnect silently on the next statement,
    // dropping session state (advisory locks, temp tables) behind our back.
    // A broken connection stays broken; its owner reconnects on purpose.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    conn->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    // NOTICEs such as "relation already exists, skipping" are expected
    // chatter; warnings and errors still reach us.
    conn->set_variable("client_min_messages", "warning");
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

}  // namespace lethe::infra
