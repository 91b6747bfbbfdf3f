#pragma once
// Turns a batch of Kafka messages into one PostgreSQL transaction: decodes
// them, hands the envelopes to the projection, sets aside what cannot be
// applied (dead letters), and saves the offsets in the same transaction.
//
// It tells a poison message from a broken projection. When PostgreSQL
// refuses a batch for its data, the batch is applied again one message at a
// time, so that only the offending messages go to the dead letters. But when
// the refusal is about the schema and not the message (NOT NULL, foreign
// key, undefined column or table, a type that no longer fits), or when too
// many messages in a row are refused, every message would fail alike: the
// projection is stopped instead, with its offsets untouched, so that fixing
// the cause resumes exactly where it stopped.
#include <cstdint>
#include <map>
#include <pqxx/pqxx>
#include <span>
#include <string>
#include <vector>

#include "assignment.hpp"
#include "dead_letter_sink.hpp"
#include "lethe/consumers/runner.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/projections/projection.hpp"
#include "offset_store.hpp"

namespace lethe::consumers {

// A batch found that some of its partitions were claimed by another process
// since this one claimed them (OffsetStore::moved): nothing of it was
// committed, and those partitions are no longer this runner's. Retryable:
// the rest of the batch goes again from the stored offsets.
class PartitionMoved : public infra::InfraError {
 public:
  PartitionMoved(const std::string& what, std::vector<PartitionKey> moved)
      : infra::InfraError(what, true), partitions(std::move(moved)) {}
  std::vector<PartitionKey> partitions;
};

class BatchApplier {
 public:
  // max_consecutive_refusals: the projection stops when more messages than
  // this in a row are refused by PostgreSQL; 0 never stops on a run.
  BatchApplier(projections::Projection& projection, const projections::ReceiptLog& receipts, OffsetStore& offsets,
               DeadLetterSink& dead_letters, Assignment& assignment, std::string log_name,
               int max_consecutive_refusals);

  // Applies the batch and moves the assignment's offsets past it. Messages
  // below the stored offset, or of partitions no longer assigned, are
  // skipped. Throws infra::Misconfigured when the projection must stop
  // (nothing of the failing part is committed); infra errors from either
  // service otherwise.
  void apply(std::span<const RdKafka::Message* const> messages, pqxx::connection& conn, RunStats& stats);

 private:
  struct Advance {
    std::int64_t next_offset;
    const RdKafka::Message* last;  // the message at next_offset - 1, fingerprinted when saved
  };
  struct Work {
    std::vector<projections::Delivered> envelopes;
    std::vector<const RdKafka::Message*> source;  // message of each envelope
    std::vector<DeadLetter> dead;
    std::size_t passed = 0;                   // of a type the projection does not read (Projection::reads)
    std::map<PartitionKey, Advance> advance;  // next offset per partition after this work
    std::int64_t skipped = 0;
    void absorb(Work&& later);  // adds a later message's work to this one
  };

  Work prepare(std::span<const RdKafka::Message* const> messages) const;
  void commit(Work& work, pqxx::connection& conn, RunStats& stats);
  // Throws PartitionMoved, revoking them, when partitions of the work were
  // claimed by another process; holds their claims (shared) otherwise.
  void fence(const Work& work, pqxx::dbtransaction& tx, RunStats& stats);
  void apply_one_by_one(std::span<const RdKafka::Message* const> messages, pqxx::connection& conn, RunStats& stats);
  // Counts one more refusal in a row; throws when the run is too long.
  void count_refusal(const std::string& reason);
  static Work refused(Work work, const std::string& reason);

  projections::Projection& projection_;
  const projections::ReceiptLog& receipts_;
  OffsetStore& offsets_;
  DeadLetterSink& dead_letters_;
  Assignment& assignment_;
  std::string log_name_;
  int max_consecutive_refusals_;
  int refusals_in_a_row_ = 0;  // messages PostgreSQL refused since the last one it took
};

}  // namespace lethe::consumers
