#pragma once
// The oldest transaction still open in the cluster: what holds back the
// relay's watermark and a seal's cut. Named in their warnings.
#include <optional>
#include <pqxx/pqxx>
#include <string>

namespace lethe::producers {

struct OpenTransaction {
  std::string pid, state, open_for;
};

// Other roles' sessions are visible only with pg_read_all_stats.
std::optional<OpenTransaction> oldest_open_transaction(pqxx::connection& conn);

// " (pid 123, idle in transaction, open 00:00:07)", or "" for none.
std::string describe(const std::optional<OpenTransaction>& t);

}  // namespace lethe::producers
