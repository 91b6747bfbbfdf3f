#pragma once
// A named query over read models. Each domain's read/ part declares the
// queries its routes run (domains/<name>/read/<name>_queries.hpp), beside
// the tables and migrations they read: a route parses, authorizes and runs a
// query by name, and holds no SQL.
#include <array>

namespace lethe::projections {

struct Query {
  const char* name;  // "<domain>.<what>", for logs and errors
  const char* sql;   // parameters $1, $2, ... as the declaration lists them
  // The output columns that hold sealed text (lethe:sealed columns, see
  // domain::kKeepSealed): a route opens them when it answers, and only them.
  std::array<const char*, 4> sealed = {};
};

}  // namespace lethe::projections

// A timestamp column as RFC 3339 text in UTC, under its own name.
#define LETHE_UTC_TEXT(column) "to_char(" column " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS " column
