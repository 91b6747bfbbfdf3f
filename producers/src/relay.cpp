#include "lethe/producers/relay.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <optional>

#include "lethe/infra/backoff.hpp"
#include "lethe/infra/config.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/logging.hpp"
#include "lethe/infra/metrics.hpp"
#include "lethe/infra/pg.hpp"
#include "open_transaction.hpp"
#include "outbox_reader.hpp"
#include "publisher.hpp"
#include "relay_checkpoint.hpp"

namespace lethe::producers {

namespace {

using Clock = std::chrono::steady_clock;

// The payload bytes of a page, as the page's byte bound counts them.
std::int64_t page_bytes(const std::vector<OutboxEntry>& page) {
  std::int64_t n = 0;
  for (const auto& e : page) n += static_cast<std::int64_t>(e.envelope.payload.size());
  return n;
}

constexpr const char* kApplicationName = "lethe-relay";
constexpr const char* kReadAheadName = "lethe-relay-read-ahead";
constexpr const char* kChannelSql = "SELECT 'lethe_outbox_' || md5(current_schema()) AS channel";
// Our previous session, if the server still thinks it alive (a silent
// network drop): it holds the relay lock until the server's keepalive gives
// up, so it is ended here. Only that pid, and only if it is a relay session.
constexpr const char* kEndStaleSql =
    "SELECT pg_terminate_backend(pid, 5000) AS ended FROM pg_stat_activity"
    " WHERE pid = $1 AND backend_start::text = $2 AND application_name = $3";
constexpr const char* kSessionSql = "SELECT backend_start::text AS started FROM pg_stat_activity WHERE pid = $1";

// Test hooks (LETHE_FAULT), used by the fault tests only:
//   relay.after_delivery   die after a batch was acknowledged by Kafka and
//                          before its checkpoint is stored;
//   relay.after_checkpoint die once a page's checkpoint is stored, with
//                          the page handed over behind it purged unsent;
//   relay.abandon_session  after the first batch, drop the PostgreSQL
//                          connection without closing it, as a silent
//                          network drop leaves it: the server keeps the old
//                          session, and its lock, alive.

class Wakeup : public pqxx::notification_receiver {
 public:
  using pqxx::notification_receiver::notification_receiver;
  void operator()(const std::string&, int) override {}
};

// What the relay tells Prometheus (docs/operations.md, "Metrics").
struct RelayMetrics {
  prometheus::Gauge& pending =
      infra::gauge_family("lethe_relay_outbox_pending", "Outbox entries not published yet, final or not").Add({});
  prometheus::Gauge& oldest =
      infra::gauge_family(
          "lethe_relay_outbox_oldest_seconds",
          "How long ago the next event to publish (the oldest waiting, in publishing order) occurred; 0 when none")
          .Add({});
  prometheus::Counter& published =
      infra::counter_family("lethe_relay_events_published_total", "Events published and acknowledged by Kafka").Add({});
  prometheus::Counter& parked = infra::counter_family("lethe_relay_events_parked_total",
                                                      "Events the broker refused for good, parked in relay_parked")
                                    .Add({});
  prometheus::Counter& retried =
      infra::counter_family("lethe_relay_batches_retried_total", "Batches not fully delivered, sent again").Add({});
  prometheus::Histogram& batch_seconds =
      infra::histogram_family("lethe_relay_batch_seconds",
                              "Time to publish one batch until acknowledged, and checkpoint it")
          .Add({}, infra::duration_buckets());

  void backlog(const Backlog& b) {
    pending.Set(static_cast<double>(b.entries));
    oldest.Set(b.oldest_seconds);
  }
};

}  // namespace

// The relay's PostgreSQL side: one connection holding the relay lock,
// LISTENing for new entries, with the outbox reader and the checkpoint on it.
struct Relay::Impl {
  RelayOptions opt;
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<Wakeup> wakeup;
  std::unique_ptr<OutboxReader> outbox;
  // A second session that reads the next page while the current one is
  // published: reading and publishing overlap instead of taking turns.
  std::unique_ptr<pqxx::connection> ahead_conn;
  std::unique_ptr<OutboxReader> ahead;
  std::unique_ptr<CheckpointStore> checkpoint;
  std::unique_ptr<Publisher> publisher;
  OutboxPosition published_up_to;
  // Our last session (pid and start time, which together name it even if a
  // pid is reused), to end it if it lingers.
  int previous_backend = 0;
  std::string previous_backend_start;
  Clock::time_point last_stall_warning{};
  std::optional<Clock::time_point> stalled_since;  // entries pending, none fetchable

  // (Re)connects: takes the relay lock, LISTENs, and reloads the checkpoint
  // from PostgreSQL, the only truth about what was published.
  void connect_pg(bool reconnecting = false) {
    wakeup.reset();  // unregisters from the old connection while it still exists
    outbox.reset();
    checkpoint.reset();
    ahead.reset();
    ahead_conn.reset();
    conn.reset();
    conn = infra::connect(opt.conninfo, kApplicationName);
    const auto channel = infra::translate_pg("relay start", [&] {
      pqxx::nontransaction nt(*conn);
      bool locked = opt.negative_control_no_lock || nt.exec(kRelayLockSql)[0]["locked"].as<bool>();
      if (!locked && reconnecting && previous_backend != 0) {
        const auto ended =
            nt.exec_params(kEndStaleSql, previous_backend, previous_backend_start, std::string(kApplicationName));
        if (!ended.empty() && ended[0]["ended"].as<bool>()) {
          spdlog::warn("relay: ended our stale PostgreSQL session (pid {}) that still held the relay lock",
                       previous_backend);
          locked = nt.exec(kRelayLockSql)[0]["locked"].as<bool>();
        }
      }
      if (!locked) {
        if (reconnecting) throw infra::Unavailable("relay lock still held, by our old session or another relay");
        throw infra::Misconfigured("another relay holds the lock of this schema; run only one `lethe relay`");
      }
      previous_backend = conn->backendpid();
      const auto me = nt.exec_params(kSessionSql, previous_backend);
      previous_backend_start = me.empty() ? "" : me[0]["started"].c_str();
      return nt.exec(kChannelSql)[0]["channel"].as<std::string>() +
             (opt.negative_control_listen_elsewhere ? "_elsewhere" : "");
    });
    checkpoint = std::make_unique<CheckpointStore>(*conn);
    published_up_to = checkpoint->load(opt.negative_control_trust_checkpoint);
    outbox = std::make_unique<OutboxReader>(*conn, opt.negative_control_position_order);
    ahead_conn = infra::connect(opt.conninfo, kReadAheadName);
    ahead = std::make_unique<OutboxReader>(*ahead_conn, opt.negative_control_position_order);
    infra::translate_pg("relay listen", [&] { wakeup = std::make_unique<Wakeup>(*conn, channel); });
    if (const auto parked = checkpoint->parked_count(); parked > 0)
      spdlog::warn("relay: {} entries are parked in relay_parked (the broker refused them)", parked);
  }

  // Leaves the connection open and forgets it (the relay.abandon_session
  // test hook): the server keeps the session and its lock.
  void abandon_connection() {
    wakeup.reset();
    outbox.reset();
    checkpoint.reset();
    [[maybe_unused]] auto* leaked = conn.release();
  }

  // Entries exist but none is below the watermark: some transaction older
  // than them is still open. Normal for a moment under load; after 5 s it
  // says which transaction, at most every 10 s.
  void warn_if_stalled(std::int64_t pending) {
    const auto now = Clock::now();
    if (!stalled_since) stalled_since = now;
    if (now - *stalled_since < std::chrono::seconds(5) || now - last_stall_warning < std::chrono::seconds(10)) return;
    last_stall_warning = now;
    spdlog::warn("relay: {} outbox entries wait behind an open transaction{}", pending,
                 describe(oldest_open_transaction(*conn)));
  }

  // Parks what the broker refused for good, logging each by name.
  std::vector<ParkedEntry> parked_of(const std::vector<OutboxEntry>& batch, const PublishOutcome& outcome) {
    std::vector<ParkedEntry> parked;
    for (const auto& [index, reason] : outcome.refused) {
      const auto& e = batch[index].envelope;
      spdlog::error(
          "relay: parking event {} ({} v{} of {}, position {}): {}; the relay goes on, see relay_parked and "
          "`lethe republish --stream {}`",
          e.event_id, e.stream_id, e.stream_version, e.type, e.global_position, reason, e.stream_id);
      parked.push_back({&batch[index], reason});
    }
    return parked;
  }
};

Relay::Relay(RelayOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->opt = std::move(options);
  impl_->connect_pg();
  impl_->publisher = std::make_unique<Publisher>(impl_->opt.brokers, impl_->opt.topic_prefix);
}

Relay::~Relay() = default;

std::int64_t Relay::run(const std::atomic<bool>& stop) {
  auto& s = *impl_;
  std::int64_t published = 0, since_report = 0, parked = 0;
  // Where the time goes, said at the stop: reading the outbox, publishing
  // (handing pages to the producer, then waiting for the rest of their
  // acknowledgements), storing the checkpoint.
  double fetch_seconds = 0, publish_seconds = 0, checkpoint_seconds = 0;
  RelayMetrics metrics;
  auto last_report = Clock::now();
  auto last_backlog = Clock::time_point{};
  auto last_prune = last_report;
  // The page after the one being published, read on the second session
  // meanwhile; dropped (waited for) whenever the position it started from
  // may not hold: a page that goes again, a reconnect.
  std::optional<std::future<std::vector<OutboxEntry>>> next;
  // The page read ahead, taken (the future is left empty whatever get() does).
  const auto take_next = [&] {
    auto page = std::move(*next);
    next.reset();
    return page.get();
  };
  const auto drop_next = [&] {
    if (!next) return;
    try {
      take_next();
    } catch (const std::exception&) {  // read for nothing; the next fetch says it again if it lasts
    }
  };
  // The page handed to the producer before the current one, whose
  // acknowledgements come in while the current one is handed over: the
  // producer never runs dry between pages. Its checkpoint is stored once
  // they are all in, so at most two pages are out beyond the checkpoint.
  struct Flying {
    std::vector<OutboxEntry> batch;
    SentPage sent;
    Clock::time_point started;
  };
  std::optional<Flying> flying;
  // Where the next read starts: after the last page handed over, which is
  // past the checkpoint while a page flies.
  OutboxPosition sent_up_to = s.published_up_to;
  // Everything out beyond the checkpoint is given up (its reports count for
  // nothing) and read again from the checkpoint.
  const auto start_over = [&] {
    drop_next();
    s.publisher->forget_all();
    flying.reset();
    sent_up_to = s.published_up_to;
  };
  infra::Backoff backoff(std::chrono::milliseconds(100));
  // Waits for the page in flight and stores its checkpoint. False when the
  // relay stops first, or the page goes again.
  const auto land = [&](const std::atomic<bool>& halt, Clock::time_point deadline = Clock::time_point::max()) {
    auto outcome = [&] {
      const infra::Timed timed(publish_seconds);
      return s.publisher->settle(flying->sent, halt, deadline);
    }();
    if (outcome.stopped) {
      flying.reset();
      return false;
    }
    const auto& batch = flying->batch;
    if (!outcome.retry_reason.empty()) {
      metrics.retried.Increment();
      spdlog::error("relay: batch of {} not fully delivered ({}); it goes again", batch.size(), outcome.retry_reason);
      start_over();
      backoff.wait();
      return false;
    }
    backoff.reset();
    if (infra::fault_injected("relay.after_delivery")) {
      spdlog::warn("relay: LETHE_FAULT=relay.after_delivery, dying before the checkpoint");
      s.publisher->flush(10000);  // what else is out lands too: the topic holds a known count
      _exit(86);
    }
    const auto set_aside = s.parked_of(batch, outcome);
    const auto& last = batch.back().position;
    const bool prune = Clock::now() - last_prune >= std::chrono::milliseconds(s.opt.prune_every_ms);
    {
      const infra::Timed timed(checkpoint_seconds);
      s.checkpoint->advance(s.published_up_to, last, static_cast<std::int64_t>(batch.size() - set_aside.size()),
                            set_aside, prune);
    }
    if (prune) last_prune = Clock::now();
    if (infra::fault_injected("relay.after_checkpoint")) {
      spdlog::warn("relay: LETHE_FAULT=relay.after_checkpoint, dying with the page behind it unacknowledged");
      s.publisher->purge();  // it never reaches Kafka
      _exit(87);
    }
    s.published_up_to = last;
    const auto sent = static_cast<std::int64_t>(batch.size() - set_aside.size());
    published += sent;
    since_report += sent;
    parked += static_cast<std::int64_t>(set_aside.size());
    metrics.batch_seconds.Observe(std::chrono::duration<double>(Clock::now() - flying->started).count());
    metrics.published.Increment(static_cast<double>(sent));
    metrics.parked.Increment(static_cast<double>(set_aside.size()));
    flying.reset();
    return true;
  };
  bool connected = true;
  bool abandon = infra::fault_injected("relay.abandon_session");

  while (!stop.load()) {
    try {
      if (!connected) {
        start_over();
        s.connect_pg(true);
        sent_up_to = s.published_up_to;
        connected = true;
        spdlog::info("relay: reconnected to PostgreSQL, resuming after position {}", s.published_up_to.global_position);
      }
      auto batch = [&] {
        const infra::Timed timed(fetch_seconds);
        if (next) return take_next();
        return s.outbox->fetch(sent_up_to, s.opt.batch_size, s.opt.batch_max_bytes);
      }();
      if (batch.empty()) {
        if (flying) {  // nothing more to send meanwhile: it lands first
          if (!land(stop) && stop.load()) break;
          continue;
        }
        const auto backlog = s.outbox->backlog();
        metrics.backlog(backlog);
        last_backlog = Clock::now();
        const auto pending = backlog.entries;
        if (pending > 0)
          s.warn_if_stalled(pending);
        else
          s.stalled_since.reset();
        if (s.opt.exit_when_idle && pending == 0) break;
        infra::translate_pg("relay wait",
                            [&] { s.conn->await_notification(0, pending > 0 ? 100000L : s.opt.idle_wait_ms * 1000L); });
        continue;
      }

      s.stalled_since.reset();
      // A full page: more is likely waiting, so the next one is read while
      // this one goes out. (After a short one the outbox is drained: the
      // next read waits for a NOTIFY as before.)
      if (static_cast<int>(batch.size()) >= s.opt.batch_size || page_bytes(batch) * 2 >= s.opt.batch_max_bytes)
        next = std::async(std::launch::async, [&s, from = batch.back().position] {
          return s.ahead->fetch(from, s.opt.batch_size, s.opt.batch_max_bytes);
        });
      const auto started = Clock::now();
      auto sent = [&] {
        const infra::Timed timed(publish_seconds);
        return s.publisher->send(batch);
      }();
      sent_up_to = batch.back().position;
      // A page the producer did not take whole goes again before anything
      // after it: nothing more is handed over until it lands (and fails).
      const bool whole = sent.outcome.retry_reason.empty();
      if (!whole) drop_next();
      if (flying && !land(stop)) {
        if (stop.load()) break;
        continue;  // start_over() gave up what went with it too
      }
      flying = Flying{std::move(batch), std::move(sent), started};
      if (!whole) {
        land(stop);
        continue;
      }
      // Publishing without a pause: the backlog is asked at most once a second.
      if (Clock::now() - last_backlog >= std::chrono::seconds(1)) {
        metrics.backlog(s.outbox->backlog());
        last_backlog = Clock::now();
      }

      if (abandon && published > 0) {
        abandon = false;
        // What flies lands first, so that the hook's test can count each
        // event once on the topic.
        if (!land(stop)) continue;
        spdlog::warn("relay: LETHE_FAULT=relay.abandon_session, leaving the PostgreSQL session behind");
        s.abandon_connection();
        connected = false;
        continue;
      }

      const auto now = Clock::now();
      if (now - last_report > std::chrono::seconds(5)) {
        const double secs = std::chrono::duration<double>(now - last_report).count();
        spdlog::info("relay: published {} events ({:.0f}/s), total {}, parked {}, backlog {}", since_report,
                     since_report / secs, published, parked, s.outbox->backlog().entries);
        since_report = 0;
        last_report = now;
      }
    } catch (const infra::InfraError& e) {
      // A lost connection, or a checkpoint commit in doubt: either way the
      // checkpoint in PostgreSQL is the truth. Reconnect and reload it; at
      // worst what was out goes again, which projections absorb.
      start_over();
      if (!e.is_retryable() && !dynamic_cast<const infra::CommitInDoubt*>(&e)) throw;
      spdlog::warn("relay: {}; reconnecting in {} ms", e.what(), backoff.next().count());
      backoff.wait();
      connected = false;
    }
  }
  drop_next();
  // Told to stop: the page in flight lands if Kafka acknowledges it within
  // 10 s (otherwise it stays in the outbox and goes again).
  if (flying) {
    const std::atomic<bool> never{false};
    try {
      land(never, Clock::now() + std::chrono::seconds(10));
    } catch (const infra::InfraError& e) {
      spdlog::warn("relay: the last page's checkpoint was not stored ({}); it goes again at the next start", e.what());
    }
  }
  s.publisher->flush(10000);
  spdlog::info(
      "relay: stopped after publishing {} events{}; seconds reading the outbox {:.2f}, publishing until "
      "acknowledged {:.2f}, storing the checkpoint {:.2f}",
      published, parked ? ", " + std::to_string(parked) + " parked" : std::string(), fetch_seconds, publish_seconds,
      checkpoint_seconds);
  return published;
}

}  // namespace lethe::producers
