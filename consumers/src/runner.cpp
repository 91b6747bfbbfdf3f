#include "lethe/consumers/runner.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>

#include "assignment.hpp"
#include "batch_applier.hpp"
#include "dead_letter_sink.hpp"
#include "fetch_waker.hpp"
#include "lethe/infra/backoff.hpp"
#include "lethe/infra/config.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/kafka.hpp"
#include "lethe/infra/logging.hpp"
#include "lethe/infra/pg.hpp"
#include "offset_store.hpp"
#include "runner_metrics.hpp"

namespace lethe::consumers {

namespace {

using Clock = std::chrono::steady_clock;

// librdkafka's fetch sizes: the broker returns at most this much per fetch
// request (at least one message, however large), and per partition at most
// kPartitionFetchBytes. Together with queued.max.messages.kbytes they bound
// what librdkafka holds before the runner asks for it.
constexpr const char* kFetchMaxBytes = "8388608";
constexpr const char* kPartitionFetchBytes = "1048576";
// How often, at most, a catching-up runner wakes librdkafka's fetcher
// (FetchWaker): often enough that a 64 MiB prefetch queue never runs dry,
// seldom enough that ten projections replaying at once ask little of the
// broker (the replay bench, one run each: 20,696 events/s waking at most
// every 50 ms, 21,743 at 250 ms, 22,568 never waking).
constexpr int kWakeEveryMs = 250;
// How long PostgreSQL lets a projector's session sit idle inside a
// transaction: never between two statements of a live batch, but a process
// frozen mid-batch holds its rows locked until then.
constexpr const char* kIdleInTransaction = "10s";

// One group member per --instance: each runner holds a session advisory
// lock on its group.instance.id while it runs (the two-key form, apart
// from the relay's and the partitions' locks). A second process with the
// same instance waits this long for the lock (a process just killed may
// still have its session), then is refused.
constexpr auto kInstanceWait = std::chrono::seconds(15);
constexpr const char* kClaimInstanceSql =
    "SELECT pg_try_advisory_lock(hashtext('lethe.instance'), hashtext($1)) AS claimed";
constexpr const char* kHoldsInstanceSql =
    "SELECT count(*) > 0 AS held FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()"
    " AND classid = hashtext('lethe.instance')::oid AND objid = hashtext($1)::oid AND objsubid = 2";

// The instance's lock is held by another session (ensure_connected()).
struct InstanceTaken : infra::Unavailable {
  using infra::Unavailable::Unavailable;
};

// Who claims partitions (projection_owners.owner): the group member, and
// the process and host behind it.
std::string owner_of(const std::string& member) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return member + " (pid " + std::to_string(getpid()) + " on " + host + ")";
}

}  // namespace

// The poll loop and the rebalance callback. The other parts each tell one
// story: Assignment (where each partition stands, and whether the log is
// still the one those offsets came from), OffsetStore (positions in
// PostgreSQL), DeadLetterSink (the dead-letter producer), BatchApplier
// (decode, apply, split, poison message vs broken projection).
struct ProjectionRunner::Impl : public RdKafka::RebalanceCb {
  RunnerOptions opt;
  std::unique_ptr<projections::Projection> projection;
  std::string group;
  std::string instance_id;     // group.instance.id, and the key of its lock
  bool held_instance = false;  // the lock was ours once (on some session)
  std::optional<Clock::time_point> last_rejoin;
  std::string owner;  // what its claims say (owner_of)
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  std::vector<std::string> topics;    // subscribed (run())
  std::unique_ptr<FetchWaker> waker;  // on consumer; gone before it closes
  OffsetStore offsets;
  Assignment assignment;
  DeadLetterSink dead_letters;
  BatchApplier applier;
  RunnerMetrics metrics;
  // An error inside the rebalance callback: it must not unwind through
  // librdkafka, so it is kept here and rethrown by run().
  std::exception_ptr callback_failure;

  Impl(RunnerOptions options, std::unique_ptr<projections::Projection> p)
      : opt(std::move(options)),
        projection(std::move(p)),
        group(opt.group_prefix + "projection." + std::string(projection->name())),
        instance_id(group + "." + opt.instance),
        owner(owner_of(instance_id)),
        offsets(std::string(projection->name())),
        assignment(group, std::string(projection->name())),
        dead_letters(opt.brokers, opt.topic_prefix + "dead-letters", std::string(projection->name()), group),
        applier(*projection, opt.receipts, offsets, dead_letters, assignment, group, opt.max_consecutive_refusals),
        metrics(std::string(projection->name())) {
    if (!opt.receipts)
      throw infra::Misconfigured(group +
                                 ": no receipt log wired (RunnerOptions::receipts): erasure receipts would be lost");
    const auto deadline = Clock::now() + kInstanceWait;
    for (;;) {
      try {
        ensure_connected();
        break;
      } catch (const InstanceTaken&) {
        if (Clock::now() > deadline)
          throw infra::Misconfigured(group + ": another process runs as --instance " + opt.instance +
                                     " (it holds the instance's lock in PostgreSQL); stop it, or give this one "
                                     "another --instance");
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
  }

  // Kafka fenced this member: another consumer joined with its instance id.
  // While this runner still holds the instance's lock, no other process
  // can be that consumer: the fence is librdkafka's own (a static member
  // fenced by itself after its session timed out, librdkafka#3437, seen
  // when the broker was frozen for longer than the session).
  bool fenced_by_itself() {
    try {
      return infra::translate_pg("check the instance lock of " + group, [&] {
        if (!conn || !conn->is_open()) return false;
        pqxx::nontransaction tx(*conn);
        return tx.exec_params(kHoldsInstanceSql, instance_id)[0]["held"].as<bool>();
      });
    } catch (const infra::InfraError&) {
      return false;  // not known: fenced for real, as far as this runner can tell
    }
  }

  void create_consumer();

  // After a fence of its own making: the fatal consumer is closed and a new
  // one joins with the same instance id. Nothing of the old one's batch was
  // applied; the new assignment claims the partitions again (raising their
  // epochs) and starts from the offsets stored in PostgreSQL.
  // At most one rejoin in kRejoinEvery: two processes of one group and
  // instance that each hold a lock (on two databases, which no lock here
  // can tell apart) would otherwise fence each other for ever; the second
  // fence within it stops the process as any fence did before.
  static constexpr auto kRejoinEvery = std::chrono::seconds(60);
  bool may_rejoin() const { return !last_rejoin || Clock::now() - *last_rejoin > kRejoinEvery; }

  void rejoin(const std::string& reason) {
    spdlog::warn(
        "{}: fenced by Kafka ({}) while no other process holds --instance {}: librdkafka's own fence; "
        "rejoining with a new consumer",
        group, reason, opt.instance);
    last_rejoin = Clock::now();
    waker.reset();
    consumer->close();
    consumer.reset();
    assignment.clear();
    lost.clear();
    // The broker that fenced it may not answer yet: tried for a minute.
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    infra::Backoff backoff(std::chrono::milliseconds(500));
    for (;;) {
      try {
        create_consumer();
        if (const auto code = consumer->subscribe(topics); code != RdKafka::ERR_NO_ERROR)
          infra::throw_kafka(code, "subscribe " + group);
        return;
      } catch (const infra::InfraError& e) {
        if (!e.is_retryable() || Clock::now() > deadline) throw;
        waker.reset();
        consumer.reset();
        spdlog::warn("{}: rejoin: {}; retrying in {} ms", group, e.what(), backoff.next().count());
        backoff.wait();
      }
    }
  }

  std::map<PartitionKey, StoredOffset> load_offsets() {
    return infra::translate_pg("load offsets of " + group, [&] {
      try {
        return offsets.load(*conn);
      } catch (const pqxx::undefined_column& e) {
        throw infra::Misconfigured("load offsets of " + group + ": " + e.what() + "; run `lethe migrate` first");
      }
    });
  }

  // For the rebalance callback: claims the partitions assigned (see
  // OffsetStore::claim) and loads the offsets. PostgreSQL may have restarted
  // since we last used the connection, and a claim may meet another's in a
  // deadlock: reconnects and retries for up to a minute (well inside
  // max.poll.interval.ms) before giving up.
  OffsetStore::Claim claim_patiently(const std::vector<PartitionKey>& partitions) {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    infra::Backoff backoff(std::chrono::milliseconds(200));
    // A claim only raises epochs: repeating it, whatever became of the last
    // try (in doubt, timed out, a deadlock), is safe. Called in a handler.
    const auto again = [&](const std::string& why) {
      if (Clock::now() > deadline) throw;
      spdlog::warn("{}: claim: {}; retrying in {} ms", group, infra::first_line(why), backoff.next().count());
      backoff.wait();
    };
    for (;;) {
      try {
        ensure_connected();
        return infra::translate_pg("claim partitions of " + group,
                                   [&] { return offsets.claim(*conn, partitions, owner); });
      } catch (const infra::InfraError& e) {
        if (!e.is_retryable() && !dynamic_cast<const infra::CommitInDoubt*>(&e)) throw;
        again(e.what());
      } catch (const pqxx::sql_error& e) {
        const auto kind = infra::classify_pg(e.sqlstate());
        if (kind == infra::PgFailure::lock) {
          const int ended = infra::translate_pg("end stale batches of " + group,
                                                [&] { return offsets.end_stale_batches(*conn, partitions); });
          spdlog::warn(
              "{}: a claim waited {} s on the batch of a process that lost these partitions; ended {} session(s) "
              "in a transaction for longer (a process frozen or cut off mid-batch)",
              group, OffsetStore::kClaimWaitSeconds, ended);
          if (ended == 0) again(e.what());
          continue;
        }
        if (kind != infra::PgFailure::timeout && !dynamic_cast<const pqxx::transaction_rollback*>(&e)) throw;
        again(e.what());
      }
    }
  }

  // Partitions this runner lost to a newer claim (PartitionMoved), since
  // when. A rebalance normally follows within the session timeout and hands
  // them on (or back). Should none come while the consumer still holds one
  // (the newer claim came from a process that died before the group heard
  // of it), this runner claims it again.
  std::map<PartitionKey, Clock::time_point> lost;
  static constexpr auto kReclaimAfter = std::chrono::seconds(20);

  void reclaim_lost() {
    if (lost.empty()) return;
    const auto now = Clock::now();
    std::vector<PartitionKey> due;
    for (const auto& [key, since] : lost)
      if (now - since >= kReclaimAfter) due.push_back(key);
    if (due.empty()) return;
    for (const auto& key : due) lost.erase(key);
    std::vector<RdKafka::TopicPartition*> parts;
    consumer->assignment(parts);
    const PartsGuard guard{parts};
    std::vector<RdKafka::TopicPartition*> held;
    std::vector<PartitionKey> keys;
    for (auto* p : parts) {
      PartitionKey key{p->topic(), p->partition()};
      if (std::ranges::find(due, key) == due.end()) continue;
      held.push_back(p);
      keys.push_back(std::move(key));
    }
    if (keys.empty()) return;
    const auto claim = claim_patiently(keys);
    assignment.claimed(claim.epochs);
    seek_to(held, claim.stored);
    spdlog::warn(
        "{}: claimed {} partition(s) again: no rebalance came {} s after they moved, and Kafka still assigns them "
        "here",
        group, keys.size(), kReclaimAfter.count());
  }

  // Advisory offsets: the positions of batches committed in PostgreSQL are
  // also committed to the consumer group in Kafka, at most once a second
  // and at stop, so that standard consumer-group tools (kafka-consumer-
  // groups.sh, lag exporters) show the lag. They are never read back: every
  // assignment seeks to the offsets PostgreSQL holds (Assignment::place).
  Clock::time_point last_advice{};
  bool advice_due = false;
  void advise_kafka(bool at_stop) {
    if (!advice_due || (!at_stop && Clock::now() - last_advice < std::chrono::seconds(1))) return;
    std::vector<RdKafka::TopicPartition*> parts;
    const PartsGuard guard{parts};
    for (const auto& [key, next] : assignment.positions())
      if (next >= 0) parts.push_back(RdKafka::TopicPartition::create(key.first, key.second, next));
    if (!parts.empty()) {
      const auto code = at_stop ? consumer->commitSync(parts) : consumer->commitAsync(parts);
      if (code != RdKafka::ERR_NO_ERROR)
        spdlog::debug("{}: advisory offsets not committed to Kafka: {}", group, RdKafka::err2str(code));
    }
    last_advice = Clock::now();
    advice_due = false;
  }

  // libpqxx does not reconnect by itself (see infra::connect): a connection
  // found broken is replaced here. A session left idle inside a transaction
  // (a process frozen mid-batch) is ended by PostgreSQL after
  // kIdleInTransaction, so that its locks do not hold up the partitions'
  // next owner for longer.
  void ensure_connected() {
    if (conn && conn->is_open()) return;
    conn = infra::connect(opt.conninfo);
    try {
      infra::translate_pg("set up the session of " + group, [&] {
        pqxx::nontransaction tx(*conn);
        tx.exec(std::string("SET idle_in_transaction_session_timeout = '") + kIdleInTransaction + "'");
        if (!tx.exec_params(kClaimInstanceSql, instance_id)[0]["claimed"].as<bool>()) {
          if (!held_instance)
            throw InstanceTaken(group + ": the lock of --instance " + opt.instance +
                                " is held by another session (another process, or our own old one)");
          // Ours was lost with its session (PostgreSQL ended it, or the
          // network did) and another session took it meanwhile.
          throw infra::InfraError(group + ": the lock of --instance " + opt.instance +
                                      " was taken by another session while this process was disconnected; "
                                      "stopping (is another process running with the same --instance?)",
                                  false);
        }
        held_instance = true;
        if (!opt.schema_first.empty())
          tx.exec_params(
              "SELECT set_config('search_path', quote_ident($1) || ', ' || current_setting('search_path'), "
              "false)",
              opt.schema_first);
      });
    } catch (...) {
      conn.reset();  // set up again on the next try
      throw;
    }
  }

  // On assignment, every partition starts at the offset stored in PostgreSQL
  // next to the read model, or at the beginning when there is none.
  void rebalance_cb(RdKafka::KafkaConsumer* c, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& parts) override {
    try {
      lost.clear();  // a rebalance settles who holds what
      if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
        std::vector<PartitionKey> keys;
        for (const auto* p : parts) keys.emplace_back(p->topic(), p->partition());
        const auto claim = claim_patiently(keys);
        assignment.claimed(claim.epochs);
        for (auto* p : parts) {
          const auto next = assignment.place(*c, *p, claim.stored);
          spdlog::info("{}: assigned {}[{}] from offset {}", group, p->topic(), p->partition(),
                       next < 0 ? std::string("beginning") : std::to_string(next));
        }
        c->assign(parts);
      } else {
        for (auto* p : parts) assignment.revoke({p->topic(), p->partition()});
        c->unassign();
        spdlog::info("{}: {} partitions revoked", group, parts.size());
      }
    } catch (...) {
      // Consume nothing rather than something from the wrong offset.
      assignment.clear();
      c->unassign();
      if (!callback_failure) callback_failure = std::current_exception();
    }
  }

  // Frees the partitions librdkafka handed out (assignment()) or we made.
  struct PartsGuard {
    std::vector<RdKafka::TopicPartition*>& parts;
    ~PartsGuard() { RdKafka::TopicPartition::destroy(parts); }
  };

  // PostgreSQL holds the truth: every assigned partition goes back to the
  // offset stored there.
  void rewind() {
    std::vector<RdKafka::TopicPartition*> parts;
    consumer->assignment(parts);
    const PartsGuard guard{parts};
    // One this runner lost (PartitionMoved) waits for the rebalance that
    // hands it on (or reclaim_lost()); its messages are skipped meanwhile.
    std::vector<RdKafka::TopicPartition*> ours;
    for (auto* p : parts)
      if (assignment.next({p->topic(), p->partition()})) ours.push_back(p);
    seek_to(ours, load_offsets());
  }

  // Places each partition at its stored offset (Assignment::place) and seeks there.
  void seek_to(const std::vector<RdKafka::TopicPartition*>& parts, const std::map<PartitionKey, StoredOffset>& stored) {
    for (auto* p : parts) {
      assignment.place(*consumer, *p, stored);
      const auto code = consumer->seek(*p, 5000);
      // A partition left where it was would be applied past its failed
      // batch; recover() tries again.
      if (code != RdKafka::ERR_NO_ERROR)
        throw infra::Unavailable("seek " + p->topic() + "[" + std::to_string(p->partition()) +
                                 "]: " + RdKafka::err2str(code));
    }
  }

  // After a failed batch: reconnect if needed, then rewind, until both work.
  // Returns false if told to stop meanwhile: nothing is lost by stopping,
  // the offsets in PostgreSQL say where to resume.
  bool recover(const std::atomic<bool>& stop) {
    infra::Backoff backoff(std::chrono::milliseconds(500));
    for (;;) {
      backoff.wait();
      try {
        ensure_connected();
        rewind();
        spdlog::info("{}: rewound to the offsets stored in PostgreSQL", group);
        return true;
      } catch (const infra::InfraError& e) {
        if (!e.is_retryable()) throw;
        if (stop.load()) return false;
        spdlog::warn("{}: {}; retrying in {} ms", group, e.what(), backoff.next().count());
      }
    }
  }

  // Fewer than idle_below_lag events left to read: by the last watermarks
  // seen, then confirmed by the broker.
  bool close_to_the_end() {
    if (assignment.empty()) return false;
    const auto below = [&](bool exact) {
      const auto lag = assignment.lag(*consumer, exact);
      return lag >= 0 && lag < opt.idle_below_lag;
    };
    return below(false) && below(true);
  }

  // The progress line, every few seconds: what was applied since the last
  // one, the lag, and at this pace when it will be gone. A rebuild also
  // tells Prometheus how far it is (offsets passed / end of the logs).
  void report(const RunStats& stats, std::int64_t applied, double seconds) {
    const double rate = applied / seconds;
    const auto lag = assignment.lag(*consumer, false);
    const auto eta = rate > 0 && lag > 0 ? fmt::format(", caught up in about {:.0f} s", lag / rate) : std::string();
    std::int64_t passed = 0;
    for (const auto& [key, next] : assignment.positions()) passed += std::max<std::int64_t>(next, 0);
    const double done = passed + lag > 0 ? static_cast<double>(passed) / static_cast<double>(passed + lag) : 1.0;
    if (!opt.schema_first.empty()) {
      metrics.rebuild_progress(done);
      if (opt.on_progress) opt.on_progress(done);
    }
    spdlog::info(
        "{}: {}applied {} events ({:.0f}/s), total {}, skipped {}, dead-lettered {}, lag {}{}", group,
        opt.schema_first.empty() ? "" : fmt::format("rebuilding in {}, {:.1f} % done: ", opt.schema_first, 100 * done),
        applied, rate, stats.applied, stats.skipped, stats.dead_lettered, lag, eta);
  }

  // Applies one batch (BatchApplier). A failure PostgreSQL or Kafka may
  // recover from rolls it back, and the partitions go back to their stored
  // offsets (recover()): retried; stopped when told to stop meanwhile.
  enum class Outcome { applied, retried, stopped };
  Outcome apply(const std::vector<const RdKafka::Message*>& view, RunStats& stats, const std::atomic<bool>& stop) {
    std::string failure;
    try {
      const auto started = Clock::now();
      applier.apply(view, *conn, stats);
      metrics.applied(std::chrono::duration<double>(Clock::now() - started).count(), stats);
      advice_due = true;
      return Outcome::applied;
    } catch (const PartitionMoved& e) {
      metrics.error("partition_moved");
      for (const auto& key : e.partitions) lost.try_emplace(key, Clock::now());
      failure = e.what();
    } catch (const infra::InfraError& e) {
      // Retryable or in doubt: either way PostgreSQL knows what committed.
      if (!e.is_retryable() && !dynamic_cast<const infra::CommitInDoubt*>(&e)) throw;
      failure = e.what();
    } catch (const pqxx::transaction_rollback& e) {
      failure = e.what();  // deadlock or serialization failure: try again
    } catch (const pqxx::failure& e) {
      if (conn->is_open()) throw;  // not a lost connection: a bug to surface
      failure = e.what();          // the connection died mid-statement (e.g. in COPY)
    }
    metrics.error("batch_retried");
    spdlog::warn("{}: batch not applied: {}; rewinding to the stored offsets", group,
                 failure.substr(0, failure.find('\n')));
    return recover(stop) ? Outcome::retried : Outcome::stopped;
  }

  // Fills a batch: up to batch_size messages or batch_max_bytes of keys and
  // values (the message that crosses the bound is the last one in), or
  // whatever arrived within batch_wait_ms, or, once it holds a message, what
  // was there when nothing more came for kBatchIdleMs: the fetched messages
  // are all in. Catching up, the prefetch queue is never empty and batches
  // fill; at a trickle, an event is applied within milliseconds, not at the
  // end of batch_wait_ms.
  // LETHE_FAULT=project.self_fence (a test hook): the first message read is
  // taken for a fence from Kafka, once.
  bool self_fence_hooked = false;
  bool self_fence_hook() {
    if (self_fence_hooked || !infra::fault_injected("project.self_fence")) return false;
    self_fence_hooked = true;
    spdlog::warn("{}: LETHE_FAULT=project.self_fence, taking a message for a fence", group);
    return true;
  }

  static constexpr int kBatchIdleMs = 2;
  void fill(std::vector<std::unique_ptr<RdKafka::Message>>& batch, std::int64_t& bytes, bool& warned_topic) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(opt.batch_wait_ms);
    while (static_cast<int>(batch.size()) < opt.batch_size && bytes < opt.batch_max_bytes) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) break;
      if (!batch.empty()) left = std::min<decltype(left)>(left, kBatchIdleMs);
      std::unique_ptr<RdKafka::Message> m(consumer->consume(static_cast<int>(left)));
      const bool pretend = m->err() == RdKafka::ERR_NO_ERROR && self_fence_hook();
      const auto code = pretend ? RdKafka::ERR__FATAL : m->err();
      if (code == RdKafka::ERR_NO_ERROR) {
        // Checked as it arrives, before anything of its partition applies;
        // the message read only for that check goes no further.
        if (assignment.check(*m)) continue;
        bytes += static_cast<std::int64_t>(m->len() + m->key_len());
        batch.push_back(std::move(m));
      } else if (code == RdKafka::ERR__TIMED_OUT || code == RdKafka::ERR__PARTITION_EOF) {
        break;
      } else if (code == RdKafka::ERR__FATAL) {
        std::string reason;
        const auto fatal = pretend ? RdKafka::ERR_FENCED_INSTANCE_ID : consumer->fatal_error(reason);
        if (fatal == RdKafka::ERR_FENCED_INSTANCE_ID && may_rejoin() && fenced_by_itself()) {
          m.reset();
          batch.clear();  // read by the consumer that goes: applied by none
          bytes = 0;
          rejoin(reason.empty() ? RdKafka::err2str(fatal) : reason);
          return;
        }
        throw infra::InfraError(group + ": fatal consumer error: " + RdKafka::err2str(fatal) + " (" + reason +
                                    "); is another process running with the same --instance?",
                                false);
      } else if (code == RdKafka::ERR_UNKNOWN_TOPIC_OR_PART) {
        if (!warned_topic) spdlog::error("{}: {}: run `lethe topics create`", group, m->errstr());
        warned_topic = true;
      } else {
        spdlog::warn("{}: consume: {}", group, m->errstr());  // librdkafka recovers by itself
      }
    }
  }
};

namespace {

void empty_read_model(pqxx::connection& conn, const projections::Projection& projection) {
  const OffsetStore offsets{std::string(projection.name())};
  infra::translate_pg("reset " + std::string(projection.name()), [&] {
    pqxx::work tx(conn);
    for (const auto& table : projection.tables()) tx.exec("TRUNCATE " + tx.quote_name(table));
    offsets.forget(tx);
    tx.commit();
  });
  spdlog::info("{}: read model emptied and offsets forgotten; the next run replays from offset zero",
               projection.name());
}

}  // namespace

void reset_projection(const std::string& conninfo, const projections::Projection& projection) {
  auto conn = infra::connect(conninfo);
  empty_read_model(*conn, projection);
}

void ProjectionRunner::reset() {
  impl_->ensure_connected();
  empty_read_model(*impl_->conn, *impl_->projection);
}

ProjectionRunner::ProjectionRunner(RunnerOptions options, std::unique_ptr<projections::Projection> projection)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(projection))) {
  impl_->create_consumer();
}

void ProjectionRunner::Impl::create_consumer() {
  auto& s = *this;
  auto conf = infra::kafka_conf({
      {"bootstrap.servers", s.opt.brokers},
      {"group.id", s.group},
      {"group.instance.id", s.group + "." + s.opt.instance},
      {"enable.auto.commit", "false"},  // offsets live in PostgreSQL
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      {"session.timeout.ms", "10000"},
      {"enable.partition.eof", "false"},
      {"fetch.wait.max.ms", "50"},
      // A subscribed topic that does not exist yet (created a moment later,
      // or its metadata still spreading after a broker restart) is noticed
      // within seconds, not at librdkafka's default five minutes.
      {"topic.metadata.refresh.interval.ms", "5000"},
      // Bounded prefetch: large events must not fill memory ahead of the
      // batch in hand (README, "Memory").
      {"queued.max.messages.kbytes", std::to_string(s.opt.fetch_queue_kbytes)},
      {"fetch.max.bytes", kFetchMaxBytes},
      {"max.partition.fetch.bytes", kPartitionFetchBytes},
  });
  std::string err;
  if (conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(&s), err) != RdKafka::Conf::CONF_OK)
    throw infra::Misconfigured("rebalance_cb: " + err);
  s.consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!s.consumer) throw infra::Misconfigured("Kafka consumer: " + err);
  infra::check_broker(*s.consumer, s.opt.brokers);
  s.waker = std::make_unique<FetchWaker>(*s.consumer);
}

ProjectionRunner::~ProjectionRunner() {
  if (!impl_) return;
  impl_->waker.reset();
  if (impl_->consumer) impl_->consumer->close();
}

RunStats ProjectionRunner::run(const std::atomic<bool>& stop) {
  auto& s = *impl_;
  // Leaving by an exception: the projection is faulted.
  struct Faulted {
    RunnerMetrics& metrics;
    bool clean = false;
    ~Faulted() {
      if (clean) return;
      metrics.state(RunnerMetrics::State::faulted);
      metrics.error("stopped");
    }
  } faulted{s.metrics};
  s.metrics.state(s.opt.schema_first.empty() ? RunnerMetrics::State::running : RunnerMetrics::State::rebuilding);
  // A person column without a rule would keep an erased person's data:
  // refuse to start and say which.
  const auto gaps = infra::translate_pg("check the erasure policy of " + s.group, [&] {
    pqxx::work tx(*s.conn);
    return projections::erasure_policy_gaps(tx, *s.projection);
  });
  if (!gaps.empty())
    throw infra::Misconfigured(
        "projection " + std::string(s.projection->name()) +
        " refuses to start, its erasure policy is incomplete: " + fmt::format("{}", fmt::join(gaps, "; ")));
  s.topics.clear();
  for (const auto& t : projections::topics_of(*s.projection)) s.topics.push_back(s.opt.topic_prefix + t);
  if (const auto code = s.consumer->subscribe(s.topics); code != RdKafka::ERR_NO_ERROR)
    infra::throw_kafka(code, "subscribe " + s.group);
  spdlog::info("{}: consuming {} (batch {} events or {} bytes / {} ms)", s.group, fmt::join(s.topics, ", "),
               s.opt.batch_size, s.opt.batch_max_bytes, s.opt.batch_wait_ms);

  RunStats stats;
  std::int64_t reported = 0;
  auto last_report = Clock::now();
  bool warned_topic = false;
  auto last_wake = Clock::time_point{};
  std::vector<std::unique_ptr<RdKafka::Message>> batch;
  batch.reserve(static_cast<std::size_t>(s.opt.batch_size));

  while (!stop.load()) {
    batch.clear();
    std::int64_t bytes = 0;
    {
      const infra::Timed timed(stats.fill_seconds);
      s.fill(batch, bytes, warned_topic);
    }
    // Catching up: wake the fetcher while this batch applies (FetchWaker),
    // at most every kWakeEveryMs.
    if ((static_cast<int>(batch.size()) >= s.opt.batch_size || bytes >= s.opt.batch_max_bytes) &&
        Clock::now() - last_wake >= std::chrono::milliseconds(kWakeEveryMs)) {
      if (const auto next = s.assignment.next_in_turn()) s.waker->wake(*next);
      last_wake = Clock::now();
    }

    if (s.callback_failure) std::rethrow_exception(s.callback_failure);
    if (!batch.empty()) {
      stats.largest_batch_bytes = std::max(stats.largest_batch_bytes, bytes);
      std::vector<const RdKafka::Message*> view;
      view.reserve(batch.size());
      for (const auto& m : batch) view.push_back(m.get());
      s.metrics.taken(batch);
      if (const auto lags = s.assignment.lags(*s.consumer, false)) s.metrics.lag(*lags);
      const auto outcome = s.apply(view, stats, stop);
      if (outcome == Impl::Outcome::stopped) break;
      if (outcome == Impl::Outcome::retried) continue;
      if (s.opt.exit_when_idle && s.opt.idle_below_lag > 0 && s.close_to_the_end()) break;
    } else if (s.opt.exit_when_idle && !s.assignment.empty() && s.assignment.lag(*s.consumer, true) == 0) {
      break;
    }

    s.advise_kafka(false);
    try {
      s.reclaim_lost();
    } catch (const infra::InfraError& e) {
      if (!e.is_retryable()) throw;
      spdlog::warn("{}: {}; the lost partitions wait", s.group, e.what());
    }
    if (const auto lags = s.assignment.lags(*s.consumer, false)) s.metrics.lag(*lags);
    const auto now = Clock::now();
    if (now - last_report > std::chrono::seconds(5)) {
      s.report(stats, stats.applied - reported, std::chrono::duration<double>(now - last_report).count());
      reported = stats.applied;
      last_report = now;
    }
  }
  s.advise_kafka(true);
  faulted.clean = true;
  s.metrics.state(RunnerMetrics::State::stopped);
  const auto& pipeline = projections::pipeline_seconds();
  spdlog::info(
      "{}: stopped: applied {}, skipped {}, dead-lettered {} in {} batches; seconds in fill {:.2f}, parse {:.2f}, "
      "apply {:.2f} (keys {:.2f}, decode {:.2f}, load {:.2f}, write {:.2f}), offsets {:.2f}, commit {:.2f}",
      s.group, stats.applied, stats.skipped, stats.dead_lettered, stats.batches, stats.fill_seconds,
      stats.parse_seconds, stats.apply_seconds, pipeline.keys, pipeline.decode, pipeline.load, pipeline.write,
      stats.offsets_seconds, stats.commit_seconds);
  return stats;
}

RunStats ProjectionRunner::catch_up(const Targets& targets, const std::atomic<bool>& stop,
                                    std::chrono::seconds patience) {
  auto& s = *impl_;
  RunStats stats;
  const auto deadline = Clock::now() + patience;
  // Every partition named stands at its target (an unassigned one does not).
  const auto reached = [&] {
    return std::ranges::all_of(targets, [&](const auto& t) {
      const auto next = s.assignment.next(t.first);
      return next && *next >= t.second;
    });
  };
  bool warned_topic = false;
  std::vector<std::unique_ptr<RdKafka::Message>> batch;
  std::vector<const RdKafka::Message*> view;
  s.ensure_connected();
  s.rewind();
  while (!reached()) {
    if (stop.load()) return stats;
    if (Clock::now() > deadline) {
      std::string behind;
      for (const auto& [key, target] : targets) {
        const auto next = s.assignment.next(key);
        if (!next || *next < target)
          behind += (behind.empty() ? "" : ", ") + describe(key) + " at " +
                    (next ? std::to_string(*next) : std::string("(not assigned here)")) + " of " +
                    std::to_string(target);
      }
      throw infra::Unavailable(s.group + ": not caught up within " + std::to_string(patience.count()) +
                               " s: " + behind);
    }
    batch.clear();
    std::int64_t bytes = 0;
    s.fill(batch, bytes, warned_topic);
    if (s.callback_failure) std::rethrow_exception(s.callback_failure);
    // What lies at or beyond a target is set aside, read again later.
    view.clear();
    for (const auto& m : batch) {
      const auto t = targets.find(key_of(*m));
      if (t != targets.end() && m->offset() < t->second) view.push_back(m.get());
    }
    if (!view.empty() && s.apply(view, stats, stop) == Impl::Outcome::stopped) return stats;
  }
  s.rewind();
  return stats;
}

}  // namespace lethe::consumers
