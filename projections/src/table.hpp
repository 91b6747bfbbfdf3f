#pragma once
// A read-model table declared once: its key and its columns, by name, and
// how its rows move. From that declaration this writes, once for every
// projection, what each of them used to write by hand: loading the rows a
// batch touches (one query), staging, COPY and the merge guarded by
// version. A projection's own code says only how an event changes a row,
// reading and setting columns by name. Private to the projections layer.
//
//   static const table::Spec kFiles{"files", {"file_id", table::text},
//       {{"owner_id", table::text, table::kOnCreate}, ..., {"version", table::bigint}}};
//   table::Rows files(kFiles);
//   files.load(tx, ids);
//   auto& row = files.row(id);          // loaded, or new (exists() false)
//   row.set("deleted", true);
//   row.applied(env.stream_version);    // written at the end
//   files.write(tx);
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "lethe/projections/projection.hpp"

namespace lethe::projections::table {

// A column a later event never rewrites: written when the row is created,
// then left to the erasure policy (a person's id) or fixed (a creation time).
inline constexpr bool kOnCreate = false;

// What a column holds of a person, as its migration's comment says it too
// (the projector refuses to start while the two differ, see
// projections::erasure_policy_gaps): a person's id that an erasure takes
// away (lethe:person) or keeps by design (lethe:person-kept), their
// personal data in clear (lethe:personal, which the policy must erase), or
// their personal data sealed under their key (lethe:sealed: the sealed text
// of the event's field, opened when a query answers; destroying the key
// erases it, so it needs no rule).
enum class Mark { none, person, person_kept, personal, sealed };

// A column's type, as its migration creates it (the projector refuses to
// start while the table's column has another type). Values travel as text
// both ways; the type says what PostgreSQL parses them into.
enum class Type { text, text_array, bigint, integer, boolean, timestamptz, uuid, json, jsonb, bytea };
using enum Type;
// The type as PostgreSQL's format_type() names it ("timestamp with time zone").
std::string_view type_name(Type type) noexcept;

struct Column {
  Column(const char* column, Type of, bool update = true, Mark holds = Mark::none)
      : name(column), type(of), on_update(update), mark(holds) {}
  Column(const char* column, Type of, Mark holds, bool update = true)
      : name(column), type(of), on_update(update), mark(holds) {}
  std::string name;
  Type type;
  bool on_update = true;
  Mark mark = Mark::none;
};

// by_version: one row per key, moving forward only (a merge never writes
// over a row at the same or a later version; the table has a `version`
// column). once: rows keyed by their own ids (a note, a refund), inserted
// once; a repeated one changes nothing.
enum class Moves { by_version, once };

class Spec {
 public:
  Spec(std::string table, Column key, std::vector<Column> columns, Moves moves = Moves::by_version);
  Spec(const Spec&) = delete;  // its index holds views of its own names
  Spec& operator=(const Spec&) = delete;
  const std::string& name() const noexcept { return table_; }
  // The position of a column in a row's values (the key is 0); throws
  // std::logic_error for a name the declaration does not hold.
  std::size_t index(std::string_view column) const;
  std::size_t width() const noexcept { return names_.size(); }
  bool has(std::string_view column) const { return at_.contains(column); }
  Moves moves() const noexcept { return moves_; }
  // Every column, the key first, with its type and what it holds of a person.
  std::vector<DeclaredColumn> declared() const;

 private:
  friend class Rows;
  std::string table_;
  Moves moves_;
  std::vector<std::string> names_;  // the key first
  std::vector<Mark> marks_;         // in names_ order
  std::vector<Type> types_;         // in names_ order
  std::unordered_map<std::string_view, std::size_t> at_;
  std::string load_sql_, stage_sql_;
  // Sealed columns are never read back: a projection holds no key and only
  // sets them. load() leaves them out (sealed_loaded_: their bits, by column
  // index), so a loaded row does not know them until an event sets them,
  // and its write must keep the unknown ones as the table holds them:
  // merge_update_[m] updates a loaded row, keeping the m-th subset of the
  // sealed columns a merge would update (bit j of m: the j-th of
  // sealed_update_at_) as they are; merge_insert_ writes rows that know
  // every column.
  std::uint32_t sealed_loaded_ = 0;
  std::vector<std::size_t> sealed_update_at_;
  std::string merge_insert_;
  std::vector<std::string> merge_update_;
};

// The columns of several declared tables, for Projection::declared_columns().
std::vector<DeclaredColumn> declared(std::initializer_list<const Spec*> specs);

using Value = std::optional<std::string>;

class Row {
 public:
  bool exists() const noexcept { return exists_; }
  std::int64_t version() const;
  // Throws std::logic_error for a sealed column of a loaded row: sealed
  // columns are set, never read (see Spec).
  const Value& get(std::string_view column) const;
  std::string text(std::string_view column) const { return get(column).value_or(""); }
  std::int64_t integer(std::string_view column) const;
  Row& set(std::string_view column, Value v);
  Row& set(std::string_view column, const char* v) { return set(column, Value(v)); }
  Row& set(std::string_view column, std::int64_t v) { return set(column, Value(std::to_string(v))); }
  Row& set(std::string_view column, bool v) { return set(column, Value(v ? "t" : "f")); }
  // The event at this stream version is folded in: the row exists and is
  // written with the rest.
  void applied(std::int64_t stream_version);

 private:
  friend class Rows;
  Row(const Spec& spec, std::string key);
  const Spec* spec_;
  std::vector<Value> values_;
  bool exists_ = false;
  bool dirty_ = false;
  bool stored_ = false;        // load() found it in the table
  std::uint32_t unknown_ = 0;  // the bits of sealed columns load() left out and no event set since
};

class Rows {
 public:
  explicit Rows(const Spec& spec) : spec_(spec) {}
  const Spec& spec() const noexcept { return spec_; }
  // Loads the rows with these keys (by_version tables; one query).
  void load(pqxx::transaction_base& tx, const std::vector<std::string>& keys);
  // The row of a key: as loaded, or a new one that does not exist yet.
  Row& row(const std::string& key);
  // A new row of a `once` table.
  Row& add(const std::string& key);
  // Writes every changed row. A row of a by_version table that load()
  // looked for and did not find is new: COPY puts it straight into the
  // table (the projection is the tables' only writer, fenced by partition,
  // and its transaction saw no such row). The rest go through a stage
  // table and one merge.
  void write(pqxx::transaction_base& tx);

 private:
  const Spec& spec_;
  std::unordered_map<std::string, Row> by_key_;
  std::unordered_set<std::string> looked_up_;  // every key load() was given
  std::vector<Row> added_;
};

}  // namespace lethe::projections::table
