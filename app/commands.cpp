#include "commands.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <iostream>
#include <thread>

#include "lethe/consumers/runner.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/ids.hpp"
#include "lethe/infra/migrations.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/producers/audit.hpp"
#include "lethe/producers/event_store.hpp"
#include "lethe/producers/relay.hpp"
#include "lethe/producers/topics.hpp"
#include "lethe/producers/user_service.hpp"

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
  return 0;
}

int create_topics(const infra::Config& cfg, const producers::TopicOptions& options) {
  const auto created = producers::create_topics(cfg.brokers, cfg.topic_prefix, options);
  spdlog::info("topics: {} created, {} defined", created.size(), producers::topic_specs().size());
  return 0;
}

int relay(const infra::Config& cfg, const RelayFlags& flags) {
  install_signal_handlers();
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

int project(const infra::Config& cfg, const ProjectFlags& flags) {
  install_signal_handlers();
  auto names = flags.names.empty() ? projections::projection_names() : flags.names;
  std::vector<std::unique_ptr<consumers::ProjectionRunner>> runners;
  for (const auto& name : names) {
    auto p = projections::make_projection(name);
    if (!p) {
      std::string known;
      for (const auto& n : projections::projection_names()) known += (known.empty() ? "" : ", ") + n;
      throw infra::Misconfigured("unknown projection '" + name + "' (known: " + known + ")");
    }
    if (flags.replay) consumers::reset_projection(cfg.pg, *p);
    // Designated initializers: a field added to the options cannot silently
    // shift the meaning of the values below.
    consumers::RunnerOptions opt{
        .conninfo = cfg.pg,
        .brokers = cfg.brokers,
        .topic_prefix = cfg.topic_prefix,
        .group_prefix = flags.group_prefix.empty() ? cfg.topic_prefix : flags.group_prefix,
        .instance = flags.instance,
        .batch_size = flags.batch_size,
        .batch_wait_ms = flags.batch_wait_ms,
        .exit_when_idle = flags.until_idle,
    };
    runners.push_back(std::make_unique<consumers::ProjectionRunner>(std::move(opt), std::move(p)));
  }
  // One thread per projection; each has its own connections and group.
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (auto& r : runners) {
    threads.emplace_back([&r, &failures] {
      try {
        r->run(stop_flag());
      } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        ++failures;
        stop_flag().store(true);
      }
    });
  }
  for (auto& t : threads) t.join();
  return failures ? 2 : 0;
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

int run_command(const infra::Config& cfg, const users::Command& cmd, const std::string& actor) {
  producers::EventStore store(cfg.pg);
  producers::UserService service(store, cfg.pg);
  return report(service.handle(cmd, {actor, "", ""}));
}

}  // namespace

int user_register(const infra::Config& cfg, const UserFlags& f) {
  return run_command(cfg, users::RegisterUser{f.id.empty() ? infra::new_uuid() : f.id, f.email, f.name, f.role},
                     f.actor);
}

int user_rename(const infra::Config& cfg, const UserFlags& f) {
  return run_command(cfg, users::ChangeProfile{f.id, f.name}, f.actor);
}

int user_set_role(const infra::Config& cfg, const UserFlags& f) {
  return run_command(cfg, users::ChangeRole{f.id, f.role, f.as_role}, f.actor);
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

int verify(const infra::Config& cfg) {
  auto last = std::chrono::steady_clock::now();
  const auto report = producers::verify_event_store(cfg.pg, [&](std::int64_t checked) {
    if (std::chrono::steady_clock::now() - last < std::chrono::seconds(5)) return;
    last = std::chrono::steady_clock::now();
    spdlog::info("verify: {} events checked", checked);
  });
  for (const auto& b : report.breaks)
    spdlog::error("verify: {} broken at version {}: {}", b.stream_id, b.stream_version, b.problem);
  spdlog::info("verify: {} streams, {} events, {}", report.streams, report.events,
               report.ok() ? "every hash chain intact" : std::to_string(report.breaks.size()) + " broken");
  return report.ok() ? 0 : 1;
}

}  // namespace lethe::app
