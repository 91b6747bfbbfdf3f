// The erasure side of every projection: the policy check at start, the
// receipts, and the sticky application of each projection's policy.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <pqxx/pqxx>
#include <set>

#include "erasure.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/infra/ids.hpp"
#include "lethe/infra/keyring.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/projections/projection.hpp"

namespace lethe::projections {

namespace erasure = domain::erasure;

namespace {

constexpr std::string_view kPerson = "lethe:person";
constexpr std::string_view kPersonKept = "lethe:person-kept";
constexpr std::string_view kPersonal = "lethe:personal";
constexpr std::string_view kSealed = "lethe:sealed";  // erased with the key: no rule needed

constexpr const char* kReceiptSql =
    "SELECT 1 FROM events WHERE stream_id = $1 AND type = 'erasure.applied' AND payload ->> 'projection' = $2";
constexpr const char* kAnyErasedSql = "SELECT EXISTS (SELECT 1 FROM erased_persons)";
constexpr const char* kTombstonesSql =
    "SELECT stream_id FROM erased_streams WHERE projection = $1 AND stream_id = ANY($2::text[])";

bool covers(const ErasureRule& r, std::string_view column, std::string_view comment) {
  const bool assigned = std::any_of(r.also.begin(), r.also.end(), [&](const Assign& a) { return a.column == column; });
  if (comment == kPersonKept) return r.column == column && (r.action == Erase::keep || r.action == Erase::anonymize);
  if (r.action == Erase::delete_row) return true;
  if (comment == kPerson) return assigned || (r.action == Erase::set_null && r.column == column);
  return assigned || (r.action == Erase::set_null && r.column == column);
}

// $1: the person's id; $2, in a delete that leaves tombstones: the
// projection's name.
std::string statement(const ErasureRule& r) {
  const std::string where = r.where.empty() ? std::string(r.column) + " = $1" : std::string(r.where);
  if (r.action == Erase::delete_row && !r.stream.empty())
    return "WITH gone AS (DELETE FROM " + std::string(r.table) + " WHERE " + where + " RETURNING " +
           std::string(r.stream) +
           " AS stream_id) INSERT INTO erased_streams (projection, stream_id) SELECT $2, stream_id FROM gone"
           " ON CONFLICT DO NOTHING";
  if (r.action == Erase::delete_row) return "DELETE FROM " + std::string(r.table) + " WHERE " + where;
  std::string set;
  if (r.action == Erase::set_null) set = std::string(r.column) + " = NULL";
  for (const auto& a : r.also) set += (set.empty() ? "" : ", ") + std::string(a.column) + " = " + std::string(a.value);
  return "UPDATE " + std::string(r.table) + " SET " + set + " WHERE " + where;
}

// The projection's receipt of each user.erased in the batch, once per
// request: the request's writers are serialised (lock_stream), in request
// order so that two projections never wait on each other.
void record_receipts(const Projection& p, std::span<const Delivered> batch, infra::Tx tx, const ReceiptLog& log) {
  // request id -> (its user.erased, where it came from)
  std::map<std::string, std::pair<erasure::UserErased, const Delivered*>> erased;
  for (const auto& d : batch) {
    if (d.envelope.type != erasure::UserErased::kType) continue;
    auto ev = erasure::decode_payload(d.envelope.type, d.envelope.schema_version, d.envelope.payload);
    if (!ev) continue;  // rejected by whoever applies it; no receipt for what was not applied
    auto e = std::get<erasure::UserErased>(std::move(ev).value());
    auto request_id = e.request_id;
    erased.emplace(std::move(request_id), std::pair{std::move(e), &d});
  }
  // Every lock before the first append: a transaction gets its id at its
  // first write, and a writer it waited for must have the smaller id.
  for (const auto& [request_id, found] : erased) log.lock(tx, erasure::request_stream(request_id));
  for (const auto& [request_id, found] : erased) {
    const auto& [e, d] = found;
    const auto stream = erasure::request_stream(request_id);
    if (!infra::exec_hot(tx, kReceiptSql, stream, std::string(p.name())).empty()) continue;  // applied before
    const erasure::Event receipt = erasure::ErasureApplied{request_id, e.user_id, std::string(p.name())};
    log.append(tx,
               Receipt{stream, infra::new_uuid(), std::string(erasure::type_of(receipt)), erasure::version_of(receipt),
                       erasure::encode_payload(receipt), infra::utc_now(), "system:projection:" + std::string(p.name()),
                       d->envelope.correlation_id, d->envelope.event_id});
  }
}

// Applies the policy for every erased person the batch names (in a payload's
// person fields, or as an event's actor).
void forget_erased(const Projection& p, std::span<const Delivered> batch, infra::Tx tx) {
  std::set<std::string> named;
  for (const auto& d : batch) {
    named.insert(d.envelope.actor);
    domain::named_people(d.envelope.payload,
                         [&](std::string_view, std::string_view id) { named.emplace(std::string(id)); });
  }
  const auto erased = infra::erased_among(tx, std::vector<std::string>(named.begin(), named.end()));
  apply_erasure_policy(p, tx, erased);
}

}  // namespace

namespace {

// The policy's statements, on the tables the search_path finds.
void apply_rules(const Projection& p, pqxx::dbtransaction& tx, const std::vector<std::string>& people) {
  for (const auto& person : people)
    for (const auto& rule : p.erasure_policy()) {
      if (rule.action == Erase::keep) continue;
      if (const char* skip = negative_control_skip_rule.load(std::memory_order_relaxed);
          skip != nullptr && std::string(rule.table) + "." + std::string(rule.column) == skip)
        continue;
      if (rule.stream.empty())
        tx.exec_params(statement(rule), person);
      else
        tx.exec_params(statement(rule), person, std::string(p.name()));
    }
}

constexpr const char* kWhereSql = "SELECT current_schema(), current_setting('search_path')";
constexpr const char* kSchemasAmongSql = "SELECT nspname FROM pg_namespace WHERE nspname = ANY($1::text[])";
constexpr const char* kSearchPathSql = "SELECT set_config('search_path', $1, true)";

}  // namespace

void apply_erasure_policy(const Projection& p, infra::Tx handle, const std::vector<std::string>& people) {
  pqxx::dbtransaction& tx = handle.db();
  apply_rules(p, tx, people);
  if (people.empty()) return;
  // The other versions of the read model (consumers/versions.hpp) forget in
  // the same transaction, each its schema first for a moment: the one kept
  // after a cut-over has no projector of its own, and a rebuild left
  // unfinished none running. One whose tables no longer fit the policy (a
  // migration since) cannot forget, so it goes: rolling back to it was
  // refused anyway.
  const auto where = infra::exec_hot(tx, kWhereSql);
  const std::string live = where[0][0].c_str(), path = where[0][1].c_str();
  std::vector<std::string> versions;
  for (const auto& row : infra::exec_hot(
           tx, kSchemasAmongSql,
           infra::pg_text_array({previous_version_schema(live, p.name()), next_version_schema(live, p.name())})))
    versions.emplace_back(row[0].c_str());
  for (const auto& other : versions) {
    try {
      pqxx::subtransaction version(tx, "forget_in_other_version");
      infra::exec_hot(version, kSearchPathSql, tx.quote_name(other) + ", " + path);
      apply_rules(p, version, people);
      infra::exec_hot(version, kSearchPathSql, path);
      version.commit();
    } catch (const pqxx::sql_error& e) {
      if (infra::classify_pg(e.sqlstate()) != infra::PgFailure::schema) throw;
      spdlog::warn("{}: the version of its read model in {} no longer fits its erasure policy ({}); dropped", p.name(),
                   other, infra::first_line(e.what()));
      tx.exec("DROP SCHEMA " + tx.quote_name(other) + " CASCADE");
    }
  }
}

std::vector<std::string> erasure_policy_gaps(infra::Tx tx, const Projection& projection) {
  const auto& policy = projection.erasure_policy();
  const auto tables = projection.tables();
  std::vector<std::string> gaps;
  std::set<std::pair<std::string, std::string>> columns;
  // Declared columns by table and column: the mark each must carry, and its type.
  std::map<std::pair<std::string, std::string>, DeclaredColumn> declared;
  std::set<std::string> declared_tables;
  for (auto& d : projection.declared_columns()) {
    declared_tables.insert(d.table);
    declared.emplace(std::pair{d.table, d.column}, std::move(d));
  }
  const auto name = std::string(projection.name());
  for (const auto& [table, column, type, comment] : infra::table_columns(tx, tables)) {
    columns.emplace(table, column);
    const bool marked = comment == kPerson || comment == kPersonKept || comment == kPersonal || comment == kSealed;
    const auto d = declared.find({table, column});
    if (d != declared.end() && d->second.mark != (marked ? comment : std::string()))
      gaps.push_back("column " + table + "." + column + " is declared by " + name + " as holding " +
                     (d->second.mark.empty() ? std::string("nothing of a person") : std::string(d->second.mark)) +
                     ", but its comment says " + (marked ? comment : std::string("nothing")));
    if (d != declared.end() && !d->second.type.empty() && d->second.type != type)
      gaps.push_back("column " + table + "." + column + " is declared by " + name + " as " +
                     std::string(d->second.type) + ", but the table holds " + type);
    if (!marked) continue;
    // A marked column of a declared table that the declaration leaves out.
    const std::string undeclared = d == declared.end() && declared_tables.contains(table)
                                       ? ", and the declaration of " + table + " in " + name + " leaves it out"
                                       : "";
    const bool covered = comment == kSealed || std::any_of(policy.begin(), policy.end(), [&](const ErasureRule& r) {
                           return r.table == table && covers(r, column, comment);
                         });
    if (!covered)
      gaps.push_back("column " + table + "." + column + " (" + comment + ") has no rule in the erasure policy of " +
                     name + (comment == kPersonKept ? " (it needs keep or anonymize on that column)" : "") +
                     undeclared);
    else if (!undeclared.empty())
      gaps.push_back("column " + table + "." + column + " (" + comment + ")" + undeclared.substr(1));
  }
  for (const auto& entry : declared)
    if (const auto& at = entry.first; !columns.contains(at))
      gaps.push_back("column " + at.first + "." + at.second + " is declared by " + name + ", but the table lacks it");
  for (const auto& r : policy) {
    auto check = [&](std::string_view column) {
      if (!columns.contains({std::string(r.table), std::string(column)}))
        gaps.push_back("the erasure policy of " + std::string(projection.name()) + " names " + std::string(r.table) +
                       "." + std::string(column) + ", which its tables lack");
    };
    check(r.column);
    for (const auto& a : r.also) check(a.column);
  }
  return gaps;
}

ApplyResult apply_batch(Projection& projection, std::span<const Delivered> batch, infra::Tx tx,
                        const ReceiptLog& receipts) {
  record_receipts(projection, batch, tx, receipts);
  // A policy that keeps everything (ids only, no personal text) has nothing
  // to forget and no tombstones: its batches skip the lookups below.
  const auto& policy = projection.erasure_policy();
  const bool forgets =
      std::any_of(policy.begin(), policy.end(), [](const ErasureRule& r) { return r.action != Erase::keep; });
  if (!forgets) return projection.apply(batch, tx);
  // Until somebody is erased, a batch asks only that. Once somebody was,
  // this process stops asking: the lookups below answer rightly either way,
  // so a schema where nobody is erased (another test's, a restored one)
  // only pays for them. The people a batch names are looked up after it
  // applies, not before: with two processes in the group, a person erased
  // meanwhile may have their user.erased applied by the other one, whose
  // policy statements wait at the rows this batch updated and forget them
  // once it commits (a row it inserted they do not see: docs/limits.md).
  static std::atomic<bool> somebody_erased{false};
  if (!somebody_erased.load(std::memory_order_relaxed)) {
    if (!infra::exec_hot(tx, kAnyErasedSql)[0][0].as<bool>()) return projection.apply(batch, tx);
    somebody_erased.store(true, std::memory_order_relaxed);
  }
  // Events of streams whose rows the policy deleted are skipped; the rest
  // applies, and rejections are mapped back to the batch's own indexes.
  std::set<std::string> streams;
  for (const auto& d : batch) streams.insert(d.envelope.stream_id);
  std::set<std::string> gone;
  for (const auto& r : infra::exec_hot(tx, kTombstonesSql, std::string(projection.name()),
                                       infra::pg_text_array({streams.begin(), streams.end()})))
    gone.emplace(r[0].c_str());
  ApplyResult result;
  if (gone.empty()) {
    result = projection.apply(batch, tx);
  } else {
    std::vector<Delivered> kept;
    std::vector<std::size_t> index_of;  // kept[k] is batch[index_of[k]]
    for (std::size_t i = 0; i < batch.size(); ++i)
      if (!gone.contains(batch[i].envelope.stream_id)) {
        kept.push_back(batch[i]);
        index_of.push_back(i);
      }
    result = projection.apply(kept, tx);
    for (auto& r : result.rejected) r.index = index_of[r.index];
    result.skipped += batch.size() - kept.size();
  }
  forget_erased(projection, batch, tx);
  return result;
}

std::vector<std::string> topics_of(const Projection& projection) {
  auto topics = projection.topics();
  if (std::find(topics.begin(), topics.end(), "erasure") == topics.end()) topics.emplace_back("erasure");
  return topics;
}

}  // namespace lethe::projections
