#include "lethe/infra/migrations.hpp"

#include <spdlog/spdlog.h>

#include <pqxx/pqxx>
#include <set>

#include "lethe/infra/errors.hpp"
#include "lethe/infra/pg.hpp"

namespace lethe::infra {

namespace {
constexpr const char* kCreateLedger =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " name text PRIMARY KEY,"
    " applied_at timestamptz NOT NULL DEFAULT now())";
// One lock per schema, so two `lethe migrate` runs do not race each other
// while tests in other schemas go on.
constexpr const char* kLock = "SELECT pg_advisory_lock(hashtext('lethe.migrate.' || current_schema()))";
constexpr const char* kUnlock = "SELECT pg_advisory_unlock(hashtext('lethe.migrate.' || current_schema()))";
constexpr const char* kApplied = "SELECT name FROM schema_migrations";
constexpr const char* kRecord = "INSERT INTO schema_migrations (name) VALUES ($1)";
}  // namespace

int migrate(pqxx::connection_base& conn) {
  return migrate(conn, migrations());
}

int migrate(pqxx::connection_base& conn, const std::vector<Migration>& set) {
  return translate_pg("migrate", [&] {
    {
      pqxx::nontransaction nt(conn);
      if (nt.exec("SELECT current_schema()")[0][0].is_null())
        throw Misconfigured("migrate: no schema on the search_path exists; create it first");
      nt.exec(kLock);
    }
    int applied = 0;
    try {
      {
        pqxx::work tx(conn);
        tx.exec(kCreateLedger);
        tx.commit();
      }
      std::set<std::string> done;
      {
        pqxx::read_transaction tx(conn);
        for (const auto& row : tx.exec(kApplied)) done.insert(row[0].c_str());
      }
      for (const auto& m : set) {
        if (done.count(m.name)) continue;
        pqxx::work tx(conn);
        tx.exec(m.sql);
        tx.exec_params(kRecord, m.name);
        tx.commit();
        spdlog::info("migrate: applied {}", m.name);
        ++applied;
      }
    } catch (...) {
      pqxx::nontransaction nt(conn);
      nt.exec(kUnlock);
      throw;
    }
    pqxx::nontransaction nt(conn);
    nt.exec(kUnlock);
    return applied;
  });
}

}  // namespace lethe::infra
