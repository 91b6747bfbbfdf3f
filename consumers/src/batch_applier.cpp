#include "batch_applier.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <csignal>
#include <set>

#include "erasure.hpp"
#include "lethe/infra/config.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/kafka.hpp"
#include "lethe/infra/logging.hpp"
#include "lethe/infra/pg.hpp"

namespace lethe::consumers {

std::atomic<bool> negative_control_blind_to_schema{false};

namespace {

// The read model's schema and the projection disagree, not one message:
// any message would fail the same way (infra::PgFailure::schema).
bool about_the_schema(const std::string& sqlstate) {
  return infra::classify_pg(sqlstate) == infra::PgFailure::schema &&
         !negative_control_blind_to_schema.load(std::memory_order_relaxed);
}

// A value this message carries that PostgreSQL cannot store.
bool about_the_message(const std::string& sqlstate) {
  const auto kind = infra::classify_pg(sqlstate);
  return kind == infra::PgFailure::constraint ||
         (kind == infra::PgFailure::schema && negative_control_blind_to_schema.load(std::memory_order_relaxed));
}

}  // namespace

BatchApplier::BatchApplier(projections::Projection& projection, const projections::ReceiptLog& receipts,
                           OffsetStore& offsets, DeadLetterSink& dead_letters, Assignment& assignment,
                           std::string log_name, int max_consecutive_refusals)
    : projection_(projection),
      receipts_(receipts),
      offsets_(offsets),
      dead_letters_(dead_letters),
      assignment_(assignment),
      log_name_(std::move(log_name)),
      max_consecutive_refusals_(max_consecutive_refusals) {}

void BatchApplier::Work::absorb(Work&& later) {
  for (auto& e : later.envelopes) envelopes.push_back(std::move(e));
  source.insert(source.end(), later.source.begin(), later.source.end());
  for (auto& d : later.dead) dead.push_back(std::move(d));
  for (const auto& [key, a] : later.advance) {
    auto [it, inserted] = advance.try_emplace(key, a);
    if (!inserted && a.next_offset > it->second.next_offset) it->second = a;
  }
  skipped += later.skipped;
}

BatchApplier::Work BatchApplier::refused(Work work, const std::string& reason) {
  for (const auto* m : work.source) work.dead.push_back({m, reason});
  work.envelopes.clear();
  work.source.clear();
  return work;
}

// Decodes a batch, dropping what must not be applied again: messages below
// the stored offset, and messages of partitions no longer assigned to us
// (their new owner starts from the offsets in PostgreSQL).
BatchApplier::Work BatchApplier::prepare(std::span<const RdKafka::Message* const> messages) const {
  Work w;
  for (const auto* m : messages) {
    const auto key = key_of(*m);
    const auto next = assignment_.next(key);
    const auto seen = w.advance.find(key);
    // Below the stored offset, of a partition no longer ours, or fetched
    // twice within this batch (a rebalance handed the partition back).
    if (!next || m->offset() < *next || (seen != w.advance.end() && m->offset() < seen->second.next_offset)) {
      ++w.skipped;
      continue;
    }
    w.advance.insert_or_assign(key, Advance{m->offset() + 1, m});
    // Of a type the projection does not read: passed over unparsed.
    if (const auto type = infra::header_of(*m, infra::kTypeHeader);
        type && *type != domain::erasure::UserErased::kType && !projection_.reads(*type)) {
      ++w.skipped;
      ++w.passed;
      continue;
    }
    auto env = domain::decode(value_view(*m));
    if (!env) {
      w.dead.push_back({m, "undecodable envelope: " + env.error().message});
      continue;
    }
    w.envelopes.push_back({std::move(env).value(), {key.first, key.second, m->offset()}});
    w.source.push_back(m);
  }
  return w;
}

// Applies the work in ONE transaction with its offsets.
//
// Dead letters must be on Kafka before the offsets that pass them commit,
// but no PostgreSQL transaction may stay open while they wait for the
// broker: an open transaction holds back the relay's watermark, cluster
// wide. So the batch is applied first; if it turns out to have dead letters
// not yet sent, its transaction is rolled back, they are sent, and the batch
// is applied again (the rows of the batch's partitions have one writer, the
// runner that claimed them, so the second pass sees the same state and
// rejects the same events; should it reject more, those are sent too and the
// batch is applied once more). Applying first means a batch PostgreSQL
// refuses sends nothing at all. Dead letters are at least once: should the
// partitions move to another process between the send and the second pass
// (fence()), the new owner sends them again.
//
// Test hook, the negative control of this order (broker_restart_faulttest):
// LETHE_FAULT=project.dead_letters_after_commit commits first and sends the
// dead letters after, as a runner without this care would.
//
// Before it writes, the transaction checks that every partition of the batch
// is still this runner's (fence()); LETHE_FAULT=project.no_fence skips that,
// the negative control of the fence (scale_out_faulttest).
// project.freeze_before_batch stops the process (SIGSTOP) with its first
// batch in hand, before its transaction, and project.freeze_in_batch inside
// it, once its fence is passed: a test makes a zombie of it.
void BatchApplier::commit(Work& w, pqxx::connection& conn, RunStats& stats) {
  const bool dead_letters_late = infra::fault_injected("project.dead_letters_after_commit");
  const auto freeze_once = [&](const char* hook) {
    static std::atomic<bool> froze{false};
    if (w.envelopes.empty() || !infra::fault_injected(hook) || froze.exchange(true)) return;
    spdlog::warn("{}: LETHE_FAULT={}, stopping with a batch in hand", log_name_, hook);
    raise(SIGSTOP);
  };
  freeze_once("project.freeze_before_batch");
  auto dead = w.dead;
  std::set<std::size_t> rejected_known;  // batch indexes of rejections already in `dead`
  for (;;) {
    const bool done = infra::translate_pg("apply batch of " + log_name_, [&] {
      try {
        pqxx::work tx(conn);
        fence(w, tx, stats);
        freeze_once("project.freeze_in_batch");
        projections::ApplyResult result;
        if (!w.envelopes.empty()) {
          const infra::Timed timed(stats.apply_seconds);
          result = projections::apply_batch(projection_, w.envelopes, tx, receipts_);
          for (const auto& r : result.rejected)
            if (rejected_known.insert(r.index).second) dead.push_back({w.source[r.index], r.reason});
        }
        if (!dead_letters_late && !dead_letters_.all_sent(dead)) return false;  // roll back, send them, apply again
        if (infra::fault_injected("project.offsets_apart")) {
          // The negative control of offsets kept with the read model: the
          // batch commits without its offsets, as if they went in a second
          // transaction (or to Kafka), and the process dies between the two.
          tx.commit();
          spdlog::warn("{}: LETHE_FAULT=project.offsets_apart, dying before the offsets are stored", log_name_);
          _exit(87);
        }
        std::map<PartitionKey, StoredOffset> positions;
        for (const auto& [key, a] : w.advance) positions[key] = StoredOffset{a.next_offset, fingerprint(*a.last)};
        {
          const infra::Timed timed(stats.offsets_seconds);
          offsets_.save(tx, positions);
        }
        {
          const infra::Timed timed(stats.commit_seconds);
          tx.commit();
        }
        if (infra::fault_injected("project.after_commit")) {
          spdlog::warn("{}: LETHE_FAULT=project.after_commit, dying after the batch committed", log_name_);
          _exit(87);
        }
        for (std::size_t i = 0; i < w.envelopes.size(); ++i)
          if (!rejected_known.contains(i)) ++stats.by_type[w.envelopes[i].envelope.type];
        stats.applied += static_cast<std::int64_t>(result.applied);
        stats.skipped += static_cast<std::int64_t>(result.skipped) + w.skipped;
        stats.dead_lettered += static_cast<std::int64_t>(dead.size());
        return true;
      } catch (const pqxx::sql_error& e) {
        if (!about_the_schema(e.sqlstate())) throw;
        throw infra::Misconfigured(
            log_name_ + ": projection " + std::string(projection_.name()) +
            " stopped: PostgreSQL refuses its writes for a reason about the schema, not the message (SQLSTATE " +
            e.sqlstate() + ": " + infra::first_line(e.what()) +
            "). Every message would fail alike, so none was dead-lettered and its offsets are kept. Fix the cause "
            "(a migration not applied, or one the projection does not follow) and restart; it resumes at the "
            "first event not applied");
      }
    });
    if (done) {
      if (dead_letters_late) dead_letters_.send(dead);
      break;
    }
    dead_letters_.send(dead);
  }
  for (const auto& [key, a] : w.advance) assignment_.advance(key, a.next_offset);
  // PostgreSQL took this message, or it was passed over as not this
  // projection's: the run of refusals is over.
  if (!w.envelopes.empty() || w.passed > 0) refusals_in_a_row_ = 0;
  ++stats.batches;
}

// A process frozen or cut off long enough loses its partitions to another
// (the group rebalances without it); woken, it may still hold a batch
// fetched before. The epochs it claimed say whether the partitions are
// still its own; if one is not, nothing of the batch is written.
void BatchApplier::fence(const Work& w, pqxx::dbtransaction& tx, RunStats& stats) {
  if (infra::fault_injected("project.no_fence")) return;
  std::vector<PartitionKey> keys;
  for (const auto& [key, a] : w.advance) keys.push_back(key);
  const infra::Timed timed(stats.offsets_seconds);
  const auto moved = offsets_.moved(tx, assignment_.epochs_of(keys));
  if (moved.empty()) return;
  std::string said;
  std::vector<PartitionKey> lost;
  for (const auto& [key, holder] : moved) {
    assignment_.revoke(key);
    lost.push_back(key);
    said += (said.empty() ? "" : "; ") + describe(key) + " is claimed by " + holder;
  }
  throw PartitionMoved(log_name_ + ": batch not written, its partitions moved to another process: " + said,
                       std::move(lost));
}

void BatchApplier::count_refusal(const std::string& reason) {
  ++refusals_in_a_row_;
  if (max_consecutive_refusals_ <= 0 || refusals_in_a_row_ <= max_consecutive_refusals_) return;
  const int run = refusals_in_a_row_;
  refusals_in_a_row_ = 0;
  throw infra::Misconfigured(
      log_name_ + ": projection " + std::string(projection_.name()) + " stopped: PostgreSQL refused " +
      std::to_string(run) + " messages in a row (the last: " + reason +
      "). That looks like a broken projection or schema rather than bad messages, so the refused messages in "
      "hand were not dead-lettered and the offsets are kept. Fix the cause and restart; it resumes at the first "
      "of them (the limit is --max-consecutive-refusals, " +
      std::to_string(max_consecutive_refusals_) + ")");
}

// Applies a batch. If PostgreSQL refuses it for its data (a value it cannot
// store, a broken constraint), the batch is split down to single messages
// so that only the offending one goes to the dead letters and the
// projection never stalls on it.
void BatchApplier::apply(std::span<const RdKafka::Message* const> messages, pqxx::connection& conn, RunStats& stats) {
  dead_letters_.forget_sent();
  auto work = [&] {
    const infra::Timed timed(stats.parse_seconds);
    return prepare(messages);
  }();
  if (work.advance.empty()) {
    stats.skipped += work.skipped;
    return;
  }
  std::string reason;
  try {
    commit(work, conn, stats);
    return;
  } catch (const pqxx::sql_error& e) {
    if (!about_the_message(e.sqlstate())) throw;
    reason = "database refused it (SQLSTATE " + e.sqlstate() + "): " + infra::first_line(e.what());
  }
  if (messages.size() == 1) {
    count_refusal(reason);
    auto dead = refused(std::move(work), reason);
    commit(dead, conn, stats);
    return;
  }
  spdlog::warn("{}: batch of {} refused ({}); applying one by one", log_name_, messages.size(), reason);
  ++stats.split_batches;
  apply_one_by_one(messages, conn, stats);
}

// Refused messages are not dead-lettered at once: they wait for the next
// message PostgreSQL takes and commit with it (or together at the end of the
// batch). A run longer than max_consecutive_refusals thus stops the
// projection with nothing of the run sent or committed.
void BatchApplier::apply_one_by_one(std::span<const RdKafka::Message* const> messages, pqxx::connection& conn,
                                    RunStats& stats) {
  Work pending;  // refused, not yet dead-lettered
  for (const auto* m : messages) {
    auto single = prepare(std::span(&m, 1));
    if (single.advance.empty()) {
      stats.skipped += single.skipped;
      continue;
    }
    Work attempt = pending;
    attempt.absorb(Work(single));
    std::string reason;
    try {
      commit(attempt, conn, stats);
      pending = Work{};
      continue;
    } catch (const pqxx::sql_error& e) {
      if (!about_the_message(e.sqlstate())) throw;
      reason = "database refused it (SQLSTATE " + e.sqlstate() + "): " + infra::first_line(e.what());
    }
    count_refusal(reason);
    pending.absorb(refused(std::move(single), reason));
  }
  if (!pending.advance.empty()) commit(pending, conn, stats);
}

}  // namespace lethe::consumers
