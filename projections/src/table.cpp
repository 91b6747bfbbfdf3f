#include "table.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "lethe/infra/logging.hpp"
#include "lethe/infra/pg.hpp"

namespace lethe::projections::table {

namespace {

// libpqxx 6 writes COPY rows from tuples only (it escapes each value): a
// row of run-time width goes through the writer for its width.
constexpr std::size_t kMaxColumns = 24;
using Writer = void (*)(pqxx::stream_to&, const std::vector<Value>&);

template <std::size_t... I>
void write_values(pqxx::stream_to& copy, const std::vector<Value>& v, std::index_sequence<I...>) {
  copy << std::forward_as_tuple(v[I]...);
}

template <std::size_t N>
void write_width(pqxx::stream_to& copy, const std::vector<Value>& v) {
  write_values(copy, v, std::make_index_sequence<N>{});
}

template <std::size_t... N>
constexpr std::array<Writer, sizeof...(N)> writers(std::index_sequence<N...>) {
  return {&write_width<N + 1>...};
}

constexpr auto kWriters = writers(std::make_index_sequence<kMaxColumns>{});

// The names, comma separated, each written as `each` with every {} the name.
std::string joined(const std::vector<std::string>& names, std::string_view each = "{}") {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) out += ", ";
    for (std::size_t at = 0; at < each.size();) {
      const auto hole = each.find("{}", at);
      out += each.substr(at, hole - at);
      if (hole == std::string_view::npos) break;
      out += names[i];
      at = hole + 2;
    }
  }
  return out;
}

}  // namespace

Spec::Spec(std::string table, Column key, std::vector<Column> columns, Moves moves)
    : table_(std::move(table)), moves_(moves) {
  names_.push_back(std::move(key.name));
  marks_.push_back(key.mark);
  types_.push_back(key.type);
  for (auto& c : columns) {
    names_.push_back(std::move(c.name));
    marks_.push_back(c.mark);
    types_.push_back(c.type);
  }
  if (names_.size() > kMaxColumns) throw std::logic_error(table_ + ": more columns than a row writer takes");
  for (std::size_t i = 0; i < names_.size(); ++i)
    if (!at_.emplace(names_[i], i).second) throw std::logic_error(table_ + ": column " + names_[i] + " twice");
  const auto stage = table_ + "_stage";
  const auto list = joined(names_);
  // Every value travels as text and back: PostgreSQL parses it into the
  // column's type (the declared one, checked at start).
  // Sealed columns are not read back (NULL in their place; see the header).
  std::vector<std::string> loaded;
  for (std::size_t i = 0; i < names_.size(); ++i)
    loaded.push_back(marks_[i] == Mark::sealed ? "NULL" : names_[i] + "::text");
  load_sql_ = "SELECT " + joined(loaded) + " FROM " + table_ + " WHERE " + names_[0] + " = ANY($1::text[])";
  stage_sql_ = "CREATE TEMP TABLE IF NOT EXISTS " + stage + " ON COMMIT DELETE ROWS AS SELECT " + list + " FROM " +
               table_ + " WITH NO DATA";
  const auto insert = "INSERT INTO " + table_ + " (" + list + ") SELECT " + list + " FROM " + stage;
  if (moves_ == Moves::once) {
    merge_insert_ = insert + " ON CONFLICT DO NOTHING";
    return;
  }
  if (!at_.contains("version"))
    throw std::logic_error(table_ + ": a table whose rows move by version needs a version column");
  std::vector<std::string> updated;
  for (std::size_t i = 1; i < names_.size(); ++i)
    if (columns[i - 1].on_update) updated.push_back(names_[i]);
  for (std::size_t i = 1; i < names_.size(); ++i) {
    if (marks_[i] != Mark::sealed) continue;
    sealed_loaded_ |= std::uint32_t{1} << i;
    if (columns[i - 1].on_update) sealed_update_at_.push_back(i);
  }
  if (sealed_update_at_.size() > 6) throw std::logic_error(table_ + ": more updated sealed columns than merges made");
  // A row only moves forward: a stale or repeated version never overwrites,
  // and an update sets only what events change.
  merge_insert_ = insert + " ON CONFLICT (" + names_[0] + ") DO UPDATE SET " + joined(updated, "{} = EXCLUDED.{}") +
                  " WHERE " + table_ + ".version < EXCLUDED.version";
  // A loaded row that does not know a sealed column exists (it was loaded):
  // it is updated, setting only the sealed columns it knows (an insert would
  // first have to pass the NULL in place of the others). Its keys ($1) let
  // the update find the rows by index, whatever the stage's size.
  for (std::uint32_t keep = 0; keep < (std::uint32_t{1} << sealed_update_at_.size()); ++keep) {
    std::vector<std::string> set;
    for (const auto& name : updated) {
      const auto at = at_.at(name);
      const auto j = std::find(sealed_update_at_.begin(), sealed_update_at_.end(), at) - sealed_update_at_.begin();
      if (marks_[at] != Mark::sealed || (keep & (std::uint32_t{1} << j)) == 0) set.push_back(name);
    }
    merge_update_.push_back("UPDATE " + table_ + " AS t SET " + joined(set, "{} = s.{}") + " FROM " + stage +
                            " AS s WHERE t." + names_[0] + " = ANY($1::text[]) AND t." + names_[0] + " = s." +
                            names_[0] + " AND t.version < s.version");
  }
}

std::size_t Spec::index(std::string_view column) const {
  const auto it = at_.find(column);
  if (it == at_.end()) throw std::logic_error(table_ + " declares no column " + std::string(column));
  return it->second;
}

Row::Row(const Spec& spec, std::string key) : spec_(&spec), values_(spec.width()) {
  values_[0] = std::move(key);
}

std::vector<DeclaredColumn> Spec::declared() const {
  static constexpr std::string_view kComment[] = {"", "lethe:person", "lethe:person-kept", "lethe:personal",
                                                  "lethe:sealed"};
  std::vector<DeclaredColumn> out;
  for (std::size_t i = 0; i < names_.size(); ++i)
    out.push_back({table_, names_[i], kComment[static_cast<std::size_t>(marks_[i])], type_name(types_[i])});
  return out;
}

std::string_view type_name(Type type) noexcept {
  switch (type) {
    case Type::text:
      return "text";
    case Type::text_array:
      return "text[]";
    case Type::bigint:
      return "bigint";
    case Type::integer:
      return "integer";
    case Type::boolean:
      return "boolean";
    case Type::timestamptz:
      return "timestamp with time zone";
    case Type::uuid:
      return "uuid";
    case Type::json:
      return "json";
    case Type::jsonb:
      return "jsonb";
    case Type::bytea:
      return "bytea";
  }
  return "";
}

std::vector<DeclaredColumn> declared(std::initializer_list<const Spec*> specs) {
  std::vector<DeclaredColumn> out;
  for (const auto* s : specs) {
    auto more = s->declared();
    out.insert(out.end(), more.begin(), more.end());
  }
  return out;
}

const Value& Row::get(std::string_view column) const {
  const auto at = spec_->index(column);
  if ((unknown_ >> at) & 1U)
    throw std::logic_error(spec_->name() + "." + std::string(column) +
                           " is sealed: a projection sets it, never reads it");
  return values_[at];
}

std::int64_t Row::version() const {
  return integer("version");
}

std::int64_t Row::integer(std::string_view column) const {
  const auto& v = get(column);
  if (!v) return 0;
  std::int64_t out = 0;
  std::from_chars(v->data(), v->data() + v->size(), out);
  return out;
}

Row& Row::set(std::string_view column, Value v) {
  const auto at = spec_->index(column);
  values_[at] = std::move(v);
  unknown_ &= ~(std::uint32_t{1} << at);
  return *this;
}

void Row::applied(std::int64_t stream_version) {
  set("version", stream_version);
  exists_ = dirty_ = true;
}

void Rows::load(pqxx::transaction_base& tx, const std::vector<std::string>& keys) {
  if (keys.empty()) return;
  const infra::Timed timed(pipeline_seconds().load);
  looked_up_.insert(keys.begin(), keys.end());
  for (const auto& r : infra::exec_hot(tx, spec_.load_sql_.c_str(), infra::pg_text_array(keys))) {
    Row row(spec_, r[0].c_str());
    for (std::size_t i = 1; i < spec_.width(); ++i)
      if (!r[static_cast<int>(i)].is_null()) row.values_[i] = r[static_cast<int>(i)].c_str();
    row.exists_ = row.stored_ = true;
    row.unknown_ = spec_.sealed_loaded_;
    by_key_.insert_or_assign(row.values_[0].value(), std::move(row));
  }
}

Row& Rows::row(const std::string& key) {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) it = by_key_.emplace(key, Row(spec_, key)).first;
  return it->second;
}

Row& Rows::add(const std::string& key) {
  auto& row = added_.emplace_back(Row(spec_, key));
  row.exists_ = row.dirty_ = true;
  return row;
}

void Rows::write(pqxx::transaction_base& tx) {
  const infra::Timed timed(pipeline_seconds().write);
  const auto write = kWriters[spec_.width() - 1];
  std::vector<const Row*> direct, staged;
  for (const auto& [key, row] : by_key_) {
    if (!row.dirty_) continue;
    const bool fresh = spec_.moves_ == Moves::by_version && !row.stored_ && looked_up_.contains(key);
    (fresh ? direct : staged).push_back(&row);
  }
  for (const auto& row : added_) staged.push_back(&row);
  if (!direct.empty()) {
    pqxx::stream_to copy(tx, spec_.table_, spec_.names_);
    for (const auto* row : direct) write(copy, row->values_);
    copy.complete();
  }
  if (staged.empty()) return;
  tx.exec(spec_.stage_sql_);
  // One stage and merge per set of sealed columns the rows do not know (a
  // rename knows the name, not the email): usually one, at most a few.
  std::map<std::uint32_t, std::vector<const Row*>> by_unknown;
  for (const auto* row : staged) by_unknown[row->unknown_].push_back(row);
  bool first = true;
  for (const auto& [unknown, rows] : by_unknown) {
    if (!first) tx.exec("DELETE FROM " + spec_.table_ + "_stage");
    first = false;
    {
      pqxx::stream_to copy(tx, spec_.table_ + "_stage");
      for (const auto* row : rows) write(copy, row->values_);
      copy.complete();
    }
    if (unknown == 0) {
      infra::exec_hot(tx, spec_.merge_insert_.c_str());
      continue;
    }
    std::uint32_t keep = 0;
    for (std::size_t j = 0; j < spec_.sealed_update_at_.size(); ++j)
      if ((unknown >> spec_.sealed_update_at_[j]) & 1U) keep |= std::uint32_t{1} << j;
    std::vector<std::string> keys;
    keys.reserve(rows.size());
    for (const auto* row : rows) keys.push_back(*row->values_[0]);
    infra::exec_hot(tx, spec_.merge_update_[keep].c_str(), infra::pg_text_array(keys));
  }
}

}  // namespace lethe::projections::table

namespace lethe::projections {

std::atomic<bool> negative_control_reapply{false};
std::atomic<const char*> negative_control_skip_rule{nullptr};
std::atomic<bool> negative_control_ignore_gaps{false};

PipelineSeconds& pipeline_seconds() {
  thread_local PipelineSeconds spent;
  return spent;
}

}  // namespace lethe::projections
