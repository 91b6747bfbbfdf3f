#include "lethe/consumers/runner.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <set>
#include <span>

#include "lethe/infra/backoff.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/kafka.hpp"
#include "lethe/infra/pg.hpp"

namespace lethe::consumers {

namespace {

using Clock = std::chrono::steady_clock;
using PartitionKey = std::pair<std::string, int>;

constexpr const char* kLoadOffsetsSql =
    "SELECT topic, partition, next_offset FROM projection_offsets WHERE projection = $1";
constexpr const char* kSaveOffsetsSql =
    "INSERT INTO projection_offsets (projection, topic, partition, next_offset)"
    " SELECT $1, t, p, o FROM unnest($2::text[], $3::int[], $4::bigint[]) AS x(t, p, o)"
    " ON CONFLICT (projection, topic, partition) DO UPDATE"
    " SET next_offset = EXCLUDED.next_offset, updated_at = now()"
    " WHERE projection_offsets.next_offset < EXCLUDED.next_offset";  // offsets only move forward

struct DeadLetter {
  const RdKafka::Message* msg;
  std::string reason;
};

}  // namespace

struct ProjectionRunner::Impl : public RdKafka::RebalanceCb {
  RunnerOptions opt;
  std::unique_ptr<projections::Projection> projection;
  std::string group;
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  std::unique_ptr<RdKafka::Producer> dlq;
  infra::DeliveryReports delivery;
  // Next offset to apply per assigned partition, as stored in PostgreSQL;
  // -1 when nothing was stored yet.
  std::map<PartitionKey, std::int64_t> next;
  // An error inside the rebalance callback: it must not unwind through
  // librdkafka, so it is kept here and rethrown by run().
  std::exception_ptr callback_failure;

  // --- PostgreSQL side -----------------------------------------------------

  std::map<PartitionKey, std::int64_t> load_offsets() {
    return infra::translate_pg("load offsets of " + group, [&] {
      pqxx::read_transaction tx(*conn);
      std::map<PartitionKey, std::int64_t> out;
      for (const auto& r : tx.exec_params(kLoadOffsetsSql, std::string(projection->name())))
        out[{r[0].c_str(), r[1].as<int>()}] = r[2].as<std::int64_t>();
      return out;
    });
  }

  // For the rebalance callback: PostgreSQL may have restarted since we last
  // used the connection. Reconnects and retries for up to a minute (well
  // inside max.poll.interval.ms) before giving up.
  std::map<PartitionKey, std::int64_t> load_offsets_patiently() {
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    infra::Backoff backoff(std::chrono::milliseconds(200));
    for (;;) {
      try {
        ensure_connected();
        return load_offsets();
      } catch (const infra::Unavailable& e) {
        if (Clock::now() > deadline) throw;
        spdlog::warn("{}: {}; retrying in {} ms", group, e.what(), backoff.next().count());
        backoff.wait();
      }
    }
  }

  // libpqxx does not reconnect by itself (see infra::connect): a connection
  // found broken is replaced here.
  void ensure_connected() {
    if (!conn || !conn->is_open()) conn = infra::connect(opt.conninfo);
  }

  // --- Kafka side ------------------------------------------------------------

  // Points the partition at its stored offset (the beginning when none is
  // stored) and remembers it; returns the stored offset or -1.
  std::int64_t place(RdKafka::TopicPartition& p, const std::map<PartitionKey, std::int64_t>& stored) {
    const PartitionKey key{p.topic(), p.partition()};
    const auto it = stored.find(key);
    const std::int64_t offset = it == stored.end() ? -1 : it->second;
    int64_t low = 0, high = 0;
    if (offset > 0 &&
        consumer->query_watermark_offsets(key.first, key.second, &low, &high, 10000) == RdKafka::ERR_NO_ERROR &&
        offset > high) {
      // Everything new would be skipped as "applied before".
      throw infra::Misconfigured(group + ": stored offset " + std::to_string(offset) + " of " + key.first + "[" +
                                 std::to_string(key.second) + "] is past the end of the log (" + std::to_string(high) +
                                 "): the topic was recreated or the broker reset; rebuild "
                                 "with `lethe project " +
                                 std::string(projection->name()) + " --replay`");
    }
    next[key] = offset;
    p.set_offset(offset < 0 ? RdKafka::Topic::OFFSET_BEGINNING : offset);
    return offset;
  }

  // On assignment, every partition starts at the offset stored in PostgreSQL
  // next to the read model, or at the beginning when there is none.
  void rebalance_cb(RdKafka::KafkaConsumer* c, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& parts) override {
    try {
      if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
        const auto stored = load_offsets_patiently();
        for (auto* p : parts) {
          const auto offset = place(*p, stored);
          spdlog::info("{}: assigned {}[{}] from offset {}", group, p->topic(), p->partition(),
                       offset < 0 ? std::string("beginning") : std::to_string(offset));
        }
        c->assign(parts);
      } else {
        for (auto* p : parts) next.erase({p->topic(), p->partition()});
        c->unassign();
        spdlog::info("{}: {} partitions revoked", group, parts.size());
      }
    } catch (...) {
      // Consume nothing rather than something from the wrong offset.
      next.clear();
      c->unassign();
      if (!callback_failure) callback_failure = std::current_exception();
    }
  }

  // PostgreSQL holds the truth: every assigned partition goes back to the
  // offset stored there.
  void rewind() {
    std::vector<RdKafka::TopicPartition*> parts;
    consumer->assignment(parts);
    std::unique_ptr<std::vector<RdKafka::TopicPartition*>, void (*)(std::vector<RdKafka::TopicPartition*>*)> guard(
        &parts, [](std::vector<RdKafka::TopicPartition*>* v) { RdKafka::TopicPartition::destroy(*v); });
    const auto stored = load_offsets();
    for (auto* p : parts) {
      place(*p, stored);
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

  void dead_letter(std::span<const DeadLetter> dead) {
    if (dead.empty()) return;
    const std::string topic = opt.topic_prefix + "dead-letters";
    delivery.reset();
    std::int64_t handed = 0;
    RdKafka::ErrorCode refused = RdKafka::ERR_NO_ERROR;
    for (const auto& d : dead) {
      const auto& m = *d.msg;
      spdlog::warn("{}: dead-lettering {}[{}]@{}: {}", group, m.topic_name(), m.partition(), m.offset(), d.reason);
      auto* h = RdKafka::Headers::create();
      h->add("reason", d.reason);
      h->add("projection", std::string(projection->name()));
      h->add("source_topic", m.topic_name());
      h->add("source_partition", std::to_string(m.partition()));
      h->add("source_offset", std::to_string(m.offset()));
      // A default string_view has a null data(): a message without a key stays without one.
      const auto key = m.key_pointer() ? std::string_view(static_cast<const char*>(m.key_pointer()), m.key_len())
                                       : std::string_view{};
      refused = infra::produce_copy(*dlq, topic, key, {static_cast<const char*>(m.payload()), m.len()}, h);
      if (refused != RdKafka::ERR_NO_ERROR) break;
      ++handed;
    }
    // The batch commits only after its dead letters are safely on Kafka:
    // nothing disappears between the two. Every report is awaited so that
    // counters never mix batches. Called with no transaction open.
    infra::await_reports(*dlq, delivery, handed);
    if (refused != RdKafka::ERR_NO_ERROR) infra::throw_kafka(refused, "dead-letter to " + topic);
    if (delivery.failed) infra::throw_kafka(delivery.first_error, "dead-letter delivery to " + topic);
  }

  struct Work {
    std::vector<projections::Delivered> envelopes;
    std::vector<const RdKafka::Message*> source;  // message of each envelope
    std::vector<DeadLetter> dead;
    std::map<PartitionKey, std::int64_t> advance;  // next offset per partition after this batch
    std::int64_t skipped = 0;
  };

  // Decodes a batch, dropping what must not be applied again: messages below
  // the stored offset, and messages of partitions no longer assigned to us
  // (their new owner starts from the offsets in PostgreSQL).
  Work prepare(std::span<const RdKafka::Message* const> msgs) {
    Work w;
    for (const auto* m : msgs) {
      const PartitionKey key{m->topic_name(), m->partition()};
      const auto known = next.find(key);
      const auto seen = w.advance.find(key);
      // Below the stored offset, of a partition no longer ours, or fetched
      // twice within this batch (a rebalance handed the partition back).
      if (known == next.end() || m->offset() < known->second ||
          (seen != w.advance.end() && m->offset() < seen->second)) {
        ++w.skipped;
        continue;
      }
      w.advance[key] = m->offset() + 1;
      auto env = domain::decode(std::string_view(static_cast<const char*>(m->payload()), m->len()));
      if (!env) {
        w.dead.push_back({m, "undecodable envelope: " + env.error().message});
        continue;
      }
      w.envelopes.push_back({std::move(env).value(), {key.first, key.second, m->offset()}});
      w.source.push_back(m);
    }
    return w;
  }

  // Applies the work in ONE transaction with its offsets. With refuse_reason
  // set, nothing is applied: every message goes to the dead letters with it.
  //
  // Dead letters must be on Kafka before the offsets that pass them commit,
  // but no PostgreSQL transaction may stay open while they wait for the
  // broker: an open transaction holds back the relay's watermark, cluster
  // wide. So when a batch turns out to have dead letters, its transaction is
  // rolled back, the dead letters are sent, and the batch is applied again
  // (the projection's tables have one writer, this runner, so the second
  // pass sees the same state and rejects the same events; should it reject
  // more, those are sent too and the batch is applied once more).
  void commit(Work& w, RunStats& stats, const std::string* refuse_reason) {
    auto dead = w.dead;
    if (refuse_reason)
      for (const auto* m : w.source) dead.push_back({m, *refuse_reason});
    std::size_t sent = 0;                  // dead letters already acknowledged by Kafka
    std::set<std::size_t> rejected_known;  // batch indexes of rejections already in `dead`
    for (;;) {
      if (sent < dead.size()) {
        dead_letter(std::span(dead).subspan(sent));
        sent = dead.size();
      }
      const bool done = infra::translate_pg("apply batch of " + group, [&] {
        pqxx::work tx(*conn);
        projections::ApplyResult result;
        if (!refuse_reason) {
          result = projection->apply(w.envelopes, tx);
          bool new_rejections = false;
          for (const auto& r : result.rejected) {
            if (rejected_known.insert(r.index).second) {
              dead.push_back({w.source[r.index], r.reason});
              new_rejections = true;
            }
          }
          if (new_rejections) return false;  // roll back, send them, apply again
        }
        save_offsets(tx, w.advance);
        tx.commit();
        stats.applied += static_cast<std::int64_t>(result.applied);
        stats.skipped += static_cast<std::int64_t>(result.skipped) + w.skipped;
        stats.dead_lettered += static_cast<std::int64_t>(dead.size());
        return true;
      });
      if (done) break;
    }
    for (const auto& [key, offset] : w.advance) next[key] = offset;
    ++stats.batches;
  }

  void save_offsets(pqxx::dbtransaction& tx, const std::map<PartitionKey, std::int64_t>& advance) {
    std::vector<std::string> topics;
    std::vector<long long> partitions, offsets;
    for (const auto& [key, offset] : advance) {
      topics.push_back(key.first);
      partitions.push_back(key.second);
      offsets.push_back(offset);
    }
    tx.exec_params(kSaveOffsetsSql, std::string(projection->name()), infra::pg_text_array(topics),
                   infra::pg_bigint_array(partitions), infra::pg_bigint_array(offsets));
  }

  // Applies a batch. If PostgreSQL refuses it for its data (a value it
  // cannot store, a broken constraint), the batch is split down to single
  // messages so that only the offending one goes to the dead letters and
  // the projection never stalls on it.
  void apply(std::span<const RdKafka::Message* const> msgs, RunStats& stats) {
    auto work = prepare(msgs);
    if (work.advance.empty()) {
      stats.skipped += work.skipped;
      return;
    }
    std::string refused;
    try {
      commit(work, stats, nullptr);
      return;
    } catch (const pqxx::data_exception& e) {
      refused = e.what();
    } catch (const pqxx::integrity_constraint_violation& e) {
      refused = e.what();
    }
    refused = "database refused it: " + refused.substr(0, refused.find('\n'));
    if (msgs.size() == 1) {
      commit(work, stats, &refused);
      return;
    }
    spdlog::warn("{}: batch of {} refused ({}); applying one by one", group, msgs.size(), refused);
    ++stats.split_batches;
    for (const auto* m : msgs) apply(std::span(&m, 1), stats);
  }

  // Sum over assigned partitions of (end of log - next offset to apply).
  // exact=true asks the broker; otherwise the last fetched watermark is used.
  std::int64_t lag(bool exact) {
    std::int64_t total = 0;
    for (const auto& [key, offset] : next) {
      int64_t low = 0, high = 0;
      const auto code = exact ? consumer->query_watermark_offsets(key.first, key.second, &low, &high, 2000)
                              : consumer->get_watermark_offsets(key.first, key.second, &low, &high);
      if (code != RdKafka::ERR_NO_ERROR || high < 0) {
        if (exact) return -1;
        continue;
      }
      const std::int64_t from = offset < 0 ? low : offset;
      total += std::max<std::int64_t>(0, high - from);
    }
    return total;
  }
};

void reset_projection(const std::string& conninfo, const projections::Projection& projection) {
  auto conn = infra::connect(conninfo);
  infra::translate_pg("reset " + std::string(projection.name()), [&] {
    pqxx::work tx(*conn);
    for (const auto& table : projection.tables()) tx.exec("TRUNCATE " + tx.quote_name(table));
    tx.exec_params("DELETE FROM projection_offsets WHERE projection = $1", std::string(projection.name()));
    tx.commit();
  });
  spdlog::info("{}: read model emptied and offsets forgotten; the next run replays from offset zero",
               projection.name());
}

ProjectionRunner::ProjectionRunner(RunnerOptions options, std::unique_ptr<projections::Projection> projection)
    : impl_(std::make_unique<Impl>()) {
  auto& s = *impl_;
  s.opt = std::move(options);
  s.projection = std::move(projection);
  s.group = s.opt.group_prefix + "projection." + std::string(s.projection->name());
  s.conn = infra::connect(s.opt.conninfo);

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
  });
  std::string err;
  if (conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(&s), err) != RdKafka::Conf::CONF_OK)
    throw infra::Misconfigured("rebalance_cb: " + err);
  s.consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!s.consumer) throw infra::Misconfigured("Kafka consumer: " + err);
  infra::check_broker(*s.consumer, s.opt.brokers);

  auto pconf = infra::kafka_conf(infra::producer_settings(s.opt.brokers));
  if (pconf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&s.delivery), err) != RdKafka::Conf::CONF_OK)
    throw infra::Misconfigured("dr_cb: " + err);
  s.dlq.reset(RdKafka::Producer::create(pconf.get(), err));
  if (!s.dlq) throw infra::Misconfigured("dead-letter producer: " + err);
}

ProjectionRunner::~ProjectionRunner() {
  if (impl_ && impl_->consumer) impl_->consumer->close();
}

RunStats ProjectionRunner::run(const std::atomic<bool>& stop) {
  auto& s = *impl_;
  std::vector<std::string> topics;
  for (const auto& t : s.projection->topics()) topics.push_back(s.opt.topic_prefix + t);
  if (const auto code = s.consumer->subscribe(topics); code != RdKafka::ERR_NO_ERROR)
    infra::throw_kafka(code, "subscribe " + s.group);
  spdlog::info("{}: consuming {} (batch {} events / {} ms)", s.group, fmt::join(topics, ", "), s.opt.batch_size,
               s.opt.batch_wait_ms);

  RunStats stats;
  std::int64_t reported = 0;
  auto last_report = Clock::now();
  bool warned_topic = false;
  std::vector<std::unique_ptr<RdKafka::Message>> batch;
  batch.reserve(static_cast<std::size_t>(s.opt.batch_size));

  while (!stop.load()) {
    batch.clear();
    const auto deadline = Clock::now() + std::chrono::milliseconds(s.opt.batch_wait_ms);
    while (static_cast<int>(batch.size()) < s.opt.batch_size) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) break;
      std::unique_ptr<RdKafka::Message> m(s.consumer->consume(static_cast<int>(left)));
      const auto code = m->err();
      if (code == RdKafka::ERR_NO_ERROR) {
        batch.push_back(std::move(m));
      } else if (code == RdKafka::ERR__TIMED_OUT || code == RdKafka::ERR__PARTITION_EOF) {
        break;
      } else if (code == RdKafka::ERR__FATAL) {
        std::string reason;
        const auto fatal = s.consumer->fatal_error(reason);
        throw infra::InfraError(s.group + ": fatal consumer error: " + RdKafka::err2str(fatal) + " (" + reason +
                                    "); is another process running with the same --instance?",
                                false);
      } else if (code == RdKafka::ERR_UNKNOWN_TOPIC_OR_PART) {
        if (!warned_topic) spdlog::error("{}: {}: run `lethe topics create`", s.group, m->errstr());
        warned_topic = true;
      } else {
        spdlog::warn("{}: consume: {}", s.group, m->errstr());  // librdkafka recovers by itself
      }
    }

    if (s.callback_failure) std::rethrow_exception(s.callback_failure);
    if (!batch.empty()) {
      std::vector<const RdKafka::Message*> view;
      view.reserve(batch.size());
      for (const auto& m : batch) view.push_back(m.get());
      std::string failure;
      try {
        s.apply(view, stats);
      } catch (const infra::InfraError& e) {
        // Retryable or in doubt: either way PostgreSQL knows what committed.
        if (!e.is_retryable() && !dynamic_cast<const infra::CommitInDoubt*>(&e)) throw;
        failure = e.what();
      } catch (const pqxx::transaction_rollback& e) {
        failure = e.what();  // deadlock or serialization failure: try again
      } catch (const pqxx::failure& e) {
        if (s.conn->is_open()) throw;  // not a lost connection: a bug to surface
        failure = e.what();            // the connection died mid-statement (e.g. in COPY)
      }
      if (!failure.empty()) {
        spdlog::warn("{}: batch not applied: {}; rewinding to the stored offsets", s.group,
                     failure.substr(0, failure.find('\n')));
        if (!s.recover(stop)) break;
        continue;
      }
    } else if (s.opt.exit_when_idle && !s.next.empty() && s.lag(true) == 0) {
      break;
    }

    const auto now = Clock::now();
    if (now - last_report > std::chrono::seconds(5)) {
      const double secs = std::chrono::duration<double>(now - last_report).count();
      spdlog::info("{}: applied {} events ({:.0f}/s), total {}, skipped {}, dead-lettered {}, lag {}", s.group,
                   stats.applied - reported, (stats.applied - reported) / secs, stats.applied, stats.skipped,
                   stats.dead_lettered, s.lag(false));
      reported = stats.applied;
      last_report = now;
    }
  }
  spdlog::info("{}: stopped: applied {}, skipped {}, dead-lettered {} in {} batches", s.group, stats.applied,
               stats.skipped, stats.dead_lettered, stats.batches);
  return stats;
}

}  // namespace lethe::consumers
