#pragma once
// SQL migrations, embedded at build time from schemas/sql/V*.sql and
// projections/*/V*.sql, applied in file-name order, once each, recorded in
// the table schema_migrations of the first schema on the search_path.
#include <string>
#include <vector>

namespace pqxx {
class connection_base;
}

namespace lethe::infra {

struct Migration {
  std::string name;  // file name, e.g. V001__event_store.sql
  std::string sql;
};

const std::vector<Migration>& migrations();

// Applies what of `set` is missing, each in its own transaction, recorded
// in schema_migrations. Concurrent callers serialise on an advisory lock.
// Returns how many were applied.
int migrate(pqxx::connection_base& conn, const std::vector<Migration>& set);
// The same with every migration of the build (migrations()).
int migrate(pqxx::connection_base& conn);

}  // namespace lethe::infra
