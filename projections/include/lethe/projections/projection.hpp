#pragma once
// A projection folds events into read models in PostgreSQL. It sees
// envelopes, never Kafka types; the consumer runtime (consumers/) hands it
// batches and commits them with their offsets.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lethe/domain/envelope.hpp"

namespace lethe::infra {
class Tx;  // a transaction (lethe/infra/pg.hpp)
}

namespace lethe::projections {

// Where a delivered event sits in the log: a position, not a Kafka type.
struct SourcePosition {
  std::string topic;
  int partition = 0;
  std::int64_t offset = 0;
};

struct Delivered {
  domain::Envelope envelope;
  SourcePosition source;
};

struct Rejected {
  std::size_t index;   // position in the batch
  std::string reason;  // why it could not be applied; goes to the dead-letter topic
};

struct ApplyResult {
  std::size_t applied = 0;
  std::size_t skipped = 0;  // already applied (a republished event) or of a type this projection ignores
  std::vector<Rejected> rejected;
};

// ---- Erasure ----
// How a projection forgets a person, declared next to its tables: for each
// table and column that names a person or holds their data, what happens to
// it when they are erased. The runtime runs the rules, in order, for every
// erased person a batch names (the erasure itself, and any event about them
// met later: another topic, a late partition, a replay from zero, a dead
// letter), in the batch's own transaction.
enum class Erase {
  delete_row,  // the row goes
  set_null,    // the person column becomes NULL; `also` sets more
  anonymize,   // the row stays under its id; `also` overwrites the personal columns
  keep,        // the id stays by design (`why` says why); nothing personal is kept with it
};
struct Assign {
  std::string_view column, value;  // value: an SQL expression; $1 is the person's id
};
struct ErasureRule {
  std::string_view table, column;  // column: holds the person's id
  Erase action;
  std::vector<Assign> also = {};
  std::string_view where = {};  // instead of "<column> = $1": rows reached through another table
  std::string_view why = {};
  // delete_row of a row folded from one stream: that stream's id, as an SQL
  // expression over the row ('cart-' || cart_id). Its later events are then
  // skipped, so that a replay never meets the deleted row as a gap.
  std::string_view stream = {};
};
using ErasurePolicy = std::vector<ErasureRule>;

// A column of a table a projection declares (projections/src/table.hpp),
// with the comment its migration must give it: "lethe:person",
// "lethe:person-kept", "lethe:personal", "lethe:sealed", or "" for none;
// and the type it must give it.
struct DeclaredColumn {
  std::string table, column;
  std::string_view mark;
  std::string_view type;  // as PostgreSQL's format_type() names it
};

class Projection {
 public:
  virtual ~Projection() = default;
  virtual std::string_view name() const = 0;
  // Logical topics it reads ("users"); the runtime adds the topic prefix.
  virtual std::vector<std::string> topics() const = 0;
  // The read-model tables it owns; a replay empties them.
  virtual std::vector<std::string> tables() const = 0;
  // Applies a batch inside tx; the caller commits, with the offsets, so the
  // batch takes effect wholly or not at all. Idempotent: an event at or below
  // the stream version already stored is skipped. Events that cannot be
  // applied are returned as rejected and the rest still applies.
  virtual ApplyResult apply(std::span<const Delivered> batch, infra::Tx tx) = 0;
  // Whether it applies events of this type at all. The runtime skips a
  // message of a type it does not read by the message's type header,
  // before parsing it (user.erased always reaches it: every projection
  // records its receipt), so a projection that reads a few types of busy
  // topics (the audit log) does not pay for parsing the rest.
  virtual bool reads(std::string_view /*type*/) const { return true; }
  // Its erasure policy: every column of its tables commented lethe:person,
  // lethe:person-kept or lethe:personal must be covered by a rule, or the
  // projection refuses to start (check_erasure_policy); lethe:sealed
  // columns are erased with the person's key.
  virtual const ErasurePolicy& erasure_policy() const = 0;
  // The columns of the tables it declares (table.hpp) with their marks;
  // empty for a projection that writes its tables by hand.
  virtual std::vector<DeclaredColumn> declared_columns() const { return {}; }
  // Columns ("table.column") this version of the projection fills otherwise
  // than the one before it did. A cut-over (consumers/versions.hpp) proves
  // the rebuilt version equal to the live one over every other column;
  // these it leaves out, and says so.
  virtual std::vector<std::string> changed_columns() const { return {}; }
};

// Where a projection's other versions live, beside the live schema
// (consumers/versions.hpp): the next one while it is rebuilt, the previous
// one kept after a cut-over, until dropped.
inline std::string next_version_schema(std::string_view live, std::string_view projection) {
  return std::string(live) + "_next_" + std::string(projection);
}
inline std::string previous_version_schema(std::string_view live, std::string_view projection) {
  return std::string(live) + "_prev_" + std::string(projection);
}

// The columns of the projection's tables that name a person or hold their
// data (by their comments, set by the migrations) and that no rule of its
// policy covers, and rules that name a column the tables lack: each as a
// sentence naming table and column; and every declared column that the
// table lacks or whose comment is not the mark its declaration gives, and
// every marked column of a declared table that the declaration leaves out.
// Empty: the policy is complete and the declaration is the database's.
std::vector<std::string> erasure_policy_gaps(infra::Tx tx, const Projection& projection);

// An event a projection appends to the event store: its receipt of an
// erasure (erasure.applied).
struct Receipt {
  std::string stream, event_id, type;
  int schema_version = 1;
  std::string payload, occurred_at, actor, correlation_id, causation_id;
};

// The event store as a projection's transaction reaches it, for receipts:
// serialise the writers of a stream until the transaction ends, and append
// at a stream's head. The write side does both; app wires them in, so this
// layer includes nothing of the write side.
struct ReceiptLog {
  std::function<void(infra::Tx tx, const std::string& stream)> lock;
  std::function<void(infra::Tx tx, const Receipt& receipt)> append;
  explicit operator bool() const noexcept { return lock && append; }
};

// What the consumer runtime calls for each batch, in the batch's
// transaction: records the projection's receipt of every user.erased in
// the batch (erasure.applied on the request's stream, once, before anything
// else is written, through `receipts`), applies the batch, then applies the
// erasure policy for every erased person the batch names.
ApplyResult apply_batch(Projection& projection, std::span<const Delivered> batch, infra::Tx tx,
                        const ReceiptLog& receipts);

// Applies the projection's erasure policy for each of `people` in tx: what
// a batch does for the erased people it names, and what `lethe gdpr
// reapply` does again after a restore. The other versions of the read
// model, kept after a cut-over or being rebuilt (previous_version_schema,
// next_version_schema), forget them too, in the same transaction: no
// version keeps an erased person.
void apply_erasure_policy(const Projection& projection, infra::Tx tx, const std::vector<std::string>& people);

// Every topic the projection reads: its own and the erasure topic.
std::vector<std::string> topics_of(const Projection& projection);

// A projection a domain's read/ part registers: its name and how to make
// one. Each read part defines `std::vector<ReadModel> <folder>_read_models()`
// in this namespace; the build's generated catalog gathers them, in
// folder-name order, into read_models().
struct ReadModel {
  std::string_view name;
  std::unique_ptr<Projection> (*make)();
};
const std::vector<ReadModel>& read_models();

// Where the declared pipeline spends a projection's apply on this thread,
// in seconds since the thread began: the key query of sealed payloads
// (keys), opening and decoding them (decode, keys excluded), loading rows
// (load) and writing them (write: COPY, merge). `lethe project` prints them
// when it stops.
struct PipelineSeconds {
  double keys = 0, decode = 0, load = 0, write = 0;
};
PipelineSeconds& pipeline_seconds();

// Test-only, the negative control of "a republished event is applied once"
// (projection_kafkatest): while true, the batched projections apply an event
// at or below its row's stream version again, as a projector without the
// version guard would. No option, flag or variable reaches it; only a test
// sets it, in its own process.
extern std::atomic<bool> negative_control_reapply;
// Test-only, the negative control of the erasure policies
// (erasure_policy_kafkatest): while it names a rule ("table.column"),
// apply_erasure_policy skips that rule, as a policy missing it would (the
// start-up check that refuses such a policy is not involved). Reached by
// nothing but a test, in its own process.
extern std::atomic<const char*> negative_control_skip_rule;
// Test-only, the negative control of "version gaps are not papered over"
// (projection_kafkatest): while true, an event past a gap in its stream's
// versions is applied as if it were the next one. Reached by nothing but a
// test, in its own process.
extern std::atomic<bool> negative_control_ignore_gaps;

// The projections this build knows, by name (read_models()).
std::vector<std::string> projection_names();
// nullptr when the name is unknown.
std::unique_ptr<Projection> make_projection(std::string_view name);

}  // namespace lethe::projections
