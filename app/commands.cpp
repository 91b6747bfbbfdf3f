#include "commands.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <iostream>
#include <optional>
#include <thread>

#include "lethe/consumers/runner.hpp"
#include "lethe/consumers/versions.hpp"
#include "lethe/infra/access.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/ids.hpp"
#include "lethe/infra/keyring.hpp"
#include "lethe/infra/metrics.hpp"
#include "lethe/infra/migrations.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/producers/audit.hpp"
#include "lethe/producers/event_store.hpp"
#include "lethe/producers/relay.hpp"
#include "lethe/producers/seals.hpp"
#include "lethe/producers/topics.hpp"
#include "user_service.hpp"
#include "wiring.hpp"

namespace lethe::app {

namespace users = domain::users;

std::atomic<bool>& stop_flag() {
  static std::atomic<bool> flag{false};
  return flag;
}

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = [](int) { stop_flag().store(true); };  // lock-free atomic store: async-signal-safe
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}

int migrate(const infra::Config& cfg) {
  auto conn = infra::connect(cfg.pg);
  const int n = infra::migrate(*conn);
  spdlog::info("migrate: {} applied, {} known, schema up to date", n, infra::migrations().size());
  const auto keyring = infra::migrate_keyring(*conn);
  if (keyring.apart)
    spdlog::info("migrate: keyring apart (LETHE_KEYRING_PG): {} applied, {} keys moved in", keyring.applied,
                 keyring.moved_keys);
  else
    spdlog::warn(
        "migrate: the keyring lives in this database (LETHE_KEYRING_PG unset): its backups hold the "
        "(wrapped) keys");
  return 0;
}

int create_topics(const infra::Config& cfg, const producers::TopicOptions& options) {
  const auto created = producers::create_topics(cfg.brokers, cfg.topic_prefix, options);
  spdlog::info("topics: {} created, {} defined", created.size(), producers::topic_specs().size());
  return 0;
}

int relay(const infra::Config& cfg, const RelayFlags& flags) {
  infra::require_master_key("relay");
  reapply_erasures(cfg, "relay");
  install_signal_handlers();
  if (!flags.metrics_address.empty()) infra::serve_metrics(flags.metrics_address);
  producers::Relay r({
      .conninfo = cfg.pg,
      .brokers = cfg.brokers,
      .topic_prefix = cfg.topic_prefix,
      .batch_size = flags.batch_size,
      .batch_max_bytes = flags.batch_max_bytes,
      .exit_when_idle = flags.until_idle,
  });
  r.run(stop_flag());
  return 0;
}

int relay_rebase(const infra::Config& cfg) {
  const auto queued = producers::rebase_relay(cfg.pg);
  std::cout << "{\"queued\":" << queued << "}\n";
  return 0;
}

int republish(const infra::Config& cfg, producers::RepublishOptions options) {
  install_signal_handlers();
  options.conninfo = cfg.pg;
  options.brokers = cfg.brokers;
  options.topic_prefix = cfg.topic_prefix;
  if (!options.topic.empty()) {
    bool known = false;
    for (const auto& t : producers::topic_specs()) known = known || t.name == options.topic;
    if (!known) throw infra::Misconfigured("unknown topic '" + options.topic + "' (see `lethe topics create`)");
  }
  const auto report = producers::republish(options, stop_flag());
  std::cout << "{\"published\":" << report.published << ",\"refused\":" << report.refused << "}\n";
  return report.refused ? 1 : 0;
}

int keys_rewrap(const infra::Config& cfg) {
  auto conn = infra::connect(cfg.pg);
  const auto wrapped = infra::translate_pg("keys rewrap", [&] {
    return infra::rewrap_person_keys(*conn, [](std::size_t n) { spdlog::info("keys rewrap: {} keys wrapped", n); });
  });
  std::cout << "{\"rewrapped\":" << wrapped << "}\n";
  return 0;
}

int keys_rotate_master(const infra::Config& cfg, int retention_days) {
  auto conn = infra::connect(cfg.pg);
  const int days = retention_days >= 0 ? retention_days : infra::master_retention_days();
  const auto r = infra::translate_pg("keys rotate-master", [&] {
    return infra::rotate_master_key(*conn, days,
                                    [](std::size_t n) { spdlog::info("keys rotate-master: {} keys rewrapped", n); });
  });
  const auto list = [](const std::vector<int>& v) {
    std::string out;
    for (const int x : v) out += (out.empty() ? "" : ",") + std::to_string(x);
    return "[" + out + "]";
  };
  spdlog::info(
      "keys rotate-master: version {} current, {} keys rewrapped, retired {}, destroyed {} (retention {} days)",
      r.version, r.rewrapped, list(r.retired), list(r.destroyed), days);
  std::cout << "{\"version\":" << r.version << ",\"rewrapped\":" << r.rewrapped << ",\"retired\":" << list(r.retired)
            << ",\"destroyed\":" << list(r.destroyed) << "}\n";
  return 0;
}

namespace {

std::unique_ptr<projections::Projection> named_projection(const std::string& name) {
  auto p = projections::make_projection(name);
  if (!p) {
    std::string known;
    for (const auto& n : projections::projection_names()) known += (known.empty() ? "" : ", ") + n;
    throw infra::Misconfigured("unknown projection '" + name + "' (known: " + known + ")");
  }
  return p;
}

consumers::RunnerOptions runner_options(const infra::Config& cfg, const ProjectFlags& flags) {
  // Designated initializers: a field added to the options cannot silently
  // shift the meaning of the values below.
  return {
      .conninfo = cfg.pg,
      .brokers = cfg.brokers,
      .topic_prefix = cfg.topic_prefix,
      .group_prefix = flags.group_prefix.empty() ? cfg.topic_prefix : flags.group_prefix,
      .instance = flags.instance,
      .batch_size = flags.batch_size,
      .batch_wait_ms = flags.batch_wait_ms,
      .batch_max_bytes = flags.batch_max_bytes,
      .fetch_queue_kbytes = flags.prefetch_mib << 10,
      .max_consecutive_refusals = flags.max_consecutive_refusals,
      .exit_when_idle = flags.until_idle,
      .receipts = app::event_store_receipts(),
  };
}

}  // namespace

int project(const infra::Config& cfg, const ProjectFlags& flags) {
  infra::require_master_key("project");
  reapply_erasures(cfg, "project");
  install_signal_handlers();
  auto names = flags.names.empty() ? projections::projection_names() : flags.names;
  std::vector<std::unique_ptr<consumers::ProjectionRunner>> runners;
  for (const auto& name : names) {
    runners.push_back(
        std::make_unique<consumers::ProjectionRunner>(runner_options(cfg, flags), named_projection(name)));
    if (flags.replay) runners.back()->reset();
  }
  if (!flags.metrics_address.empty()) infra::serve_metrics(flags.metrics_address);
  // One thread per projection; each has its own connections and group.
  std::vector<std::thread> threads;
  std::vector<consumers::RunStats> stats(runners.size());
  std::atomic<int> failures{0};
  for (std::size_t i = 0; i < runners.size(); ++i) {
    threads.emplace_back([&r = runners[i], &out = stats[i], &failures] {
      try {
        out = r->run(stop_flag());
      } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        ++failures;
        stop_flag().store(true);
      }
    });
  }
  for (auto& t : threads) t.join();
  if (failures) return 2;
  // What each projection did, one JSON line each, for scripts (a replay, the
  // bench): the events it applied, those it met applied before, and those it
  // set aside.
  for (std::size_t i = 0; i < names.size(); ++i)
    std::cout << "{\"projection\":\"" << names[i] << "\",\"applied\":" << stats[i].applied
              << ",\"skipped\":" << stats[i].skipped << ",\"dead_lettered\":" << stats[i].dead_lettered
              << ",\"batches\":" << stats[i].batches << "}\n";
  return 0;
}

namespace {

// One JSON line for scripts: what the switch did or why it did not.
int report_switch(const std::string& name, const char* action, const consumers::Switch& sw, bool caught_up_only) {
  std::cout << "{\"projection\":\"" << name << "\",\"action\":\"" << action
            << "\",\"done\":" << (sw.done ? "true" : "false") << ",\"applied\":" << sw.stats.applied
            << ",\"skipped\":" << sw.stats.skipped << ",\"dead_lettered\":" << sw.stats.dead_lettered
            << ",\"tables\":[";
  for (std::size_t i = 0; i < sw.tables.size(); ++i) {
    const auto& t = sw.tables[i];
    std::cout << (i ? "," : "") << "{\"table\":\"" << t.table << "\",\"live_rows\":" << t.live_rows
              << ",\"new_rows\":" << t.new_rows << ",\"columns_compared\":" << t.columns.size()
              << ",\"equal\":" << (t.equal ? "true" : "false") << "}";
  }
  std::cout << "],\"refusals\":" << sw.refusals.size() << ",\"held_seconds\":" << fmt::format("{:.3f}", sw.held_seconds)
            << ",\"schema\":\"" << sw.schema_before << "\"}\n";
  for (const auto& r : sw.refusals) spdlog::error("{} {} refused: {}", action, name, r);
  if (sw.done)
    spdlog::info("{} {}: done, the live version held still for {:.3f} s; the version that was live is kept in {}",
                 action, name, sw.held_seconds, sw.schema_before);
  return sw.done || (caught_up_only && sw.refusals.empty()) ? 0 : 1;
}

consumers::RebuildOptions rebuild_options(const infra::Config& cfg, const ProjectFlags& pf, const VersionFlags& vf) {
  auto runner = runner_options(cfg, pf);
  return {.runner = std::move(runner),
          .restart = vf.restart,
          .cut_over = !vf.no_cut_over,
          .resume_only = vf.resume_only,
          .patience = std::chrono::seconds(vf.patience_seconds)};
}

}  // namespace

int project_rebuild(const infra::Config& cfg, const ProjectFlags& pf, const VersionFlags& vf) {
  infra::require_master_key("project rebuild");
  install_signal_handlers();
  if (!pf.metrics_address.empty()) infra::serve_metrics(pf.metrics_address);
  const auto sw = consumers::rebuild(rebuild_options(cfg, pf, vf), named_projection(vf.name), stop_flag());
  if (stop_flag().load()) {
    spdlog::info("rebuild {}: stopped; its offsets are saved, run it again to resume", vf.name);
    return 0;
  }
  return report_switch(vf.name, vf.no_cut_over ? "rebuild" : "cut-over", sw, vf.no_cut_over);
}

api::ProjectionJob projection_job(const infra::Config& cfg) {
  return [cfg](const std::string& name, const std::string& action, const std::function<void(double)>& progress,
               const std::atomic<bool>& stop) {
    auto options = rebuild_options(cfg, ProjectFlags{}, VersionFlags{.name = name});
    options.runner.on_progress = progress;
    const auto sw = action == "rollback" ? consumers::rollback(options, named_projection(name), stop)
                                         : consumers::rebuild(options, named_projection(name), stop);
    std::string message;
    for (const auto& r : sw.refusals) message += (message.empty() ? "" : "; ") + r;
    if (sw.done)
      message = fmt::format(
          "{} events applied; the live version held still for {:.3f} s; the version that was "
          "live is kept in {}",
          sw.stats.applied, sw.held_seconds, sw.schema_before);
    return api::JobOutcome{sw.done, message};
  };
}

int project_rollback(const infra::Config& cfg, const ProjectFlags& pf, const VersionFlags& vf) {
  infra::require_master_key("project rollback");
  install_signal_handlers();
  const auto sw = consumers::rollback(rebuild_options(cfg, pf, vf), named_projection(vf.name), stop_flag());
  if (stop_flag().load()) return 0;
  return report_switch(vf.name, "rollback", sw, false);
}

int project_drop(const infra::Config& cfg, const VersionFlags& vf) {
  const bool dropped = consumers::drop_version(cfg.pg, *named_projection(vf.name), vf.next);
  std::cout << "{\"projection\":\"" << vf.name << "\",\"dropped\":" << (dropped ? "true" : "false") << ",\"version\":\""
            << (vf.next ? "next" : "previous") << "\"}\n";
  return 0;
}

namespace {

// Prints the outcome of a command: the events as JSON lines, or the domain
// error as one JSON object naming the field, with exit code 1.
int report(const domain::Result<std::vector<domain::Envelope>>& r) {
  if (!r) {
    std::cerr << domain::encode_error(r.error()) << '\n';
    return 1;
  }
  for (const auto& env : r.value()) std::cout << domain::encode(env) << '\n';
  return 0;
}

int run_user_command(const infra::Config& cfg, const users::Command& cmd, const std::string& actor) {
  producers::EventStore store(cfg.pg);
  infra::PasswordPool passwords;
  producers::UserService service(store, passwords);
  const producers::CommandContext ctx{actor};
  if (const auto* reg = std::get_if<users::RegisterUser>(&cmd)) return report(service.register_user(*reg, "", ctx));
  return report(service.handle(cmd, ctx));
}

}  // namespace

int user_register(const infra::Config& cfg, const UserFlags& f) {
  return run_user_command(
      cfg, users::RegisterUser{f.id.empty() ? infra::new_uuid() : f.id, f.email, f.name, f.role, ""}, f.actor);
}

int user_rename(const infra::Config& cfg, const UserFlags& f) {
  return run_user_command(cfg, users::ChangeProfile{f.id, f.name, std::nullopt}, f.actor);
}

int user_set_role(const infra::Config& cfg, const UserFlags& f) {
  return run_user_command(cfg, users::ChangeRole{f.id, f.role}, f.actor);
}

int bootstrap(const infra::Config& cfg, const std::string& email, const std::string& name) {
  infra::check_index_key();
  producers::EventStore store(cfg.pg);
  infra::PasswordPool passwords;
  producers::UserService service(store, passwords);
  const auto issued = service.bootstrap(email, name, producers::CommandContext{"system:bootstrap"});
  if (!issued) {
    std::cerr << domain::encode_error(issued.error()) << '\n';
    return 1;
  }
  const auto& user = issued.value().written.front();
  // The key is printed once, here, and stored only as a hash.
  std::cout << "{\"user_id\":\"" << user.stream_id.substr(5) << "\",\"api_key\":\"" << issued.value().key
            << "\",\"key_id\":\"" << issued.value().key_id << "\"}\n";
  spdlog::info("bootstrap: owner {} created with API key {} (shown once)", user.stream_id, issued.value().prefix);
  return 0;
}

int show_stream(const infra::Config& cfg, const std::string& stream, bool sealed) {
  producers::EventStore store(cfg.pg);
  std::string prev;
  int broken = 0;
  const auto events = store.read_stream(stream);
  // The chain is checked on the stored bytes (personal fields sealed); what
  // is printed has them opened, unless asked for as stored. A field whose
  // person was erased prints as null.
  for (const auto& e : events) {
    if (!domain::verify_link(e, prev)) {
      spdlog::error("hash chain broken at {} version {}", stream, e.stream_version);
      ++broken;
    }
    prev = e.hash;
  }
  for (const auto& e : sealed ? events : producers::open_stream(cfg.pg, events)) std::cout << domain::encode(e) << '\n';
  spdlog::info("{}: {} events, hash chain {}", stream, events.size(), broken ? "BROKEN" : "verified");
  return broken ? 1 : 0;
}

int verify(const infra::Config& cfg, const VerifyFlags& flags) {
  // Read the key first: a bad key file fails before a long walk.
  std::optional<domain::SealKey> key;
  if (!flags.seal_key_file.empty()) key = producers::load_seal_key(flags.seal_key_file);
  bool ok = true;

  Throttled chains_tick;
  const auto report = producers::verify_event_store(cfg.pg,
                                                    [&](std::int64_t checked) {
                                                      if (chains_tick.due())
                                                        spdlog::info("verify: {} events checked", checked);
                                                    },
                                                    {.page_bytes = flags.page_bytes});
  for (const auto& b : report.breaks)
    spdlog::error("verify: {} broken at version {}: {}", b.stream_id, b.stream_version, b.problem);
  spdlog::info("verify: {} streams, {} events, {}", report.streams, report.events,
               report.ok() ? "every hash chain intact" : std::to_string(report.breaks.size()) + " broken");
  ok = ok && report.ok();

  if (key) {
    Throttled seals_tick;
    const auto seals = producers::verify_seals(cfg.pg, *key, [&](std::int64_t n) {
      if (seals_tick.due()) spdlog::info("verify: {} events digested for the seals", n);
    });
    for (const auto& p : seals.problems) spdlog::error("verify: seal #{}: {}", p.seal_number, p.problem);
    if (seals.seals == 0)
      spdlog::warn("verify: no seals yet; {} events unsealed (run `lethe seal`)", seals.unsealed_events);
    else
      spdlog::info("verify: {} seals cover {} events up to position {}, {}; {} events after it are unsealed",
                   seals.seals, seals.sealed_events, seals.last_position,
                   seals.ok() ? "all intact" : std::to_string(seals.problems.size()) + " problems",
                   seals.unsealed_events);
    ok = ok && seals.ok();
  } else {
    spdlog::warn(
        "verify: seals not checked: no --seal-key-file (or LETHE_SEAL_KEY_FILE); deleted streams, a stream's"
        " deleted last events and rewritten streams go unseen without them");
  }

  if (flags.against_kafka) {
    const auto k = producers::verify_against_kafka(
        {.conninfo = cfg.pg, .brokers = cfg.brokers, .topic_prefix = cfg.topic_prefix},
        [](const std::string& stage, std::int64_t n) { spdlog::info("verify: {} {}", n, stage); });
    for (const auto& line : k.examples) spdlog::error("verify: {}", line);
    spdlog::info(
        "verify --against-kafka: {} messages, {} events; {} published events missing on Kafka, {} events on Kafka"
        " missing in PostgreSQL, {} with another hash, {} undecodable messages, {} labelled with another type; {}"
        " events not published yet",
        k.messages, k.events, k.missing_on_kafka, k.missing_in_store, k.hash_differs, k.undecodable, k.mislabelled,
        k.unpublished);
    ok = ok && k.ok();
  }
  return ok ? 0 : 1;
}

int seal(const infra::Config& cfg, const SealFlags& flags) {
  if (flags.seal_key_file.empty())
    throw infra::Misconfigured("seal: no key; pass --seal-key-file or set LETHE_SEAL_KEY_FILE");
  const auto key = producers::load_seal_key(flags.seal_key_file);
  const auto s = producers::seal_event_store(cfg.pg, key, {.max_wait = std::chrono::seconds(flags.wait_seconds)});
  if (!s) {
    spdlog::info("seal: nothing new to seal");
    return 0;
  }
  std::cout << domain::encode(*s) << '\n';
  spdlog::info("seal: #{} covers {} events up to position {}", s->number, s->event_count, s->last_position);
  return 0;
}

}  // namespace lethe::app
