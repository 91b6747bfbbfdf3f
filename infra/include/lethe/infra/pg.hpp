#pragma once
// The one place where libpqxx errors become lethe errors. Layers include this
// from their .cpp files only; their public headers stay free of libpqxx.
#include <functional>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <vector>

// A timestamp expression as RFC 3339 in UTC to the microsecond, as the
// store writes times (a deadline as stored, never rounded down; two such
// texts compare as their times do).
#define LETHE_UTC_US(x) "to_char((" x ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

namespace lethe::infra {

// A transaction as the public headers of the layers above name it (they
// declare `class Tx;` and nothing of the driver): a handle, passed by
// value, to a libpqxx transaction that lives elsewhere. The code that runs
// statements on it includes this header and hands it to libpqxx as a
// transaction_base (implicitly), or asks for the real transaction where it
// needs one (db()). It is made from a transaction implicitly, so a caller
// holding a pqxx::work passes that.
class Tx {
 public:
  // A handle of tx: a real transaction, or a nontransaction (autocommit).
  Tx(pqxx::transaction_base& tx) noexcept : base_(&tx), db_(dynamic_cast<pqxx::dbtransaction*>(&tx)) {}  // NOLINT
  operator pqxx::transaction_base&() const noexcept { return *base_; }                                   // NOLINT
  pqxx::transaction_base& driver() const noexcept { return *base_; }
  // The transaction itself (savepoints, COPY, statements that must commit
  // together); throws std::logic_error for a handle of a nontransaction.
  pqxx::dbtransaction& db() const;

 private:
  pqxx::transaction_base* base_;
  pqxx::dbtransaction* db_;
};

// Opens a connection, or throws Unavailable with a line that names the
// server tried (password elided) and what to run.
//
// Both ends watch the TCP connection, so that a silent network drop (no FIN,
// no RST) is noticed in about half a minute instead of the kernel's two
// hours: libpq gets keepalives (idle 10 s, every 5 s, 3 probes) and a TCP
// user timeout of 30 s unless the connection string sets them; the server
// session gets the same through its tcp_keepalives_* and tcp_user_timeout
// settings, so a dead client's session, and the locks it holds, go too.
// A connection attempt gives up after 5 s (connect_timeout) unless the
// connection string says otherwise. application_name shows in
// pg_stat_activity.
std::unique_ptr<pqxx::connection> connect(const std::string& conninfo, const std::string& application_name = "lethe");

// The connection string conn was opened with by connect ("" for one opened
// otherwise): the keyring finds its own database from it.
std::string conninfo_of(const pqxx::connection_base& conn);

// Whether an idle connection was closed by the server (a restart or an
// ended session), seen without a round trip: an idle healthy connection has
// nothing to read, one whose server said goodbye is readable (the FATAL
// message, then end of file). Call it only between transactions.
bool peer_closed(const pqxx::connection& conn);

// conninfo with the keepalive parameters above added where it lacks them.
std::string with_keepalives(const std::string& conninfo);

// Runs fn, translating libpqxx exceptions: broken connections become
// Unavailable, in-doubt commits CommitInDoubt, a missing table Misconfigured
// ("run lethe migrate"). Other SQL errors pass through.
template <class Fn>
decltype(auto) translate_pg(const std::string& what, Fn&& fn);

[[noreturn]] void rethrow_pg(const std::string& what);

// What a PostgreSQL error says, by its SQLSTATE: the one classification
// every layer uses.
enum class PgFailure {
  timeout,     // 57014 query_canceled: statement_timeout ran out
  lock,        // 55P03 lock_not_available: lock_timeout ran out, or NOWAIT
  schema,      // the schema and the code disagree, whatever the data: class 42 (undefined column or
               // table, datatype mismatch), 23502 a NOT NULL column nobody fills, 23503 a foreign
               // key the writer runs ahead of, 22P04 COPY rows that no longer match the table
  constraint,  // a value that cannot be stored: the rest of classes 22 (data) and 23 (integrity)
  erased,      // LE410, from lethe_fence: a write naming an erased person
  connection,  // class 08, and 57P01-57P03: the server shut down or is starting
  other,
};
PgFailure classify_pg(std::string_view sqlstate) noexcept;

// The first line of a server message (PostgreSQL adds DETAIL and HINT lines).
std::string first_line(std::string_view text);

// Renders a PostgreSQL array literal ('{"a","b"}') for a text[] parameter,
// quoting every element, so that no input is pasted into SQL.
std::string pg_text_array(const std::vector<std::string>& items);
std::string pg_bigint_array(const std::vector<long long>& items);

// A connection string with the given schema first on the search_path: each
// test and benchmark gets a schema of its own this way.
std::string with_search_path(const std::string& conninfo, const std::string& schema);
// The schema with_search_path put first in conninfo ("" when none).
std::string search_path_of(const std::string& conninfo);

// A column of a table as the catalog holds it: its type as format_type()
// names it ("timestamp with time zone") and its comment ("" for none).
struct TableColumn {
  std::string table, column, type, comment;
};
// The columns of these tables (names as to_regclass reads them: "users",
// or "schema"."table" quoted), by table name, then in the tables' order.
// A table that does not exist has none.
std::vector<TableColumn> table_columns(pqxx::transaction_base& tx, const std::vector<std::string>& tables);

// Runs a statement of the program's own text (never built from input) as a
// prepared statement of tx's connection: parsed and planned once per
// connection instead of on every call. For statements run on every request.
std::string prepared_name(pqxx::transaction_base& tx, const char* sql);
template <class... Args>
pqxx::result exec_hot(pqxx::transaction_base& tx, const char* sql, Args&&... args) {
  return tx.exec_prepared(prepared_name(tx, sql), std::forward<Args>(args)...);
}

template <class Fn>
decltype(auto) translate_pg(const std::string& what, Fn&& fn) {
  try {
    return std::forward<Fn>(fn)();
  } catch (const pqxx::broken_connection&) {
    rethrow_pg(what);
  } catch (const pqxx::in_doubt_error&) {
    rethrow_pg(what);
  } catch (const pqxx::undefined_table&) {
    rethrow_pg(what);
  }
}

}  // namespace lethe::infra
