// lethe gdpr verify: the search is consumers::gdpr_verify; this prints its
// findings, one per line, and a summary, and exits 0 (nothing found), 1
// (found) or 2 (nothing proven: PostgreSQL or Kafka could not be read).
#include <spdlog/spdlog.h>

#include <iostream>

#include "commands.hpp"
#include "lethe/consumers/gdpr_verify.hpp"

namespace lethe::app {

int gdpr_verify(const infra::Config& cfg, const GdprVerifyFlags& flags) {
  try {
    const auto report = consumers::gdpr_verify(cfg, {flags.user_id, flags.email, flags.name});
    for (const auto& line : report.lines) std::cout << line << '\n';
    std::cout << "gdpr verify " << flags.user_id << ": " << report.findings << " findings in " << report.tables
              << " tables, " << report.topics << " topics read (" << report.messages << " messages)" << std::endl;
    return report.findings == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    // Whatever went wrong, nothing is proven: not the "found" of exit 1.
    spdlog::error("gdpr verify: {}", e.what());
    return 2;
  }
}

}  // namespace lethe::app
