// lethe: one executable, one subcommand per job. main only wires flags to
// the commands in commands.cpp.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <functional>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "lethe/api/server.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/keyring.hpp"
#include "lethe/infra/logging.hpp"
#include "lethe/infra/metrics.hpp"
#include "lethe/producers/republish.hpp"
#include "lethe/producers/topics.hpp"

int main(int argc, char** argv) {
  using namespace lethe;
  CLI::App cli{"lethe: an event-sourced backend that remembers everything and forgets a person on request"};
  // The shared flags may also follow the subcommand: `lethe serve --log-level warn`.
  cli.fallthrough();
  cli.require_subcommand(1);
  auto cfg = infra::Config::from_env();
  std::string log_level = "info";
  const char* format_env = std::getenv("LETHE_LOG_FORMAT");
  std::string log_format = format_env && *format_env ? format_env : "text";
  cli.add_option("--brokers", cfg.brokers, "Kafka bootstrap servers (env LETHE_BROKERS)")->capture_default_str();
  cli.add_option("--pg", cfg.pg, "PostgreSQL connection string (env LETHE_PG)")->capture_default_str();
  cli.add_option("--topic-prefix", cfg.topic_prefix, "prefix of every topic name (env LETHE_TOPIC_PREFIX)")
      ->capture_default_str();
  cli.add_option("--log-level", log_level, "log level")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical"}));
  cli.add_option("--log-format", log_format, "text, or json: one object per line (env LETHE_LOG_FORMAT)")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));

  // Each subcommand registers what it runs; it runs after parsing, once the
  // log level and shared flags are known.
  std::vector<std::pair<CLI::App*, std::function<int()>>> actions;
  auto* migrate = cli.add_subcommand("migrate", "apply the SQL migrations that are missing");
  actions.emplace_back(migrate, [&] { return app::migrate(cfg); });

  auto* topics = cli.add_subcommand("topics", "Kafka topics")->require_subcommand(1);
  producers::TopicOptions topic_options;
  auto* create = topics->add_subcommand("create", "create the missing topics, retention unlimited");
  create->add_option("--partitions", topic_options.partitions_override,
                     "partitions of each domain topic (default: per topic, 3)");
  create->add_option("--replication-factor", topic_options.replication_factor, "replicas of each partition")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  create
      ->add_option("--min-insync-replicas", topic_options.min_insync_replicas,
                   "replicas that must hold a write before it is acknowledged (acks=all)")
      ->capture_default_str()
      ->check(CLI::Range(1, 16));
  actions.emplace_back(create, [&] { return app::create_topics(cfg, topic_options); });

  app::RelayFlags rf;
  auto* relay = cli.add_subcommand("relay", "publish the outbox to Kafka, in order, until stopped");
  relay->add_option("--batch-size", rf.batch_size, "outbox rows per batch")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  relay->add_option("--batch-max-bytes", rf.batch_max_bytes, "payload bytes per batch (one event always fits)")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 32));
  relay->add_option("--metrics-address", rf.metrics_address,
                    "serve Prometheus metrics at http://HOST:PORT/metrics (default: not served)");
  relay->add_flag("--until-idle", rf.until_idle, "exit once the outbox is drained");
  // Checked before `relay` itself: CLI11 marks the parent parsed as well.
  auto* rebase = relay->add_subcommand(
      "rebase", "after a restore into another cluster: queue the outbox again and restart the checkpoint");
  actions.emplace_back(rebase, [&] { return app::relay_rebase(cfg); });
  actions.emplace_back(relay, [&] { return app::relay(cfg, rf); });

  producers::RepublishOptions rp;
  auto* republish =
      cli.add_subcommand("republish", "rebuild topics from the event store: publish its events again, in order");
  republish->add_option("--topic", rp.topic, "logical topic, e.g. users (default: every topic)");
  republish->add_option("--stream", rp.stream, "one stream, e.g. user-<uuid> (default: every stream)");
  republish->add_option("--from-position", rp.from_position, "first global position")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  actions.emplace_back(republish, [&] { return app::republish(cfg, rp); });

  app::ProjectFlags pf;
  auto* project = cli.add_subcommand("project", "run projections: Kafka -> PostgreSQL read models");
  project->add_option("names", pf.names, "projections to run (default: all)");
  project->add_option("--batch-size", pf.batch_size, "events per batch")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  project
      ->add_option("--batch-wait-ms", pf.batch_wait_ms,
                   "longest wait to fill a batch (one is applied sooner once nothing more arrives for 2 ms)")
      ->capture_default_str()
      ->check(CLI::Range(1, 60000));
  project->add_option("--batch-max-bytes", pf.batch_max_bytes, "bytes of keys and values per batch (memory bound)")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1024}, std::int64_t{1} << 32));
  project
      ->add_option("--prefetch-mib", pf.prefetch_mib,
                   "librdkafka's prefetch queue per projection (memory bound; keep it above 250 ms of events)")
      ->capture_default_str()
      ->check(CLI::Range(1, 2047));
  project
      ->add_option("--max-consecutive-refusals", pf.max_consecutive_refusals,
                   "stop, offsets kept, when PostgreSQL refuses more messages in a row (0: never)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  project->add_option("--instance", pf.instance, "static group member id of this process")->capture_default_str();
  project->add_option("--group-prefix", pf.group_prefix, "consumer group prefix (default: the topic prefix)");
  project->add_option("--metrics-address", pf.metrics_address,
                      "serve Prometheus metrics at http://HOST:PORT/metrics (default: not served)");
  project->add_flag("--replay", pf.replay, "empty the read models and rebuild them from offset zero");
  project->add_flag("--until-idle", pf.until_idle, "exit once every partition is read to its end");
  // Versions of a read model (docs/operations.md, "Rebuild beside the live
  // version"). Checked before `project` itself: CLI11 marks the parent
  // parsed as well.
  app::VersionFlags vfl;
  const auto named = [&](CLI::App* sub) {
    sub->add_option("name", vfl.name, "the projection")->required();
    return sub;
  };
  const auto patient = [&](CLI::App* sub) {
    sub->add_option("--patience-seconds", vfl.patience_seconds,
                    "how long the switch waits for the live projector and the last events")
        ->capture_default_str()
        ->check(CLI::Range(1, 86400));
    return sub;
  };
  auto* rebuild = patient(named(project->add_subcommand(
      "rebuild", "build the next version of a read model beside the live one, prove it equal, cut over")));
  rebuild->add_flag("--restart", vfl.restart, "drop a rebuild in progress and start again from offset zero");
  rebuild->add_flag("--no-cut-over", vfl.no_cut_over, "stop once caught up (finish later with `cut-over`)");
  actions.emplace_back(rebuild, [&] { return app::project_rebuild(cfg, pf, vfl); });
  auto* cut_over = patient(
      named(project->add_subcommand("cut-over", "bring the rebuilt version up to date, prove it equal, cut over")));
  actions.emplace_back(cut_over, [&] {
    vfl.resume_only = true;
    return app::project_rebuild(cfg, pf, vfl);
  });
  auto* rollback = patient(named(project->add_subcommand(
      "rollback", "switch back to the version kept by the last cut-over, brought up to date first")));
  actions.emplace_back(rollback, [&] { return app::project_rollback(cfg, pf, vfl); });
  auto* drop = named(project->add_subcommand("drop", "drop the version kept by the last cut-over"));
  drop->add_flag("--next", vfl.next, "drop the rebuild in progress instead");
  actions.emplace_back(drop, [&] { return app::project_drop(cfg, vfl); });
  actions.emplace_back(project, [&] { return app::project(cfg, pf); });

  auto* keys = cli.add_subcommand("keys", "the keyring of per-person keys")->require_subcommand(1);
  auto* rewrap = keys->add_subcommand("rewrap", "wrap the keys stored unwrapped under the master key");
  actions.emplace_back(rewrap, [&] { return app::keys_rewrap(cfg); });
  int retention_days = -1;
  auto* rotate = keys->add_subcommand(
      "rotate-master",
      "add a new master key version to LETHE_MASTER_KEY_FILE, rewrap every key under it, retire the "
      "older versions and destroy those retired longer than the retention window");
  rotate
      ->add_option("--retention-days", retention_days,
                   "days a retired version is kept (default LETHE_MASTER_RETENTION_DAYS, else 30)")
      ->check(CLI::Range(0, 36500));
  actions.emplace_back(rotate, [&] { return app::keys_rotate_master(cfg, retention_days); });

  app::UserFlags uf;
  auto* user = cli.add_subcommand("user", "user commands")->require_subcommand(1);
  auto* reg = user->add_subcommand("register", "register a user");
  reg->add_option("--id", uf.id, "user id (default: a new UUID)");
  reg->add_option("--email", uf.email, "email address")->required();
  reg->add_option("--name", uf.name, "display name")->required();
  reg->add_option("--role", uf.role, "owner, admin, staff or user")->capture_default_str();
  actions.emplace_back(reg, [&] { return app::user_register(cfg, uf); });
  auto* rename = user->add_subcommand("rename", "change a user's name");
  rename->add_option("--id", uf.id, "user id")->required();
  rename->add_option("--name", uf.name, "new display name")->required();
  actions.emplace_back(rename, [&] { return app::user_rename(cfg, uf); });
  auto* role = user->add_subcommand("role", "change a user's role");
  role->add_option("--id", uf.id, "user id")->required();
  role->add_option("--role", uf.role, "new role")->required();
  actions.emplace_back(role, [&] { return app::user_set_role(cfg, uf); });
  for (auto* c : {reg, rename, role})
    c->add_option("--actor", uf.actor,
                  "who asks: a user id (acting with that user's role) or a system actor system:NAME (an owner); "
                  "recorded in the event")
        ->capture_default_str();

  api::ServeOptions so;
  int max_wait_ms = static_cast<int>(so.max_wait.count());
  int session_ttl_s = static_cast<int>(so.session_ttl.count());
  int lock_timeout_ms = static_cast<int>(so.lock_timeout.count());
  auto* serve = cli.add_subcommand("serve", "serve the HTTP API until SIGTERM");
  serve->add_option("--host", so.host, "address to listen on")->capture_default_str();
  serve->add_option("--port", so.port, "port to listen on")->capture_default_str()->check(CLI::Range(1, 65535));
  std::string serve_metrics_address;
  serve->add_option("--metrics-address", serve_metrics_address,
                    "serve Prometheus metrics at http://HOST:PORT/metrics (default: not served)");
  serve->add_option("--threads", so.threads, "worker threads = requests handled at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  serve->add_option("--max-connections", so.max_connections, "open connections at once; beyond, new ones are closed")
      ->capture_default_str()
      ->check(CLI::Range(16, 1000000));
  serve
      ->add_option("--anonymous-per-address-per-minute", so.anonymous.per_address_per_minute,
                   "registrations and logins without a sign-in from one address per minute, then 429")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000000));
  serve
      ->add_option("--anonymous-per-minute", so.anonymous.per_minute,
                   "registrations and logins without a sign-in from everyone per minute, then 429")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000000));
  int login_window_s = static_cast<int>(so.login_window.count());
  serve
      ->add_option("--login-max-failures", so.login_max_failures, "failed logins per email within the window, then 429")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  serve->add_option("--login-window-seconds", login_window_s, "the window failed logins are counted in")
      ->capture_default_str()
      ->check(CLI::Range(1, 24 * 3600));
  int request_timeout_ms = static_cast<int>(so.request_timeout.count());
  serve
      ->add_option("--request-timeout-ms", request_timeout_ms,
                   "a request must arrive whole within this long, else the connection is closed")
      ->capture_default_str()
      ->check(CLI::Range(100, 600000));
  serve->add_option("--password-slots", so.password_slots, "Argon2id hashes at once (64 MiB each)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{64}));
  serve->add_option("--max-body-bytes", so.max_body_bytes, "larger request bodies get 413")->capture_default_str();
  serve->add_option("--max-wait-ms", max_wait_ms, "longest read-your-writes wait")
      ->capture_default_str()
      ->check(CLI::Range(0, 60000));
  serve->add_option("--session-ttl-seconds", session_ttl_s, "how long a login session lasts")
      ->capture_default_str()
      ->check(CLI::Range(60, 90 * 24 * 3600));
  serve->add_option("--lock-timeout-ms", lock_timeout_ms, "longest wait for a lock held elsewhere, then 503")
      ->capture_default_str()
      ->check(CLI::Range(10, 600000));
  int erasure_token_ttl_s = static_cast<int>(so.erasure_token_ttl.count());
  serve->add_option("--erasures-per-hour", so.erasures_per_hour, "erasures one admin may carry out per hour, then 429")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  serve
      ->add_option("--erasure-token-ttl-seconds", erasure_token_ttl_s,
                   "how long a self-service erasure request waits for its confirmation token")
      ->capture_default_str()
      ->check(CLI::Range(1, 30 * 24 * 3600));
  serve
      ->add_option("--erasure-tasks", so.erasure_tasks,
                   "external systems an admin confirms for each erasure (names: a-z, 0-9, _)")
      ->capture_default_str()
      ->delimiter(',')
      ->check([](const std::string& t) {
        const bool ok = !t.empty() && t.size() <= 100 && t[0] >= 'a' && t[0] <= 'z' &&
                        t.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string::npos;
        return ok ? std::string() : "a task is a name of a-z, 0-9 and _, starting with a letter";
      });
  actions.emplace_back(serve, [&] {
    so.erasure_token_ttl = std::chrono::seconds(erasure_token_ttl_s);
    so.lock_timeout = std::chrono::milliseconds(lock_timeout_ms);
    so.request_timeout = std::chrono::milliseconds(request_timeout_ms);
    so.login_window = std::chrono::seconds(login_window_s);
    so.max_wait = std::chrono::milliseconds(max_wait_ms);
    so.session_ttl = std::chrono::seconds(session_ttl_s);
    app::install_signal_handlers();
    infra::require_master_key("serve");
    app::reapply_erasures(cfg, "serve");
    if (!serve_metrics_address.empty()) infra::serve_metrics(serve_metrics_address);
    so.projection_job = app::projection_job(cfg);
    return api::serve(cfg, so, app::stop_flag());
  });

  std::string boot_email, boot_name;
  auto* boot = cli.add_subcommand("bootstrap", "create the first owner and print their API key, once");
  boot->add_option("--email", boot_email, "the owner's email")->required();
  boot->add_option("--name", boot_name, "the owner's name")->required();
  actions.emplace_back(boot, [&] { return app::bootstrap(cfg, boot_email, boot_name); });

  std::string stream;
  auto* events = cli.add_subcommand("events", "print a stream's events and verify its hash chain");
  events->add_option("stream", stream, "stream id, e.g. user-<uuid>")->required();
  bool sealed = false;
  events->add_flag("--sealed", sealed, "print personal fields as stored (sealed), not opened");
  actions.emplace_back(events, [&] { return app::show_stream(cfg, stream, sealed); });

  const char* key_env = std::getenv("LETHE_SEAL_KEY_FILE");
  const std::string seal_key_default = key_env ? key_env : "";
  app::VerifyFlags vf{.seal_key_file = seal_key_default};
  auto* verify = cli.add_subcommand(
      "verify", "audit the event store: versions, hashes, chain links; seals with a key; copies on Kafka");
  verify->add_option("--seal-key-file", vf.seal_key_file, "key of the seals, to check them (env LETHE_SEAL_KEY_FILE)");
  verify->add_flag("--against-kafka", vf.against_kafka, "compare every event's hash with its copies on the topics");
  verify->add_option("--page-bytes", vf.page_bytes, "largest page of events read at once, in bytes")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 32));
  actions.emplace_back(verify, [&] { return app::verify(cfg, vf); });

  app::SealFlags sf{.seal_key_file = seal_key_default};
  auto* seal = cli.add_subcommand("seal", "seal the events appended since the last seal (HMAC under a key file)");
  seal->add_option("--seal-key-file", sf.seal_key_file, "32-byte key, raw or hex (env LETHE_SEAL_KEY_FILE)");
  seal->add_option("--wait-seconds", sf.wait_seconds, "longest wait for transactions open when the seal starts")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  actions.emplace_back(seal, [&] { return app::seal(cfg, sf); });

  app::GdprVerifyFlags gf;
  const auto not_empty = [](const std::string& v) { return v.empty() ? std::string("must not be empty") : ""; };
  auto* gdpr = cli.add_subcommand("gdpr", "personal data (GDPR)")->require_subcommand(1);
  auto* gdpr_verify = gdpr->add_subcommand(
      "verify", "prove that a person is forgotten: exit 0 if no table or topic holds them, 1 with a line per finding");
  gdpr_verify->add_option("user-id", gf.user_id, "the person's user id")->required()->check(not_empty);
  gdpr_verify->add_option("--email", gf.email, "their email, sought case-insensitively (never printed)")
      ->check(not_empty);
  gdpr_verify->add_option("--name", gf.name, "their name, sought case-insensitively (never printed)")->check(not_empty);
  gdpr_verify->add_option("--pg-data", gf.pg_data,
                          "PostgreSQL's data directory, searched byte by byte after a CHECKPOINT (default: the "
                          "server's, when readable here; '-' to skip)");
  gdpr_verify->add_option("--logs", gf.logs, "lethe's log files or folders, searched byte by byte (repeatable)");
  actions.emplace_back(gdpr_verify, [&] { return app::gdpr_verify(cfg, gf); });
  auto* gdpr_reapply = gdpr->add_subcommand(
      "reapply", "after a restore: forget again everyone the erasure topic says is erased and the register lacks");
  actions.emplace_back(gdpr_reapply, [&] { return app::gdpr_reapply(cfg); });

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = cli.exit(e);
    // gdpr verify's exit codes say found (1) or not (0): bad usage is 2.
    return code != 0 && gdpr->parsed() ? 2 : code;
  }
  infra::configure_logging(log_level, log_format == "json" ? infra::LogFormat::json : infra::LogFormat::text);
  try {
    for (auto& [cmd, run] : actions)
      if (cmd->parsed()) return run();
    return 0;
  } catch (const infra::InfraError& e) {
    spdlog::error("{}", e.what());
    return 2;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
}
