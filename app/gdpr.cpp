// lethe gdpr verify: the search is consumers::gdpr_verify; this prints its
// findings, one per line, and a summary, and exits 0 (nothing found), 1
// (found) or 2 (nothing proven: PostgreSQL or Kafka could not be read).
// lethe gdpr reapply: the erasure topic's register wired to the write
// side's forget_again and every projection's erasure policy.
#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>
#include <set>

#include "commands.hpp"
#include "erasure.hpp"
#include "erasure_service.hpp"
#include "lethe/consumers/erasure_register.hpp"
#include "lethe/consumers/gdpr_verify.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/keyring.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/producers/event_store.hpp"
#include "lethe/projections/projection.hpp"

namespace lethe::app {

int gdpr_verify(const infra::Config& cfg, const GdprVerifyFlags& flags) {
  try {
    const auto report =
        consumers::gdpr_verify(cfg, {flags.user_id, flags.email, flags.name, flags.pg_data, flags.logs});
    for (const auto& line : report.lines) std::cout << line << '\n';
    std::cout << "gdpr verify " << flags.user_id << ": " << report.findings << " findings in " << report.tables
              << " tables, " << report.topics << " topics read (" << report.messages << " messages), " << report.files
              << " files (" << (report.file_bytes >> 20) << " MiB"
              << (report.pg_data.empty() ? std::string(", PostgreSQL's data directory not searched")
                                         : ", PostgreSQL's data directory among them")
              << ")" << std::endl;
    return report.findings == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    // Whatever went wrong, nothing is proven: not the "found" of exit 1.
    spdlog::error("gdpr verify: {}", e.what());
    return 2;
  }
}

ReapplyReport reapply_erasures(const infra::Config& cfg, std::string_view process) {
  namespace erasure = domain::erasure;
  const auto started = std::chrono::steady_clock::now();
  // The register on the topic, one entry per person (the first erasure).
  std::vector<producers::ErasedOnTopic> listed;
  std::set<std::string> seen;
  for (const auto& env : consumers::erasures_on_topic(cfg)) {
    auto ev = erasure::decode_payload(env.type, env.schema_version, env.payload);
    if (!ev) throw infra::Misconfigured("user.erased " + env.event_id + " does not decode: " + ev.error().message);
    const auto& e = std::get<erasure::UserErased>(ev.value());
    if (seen.insert(e.user_id).second)
      listed.push_back({e.request_id, e.user_id, env.actor, env.occurred_at, e.key_fingerprint});
  }
  ReapplyReport report;
  report.on_topic = listed.size();
  if (listed.empty()) return report;
  auto conn = infra::connect(cfg.pg);
  std::set<std::string> registered;
  infra::translate_pg("erasure register", [&] {
    pqxx::read_transaction tx(*conn);
    for (auto& s : infra::erased_among(tx, {seen.begin(), seen.end()})) registered.insert(std::move(s));
  });
  std::vector<std::string> forgotten;
  producers::EventStore store(cfg.pg);
  producers::ErasureService service(store, producers::ErasureSettings{});
  const producers::CommandContext ctx{"system:reapply"};
  for (const auto& entry : listed) {
    if (registered.contains(entry.user_id)) continue;
    const auto done = service.forget_again(entry, ctx);
    if (!done) throw infra::Misconfigured("forget " + entry.user_id + " again: " + done.error().message);
    if (!done.value().forgotten) continue;  // registered meanwhile
    forgotten.push_back(entry.user_id);
    report.keys_destroyed += done.value().restored_key;
    report.fingerprint_differs += done.value().restored_key && !done.value().fingerprint_matches;
    if (done.value().restored_key && !done.value().fingerprint_matches)
      spdlog::warn("{}: erasure {}: the key destroyed again for user {} is not the one the erasure named ({})", process,
                   entry.request_id, entry.user_id, entry.key_fingerprint);
    if (forgotten.size() % 100 == 0)
      spdlog::info("{}: {} of {} people missing from the register forgotten again", process, forgotten.size(),
                   listed.size() - registered.size());
  }
  report.forgotten = forgotten.size();
  // Every projection's policy, each in its own transaction.
  if (!forgotten.empty())
    for (const auto& name : projections::projection_names()) {
      const auto projection = projections::make_projection(name);
      infra::translate_pg("reapply " + name, [&] {
        pqxx::work tx(*conn);
        projections::apply_erasure_policy(*projection, tx, forgotten);
        tx.commit();
      });
    }
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (report.forgotten > 0)
    spdlog::warn(
        "{}: the register lacked {} of the {} people the erasure topic says are erased (a restore?): each "
        "forgotten again ({} keys destroyed again) and every projection's policy applied, in {:.2f} s",
        process, report.forgotten, report.on_topic, report.keys_destroyed, seconds);
  else
    spdlog::info("{}: the register holds all {} people the erasure topic says are erased ({:.2f} s)", process,
                 report.on_topic, seconds);
  return report;
}

int gdpr_reapply(const infra::Config& cfg) {
  const auto r = reapply_erasures(cfg, "gdpr reapply");
  std::cout << "{\"on_topic\":" << r.on_topic << ",\"forgotten_again\":" << r.forgotten
            << ",\"keys_destroyed\":" << r.keys_destroyed << ",\"fingerprint_differs\":" << r.fingerprint_differs
            << "}\n";
  return r.fingerprint_differs == 0 ? 0 : 1;
}

}  // namespace lethe::app
