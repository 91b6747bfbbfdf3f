#include "support/scenario.hpp"

#include <atomic>
#include <thread>

#include "lethe/domain/envelope.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/producers/event_store.hpp"
#include "lethe/producers/relay.hpp"
#include "support/events.hpp"
#include "wiring.hpp"

namespace lethe::test {

producers::RelayOptions relay_options(const TestSchema& db, const TestTopics& topics) {
  producers::RelayOptions o;
  o.conninfo = db.conninfo();
  o.brokers = infra::Config::from_env().brokers;
  o.topic_prefix = topics.prefix();
  return o;
}

std::int64_t relay_until_idle(const TestSchema& db, const TestTopics& topics) {
  auto o = relay_options(db, topics);
  o.exit_when_idle = true;
  std::atomic<bool> stop{false};
  return producers::Relay(o).run(stop);
}

consumers::RunStats project_until_idle(const TestSchema& db, const TestTopics& topics, int batch_size,
                                       const std::string& group_prefix) {
  consumers::RunnerOptions o;
  o.receipts = app::event_store_receipts();
  o.conninfo = db.conninfo();
  o.brokers = infra::Config::from_env().brokers;
  o.topic_prefix = topics.prefix();
  o.group_prefix = group_prefix.empty() ? topics.prefix() : group_prefix;
  o.batch_size = batch_size;
  o.exit_when_idle = true;
  std::atomic<bool> stop{false};
  return consumers::ProjectionRunner(o, projections::make_projection("users")).run(stop);
}

int write_users(const TestSchema& db, int users, int max_renames, const std::string& id_prefix,
                std::chrono::milliseconds pause) {
  producers::EventStore store(db.conninfo());
  int total = 0;
  for (int i = 0; i < users; ++i) {
    const auto id = id_prefix + std::to_string(i);
    auto history = user_history(id, i % (max_renames + 1));
    // One command per event, as real traffic arrives.
    for (std::size_t v = 0; v < history.size(); ++v)
      store.append("user-" + id, static_cast<std::int64_t>(v), std::span(&history[v], 1));
    total += static_cast<int>(history.size());
    if (pause.count()) std::this_thread::sleep_for(pause);
  }
  return total;
}

bool relay_drained(const TestSchema& db) {
  return db.scalar(
             "SELECT EXISTS (SELECT 1 FROM relay_checkpoint WHERE id = 1) AND NOT EXISTS (SELECT 1 FROM outbox o,"
             " relay_checkpoint c WHERE c.id = 1 AND (o.tx_id, o.global_position) > (c.tx_id, c.global_position))") ==
         "t";
}

bool relay_publishes(const TestSchema& db, const std::string& topic, std::int64_t events, std::chrono::seconds limit,
                     Process* relay, std::string& why) {
  const auto published = [&] { return db.scalar("SELECT published FROM relay_checkpoint"); };
  if (eventually([&] { return published() == std::to_string(events); }, limit)) return true;
  why = "the relay published " + published() + " of " + std::to_string(events) + " events; " +
        db.scalar(
            "SELECT count(*) FROM outbox o, relay_checkpoint c WHERE c.id = 1 AND"
            " (o.tx_id, o.global_position) > (c.tx_id, c.global_position)") +
        " outbox entries wait; the store holds " + db.scalar("SELECT count(*) FROM events") + " events and " + topic +
        " " + std::to_string(topic_end(topic)) + " messages; the relay " +
        (relay && !relay->running() ? "has exited" : "still runs");
  for (const auto& t : db.rows("SELECT format('pid %s %s, %s, open %s, waits on %s/%s: %s', pid, application_name,"
                               " state, date_trunc('second', now() - xact_start), wait_event_type, wait_event,"
                               " left(query, 80)) FROM pg_stat_activity WHERE backend_xid IS NOT NULL"
                               " OR application_name LIKE 'lethe-relay%' ORDER BY xact_start LIMIT 8"))
    why += "\n  " + t;
  return false;
}

std::vector<std::string> users_table(const TestSchema& db) {
  return db.rows("SELECT user_id, email, name, role, registered_at, updated_at, version, last_event_id FROM users");
}

std::vector<std::string> expected_versions(const TestSchema& db) {
  return db.rows(
      "SELECT DISTINCT ON (stream_id) substr(stream_id, 6), stream_version, event_id FROM events"
      " ORDER BY stream_id, stream_version DESC");
}

std::vector<std::string> projected_versions(const TestSchema& db) {
  return db.rows("SELECT user_id, version, last_event_id FROM users");
}

std::vector<std::string> fresh_replay(const TestTopics& topics) {
  TestSchema fresh;
  auto env = lethe_env(fresh, topics);
  Process p({"project", "users", "--until-idle", "--group-prefix", "replay-" + random_suffix() + "."}, env);
  if (p.wait() != 0) return {"replay failed"};
  return users_table(fresh);
}

int append_users(const TestSchema& db, const std::string& prefix, int users, int renames) {
  producers::EventStore store(db.conninfo());
  int n = 0;
  for (int i = 0; i < users; ++i) {
    const auto id = prefix + std::to_string(i);
    auto history = user_history(id, renames);
    store.append("user-" + id, 0, history);
    n += static_cast<int>(history.size());
  }
  return n;
}

struct OpenAppend::Impl {
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<pqxx::work> tx;
  std::int64_t position = 0;
};

OpenAppend::OpenAppend(const TestSchema& db, const std::string& id) : impl_(std::make_unique<Impl>()) {
  auto history = user_history(id, 0);
  domain::Envelope e{history[0].event_id,
                     history[0].type,
                     1,
                     "user-" + id,
                     1,
                     0,
                     history[0].occurred_at,
                     "test",
                     "c",
                     "c",
                     history[0].payload,
                     "",
                     ""};
  e.hash = domain::chain_hash(e);
  impl_->conn = infra::connect(db.conninfo());
  impl_->tx = std::make_unique<pqxx::work>(*impl_->conn);
  impl_->position = impl_->tx
                        ->exec_params(
                            "WITH e AS (INSERT INTO events (event_id, stream_id, stream_version, type, schema_version,"
                            " occurred_at, actor, correlation_id, causation_id, payload, prev_hash, hash)"
                            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) RETURNING global_position)"
                            " INSERT INTO outbox (global_position, topic) SELECT global_position, 'users' FROM e"
                            " RETURNING global_position",
                            e.event_id, e.stream_id, e.stream_version, e.type, e.schema_version, e.occurred_at, e.actor,
                            e.correlation_id, e.causation_id, e.payload, e.prev_hash, e.hash)[0][0]
                        .as<std::int64_t>();
}
OpenAppend::~OpenAppend() = default;
void OpenAppend::commit() {
  impl_->tx->commit();
}
std::int64_t OpenAppend::position() const {
  return impl_->position;
}

}  // namespace lethe::test
