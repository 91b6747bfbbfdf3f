#include "lethe/consumers/gdpr_verify.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lethe/infra/errors.hpp"
#include "lethe/infra/kafka.hpp"
#include "lethe/infra/logging.hpp"
#include "lethe/infra/pg.hpp"

namespace lethe::consumers {

namespace {

// The comment that marks a column holding a person's id, which must be gone
// after their erasure. `lethe:person-kept` marks one that keeps it by design
// (audit actor, the anonymized user row's key, receipts): not checked.
constexpr std::string_view kPersonComment = "lethe:person";

// Findings shown per column and per topic; the rest are counted, so that a
// huge table or topic does not flood the output.
constexpr std::int64_t kShown = 20;

// The schema that unqualified names resolve to: the first of the
// search_path that exists, where `lethe migrate` creates the tables (tests
// run in a schema of their own).
constexpr const char* kSchemaSql = "SELECT current_schema()";

// The schema, and the schemas of its read models' other versions (a
// rebuild in progress, a version kept after a cut-over: consumers/
// versions.hpp), which must forget as the live tables do.
#define LETHE_VERSION_SCHEMAS                                                                             \
  "(n.nspname = current_schema() OR starts_with(n.nspname, current_schema() || '_next_') OR starts_with(" \
  "n.nspname, current_schema() || '_prev_'))"

// Every column of these schemas' ordinary tables: its comment, and whether it
// holds text that may contain an email or a name (text, varchar, char, json,
// jsonb, or a domain over one). Partitioned parents are left out: each
// partition is a table of its own and is searched as one.
constexpr const char* kColumnsSql =
    "SELECT n.nspname, c.relname, a.attname, coalesce(col_description(c.oid, a.attnum), ''),"
    " coalesce(nullif(t.typbasetype, 0), t.oid)::regtype = ANY ('{text,varchar,bpchar,json,jsonb}'::regtype[])"
    " FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
    " JOIN pg_type t ON t.oid = a.atttypid"
    " WHERE " LETHE_VERSION_SCHEMAS
    " AND c.relkind = 'r'"
    " ORDER BY n.nspname, c.relname, a.attnum";

// The primary key columns of the schema's tables, in key order.
constexpr const char* kPrimaryKeysSql =
    "SELECT n.nspname, c.relname, a.attname FROM pg_index i"
    " JOIN pg_class c ON c.oid = i.indrelid"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)"
    " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum"
    " WHERE " LETHE_VERSION_SCHEMAS
    " AND i.indisprimary"
    " ORDER BY n.nspname, c.relname, k.ord";
#undef LETHE_VERSION_SCHEMAS

// Searches of one column. The statements must name the table and the
// column, which no parameter can do: {0} is the row's name (its primary key
// as text, or its ctid), {1} the table and {2} the column, all quoted
// identifiers from the catalog. Every value sought is a parameter.
constexpr const char* kPersonIdSql =
    "SELECT {0}, count(*) OVER () FROM {1} AS t WHERE lower(t.{2}::text) = lower($1::text) LIMIT $2";
// Both texts at once, so the column is read once. A NULL parameter (not
// sought) matches nothing. The counts are of every match, past the LIMIT.
constexpr const char* kEmailAndNameSql =
    "SELECT {0}, coalesce(m.email, false), coalesce(m.name, false),"
    " count(*) FILTER (WHERE m.email) OVER (), count(*) FILTER (WHERE m.name) OVER ()"
    " FROM {1} AS t, LATERAL (SELECT lower(t.{2}::text) AS v) AS x,"
    " LATERAL (SELECT strpos(x.v, lower($1::text)) > 0 AS email, strpos(x.v, lower($2::text)) > 0 AS name) AS m"
    " WHERE m.email OR m.name LIMIT $3";

struct Column {
  std::string name;
  bool person_id = false;  // commented lethe:person
  bool text = false;       // may hold an email or a name
};

struct Table {
  std::string schema, relation;
  std::string name;              // as findings name it: "users", or "<schema>.users" for another version's
  std::vector<std::string> key;  // primary key columns; empty: rows are named by ctid
  std::vector<Column> columns;
};

bool any_text(const Sought& s) {
  return !s.email.empty() || !s.name.empty();
}

// The findings so far, into the report: shown ones one line each.
class Findings {
 public:
  explicit Findings(GdprReport& report) : report_(report) {}
  void show(const std::string& line) {
    report_.lines.push_back(line);
    ++report_.findings;
  }
  // Findings beyond those shown: one line says how many.
  void count_more(const std::string& where, std::int64_t n, const std::string& what) {
    if (n <= 0) return;
    report_.lines.push_back(where + ": " + std::to_string(n) + " more " + what);
    report_.findings += n;
  }

 private:
  GdprReport& report_;
};

char fold(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// A text sought in raw bytes, ASCII letters in either case. Other bytes
// (the rest of UTF-8) must match exactly: Kafka holds bytes, not text of a
// known encoding, so a fuller case folding would be a guess.
class Needle {
 public:
  Needle(std::string label, std::string_view text) : label_(std::move(label)), folded_(text) {
    std::transform(folded_.begin(), folded_.end(), folded_.begin(), fold);
  }
  const std::string& label() const { return label_; }  // "the email": what may be printed instead of the text
  std::size_t size() const noexcept { return folded_.size(); }
  bool found_in(std::string_view bytes) const {
    return std::search(bytes.begin(), bytes.end(), folded_.begin(), folded_.end(),
                       [](char a, char b) { return fold(a) == b; }) != bytes.end();
  }

 private:
  std::string label_, folded_;
};

std::vector<Needle> needles_of(const Sought& sought) {
  std::vector<Needle> needles;
  if (!sought.email.empty()) needles.emplace_back("the email", sought.email);
  if (!sought.name.empty()) needles.emplace_back("the name", sought.name);
  return needles;
}

// ---- PostgreSQL ------------------------------------------------------------

std::vector<Table> load_tables(pqxx::transaction_base& tx, const std::string& current) {
  std::vector<Table> tables;
  const auto name_of = [&](const pqxx::row& r) {
    const std::string schema = r[0].c_str(), table = r[1].c_str();
    return schema == current ? table : schema + "." + table;
  };
  for (const auto& r : tx.exec(kColumnsSql)) {
    if (tables.empty() || tables.back().name != name_of(r))
      tables.push_back({r[0].c_str(), r[1].c_str(), name_of(r), {}, {}});
    tables.back().columns.push_back({r[2].c_str(), r[3].c_str() == kPersonComment, r[4].as<bool>()});
  }
  std::map<std::string, std::vector<std::string>> keys;
  for (const auto& r : tx.exec(kPrimaryKeysSql)) keys[name_of(r)].push_back(r[2].c_str());
  for (auto& t : tables) t.key = keys[t.name];
  return tables;
}

// Searches one table's columns, findings in column order.
class TableSearch {
 public:
  TableSearch(pqxx::transaction_base& tx, const Table& table, const Sought& sought, const std::vector<Needle>& needles,
              Findings& findings)
      : tx_(tx), table_(table), sought_(sought), needles_(needles), findings_(findings) {
    table_sql_ = tx.quote_name(table.schema) + "." + tx.quote_name(table.relation);
    if (table.key.empty()) {
      row_id_ = "t.ctid::text";
    } else {
      for (const auto& k : table.key) row_id_ += (row_id_.empty() ? "t." : ", t.") + tx.quote_name(k) + "::text";
    }
  }

  void run() {
    for (const auto& c : table_.columns) {
      if (c.person_id) person_id(c);
      if (c.text && any_text(sought_)) email_and_name(c);
    }
  }

 private:
  std::size_t row_id_columns() const { return table_.key.empty() ? 1 : table_.key.size(); }

  std::string where(const Column& c) const { return "table " + table_.name + "." + c.name; }

  // "ticket_id=..., n=..." or "ctid=(0,1)". A key value that holds the email
  // or the name (a table keyed by email) is withheld, and so is the column
  // that was found to hold one, if it is part of the key.
  std::string row_name(const pqxx::row& r, const std::string& withheld_column = "") const {
    std::string out;
    for (std::size_t i = 0; i < row_id_columns(); ++i) {
      const std::string column = table_.key.empty() ? "ctid" : table_.key[i];
      std::string value = r[static_cast<int>(i)].c_str();
      const bool holds =
          std::any_of(needles_.begin(), needles_.end(), [&](const Needle& n) { return n.found_in(value); });
      if (holds || column == withheld_column) value = "(withheld)";
      out += (out.empty() ? "" : ", ") + column + "=" + value;
    }
    return out;
  }

  void person_id(const Column& c) {
    const auto sql = fmt::format(kPersonIdSql, row_id_, table_sql_, tx_.quote_name(c.name));
    const auto rows = tx_.exec_params(sql, sought_.user_id, kShown);
    for (const auto& r : rows) findings_.show(where(c) + ": row " + row_name(r) + " holds the person's id");
    if (rows.empty()) return;
    const auto total = rows[0][static_cast<int>(row_id_columns())].as<std::int64_t>();
    findings_.count_more(where(c), total - static_cast<std::int64_t>(rows.size()), "rows hold the person's id");
  }

  void email_and_name(const Column& c) {
    const auto sql = fmt::format(kEmailAndNameSql, row_id_, table_sql_, tx_.quote_name(c.name));
    const auto rows = tx_.exec_params(sql, null_if_empty(sought_.email), null_if_empty(sought_.name), kShown);
    const int at = static_cast<int>(row_id_columns());
    std::int64_t emails = 0, names = 0;
    for (const auto& r : rows) {
      const bool email = r[at].as<bool>(), name = r[at + 1].as<bool>();
      if (email) findings_.show(where(c) + ": row " + row_name(r, c.name) + " holds the email");
      if (name) findings_.show(where(c) + ": row " + row_name(r, c.name) + " holds the name");
      emails += email;
      names += name;
    }
    if (rows.empty()) return;
    findings_.count_more(where(c), rows[0][at + 2].as<std::int64_t>() - emails, "rows hold the email");
    findings_.count_more(where(c), rows[0][at + 3].as<std::int64_t>() - names, "rows hold the name");
  }

  // NULL for a text not sought.
  static const char* null_if_empty(const std::string& s) { return s.empty() ? nullptr : s.c_str(); }

  pqxx::transaction_base& tx_;
  const Table& table_;
  const Sought& sought_;
  const std::vector<Needle>& needles_;
  Findings& findings_;
  std::string table_sql_, row_id_;
};

// Returns the number of tables searched.
std::size_t search_tables(const infra::Config& cfg, const Sought& sought, const std::vector<Needle>& needles,
                          Findings& findings) {
  auto conn = infra::connect(cfg.pg, "lethe-gdpr-verify");
  return infra::translate_pg("gdpr verify", [&] {
    // One snapshot: every table as of the same moment.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(*conn);
    const auto current = tx.exec(kSchemaSql);
    if (current[0][0].is_null()) throw infra::Misconfigured("gdpr verify: no schema of the search_path exists");
    const std::string schema = current[0][0].c_str();
    const auto tables = load_tables(tx, schema);
    infra::Throttled progress;
    for (std::size_t i = 0; i < tables.size(); ++i) {
      if (progress.due()) spdlog::info("gdpr verify: table {} ({} of {})", tables[i].name, i + 1, tables.size());
      TableSearch(tx, tables[i], sought, needles, findings).run();
    }
    return tables.size();
  });
}

// ---- Kafka -----------------------------------------------------------------

// Calls fn(part, bytes) for each part of a message that may hold personal
// data: its key, its value, and each header's value. The bytes live only
// during the call (header values are copies that get_all() returns).
template <class Fn>
void for_each_part(RdKafka::Message& m, Fn&& fn) {
  if (m.key_pointer()) fn("key", std::string_view(static_cast<const char*>(m.key_pointer()), m.key_len()));
  if (m.payload()) fn("value", std::string_view(static_cast<const char*>(m.payload()), m.len()));
  if (auto* headers = m.headers()) {
    for (const auto& h : headers->get_all())
      if (h.value()) fn("header " + h.key(), std::string_view(static_cast<const char*>(h.value()), h.value_size()));
  }
}

void search_topic(RdKafka::KafkaConsumer& consumer, const std::string& topic, const std::vector<Needle>& needles,
                  Findings& findings, GdprReport& tally) {
  std::int64_t read = 0, shown = 0, unshown = 0;
  infra::Throttled progress;
  infra::read_to_end(consumer, {topic}, [&](RdKafka::Message& m) {
    for_each_part(m, [&](const std::string& part, std::string_view bytes) {
      for (const auto& n : needles) {
        if (!n.found_in(bytes)) continue;
        if (shown++ < kShown)
          findings.show("topic " + topic + "/" + std::to_string(m.partition()) + "@" + std::to_string(m.offset()) +
                        ": " + part + " holds " + n.label() + " in clear");
        else
          ++unshown;
      }
    });
    ++read;
    if (progress.due()) spdlog::info("gdpr verify: topic {}: {} messages read", topic, read);
  });
  findings.count_more("topic " + topic, unshown, "findings in messages");
  ++tally.topics;
  tally.messages += read;
}

// Every topic under the prefix, the dead letters included, read raw from its
// earliest offset to its end as of the start.
void search_topics(const infra::Config& cfg, const std::vector<Needle>& needles, Findings& findings,
                   GdprReport& tally) {
  tally.topics_read = true;
  auto consumer = infra::raw_reader(cfg.brokers, "gdpr-verify");
  const auto topics = infra::topics_with_prefix(*consumer, cfg.topic_prefix);
  if (topics.empty()) spdlog::warn("gdpr verify: no topic's name starts with {}", cfg.topic_prefix);
  for (const auto& topic : topics) search_topic(*consumer, topic, needles, findings, tally);
  consumer->close();
}

// ---- Files -----------------------------------------------------------------

// Searches every regular file under root (or root itself), in chunks that
// overlap by the longest needle, so a text across two chunks is found.
void search_files(const std::filesystem::path& root, const std::string& what, const std::vector<Needle>& needles,
                  Findings& findings, GdprReport& tally) {
  namespace fs = std::filesystem;
  constexpr std::size_t kChunk = 4 << 20;
  std::size_t overlap = 0;
  for (const auto& n : needles) overlap = std::max(overlap, n.size());
  std::int64_t shown = 0, unshown = 0;
  infra::Throttled progress;
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_regular_file(root, ec)) {
    files.push_back(root);
  } else {
    // Links to folders are followed: pg_wal and the tablespaces under
    // pg_tblspc are links when they live elsewhere.
    for (fs::recursive_directory_iterator it(root, fs::directory_options::follow_directory_symlink, ec), end;
         !ec && it != end; it.increment(ec))
      if (it->is_regular_file(ec)) files.push_back(it->path());
  }
  // A folder that cannot be read proves nothing: an error, not "not found".
  if (ec) throw infra::Misconfigured("gdpr verify: cannot read " + root.string() + ": " + ec.message());
  std::string buf;
  std::vector<std::string> unreadable;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      // Gone meanwhile (a WAL segment recycled, a temporary file) is fine;
      // there and unreadable is not.
      if (fs::exists(file, ec)) unreadable.push_back(file.string());
      continue;
    }
    buf.clear();
    std::vector<bool> found(needles.size(), false);
    for (;;) {
      const auto kept = buf.size() > overlap ? overlap : buf.size();
      buf.erase(0, buf.size() - kept);
      const auto before = buf.size();
      buf.resize(before + kChunk);
      in.read(buf.data() + before, static_cast<std::streamsize>(kChunk));
      buf.resize(before + static_cast<std::size_t>(in.gcount()));
      tally.file_bytes += in.gcount();
      for (std::size_t i = 0; i < needles.size(); ++i) found[i] = found[i] || needles[i].found_in(buf);
      if (in.gcount() == 0 || !in) break;
    }
    ++tally.files;
    for (std::size_t i = 0; i < needles.size(); ++i) {
      if (!found[i]) continue;
      if (shown++ < kShown)
        findings.show("file " + file.string() + " (" + what + "): holds " + needles[i].label() + " in clear");
      else
        ++unshown;
    }
    if (progress.due())
      spdlog::info("gdpr verify: {}: {} files, {} MiB read", what, tally.files, tally.file_bytes >> 20);
  }
  findings.count_more(what, unshown, "files hold it");
  if (!unreadable.empty())
    throw infra::Misconfigured("gdpr verify: " + std::to_string(unreadable.size()) + " files of " + what +
                               " cannot be read (first: " + unreadable.front() + "): nothing is proven");
}

// The data directory: the one given, or the server's own (a superuser may
// ask) when this process can read it. A CHECKPOINT first writes out what
// shared buffers hold, so the heap files show what the tables hold.
void search_pg_data(const infra::Config& cfg, const Sought& sought, const std::vector<Needle>& needles,
                    Findings& findings, GdprReport& tally) {
  namespace fs = std::filesystem;
  if (sought.pg_data == "-") return;
  std::string dir = sought.pg_data;
  auto conn = infra::connect(cfg.pg, "lethe-gdpr-verify");
  try {
    pqxx::nontransaction nt(*conn);
    nt.exec("CHECKPOINT");
    if (dir.empty()) dir = nt.exec("SELECT current_setting('data_directory')")[0][0].c_str();
  } catch (const pqxx::sql_error& e) {
    if (dir.empty()) {
      spdlog::warn("gdpr verify: PostgreSQL's data directory not searched: {} (give --pg-data DIR)", e.what());
      return;
    }
    spdlog::warn("gdpr verify: no CHECKPOINT ({}): the heap files may lag what the tables hold", e.what());
  }
  std::error_code ec;
  if (sought.pg_data.empty() && !fs::exists(fs::path(dir) / "PG_VERSION", ec)) {
    spdlog::warn("gdpr verify: PostgreSQL's data directory {} is not readable here (another host?); give --pg-data",
                 dir);
    return;
  }
  tally.pg_data = dir;
  search_files(dir, "PostgreSQL data directory", needles, findings, tally);
}

}  // namespace

GdprReport gdpr_verify(const infra::Config& cfg, const Sought& sought) {
  GdprReport report;
  Findings findings(report);
  const auto needles = needles_of(sought);
  report.tables = search_tables(cfg, sought, needles, findings);
  // On the topics only the email and the name are sought: the id is there
  // by design (stream keys), and the event payloads seal the rest.
  if (needles.empty()) {
    spdlog::warn("gdpr verify: topics and files not read: neither --email nor --name given");
    return report;
  }
  search_topics(cfg, needles, findings, report);
  search_pg_data(cfg, sought, needles, findings, report);
  for (const auto& path : sought.logs) search_files(path, "log " + path, needles, findings, report);
  return report;
}

}  // namespace lethe::consumers
