#include "lethe/consumers/versions.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "lethe/infra/config.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/pg.hpp"
#include "offset_store.hpp"

namespace lethe::consumers {

namespace {

using Clock = std::chrono::steady_clock;

// What a version carries beside the projection's own tables: where it
// stands, who may write it, and the streams its policy deleted.
constexpr std::array<const char*, 3> kBookkeeping = {"projection_offsets", "projection_owners", "erased_streams"};

// One rebuild, cut-over, rollback or drop of a projection at a time (per
// schema): a session lock, held for the whole command.
constexpr const char* kGuardSql =
    "SELECT pg_try_advisory_lock(hashtextextended(current_schema() || '/versions/' || $1, 0))";
constexpr const char* kSchemaSql = "SELECT current_schema()";
constexpr const char* kSchemaExistsSql = "SELECT 1 FROM pg_namespace WHERE nspname = $1";
// The constraints a table's indexes stand behind (primary key, unique,
// exclusion), and its other indexes, with their definitions.
constexpr const char* kKeyConstraintsSql =
    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE conrelid = to_regclass($1) AND contype IN ('p', 'u', 'x') ORDER BY conname";
constexpr const char* kPlainIndexesSql =
    "SELECT c.relname, i.indisunique, pg_get_indexdef(i.indexrelid) FROM pg_index i"
    " JOIN pg_class c ON c.oid = i.indexrelid"
    " WHERE i.indrelid = to_regclass($1) AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
    " ORDER BY c.relname";
constexpr const char* kRelOptionsSql =
    "SELECT array_to_string(reloptions, ', ') FROM pg_class WHERE oid = to_regclass($1)";
constexpr const char* kRecordSql =
    "INSERT INTO projection_versions (projection, action, tables) VALUES ($1, $2, $3::jsonb)";

// How far behind the live offsets a rebuild may be when its cut-over
// starts: what the cut-over applies while it holds the live version.
constexpr std::int64_t kCloseEnough = 500;

// How long the swap waits for the tables' exclusive locks (behind API
// reads in flight) before it lets the reads go and tries again: reads that
// arrive meanwhile queue behind it.
constexpr const char* kSwapLockTimeout = "500ms";

// Identifiers longer than this are cut short by PostgreSQL, silently.
constexpr std::size_t kMaxIdentifier = 63;

struct Column {
  std::string name, type, comment;
  bool operator==(const Column& o) const { return name == o.name && type == o.type; }
};

// A projection's versions, and the session that switches between them.
class Versions {
 public:
  Versions(const std::string& conninfo, const projections::Projection& p)
      : conn_(infra::connect(conninfo, OffsetStore::kHolderApplication)), p_(p), name_(p.name()) {
    infra::translate_pg("versions of " + name_, [&] {
      pqxx::nontransaction tx(*conn_);
      if (!tx.exec_params(kGuardSql, name_)[0][0].as<bool>())
        throw infra::Misconfigured("another rebuild, cut-over, rollback or drop of projection " + name_ +
                                   " is running in this schema");
      live_ = tx.exec(kSchemaSql)[0][0].c_str();
    });
    next_ = projections::next_version_schema(live_, name_);
    previous_ = projections::previous_version_schema(live_, name_);
    swap_ = live_ + "_swap_" + name_;
    for (const auto* s : {&next_, &previous_, &swap_})
      if (s->size() > kMaxIdentifier)
        throw infra::Misconfigured("schema name " + *s + " is longer than PostgreSQL's " +
                                   std::to_string(kMaxIdentifier) + " characters; use a shorter schema");
  }

  const std::string& live() const { return live_; }
  const std::string& next() const { return next_; }
  const std::string& previous() const { return previous_; }

  bool exists(const std::string& schema) {
    return infra::translate_pg("look for schema " + schema, [&] {
      pqxx::nontransaction tx(*conn_);
      return !tx.exec_params(kSchemaExistsSql, schema).empty();
    });
  }

  bool drop(const std::string& schema) {
    const bool was = exists(schema);
    infra::translate_pg("drop schema " + schema, [&] {
      pqxx::nontransaction(*conn_).exec("DROP SCHEMA IF EXISTS " + conn_->quote_name(schema) + " CASCADE");
    });
    return was;
  }

  // The next version's schema: the shape of the live tables (LIKE, with
  // comments, indexes and storage settings), empty, with the live
  // tombstones of the projection, as a replay keeps them.
  void create_next() {
    infra::translate_pg("create " + next_, [&] {
      pqxx::work tx(*conn_);
      tx.exec("CREATE SCHEMA " + tx.quote_name(next_));
      for (const auto& table : p_.tables()) {
        // Indexes and the constraints behind them under the live names:
        // after a cut-over, a migration names them as it always did.
        tx.exec("CREATE TABLE " + at(next_, table) + " (LIKE " + at(live_, table) +
                " INCLUDING ALL EXCLUDING INDEXES)");
        for (const auto& c : tx.exec_params(kKeyConstraintsSql, at(live_, table)))
          tx.exec("ALTER TABLE " + at(next_, table) + " ADD CONSTRAINT " + tx.quote_name(c[0].c_str()) + " " +
                  c[1].c_str());
        for (const auto& i : tx.exec_params(kPlainIndexesSql, at(live_, table))) {
          const std::string definition = i[2].c_str();
          const auto using_at = definition.find(" USING ");
          if (using_at == std::string::npos)
            throw infra::Misconfigured("rebuild " + name_ + ": cannot copy index " + i[0].c_str() + ": " + definition);
          tx.exec(std::string("CREATE ") + (i[1].as<bool>() ? "UNIQUE " : "") + "INDEX " + tx.quote_name(i[0].c_str()) +
                  " ON " + at(next_, table) + definition.substr(using_at));
        }
        const auto options = tx.exec_params(kRelOptionsSql, at(live_, table));
        if (!options.empty() && !options[0][0].is_null() && !std::string(options[0][0].c_str()).empty())
          tx.exec("ALTER TABLE " + at(next_, table) + " SET (" + options[0][0].c_str() + ")");
      }
      for (const char* table : kBookkeeping)
        tx.exec("CREATE TABLE " + at(next_, table) + " (LIKE " + at(live_, table) + " INCLUDING ALL)");
      tx.exec_params("INSERT INTO " + at(next_, "erased_streams") + " SELECT * FROM " + at(live_, "erased_streams") +
                         " WHERE projection = $1",
                     name_);
      tx.commit();
    });
  }

  // Events passed in `schema` so far (the sum of its next offsets).
  std::int64_t passed(const std::string& schema) {
    return infra::translate_pg("offsets in " + schema, [&] {
      pqxx::read_transaction tx(*conn_);
      std::int64_t n = 0;
      for (const auto& [key, next] : offsets_in(tx, schema)) n += next;
      return n;
    });
  }

  // The live columns of each table differ from the candidate's: each as a sentence.
  std::vector<std::string> shape_differences(const std::string& candidate) {
    return infra::translate_pg("compare the shapes in " + candidate, [&] {
      pqxx::read_transaction tx(*conn_);
      std::vector<std::string> out;
      for (const auto& table : p_.tables())
        if (auto differs =
                shape_difference(table, columns_of(tx, live_, table), columns_of(tx, candidate, table), candidate))
          out.push_back(std::move(*differs));
      return out;
    });
  }

  // Holds the live version still, brings the candidate to its offsets,
  // compares (digests: whole rows; otherwise the erasure register only),
  // and switches when nothing differs. Tries again, within the patience,
  // while the live projector is behind the candidate or a batch of it holds
  // its partitions for longer than a claim would wait.
  Switch switch_to(const std::string& candidate, ProjectionRunner& runner, bool digests, const char* action,
                   std::chrono::seconds patience, const std::atomic<bool>& stop) {
    const auto deadline = Clock::now() + patience;
    const OffsetStore live_offsets(name_);
    auto last_said = Clock::time_point{};
    for (;;) {
      if (stop.load()) return {.refusals = {}, .tables = {}, .stats = {}, .schema_before = candidate};
      const auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - Clock::now());
      std::string wait_why;
      try {
        pqxx::work tx(*conn_);
        auto mine = offsets_in(tx, candidate);
        auto theirs = offsets_in(tx, live_);
        // Every partition either version has a position in, or claimed
        // (a claimed one may have no position yet: an empty erasure
        // partition whose first event comes now).
        const auto partitions = [&] {
          std::set<PartitionKey> keys;
          for (const std::string* schema : std::array<const std::string*, 2>{&candidate, &live_})
            for (const auto& row : tx.exec_params("SELECT topic, partition FROM " + at(*schema, "projection_owners") +
                                                      " WHERE projection = $1 UNION SELECT topic, partition FROM " +
                                                      at(*schema, "projection_offsets") + " WHERE projection = $1",
                                                  name_))
              keys.emplace(row[0].c_str(), row[1].template as<int>());
          return keys;
        };
        const auto keys = partitions();
        // Test hook, the negative control of rebuild_apitest: the live
        // version not held, its projector writes on past the offsets read.
        if (!infra::fault_injected("cut-over.no_hold")) live_offsets.hold(tx, {keys.begin(), keys.end()});
        const auto held_from = Clock::now();
        // Statements after the hold: the last live batch is in.
        if (partitions() != keys) {
          wait_why = "the live projector claimed partitions while the cut-over took its locks";
          throw Retry{};
        }
        theirs = offsets_in(tx, live_);
        ProjectionRunner::Targets targets;
        std::string behind;
        std::int64_t missing = 0;
        for (const auto& key : keys) {
          const auto l = value_or_zero(theirs, key), m = value_or_zero(mine, key);
          if (m > l) behind += (behind.empty() ? "" : ", ") + fmt::format("{} live {} < {}", describe(key), l, m);
          if (l > 0) targets[key] = l;
          missing += std::max<std::int64_t>(l - m, 0);
        }
        if (!behind.empty()) {
          wait_why = "the live projector of " + name_ + " is behind " + candidate + " (" + behind +
                     "); is `lethe project " + name_ + "` running?";
          throw Retry{};
        }
        Switch out;
        if (missing > 0) {
          spdlog::info("{} {}: the live version is held at its offsets; {} catches up the last {} events", action,
                       name_, candidate, missing);
          out.stats = runner.catch_up(targets, stop, std::max(left, std::chrono::seconds(1)));
          if (stop.load()) return {.refusals = {}, .tables = {}, .stats = out.stats, .schema_before = candidate};
          mine = offsets_in(tx, candidate);
          for (const auto& [key, l] : targets)
            if (value_or_zero(mine, key) != l)
              throw infra::Unavailable(fmt::format("{} {}: {} stands at {} on {}, not at the live {}", action, name_,
                                                   candidate, value_or_zero(mine, key), describe(key), l));
        }
        // Test hook (rebuild_apitest): the live version stays held a while
        // longer, so that under load its projector has batches waiting.
        if (infra::fault_injected("cut-over.pause")) std::this_thread::sleep_for(std::chrono::seconds(2));
        out.tables = compare(tx, candidate, digests, out.refusals);
        if (!out.refusals.empty()) {
          out.schema_before = candidate;
          out.held_seconds = std::chrono::duration<double>(Clock::now() - held_from).count();
          return out;  // tx rolls back: nothing changed
        }
        // The swap's exclusive locks, all at once, waiting briefly behind
        // the reads in flight: reads arriving meanwhile queue behind it.
        tx.exec(std::string("SET LOCAL lock_timeout = '") + kSwapLockTimeout + "'");
        std::string tables;
        for (const auto& table : p_.tables())
          tables += (tables.empty() ? "" : ", ") + at(live_, table) + ", " + at(candidate, table);
        tx.exec("LOCK TABLE " + tables + " IN ACCESS EXCLUSIVE MODE");
        swap(tx, candidate, action, out.tables);
        tx.commit();
        out.held_seconds = std::chrono::duration<double>(Clock::now() - held_from).count();
        out.done = true;
        out.schema_before = previous_;
        return out;
      } catch (const Retry&) {
      } catch (const pqxx::transaction_rollback& e) {
        wait_why = "a deadlock or serialization failure: " + infra::first_line(e.what());
      } catch (const pqxx::sql_error& e) {
        if (infra::classify_pg(e.sqlstate()) != infra::PgFailure::lock) throw;
        wait_why =
            "a lock was not granted in time (a batch of the live projector holding its partitions, or reads "
            "holding the tables): " +
            infra::first_line(e.what());
      }
      if (Clock::now() > deadline)
        throw infra::Unavailable(std::string(action) + " " + name_ + " gave up after " +
                                 std::to_string(patience.count()) + " s: " + wait_why);
      if (Clock::now() - last_said > std::chrono::seconds(10)) {
        spdlog::warn("{} {}: {}; waiting", action, name_, wait_why);
        last_said = Clock::now();
      }
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }

 private:
  struct Retry {};

  std::string at(const std::string& schema, const std::string& table) const {
    return conn_->quote_name(schema) + "." + conn_->quote_name(table);
  }

  static std::int64_t value_or_zero(const std::map<PartitionKey, std::int64_t>& m, const PartitionKey& key) {
    const auto it = m.find(key);
    return it == m.end() ? 0 : it->second;
  }

  std::map<PartitionKey, std::int64_t> offsets_in(pqxx::transaction_base& tx, const std::string& schema) const {
    std::map<PartitionKey, std::int64_t> out;
    for (const auto& row : tx.exec_params(
             "SELECT topic, partition, next_offset FROM " + at(schema, "projection_offsets") + " WHERE projection = $1",
             name_))
      out[{row[0].c_str(), row[1].as<int>()}] = row[2].as<std::int64_t>();
    return out;
  }

  std::vector<Column> columns_of(pqxx::transaction_base& tx, const std::string& schema,
                                 const std::string& table) const {
    std::vector<Column> out;
    for (auto& c : infra::table_columns(tx, {at(schema, table)}))
      out.push_back({std::move(c.column), std::move(c.type), std::move(c.comment)});
    return out;
  }

  // A table whose columns differ between the live version and the
  // candidate, as a sentence; nullopt when they are the same.
  static std::optional<std::string> shape_difference(const std::string& table, const std::vector<Column>& live,
                                                     const std::vector<Column>& other, const std::string& candidate) {
    if (live == other) return std::nullopt;
    return "table " + table + " has columns (" + list(live) + ") live but (" + list(other) + ") in " + candidate;
  }

  static std::string list(const std::vector<Column>& columns) {
    std::string out;
    for (const auto& c : columns) out += (out.empty() ? "" : ", ") + c.name + " " + c.type;
    return out;
  }

  // The columns compared in `table`: those the projection declares (every
  // column when it declares none), less those it says it changed.
  std::vector<std::string> compared(const std::string& table, const std::vector<Column>& live) const {
    std::vector<std::string> columns;
    for (const auto& d : p_.declared_columns())
      if (d.table == table) columns.push_back(d.column);
    if (columns.empty())
      for (const auto& c : live) columns.push_back(c.name);
    const auto changed = p_.changed_columns();
    std::erase_if(columns,
                  [&](const std::string& c) { return std::ranges::find(changed, table + "." + c) != changed.end(); });
    return columns;
  }

  // A column as the digest reads it: its value, or, when an erasure rule
  // sets it to the time the rule ran (now()), only whether it is set: two
  // versions forget a person at different moments.
  std::string expression(pqxx::transaction_base& tx, const std::string& table, const std::string& column) const {
    for (const auto& rule : p_.erasure_policy())
      for (const auto& a : rule.also)
        if (rule.table == table && a.column == column && a.value.find("now()") != std::string_view::npos)
          return "(t." + tx.quote_name(column) + " IS NULL)";
    return "t." + tx.quote_name(column);
  }

  std::vector<TableComparison> compare(pqxx::work& tx, const std::string& candidate, bool digests,
                                       std::vector<std::string>& refusals) const {
    std::vector<TableComparison> out;
    for (const auto& table : p_.tables()) {
      const auto live = columns_of(tx, live_, table), other = columns_of(tx, candidate, table);
      TableComparison t{.table = table, .columns = {}};
      if (auto differs = shape_difference(table, live, other, candidate)) {
        refusals.push_back(std::move(*differs));
        out.push_back(std::move(t));
        continue;
      }
      t.columns = compared(table, live);
      std::string row = "ROW(";
      for (std::size_t i = 0; i < t.columns.size(); ++i) row += (i ? ", " : "") + expression(tx, table, t.columns[i]);
      row += ")::text";
      // Order-independent: the sum of every row's hash, as a number that
      // cannot overflow.
      const auto digest = [&](const std::string& schema) {
        const auto r = tx.exec("SELECT count(*), coalesce(sum(('x' || substr(md5(" + row +
                               "), 1, 16))::bit(64)::bigint::numeric), 0)::text FROM " + at(schema, table) + " AS t");
        return std::pair{r[0][0].as<std::int64_t>(), std::string(r[0][1].c_str())};
      };
      const auto [live_rows, live_digest] = digest(live_);
      const auto [new_rows, new_digest] = digest(candidate);
      t.live_rows = live_rows;
      t.new_rows = new_rows;
      t.equal = live_rows == new_rows && (!digests || live_digest == new_digest);
      if (!t.equal && t.columns.empty()) {
        refusals.push_back(fmt::format("table {}: {} rows live, {} in {}", table, live_rows, new_rows, candidate));
      } else if (!t.equal) {
        // Some rows of each side that the other lacks, by their first column
        // compared (the key of a declared table).
        const auto only = [&](const std::string& a, const std::string& b) {
          const auto key = "t." + tx.quote_name(t.columns.front()) + "::text";
          std::string keys;
          for (const auto& r : tx.exec("SELECT k FROM (SELECT " + key + " AS k, md5(" + row + ") FROM " + at(a, table) +
                                       " AS t EXCEPT SELECT " + key + ", md5(" + row + ") FROM " + at(b, table) +
                                       " AS t) d ORDER BY k LIMIT 3"))
            keys += (keys.empty() ? "" : ", ") + std::string(r[0].c_str());
          return keys.empty() ? std::string("none") : keys;
        };
        refusals.push_back(fmt::format(
            "table {}: {} rows live, {} in {}; {} over ({}): {} {} only live, {} only in {}", table, live_rows,
            new_rows, candidate, live_digest == new_digest ? "same digest" : "the digests differ",
            fmt::join(t.columns, ", "), t.columns.front(), only(live_, candidate), only(candidate, live_), candidate));
      }
      // The erasure register holds: no column naming a person names one
      // it holds as erased.
      for (const auto& c : other) {
        if (c.comment != "lethe:person") continue;
        // An erasure in flight (registered, its event not yet applied)
        // names the person in both versions alike: that is not a refusal.
        const auto column = tx.quote_name(c.name);
        const auto n = tx.exec("SELECT count(*) FROM " + at(candidate, table) + " AS t WHERE t." + column +
                               "::text IN (SELECT subject FROM erased_persons) AND NOT EXISTS (SELECT 1 FROM " +
                               at(live_, table) + " AS l WHERE l." + column + " = t." + column + ")")[0][0]
                           .as<std::int64_t>();
        if (n > 0)
          refusals.push_back(
              fmt::format("table {}: {} row(s) of {} name people the erasure register holds as erased, and the live "
                          "version does not",
                          table, n, c.name));
      }
      out.push_back(std::move(t));
    }
    return out;
  }

  // In the cut-over's transaction: the live tables go to the previous
  // version's schema with their offsets and tombstones, the candidate's come
  // in, and the tombstones follow them.
  void swap(pqxx::work& tx, const std::string& candidate, const char* action,
            const std::vector<TableComparison>& tables) {
    tx.exec("DROP SCHEMA IF EXISTS " + tx.quote_name(swap_) + " CASCADE");
    tx.exec("CREATE SCHEMA " + tx.quote_name(swap_));
    for (const auto& table : p_.tables()) {
      tx.exec("ALTER TABLE " + at(live_, table) + " SET SCHEMA " + tx.quote_name(swap_));
      tx.exec("ALTER TABLE " + at(candidate, table) + " SET SCHEMA " + tx.quote_name(live_));
    }
    for (const char* table : kBookkeeping)
      tx.exec("CREATE TABLE " + at(swap_, table) + " (LIKE " + at(live_, table) + " INCLUDING ALL)");
    for (const char* table : {"projection_offsets", "erased_streams"})
      tx.exec_params(
          "INSERT INTO " + at(swap_, table) + " SELECT * FROM " + at(live_, table) + " WHERE projection = $1", name_);
    tx.exec_params("DELETE FROM " + at(live_, "erased_streams") + " WHERE projection = $1", name_);
    tx.exec_params("INSERT INTO " + at(live_, "erased_streams") + " SELECT * FROM " + at(candidate, "erased_streams") +
                       " WHERE projection = $1",
                   name_);
    tx.exec("DROP SCHEMA " + tx.quote_name(candidate) + " CASCADE");
    tx.exec("DROP SCHEMA IF EXISTS " + tx.quote_name(previous_) + " CASCADE");
    tx.exec("ALTER SCHEMA " + tx.quote_name(swap_) + " RENAME TO " + tx.quote_name(previous_));
    std::string json = "[";
    for (const auto& t : tables)
      json += fmt::format("{}{{\"table\":\"{}\",\"rows\":{},\"columns_compared\":{}}}", json.size() > 1 ? "," : "",
                          t.table, t.new_rows, t.columns.size());
    tx.exec_params(kRecordSql, name_, std::string(action), json + "]");
  }

  std::unique_ptr<pqxx::connection> conn_;
  const projections::Projection& p_;
  std::string name_, live_, next_, previous_, swap_;
};

// The candidate's runner returns once caught up: to the end of the logs
// (`to_the_end`), or close to it when a switch follows, which catches up
// the rest with the live version held: the live projector then waits for
// at most kCloseEnough events.
RunnerOptions candidate_options(RunnerOptions options, const std::string& schema, bool to_the_end) {
  options.schema_first = schema;
  options.group_prefix += "rebuild.";
  options.exit_when_idle = true;
  options.idle_below_lag = to_the_end ? 0 : kCloseEnough;
  // Receipts are the live version's to record: a candidate ahead of it
  // (the live projector down) must not say an erasure was applied to a
  // read model that nobody reads yet.
  options.receipts = {.lock = [](infra::Tx, const std::string&) {},
                      .append = [](infra::Tx, const projections::Receipt&) {}};
  return options;
}

}  // namespace

Switch rebuild(RebuildOptions options, std::unique_ptr<projections::Projection> projection,
               const std::atomic<bool>& stop) {
  const auto& p = *projection;
  Versions versions(options.runner.conninfo, p);
  const auto& next = versions.next();
  if (options.restart && versions.drop(next)) spdlog::info("rebuild {}: dropped the rebuild in {}", p.name(), next);
  if (options.resume_only && !versions.exists(next))
    throw infra::Misconfigured("cut-over " + std::string(p.name()) + ": no rebuild is in progress (schema " + next +
                               "); start one with `lethe project rebuild " + std::string(p.name()) + "`");
  if (versions.exists(next)) {
    if (const auto shapes = versions.shape_differences(next); !shapes.empty())
      throw infra::Misconfigured("rebuild " + std::string(p.name()) + ": " +
                                 fmt::format("{}", fmt::join(shapes, "; ")) + "; start it again with --restart");
    spdlog::info("rebuild {}: resuming in {} from its saved offsets ({} events passed before)", p.name(), next,
                 versions.passed(next));
  } else {
    versions.create_next();
    spdlog::info("rebuild {}: building the next version in schema {} from offset zero; {} keeps serving", p.name(),
                 next, versions.live());
  }
  ProjectionRunner runner(candidate_options(options.runner, next, !options.cut_over), std::move(projection));
  Switch out;
  out.stats = runner.run(stop);
  out.schema_before = next;
  if (stop.load() || !options.cut_over) return out;
  spdlog::info("rebuild {}: caught up ({} events applied in this run); cutting over", p.name(), out.stats.applied);
  auto sw = versions.switch_to(next, runner, true, "cut-over", options.patience, stop);
  sw.stats.applied += out.stats.applied;
  sw.stats.skipped += out.stats.skipped;
  sw.stats.dead_lettered += out.stats.dead_lettered;
  return sw;
}

Switch rollback(RebuildOptions options, std::unique_ptr<projections::Projection> projection,
                const std::atomic<bool>& stop) {
  const auto& p = *projection;
  Versions versions(options.runner.conninfo, p);
  const auto& previous = versions.previous();
  if (!versions.exists(previous))
    throw infra::Misconfigured("rollback " + std::string(p.name()) + ": no previous version is kept (schema " +
                               previous + "): none was cut over, or it was dropped");
  if (const auto shapes = versions.shape_differences(previous); !shapes.empty())
    throw infra::Misconfigured("rollback " + std::string(p.name()) + ": " + fmt::format("{}", fmt::join(shapes, "; ")) +
                               " (a migration since the cut-over?)");
  spdlog::info("rollback {}: bringing the previous version in {} up to the live offsets ({} events passed)", p.name(),
               previous, versions.passed(previous));
  ProjectionRunner runner(candidate_options(options.runner, previous, false), std::move(projection));
  const auto caught_up = runner.run(stop);
  if (stop.load()) return {.refusals = {}, .tables = {}, .stats = caught_up, .schema_before = previous};
  auto sw = versions.switch_to(previous, runner, false, "rollback", options.patience, stop);
  sw.stats.applied += caught_up.applied;
  return sw;
}

bool drop_version(const std::string& conninfo, const projections::Projection& projection, bool next) {
  Versions versions(conninfo, projection);
  return versions.drop(next ? versions.next() : versions.previous());
}

}  // namespace lethe::consumers
