#include "open_transaction.hpp"

#include "lethe/infra/pg.hpp"

namespace lethe::producers {

namespace {
constexpr const char* kOldestXactSql =
    "SELECT pid::text AS pid, coalesce(state, '') AS state,"
    " date_trunc('second', now() - xact_start)::text AS open_for"
    " FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
    " ORDER BY age(backend_xid) DESC LIMIT 1";
}  // namespace

std::optional<OpenTransaction> oldest_open_transaction(pqxx::connection& conn) {
  return infra::translate_pg("oldest open transaction", [&]() -> std::optional<OpenTransaction> {
    pqxx::read_transaction tx(conn);
    const auto r = tx.exec(kOldestXactSql);
    if (r.empty()) return std::nullopt;
    return OpenTransaction{r[0]["pid"].c_str(), r[0]["state"].c_str(), r[0]["open_for"].c_str()};
  });
}

std::string describe(const std::optional<OpenTransaction>& t) {
  return t ? " (pid " + t->pid + ", " + t->state + ", open " + t->open_for + ")" : std::string();
}

}  // namespace lethe::producers
