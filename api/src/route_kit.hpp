#pragma once
// What every domain's routes share: the thread's read connection, query
// parameters, read-your-writes, If-Match, pages, errors from the domain.
// Each domain's routes live in its folder (domains/users/http/users_routes.cpp)
// and come together in routes.cpp through domain_routes().
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lethe/infra/keyring.hpp"
#include "lethe/projections/query.hpp"
#include "routes.hpp"

namespace lethe::api {

// The sealed values of the rows one or more named queries answered (the
// columns each Query lists as sealed), opened with one key query for every
// person they name, on the first text(): a page costs one key lookup, not
// one per row. Only declared columns are opened, so a text that merely
// looks sealed elsewhere (a product name) is never opened.
class Opened {
 public:
  explicit Opened(pqxx::transaction_base& tx) : tx_(tx) {}
  // Gathers the people the query's sealed columns name in rows (call before
  // the first text()).
  void add(const projections::Query& query, const pqxx::result& rows);
  // Whether a column is one of the sealed ones added.
  bool sealed(std::string_view column) const;
  // The field as text: opened if its column is sealed; "" for NULL and for
  // a value whose person is erased (Json::str_or_null writes null).
  std::string text(const pqxx::field& f);
  // A JSON column as JSON text, every sealed value in it opened (null once
  // its person's key is gone); "null" for NULL.
  std::string json(const pqxx::field& f);

 private:
  const std::map<std::string, infra::PersonKey>& keys();
  pqxx::transaction_base& tx_;
  std::vector<std::string> columns_, subjects_;
  std::optional<std::map<std::string, infra::PersonKey>> keys_;
};

// A named query of a domain's read models, run in the transaction.
template <class... Args>
pqxx::result run(pqxx::transaction_base& tx, const projections::Query& query, Args&&... args) {
  return tx.exec_params(query.sql, std::forward<Args>(args)...);
}

// The thread's connection for queries (made on first use, remade when lost).
pqxx::connection& reads(Call& c);

// An integer query parameter within [min, max], or 400 naming it.
std::optional<std::int64_t> int_param(const Call& c, const char* name, std::int64_t min, std::int64_t max);
// ?email= as its blind index (64 hex digits, for decode($n, 'hex') in a
// named query), "" when absent: an email is only ever looked up that way.
std::string email_index_param(const Call& c);

// Read-your-writes: with ?min_position=P (a command's global position) or,
// on one stream's resource (a user, a ticket), ?min_version=V, waits (up to
// ?wait_ms, bounded by the server's max wait) until the read model reflects
// that write. When the wait runs out the answer is what the read model has,
// marked `X-Lethe-Stale: true`.
void await_reflection(Call& c, const std::string& resource_stream = {});

// Read-your-writes on a log keyed by event id (the audit log, the event
// log): with ?min_position=P, waits (as above) until `table` holds the event
// at that position, when `kept(type)` says the log keeps events of its type.
void await_event(Call& c, const char* table, bool (*kept)(std::string_view type));

// The caller is signed in as an admin or an owner.
bool admin_or_owner(const Call& c);

// 404 (field id) unless the resource exists and the caller may see it; then
// 404 (field min_version) if the query waited for a version never written.
// Someone else's record answers exactly as a missing one.
void ensure_found(const Call& c, bool found, const char* what);
// The command context with If-Match's version as the expected one.
producers::CommandContext with_if_match(Call& c);

template <class T>
T ok_or_throw(domain::Result<T>&& r) {
  if (!r) throw from_domain(r.error());
  return std::move(r).value();
}

// A page: ?limit (default 50, at most 500) and ?offset, in a stable order;
// the answer carries limit, offset and next_offset (null on the last page).
struct Page {
  std::int64_t limit, offset;
};
Page page_of(const Call& c);
// limit, offset and next_offset (null on the last page), each name after
// `prefix` (a list embedded in a resource: "comments_").
void page_json(Json& j, const Page& p, std::size_t rows, const std::string& prefix = "");

// A row as a JSON object, each column under its own name: booleans and
// integers as such, json and jsonb as their value, NULL as null, the rest
// (text, timestamps formatted with LETHE_UTC_TEXT) as strings.
// Sealed columns (opened given) are opened.
void row_json(Json& j, const pqxx::row& r, Opened* opened = nullptr);
// The same fields, into an object the caller has begun.
void row_fields(Json& j, const pqxx::row& r, Opened* opened = nullptr);
// {"<name>": [rows...], limit, offset, next_offset}
void page_of_rows(Call& c, const char* name, const pqxx::result& rows, const Page& page, Opened* opened = nullptr);
// Runs a named query and answers its rows as that page, sealed columns opened.
template <class... Args>
void page_of_query(Call& c, const char* name, pqxx::transaction_base& tx, const Page& page,
                   const projections::Query& query, Args&&... args) {
  const auto rows = run(tx, query, std::forward<Args>(args)...);
  Opened opened(tx);
  opened.add(query, rows);
  page_of_rows(c, name, rows, page, &opened);
}

// A nullable text column: "" for NULL (Json::str_or_null writes null).
inline std::string_view text_or_empty(const pqxx::field& f) {
  return f.is_null() ? std::string_view() : std::string_view(f.c_str());
}

// How a domain's read model tells that it reflects a stream's version: the
// query takes the id (the stream name after the prefix) as $1 and the
// version as $2 and returns one boolean.
struct Freshness {
  std::string_view stream_prefix;  // "ticket-"
  const projections::Query& query;
};

struct DomainRoutes {
  std::vector<Route> routes;
  std::vector<Freshness> freshness;
};
// Each domain's http/ part defines `DomainRoutes <folder>_routes()` in this
// namespace; the build's generated catalog gathers them, in folder-name
// order, into domain_routes().
const std::vector<DomainRoutes>& domain_routes();

}  // namespace lethe::api
