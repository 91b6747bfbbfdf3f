// scripts/bench: throughput of the relay and the projection, each beside a
// baseline measured in the same run on the same machine (only ratios hold on
// a noisy machine):
//   relay       vs  producing the same messages straight from memory (Kafka's limit here)
//   projection  vs  one transaction per event (the naive path), as many events
//               vs  COPY of the rows it left in its tables (PostgreSQL's limit here)
//   replay      every projection at once over every domain's events, some
//               people erased: vs the same log's first pass, COPY of the rows
//               every projection left, users alone
// Each projection row checks itself: by lethe project's own count every
// event applied once and none dead-lettered, the dead-letter topic empty,
// and the same rows from the sealed events as from the clear ones.
// and the HTTP rows of api_bench.cpp (commands, visibility, erasure latency).
#include <fmt/format.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>

#include "api_bench.hpp"
#include "billing.hpp"
#include "content.hpp"
#include "email.hpp"
#include "erasure_service.hpp"
#include "files.hpp"
#include "lethe/consumers/runner.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/infra/kafka.hpp"
#include "lethe/infra/keyring.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/producers/relay.hpp"
#include "lethe/producers/topics.hpp"
#include "lethe/projections/projection.hpp"
#include "loads.hpp"
#include "measure.hpp"
#include "peers_bench.hpp"
#include "shop.hpp"
#include "support/events.hpp"
#include "support/fixtures.hpp"
#include "support/scenario.hpp"
#include "tickets.hpp"

using namespace lethe;
using bench::bulk_load;
using bench::Clock;
using bench::cpu_seconds;
using bench::last_position;
using bench::padded_name;
using bench::peak_rss_kib;
using bench::queue_loaded;
using bench::seal_under;
using bench::seconds_since;

namespace {

// One event row as EventStore::append writes it (hash chain included), for COPY.
void copy_event(pqxx::stream_to& copy, const std::string& stream, std::int64_t version, const producers::NewEvent& ne,
                std::string& prev) {
  domain::Envelope e{ne.event_id, ne.type,           ne.schema_version, stream,     version, 0, ne.occurred_at,
                     ne.actor,    ne.correlation_id, ne.causation_id,   ne.payload, prev,    ""};
  e.hash = domain::chain_hash(e);
  prev = e.hash;
  copy << std::make_tuple(e.event_id, e.stream_id, e.stream_version, e.type, e.schema_version, e.occurred_at, e.actor,
                          e.correlation_id, e.causation_id, e.payload, e.prev_hash, e.hash);
}

// A stream's event at a version (1 or 2), for the projection rows.
using MakeEvent = std::function<std::pair<std::string, producers::NewEvent>(std::int64_t unit, int version)>;

// Loads `events` events with COPY into the store and the outbox of `topic`:
// streams of `per_stream` events each, made by `make`, interleaved so that a
// batch rarely holds two events of one stream.
// sealed: every personal field (free text included) sealed as the write
// path does, under one bench key (the projections keep sealed values as they
// are and never open them); false: in clear, the plaintext baseline.
void bulk_load_streams(const test::TestSchema& db, std::int64_t events, const std::string& topic, const MakeEvent& make,
                       int per_stream, bool sealed = true) {
  std::array<unsigned char, domain::kPersonKeyBytes> key{};
  infra::random_bytes(key.data(), key.size());
  const std::int64_t streams = events / per_stream;
  auto conn = infra::connect(db.conninfo());
  pqxx::work tx(*conn);
  const auto after = last_position(tx);
  std::vector<std::string> prev(static_cast<std::size_t>(streams));
  {
    pqxx::stream_to copy(
        tx, "events",
        std::vector<std::string>{"event_id", "stream_id", "stream_version", "type", "schema_version", "occurred_at",
                                 "actor", "correlation_id", "causation_id", "payload", "prev_hash", "hash"});
    for (int version = 1; version <= per_stream; ++version)
      for (std::int64_t i = 0; i < streams; ++i) {
        auto [stream, ne] = make(i, version);
        if (sealed) seal_under(ne, key.data());
        copy_event(copy, stream, version, ne, prev[static_cast<std::size_t>(i)]);
      }
    copy.complete();
  }
  queue_loaded(tx, topic, after);
  tx.commit();
}

// Each projection but users (its own rows above): the events it is fed.
// The people they name are `person` + a number (bulk_load's users are "b").
struct ProjectionLoad {
  std::string projection, topic;
  MakeEvent make;
  int per_stream = 2;
};
std::vector<ProjectionLoad> projection_loads(const std::string& u = "u") {
  namespace sh = domain::shop;
  namespace tk = domain::tickets;
  namespace bi = domain::billing;
  namespace co = domain::content;
  namespace fi = domain::files;
  namespace em = domain::email;
  auto ev = [](const std::string& stream, const auto& e) {
    return std::pair{stream, test::new_domain_event(e, "bench")};
  };
  return {
      {"shop", "shop",
       [=](std::int64_t i, int v) {  // products (created, stock) and carts (opened, a line)
         const auto n = std::to_string(i / 2);
         if (i % 2 == 0)
           return v == 1 ? ev("product-p" + n,
                              sh::Event{sh::ProductCreated{"p" + n, "Tee", 1500, "EUR", "cat", true, "bench"}})
                         : ev("product-p" + n, sh::Event{sh::InventoryAdjusted{"p" + n, 100, "delivery", 100}});
         return v == 1 ? ev("cart-c" + n, sh::Event{sh::CartOpened{"c" + n, u + n}})
                       : ev("cart-c" + n,
                            sh::Event{sh::CartLineAdded{"c" + n, "l1", "p" + n, 2,
                                                        domain::Json{R"({"color":"red","size":"M"})"}, u + n}});
       }},
      {"tickets", "tickets",
       [=](std::int64_t i, int v) {
         const auto n = std::to_string(i);
         return v == 1
                    ? ev("ticket-t" + n, tk::Event{tk::TicketOpened{"t" + n, u + n, "Printer", "It smokes.", "normal"}})
                    : ev("ticket-t" + n, tk::Event{tk::TicketCommented{"t" + n, "k" + n, "s1", "Unplug it.", u + n}});
       }},
      {"billing", "billing",
       [=](std::int64_t i, int v) {
         const auto n = std::to_string(i);
         return v == 1 ? ev("transaction-x" + n, bi::Event{bi::ChargeRecorded{"x" + n, u + n, 4800, "EUR", "Order"}})
                       : ev("transaction-x" + n,
                            bi::Event{bi::RefundRecorded{"x" + n, u + n, "r" + n, 1600, "EUR", "returned"}});
       }},
      {"content", "content",
       [=](std::int64_t i, int v) {
         const auto n = std::to_string(i);
         return v == 1 ? ev("post-o" + n, co::Event{co::PostPublished{"o" + n, u + n, "Hello", "First post"}})
                       : ev("post-o" + n, co::Event{co::PostEdited{"o" + n, u + n, "Hello!", "First post, edited"}});
       }},
      {"files", "files",
       [=](std::int64_t i, int v) {
         const auto n = std::to_string(i);
         return v == 1 ? ev("file-f" + n, fi::Event{fi::FileRecorded{"f" + n, u + n, "cv.pdf", 1234, "application/pdf",
                                                                     "sha256:" + std::string(64, 'a')}})
                       : ev("file-f" + n, fi::Event{fi::FileDeleted{"f" + n, u + n}});
       }},
      {"email", "email",
       [=](std::int64_t i, int) {  // one event per stream; the subject sealed, as the write path seals it
         const auto n = std::to_string(i);
         return ev("email-m" + n,
                   em::Event{em::EmailSentLogged{"m" + n, u + n, "receipt", "Your receipt", "2026-11-25T08:00:00Z"}});
       },
       1},
      {"audit", "tickets",
       [=](std::int64_t i, int v) {  // staff actions: a ticket assigned, then reassigned
         const auto n = std::to_string(i);
         return ev("ticket-a" + n, tk::Event{tk::TicketAssigned{"a" + n, v == 1 ? "s1" : "s2", v == 1 ? "" : "s1"}});
       }},
  };
}

using Did = test::ProjectDid;

struct Run {
  double seconds;
  long rss_mib;
  double cpu_seconds;                                 // user + system time of the lethe process itself
  std::map<std::string, Did> did = {};                // lethe project's own count, per projection
  std::vector<std::int64_t> applied_by_process = {};  // with several processes, each one's events applied
};

// Runs the lethe binary as an operator would, timing the whole process
// (start-up and, for projections, the group join included) and sampling its
// peak RSS until it exits.
// The log level of the lethe processes the bench runs (--lethe-log-level;
// info shows each projection's stop line: where its time went).
std::string& lethe_log_level() {
  static std::string level = "warn";
  return level;
}

// With processes > 1, that many run at once as members of one group
// (--instance 0, 1, ...), started together: the time is until the last
// exits, peak RSS and CPU are their sums, and the counts add up.
Run run_lethe_env(const std::map<std::string, std::string>& env, std::vector<std::string> args, int processes = 1) {
  args.insert(args.begin(), {"--log-level", lethe_log_level()});
  struct Member {
    std::filesystem::path out;
    std::unique_ptr<test::Process> process;
    long rss_kib = 0;
    double cpu = 0;
    int rc = 0;
    bool done = false;
  };
  std::vector<Member> members(static_cast<std::size_t>(processes));
  const auto t0 = Clock::now();
  for (int i = 0; i < processes; ++i) {
    auto& m = members[static_cast<std::size_t>(i)];
    m.out = std::filesystem::temp_directory_path() / ("lethe-bench-" + test::random_suffix());
    auto own = args;
    if (processes > 1) own.insert(own.end(), {"--instance", std::to_string(i)});
    m.process = std::make_unique<test::Process>(test::Program{test::lethe_bin(), m.out.string()}, own, env);
  }
  for (std::size_t left = members.size(); left > 0;) {
    for (auto& m : members) {
      if (m.done) continue;
      m.rss_kib = std::max(m.rss_kib, peak_rss_kib(m.process->pid()));
      m.cpu = std::max(m.cpu, cpu_seconds(m.process->pid()));
      if (m.process->wait_for(std::chrono::milliseconds(50 / processes), &m.rc)) {
        m.done = true;
        --left;
      }
    }
  }
  Run run{seconds_since(t0), 0, 0};
  int failed = 0;
  for (auto& m : members) {
    run.rss_mib += m.rss_kib / 1024;
    run.cpu_seconds += m.cpu;
    std::ifstream printed(m.out);
    run.applied_by_process.push_back(0);
    for (const auto& [name, did] : test::project_summaries(printed)) {
      run.applied_by_process.back() += did.applied;
      auto& sum = run.did[name];
      sum.applied += did.applied;
      sum.skipped += did.skipped;
      sum.dead_lettered += did.dead_lettered;
    }
    std::filesystem::remove(m.out);
    if (m.rc != 0) failed = m.rc;
  }
  if (failed != 0) throw std::runtime_error("lethe exited with " + std::to_string(failed));
  return run;
}

Run run_lethe(const test::TestSchema& db, const test::TestTopics& topics, std::vector<std::string> args,
              int processes = 1) {
  return run_lethe_env(test::lethe_env(db, topics), std::move(args), processes);
}

// One projection run `repeat` times over each of two loaded schemas, in
// turn (sealed, clear, sealed, clear, ...); every run after a schema's first
// replays it from offset zero (--replay empties its read model first). What
// the machine does meanwhile falls on either side alike. The noise here only
// ever adds time (librdkafka 2.0 pauses fetching for a while once its queue
// is full, which adds 0.4 s to a 3 s run at random; a checkpoint), so each
// side's fastest run is what a row prints, with the range of the per-pair
// ratios beside it.
struct Paired {
  Run sealed, clear;         // the median run of each side (peak RSS: the largest)
  double low = 0, high = 0;  // the lowest and highest clear/sealed time ratio of a pair
};
Paired paired_runs(const test::TestSchema& sealed_db, const test::TestTopics& sealed_topics,
                   const test::TestSchema& clear_db, const test::TestTopics& clear_topics,
                   const std::vector<std::string>& args, int repeat) {
  std::vector<Run> sealed, clear;
  auto replayed = args;
  replayed.push_back("--replay");
  for (int i = 0; i < repeat; ++i) {
    sealed.push_back(run_lethe(sealed_db, sealed_topics, i == 0 ? args : replayed));
    clear.push_back(run_lethe(clear_db, clear_topics, i == 0 ? args : replayed));
  }
  Paired out;
  out.low = 1e18;
  for (int i = 0; i < repeat; ++i) {
    const double ratio = clear[static_cast<std::size_t>(i)].seconds / sealed[static_cast<std::size_t>(i)].seconds;
    out.low = std::min(out.low, ratio);
    out.high = std::max(out.high, ratio);
  }
  const auto fastest = [](const std::vector<Run>& runs) {
    long rss = 0;
    for (const auto& r : runs) rss = std::max(rss, r.rss_mib);
    auto best =
        *std::min_element(runs.begin(), runs.end(), [](const Run& a, const Run& b) { return a.seconds < b.seconds; });
    best.rss_mib = rss;
    return best;
  };
  out.sealed = fastest(sealed);
  out.clear = fastest(clear);
  return out;
}

std::int64_t count(const test::TestSchema& db, const std::string& sql) {
  return std::stoll(db.scalar(sql));
}

// Kafka's limit on this machine: the same messages (key, value and
// headers), same producer settings, straight from memory, until every
// delivery report is in.
double produce_only(const std::string& relayed, const std::string& topic) {
  const auto msgs = test::read_topic(relayed);  // what the relay published, read back
  auto conf = infra::kafka_conf(infra::producer_settings(infra::Config::from_env().brokers));
  std::string err;
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(conf.get(), err));
  if (!p) throw std::runtime_error(err);
  const auto t0 = Clock::now();
  for (const auto& m : msgs) {
    auto* headers = RdKafka::Headers::create();
    for (const auto& [name, value] : m.headers) headers->add(name, value);
    infra::produce_copy(*p, topic, m.key, m.value, headers);
  }
  p->flush(120000);
  return seconds_since(t0);
}

// PostgreSQL's limit for a projection: the rows its tables hold after its
// run, copied out in COPY's text form, then COPY'd back, in one transaction,
// into empty tables of the same definition (indexes and constraints
// included). What the projection wrote, at the cost PostgreSQL asks of the
// plainest writer. libpq directly: libpqxx 6.4 writes COPY rows only from
// tuples of values, so raw lines would pay a parse of their own.
struct CopyLimit {
  std::int64_t rows = 0;
  double seconds = 0;
};
CopyLimit copy_limit(const test::TestSchema& db, const std::vector<std::string>& tables) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> c(PQconnectdb(db.conninfo().c_str()), &PQfinish);
  if (PQstatus(c.get()) != CONNECTION_OK)
    throw std::runtime_error(std::string("copy limit: ") + PQerrorMessage(c.get()));
  const auto ended = [&](ExecStatusType want, const std::string& what) {
    std::unique_ptr<PGresult, decltype(&PQclear)> r(PQgetResult(c.get()), &PQclear);
    if (PQresultStatus(r.get()) != want)
      throw std::runtime_error("copy limit: " + what + ": " + PQerrorMessage(c.get()));
    const std::string tuples = PQcmdTuples(r.get());
    // In a COPY, the connection now waits for (or gives) the data; else the
    // command is over once no result is left.
    if (want != PGRES_COPY_OUT && want != PGRES_COPY_IN)
      while (auto* more = PQgetResult(c.get())) PQclear(more);
    return tuples.empty() ? std::int64_t{0} : std::stoll(tuples);
  };
  const auto exec = [&](const std::string& sql, ExecStatusType want = PGRES_COMMAND_OK) {
    if (!PQsendQuery(c.get(), sql.c_str())) throw std::runtime_error("copy limit: " + sql);
    return ended(want, sql);
  };
  CopyLimit out;
  std::vector<std::string> data(tables.size());
  for (std::size_t i = 0; i < tables.size(); ++i) {
    exec("CREATE TABLE copy_limit_" + tables[i] + " (LIKE " + tables[i] + " INCLUDING ALL)");
    exec("COPY " + tables[i] + " TO STDOUT", PGRES_COPY_OUT);
    char* buf = nullptr;
    for (int n; (n = PQgetCopyData(c.get(), &buf, 0)) > 0; PQfreemem(buf))
      data[i].append(buf, static_cast<std::size_t>(n));
    out.rows += ended(PGRES_COMMAND_OK, "COPY " + tables[i] + " TO STDOUT");
  }
  const auto t0 = Clock::now();
  exec("BEGIN");
  for (std::size_t i = 0; i < tables.size(); ++i) {
    exec("COPY copy_limit_" + tables[i] + " FROM STDIN", PGRES_COPY_IN);
    constexpr std::size_t kChunk = 1 << 20;
    for (std::size_t at = 0; at < data[i].size(); at += kChunk)
      if (PQputCopyData(c.get(), data[i].data() + at, static_cast<int>(std::min(kChunk, data[i].size() - at))) != 1)
        throw std::runtime_error(std::string("copy limit: ") + PQerrorMessage(c.get()));
    if (PQputCopyEnd(c.get(), nullptr) != 1)
      throw std::runtime_error(std::string("copy limit: ") + PQerrorMessage(c.get()));
    ended(PGRES_COMMAND_OK, "COPY copy_limit_" + tables[i]);
  }
  exec("COMMIT");
  out.seconds = seconds_since(t0);
  for (const auto& t : tables) exec("DROP TABLE copy_limit_" + t);
  return out;
}

// A projection's tables, by its declaration.
std::vector<std::string> tables_of(const std::string& projection) {
  std::vector<std::string> out;
  for (const auto& t : projections::make_projection(projection)->tables()) out.emplace_back(t);
  return out;
}

// A projection row's own checks, as like for like asks: by the projector's
// own count, every event loaded applied once and none set aside, and the
// dead-letter topic empty. Returns the events applied; what is wrong goes
// to problems (printed at the end).
std::int64_t checked(const Run& run, const std::string& projection, std::int64_t expected,
                     const test::TestTopics& topics, const std::string& what, std::vector<std::string>& problems) {
  const auto it = run.did.find(projection);
  if (it == run.did.end()) {
    problems.push_back(what + ": lethe project printed no count");
    return 0;
  }
  const auto& d = it->second;
  if (d.applied != expected || d.dead_lettered != 0)
    problems.push_back(fmt::format("{}: applied {} of {} events (skipped {}, dead-lettered {})", what, d.applied,
                                   expected, d.skipped, d.dead_lettered));
  if (const auto dead = test::topic_end(topics.topic("dead-letters")); dead != 0)
    problems.push_back(fmt::format("{}: {} messages on the dead-letter topic", what, dead));
  return d.applied;
}

// The same events sealed and in clear must leave as many rows in every
// table (the load fills some of a projection's tables, not all), and some.
void same_rows(const test::TestSchema& sealed, const test::TestSchema& clear, const std::string& projection,
               std::vector<std::string>& problems) {
  std::int64_t all = 0;
  for (const auto& t : tables_of(projection)) {
    const auto a = count(sealed, "SELECT count(*) FROM " + t), b = count(clear, "SELECT count(*) FROM " + t);
    if (a != b) problems.push_back(fmt::format("{}: {} rows sealed, {} in clear", t, a, b));
    all += a;
  }
  if (all == 0) problems.push_back(projection + ": its tables are empty");
}

// The replay row: every domain's events in one schema, some people erased,
// every projection caught up, then all of them replayed from offset zero.
struct ReplayRow {
  std::int64_t events = 0;      // in the event store, each on one topic
  std::int64_t deliveries = 0;  // messages the projections read (some read several topics)
  std::int64_t erased = 0;
  std::size_t projection_count = projections::projection_names().size();  // all replayed at once
  Run relay, first, replay;
  CopyLimit copy;                                          // the rows of every projection's tables after the replay
  std::vector<std::string> mismatches;                     // read-model tables whose row count the replay changed
  std::int64_t erased_left = 0;                            // rows that still name an erased person
  std::int64_t dead_letters = 0;                           // messages a projection set aside (none expected)
  std::vector<std::pair<std::string, double>> last_batch;  // projection, seconds into the replay, slowest first
  // `lethe gdpr reapply` on the same database made to look restored from a
  // backup taken before the erasures: their keys back, the register without
  // them. forgotten_again: what it reported; keys_left: keys of the erased
  // still there afterwards (none expected).
  Run reapply;
  std::int64_t forgotten_again = -1, keys_left = -1;
};

// Row counts of every projection's tables, and the rows that still name an
// erased person in a column the policies clear or delete.
std::vector<std::pair<std::string, std::int64_t>> table_counts(const test::TestSchema& db) {
  std::vector<std::pair<std::string, std::int64_t>> out;
  for (const auto& name : projections::projection_names())
    for (const auto& t : projections::make_projection(name)->tables())
      out.emplace_back(t, count(db, "SELECT count(*) FROM " + t));
  return out;
}
std::int64_t erased_left(const test::TestSchema& db) {
  return count(db,
               "WITH e AS (SELECT subject FROM erased_persons) SELECT"
               " (SELECT count(*) FROM users WHERE user_id IN (SELECT * FROM e) AND name <> 'Deleted user')"
               " + (SELECT count(*) FROM tickets WHERE requester_id IN (SELECT * FROM e))"
               " + (SELECT count(*) FROM shop_carts WHERE user_id IN (SELECT * FROM e))"
               " + (SELECT count(*) FROM billing_transactions WHERE user_id IN (SELECT * FROM e))"
               " + (SELECT count(*) FROM content_posts WHERE author_id IN (SELECT * FROM e))"
               " + (SELECT count(*) FROM files WHERE owner_id IN (SELECT * FROM e))"
               " + (SELECT count(*) FROM email_logs WHERE recipient_id IN (SELECT * FROM e))");
}

// `events` events in equal parts: users (bulk_load: registered and renamed,
// personal fields sealed) and each load of projection_loads() but audit's,
// naming those users. `erase` of the users, spread over them, are erased through the
// erasure service (key destroyed, user.erased, as over HTTP). The relay
// publishes it all; `lethe project --until-idle` (every projection, one
// thread each, in one process) catches up; the relay publishes their
// receipts and the projections read those too. Then `lethe project --replay
// --until-idle` empties every read model and rebuilds it from offset zero:
// erased people are met again in every topic, and the policies apply again.
ReplayRow replay_bench(std::int64_t events, int erase, int batch, std::size_t payload_bytes,
                       const std::function<void(const std::string&)>& say) {
  ReplayRow row;
  test::TestSchema db;
  test::TestTopics topics;
  const bool apart = db.keyring_apart();
  std::string erased_ids;  // 'b0','b500',... those erased, as SQL
  // Every load but audit's: its assignments are of tickets never opened,
  // which the tickets projection would rightly refuse. The audit projection
  // reads the users, tickets, shop and billing topics all the same.
  auto loads = projection_loads("b");
  std::erase_if(loads, [](const ProjectionLoad& l) { return l.projection == "audit"; });
  const auto part = events / static_cast<std::int64_t>(loads.size() + 1) / 2 * 2;
  say("replay: loading " + std::to_string(part * static_cast<std::int64_t>(loads.size() + 1)) + " events (" +
      std::to_string(part) + " each: users and " + std::to_string(loads.size()) + " other loads)");
  bulk_load(db, part, payload_bytes);
  for (const auto& load : loads) bulk_load_streams(db, part, load.topic, load.make, load.per_stream);
  {
    producers::EventStore store(db.conninfo());
    producers::ErasureService erasure(
        store, producers::ErasureSettings{.per_hour = 100000, .projections = projections::projection_names()});
    const auto users = part / 2;
    for (int i = 0; i < erase; ++i)
      erased_ids += std::string(erased_ids.empty() ? "" : ",") + "'b" +
                    std::to_string(static_cast<std::int64_t>(i) * users / erase) + "'";
    // The keys of those about to be erased, as a backup of the data taken
    // now holds them when the keyring lives beside it.
    if (!apart)
      db.exec("CREATE TABLE bench_backup_keys AS SELECT * FROM person_keys WHERE subject IN (" + erased_ids + ")");
    for (int i = 0; i < erase; ++i) {
      const auto id = "b" + std::to_string(static_cast<std::int64_t>(i) * users / erase);
      auto r = erasure.erase(id, producers::CommandContext{"system:bench"});
      if (!r) throw std::runtime_error("erase " + id + ": " + r.error().message);
    }
    row.erased = erase;
  }
  say("replay: relay, then every projection catches up (lethe project --until-idle)");
  row.relay = run_lethe(db, topics, {"relay", "--until-idle"});
  row.first = run_lethe(db, topics, {"project", "--until-idle", "--batch-size", std::to_string(batch)});
  run_lethe(db, topics, {"relay", "--until-idle"});  // the receipts
  run_lethe(db, topics, {"project", "--until-idle", "--batch-size", std::to_string(batch)});
  row.events = count(db, "SELECT count(*) FROM events");
  const auto before = table_counts(db);
  say("replay: lethe project --replay --until-idle, every projection at once, " + std::to_string(row.events) +
      " events");
  const auto started = db.scalar("SELECT clock_timestamp()");
  row.replay = run_lethe(db, topics, {"project", "--replay", "--until-idle", "--batch-size", std::to_string(batch)});
  // When each projection began its last batch (its offsets' updated_at is
  // that transaction's start), from the process's start: where time goes.
  for (const auto& r : db.rows("SELECT to_char(extract(epoch FROM max(updated_at) - '" + started +
                               "'::timestamptz), 'FM00000.00') || '|' || projection FROM projection_offsets"
                               " GROUP BY projection"))
    row.last_batch.emplace_back(r.substr(r.find('|') + 1), std::stod(r.substr(0, r.find('|'))));
  std::sort(row.last_batch.begin(), row.last_batch.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  row.deliveries = count(db, "SELECT coalesce(sum(next_offset), 0) FROM projection_offsets");
  if (count(db, "SELECT count(*) FROM events") != row.events) row.mismatches.push_back("events (new receipts)");
  const auto after = table_counts(db);
  for (std::size_t i = 0; i < before.size(); ++i)
    if (before[i] != after[i])
      row.mismatches.push_back(before[i].first + " " + std::to_string(before[i].second) + " -> " +
                               std::to_string(after[i].second));
  row.erased_left = erased_left(db);
  row.dead_letters = static_cast<std::int64_t>(test::read_topic(topics.topic("dead-letters")).size());
  say("replay: COPY of the rows of every projection's tables");
  std::vector<std::string> all_tables;
  for (const auto& name : projections::projection_names())
    for (const auto& t : tables_of(name)) all_tables.push_back(t);
  row.copy = copy_limit(db, all_tables);
  // A restore from before the erasures, as PostgreSQL would then hold it for
  // them: the register without them, and, beside the data, their keys back
  // (apart, the keyring is not restored with the data: their keys stay
  // destroyed). The read models as replayed: the policies apply again all
  // the same. Then the reapply.
  if (!apart) db.exec("INSERT INTO person_keys SELECT * FROM bench_backup_keys");
  db.exec("DELETE FROM erased_persons WHERE subject IN (" + erased_ids + ")");
  say("gdpr reapply: " + std::to_string(erase) + " erased people missing from a restored register, " +
      std::to_string(row.events) + " events");
  row.reapply = run_lethe(db, topics, {"gdpr", "reapply"});
  row.forgotten_again = count(db, "SELECT count(*) FROM erased_persons WHERE subject IN (" + erased_ids + ")");
  row.keys_left = count(db.keyring(), "SELECT count(*) FROM person_keys WHERE subject IN (" + erased_ids + ")");
  // A million messages: not left on the broker for ever (retention is unlimited).
  std::vector<std::string> names;
  for (const auto& spec : producers::topic_specs()) names.push_back(topics.topic(spec.name));
  producers::delete_topics(infra::Config::from_env().brokers, names);
  return row;
}

// The relay on a cluster of three brokers (scripts/kafka-cluster, started
// for this row alone and reset after), its topics as `lethe topics create`
// makes them by default: three replicas, min.insync.replicas 2. Beside it,
// the same messages produced there from memory.
struct ClusterRow {
  Run relay;
  double produce_s = 0;
};
ClusterRow cluster_bench(std::int64_t events, std::size_t payload_bytes,
                         const std::function<void(const std::string&)>& say) {
  const auto script = test::source_dir() + "/scripts/kafka-cluster";
  // Reset on the way out, and the fixtures pointed at the single broker again.
  struct Up {
    std::string script, single;
    ~Up() {
      test::capture(script + " reset");
      ::setenv("LETHE_BROKERS", single.c_str(), 1);
    }
  } up{script, infra::Config::from_env().brokers};
  say("3-broker cluster: starting it (scripts/kafka-cluster start)");
  test::capture(script + " reset");
  if (const auto started = test::capture(script + " start"); started.rc != 0)
    throw std::runtime_error("scripts/kafka-cluster start failed: " + started.output);
  auto bootstrap = test::capture(script + " bootstrap").output;
  while (!bootstrap.empty() && std::isspace(static_cast<unsigned char>(bootstrap.back()))) bootstrap.pop_back();
  ::setenv("LETHE_BROKERS", bootstrap.c_str(), 1);  // the topic reads of the fixtures follow
  test::TestSchema db;
  bulk_load(db, events, payload_bytes);
  const std::string prefix = "t" + test::random_suffix() + ".", raw = "r" + test::random_suffix() + ".";
  for (const auto& p : {prefix, raw}) {
    const auto created = test::capture_env({{"LETHE_BROKERS", bootstrap}, {"LETHE_TOPIC_PREFIX", p}},
                                           test::lethe_bin() + " topics create");
    if (created.rc != 0) throw std::runtime_error("lethe topics create on the cluster: " + created.output);
  }
  say("3-broker cluster: lethe relay --until-idle, " + std::to_string(events) + " events");
  ClusterRow row;
  row.relay = run_lethe_env({{"LETHE_PG", db.conninfo()}, {"LETHE_BROKERS", bootstrap}, {"LETHE_TOPIC_PREFIX", prefix}},
                            {"relay", "--until-idle"});
  if (count(db, "SELECT published FROM relay_checkpoint") != events)
    throw std::runtime_error("the relay on the cluster fell short");
  say("3-broker cluster: the same messages produced from memory");
  row.produce_s = produce_only(prefix + "users", raw + "users");
  return row;
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App cli{"lethe benchmark: relay and projection throughput against same-run baselines"};
  std::int64_t events = 200000, naive_events = 0;
  std::size_t payload_bytes = 300;
  int batch = 5000, repeat = 3;
  cli.add_option("--events", events, "events for the relay and batched projection")->capture_default_str();
  cli.add_option("--naive-events", naive_events,
                 "events for the naive baseline (default: as many as --events, so that both pay one start-up)");
  cli.add_option("--payload-bytes", payload_bytes, "size of each event's payload")->capture_default_str();
  cli.add_option("--batch-size", batch, "projection batch size")->capture_default_str();
  cli.add_option("--repeat", repeat,
                 "runs of each projection, sealed and in clear in turn (the fastest of each is printed)")
      ->capture_default_str()
      ->check(CLI::Range(1, 9));
  cli.add_option("--lethe-log-level", lethe_log_level(), "log level of the lethe processes run")->capture_default_str();
  std::int64_t large_events = 1000;
  cli.add_option("--large-events", large_events, "events of 256 KiB for the memory rows (0: skip them)")
      ->capture_default_str();
  bench::ApiBenchOptions api_options;
  cli.add_option("--api-connections", api_options.connections, "keep-alive connections of the HTTP load")
      ->capture_default_str();
  cli.add_option("--api-seconds", api_options.seconds, "seconds of each command-rate row (0: skip the API rows)")
      ->capture_default_str();
  cli.add_option("--paced-rate", api_options.paced_rate, "commands/s of the visibility row")->capture_default_str();
  cli.add_option("--random-users", api_options.random_users,
                 "people the HTTP row at random draws from (0: skip that row)")
      ->capture_default_str();
  cli.add_flag("!--no-postgres-restart", api_options.postgres_restart,
               "skip the row that restarts PostgreSQL under HTTP load");
  cli.add_option("--erasures", api_options.erasures,
                 "people erased beside the paced commands, every projection running (0: skip that row)")
      ->capture_default_str();
  cli.add_option("--erasure-interval-ms", api_options.erasure_interval_ms, "time between two erasures")
      ->capture_default_str();
  std::int64_t replay_events = 1000000;
  int replay_erased = 100;
  cli.add_option("--replay-events", replay_events, "events of every domain replayed by every projection (0: skip)")
      ->capture_default_str();
  cli.add_option("--replay-erased", replay_erased, "people erased among them")->capture_default_str();
  bench::PeerOptions peer_options;
  bool peers_only = false, peers = true;
  cli.add_flag("--peers", peers_only,
               "only the peer rows: Debezium's outbox connector beside lethe relay, its JDBC sink beside lethe "
               "project users (scripts/peers sets them up)");
  cli.add_flag("!--no-peers", peers, "skip the peer rows");
  bool cluster = true;
  cli.add_flag("!--no-cluster", cluster,
               "skip the relay row on a 3-broker cluster (scripts/kafka-cluster, started for it and reset after)");
  cli.add_option("--peer-warmup", peer_options.warmup, "events each peer row's process handles first, untimed")
      ->capture_default_str();
  std::vector<std::string> only_projections;
  cli.add_option("--projections", only_projections,
                 "the projections whose sealed-beside-clear rows run, besides users (default: every one)");
  CLI11_PARSE(cli, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  auto say = [](const std::string& s) { std::fprintf(stderr, "bench: %s\n", s.c_str()); };
  if (naive_events <= 0) naive_events = events;
  // What a row's own checks found: printed as warnings at the end.
  std::vector<std::string> problems;
  peer_options.events = events;
  peer_options.payload_bytes = payload_bytes;
  peer_options.batch = batch;
  peer_options.paced_rate = api_options.paced_rate;
  peer_options.paced_seconds = api_options.paced_seconds;
  if (peers_only) {
    bench::print_peers(bench::peers_bench(peer_options, say));
    return 0;
  }
  test::TestSchema main_db, naive_db;
  test::TestTopics main_topics, naive_topics, raw_topics;

  say("loading " + std::to_string(events) + " events into the event store and outbox");
  const auto value_bytes = bulk_load(main_db, events, payload_bytes);
  bulk_load(naive_db, naive_events, payload_bytes);

  say("relay: outbox -> Kafka, acknowledged (lethe relay --until-idle)");
  const auto relay = run_lethe(main_db, main_topics, {"relay", "--until-idle"});
  const double relay_s = relay.seconds;
  if (count(main_db, "SELECT published FROM relay_checkpoint") != events) throw std::runtime_error("relay fell short");
  say("baseline: the same messages produced from memory");
  const double produce_s = produce_only(main_topics.topic("users"), raw_topics.topic("users"));
  say("projection, naive (--batch-size 1: one transaction per event), " + std::to_string(naive_events) + " events");
  test::relay_until_idle(naive_db, naive_topics);
  const auto naive = run_lethe(naive_db, naive_topics, {"project", "users", "--until-idle", "--batch-size", "1"});
  const auto naive_applied = checked(naive, "users", naive_events, naive_topics, "naive users", problems);
  // The same users events with their personal fields in clear: the read
  // model as it was before it was sealed. Each side `repeat` times, in turn.
  test::TestSchema plain_db;
  test::TestTopics plain_topics;
  bulk_load(plain_db, events, payload_bytes, false);
  test::relay_until_idle(plain_db, plain_topics);
  say("projection, batched (lethe project users --batch-size " + std::to_string(batch) +
      "), sealed and with personal fields in clear (as before sealing), " + std::to_string(repeat) + " runs each");
  const auto users_pair =
      paired_runs(main_db, main_topics, plain_db, plain_topics,
                  {"project", "users", "--until-idle", "--batch-size", std::to_string(batch)}, repeat);
  const auto& batched = users_pair.sealed;
  const auto& plain = users_pair.clear;
  const auto batched_applied = checked(batched, "users", events, main_topics, "users", problems);
  const auto plain_applied = checked(plain, "users", events, plain_topics, "users in clear", problems);
  same_rows(main_db, plain_db, "users", problems);
  // The same users projection shared by two processes of one group: the
  // read model emptied and its offsets forgotten before each run.
  say("projection, 2 processes in one group (lethe project users --instance 0 and 1), " + std::to_string(repeat) +
      " runs");
  std::optional<Run> shared;
  for (int i = 0; i < repeat; ++i) {
    consumers::reset_projection(main_db.conninfo(), *projections::make_projection("users"));
    // A group of their own: static members that exit stay in a group until
    // their session ends, and would hold up the single process's next join.
    auto r = run_lethe(main_db, main_topics,
                       {"project", "users", "--until-idle", "--batch-size", std::to_string(batch), "--group-prefix",
                        main_topics.prefix() + "shared."},
                       2);
    if (!shared || r.seconds < shared->seconds) shared = std::move(r);
  }
  const auto shared_applied = checked(*shared, "users", events, main_topics, "users, 2 processes", problems);
  if (test::projected_versions(main_db) != test::expected_versions(main_db))
    problems.push_back("users, 2 processes: the read model differs from the event store");
  // The same read model rebuilt beside the live one, which is caught up
  // and not running, then proven equal and cut over.
  say("projection rebuilt beside the live one and cut over (lethe project rebuild users --batch-size " +
      std::to_string(batch) + ")");
  const auto rebuilt =
      run_lethe(main_db, main_topics, {"project", "rebuild", "users", "--batch-size", std::to_string(batch)});
  const auto rebuilt_applied = checked(rebuilt, "users", events, main_topics, "users rebuilt beside", problems);
  if (count(main_db, "SELECT count(*) FROM projection_versions WHERE projection = 'users'") != 1)
    problems.push_back("users rebuilt beside: no cut-over recorded");
  if (test::projected_versions(main_db) != test::expected_versions(main_db))
    problems.push_back("users rebuilt beside: the read model differs from the event store");
  say("start-up: lethe project users with nothing left to apply");
  const auto startup = run_lethe(main_db, main_topics, {"project", "users", "--until-idle"});
  say("limit: COPY of the rows of the users tables");
  const auto users_copy = copy_limit(main_db, tables_of("users"));
  say("list query: GET /users?limit=50, sealed read model and plaintext one, 500 each");
  const auto list_sealed = bench::list_latency(main_db, 500);
  const auto list_plain = bench::list_latency(plain_db, 500);
  // Every other projection, fed the same number of events, two per stream.
  // Sealed (as written now), then in clear (as before sealing).
  struct ProjectionRow {
    std::string name;
    Paired runs;
    std::int64_t applied, plain_applied;
    CopyLimit copy;
  };
  std::vector<ProjectionRow> projection_rows;
  for (const auto& load : projection_loads()) {
    if (!only_projections.empty() && std::ranges::find(only_projections, load.projection) == only_projections.end())
      continue;
    say(load.projection + " projection: " + std::to_string(events) + " events, sealed and in clear, " +
        std::to_string(repeat) + " runs each (lethe project " + load.projection + ")");
    test::TestSchema sealed_db, clear_db;
    test::TestTopics sealed_topics, clear_topics;
    bulk_load_streams(sealed_db, events, load.topic, load.make, load.per_stream, true);
    test::relay_until_idle(sealed_db, sealed_topics);
    bulk_load_streams(clear_db, events, load.topic, load.make, load.per_stream, false);
    test::relay_until_idle(clear_db, clear_topics);
    const auto runs =
        paired_runs(sealed_db, sealed_topics, clear_db, clear_topics,
                    {"project", load.projection, "--until-idle", "--batch-size", std::to_string(batch)}, repeat);
    const auto loaded = count(sealed_db, "SELECT count(*) FROM events");
    const auto sealed_n = checked(runs.sealed, load.projection, loaded, sealed_topics, load.projection, problems);
    const auto clear_n =
        checked(runs.clear, load.projection, loaded, clear_topics, load.projection + " in clear", problems);
    same_rows(sealed_db, clear_db, load.projection, problems);
    say(load.projection + ": COPY of the rows of its tables");
    projection_rows.push_back(
        {load.projection, runs, sealed_n, clear_n, copy_limit(sealed_db, tables_of(load.projection))});
  }

  // Every projection replayed at once over every domain's events.
  std::optional<ReplayRow> replay;
  if (replay_events > 0) replay = replay_bench(replay_events, replay_erased, batch, payload_bytes, say);

  // Memory with large events: the same paths with 256 KiB payloads, each
  // beside itself with its byte bounds lifted (what the rows bound alone
  // would let it hold).
  struct Large {
    std::string what;
    Run run;
  };
  std::vector<Large> large;
  if (large_events > 0) {
    constexpr std::size_t kLarge = 256 * 1024;
    const std::string unbounded = std::to_string(std::int64_t{1} << 32);
    Run runs[2][2]{};  // [lifted][relay, projection]
    for (const bool lifted : {false, true}) {
      test::TestSchema db;
      test::TestTopics topics;
      say("large events: " + std::to_string(large_events) + " of 256 KiB, " +
          (lifted ? "byte bounds lifted" : "default byte bounds"));
      bulk_load(db, large_events, kLarge);
      std::vector<std::string> relay_args{"relay", "--until-idle"};
      std::vector<std::string> project_args{"project", "users", "--until-idle", "--batch-size", std::to_string(batch)};
      if (lifted) {
        relay_args.insert(relay_args.end(), {"--batch-max-bytes", unbounded});
        project_args.insert(project_args.end(), {"--batch-max-bytes", unbounded});
      }
      runs[lifted][0] = run_lethe(db, topics, relay_args);
      runs[lifted][1] = run_lethe(db, topics, project_args);
    }
    large = {{"lethe relay, 256 KiB events", runs[0][0]},
             {"  same, --batch-max-bytes lifted", runs[1][0]},
             {"lethe project users, 256 KiB events", runs[0][1]},
             {"  same, --batch-max-bytes lifted", runs[1][1]}};
  }

  bench::ApiBenchResult api;
  if (api_options.seconds > 0) {
    say("HTTP commands through lethe serve (" + std::to_string(api_options.connections) +
        " keep-alive connections), the same in-process, and bare appends");
    api = bench::api_bench(api_options);
  }

  // Last, so that the idle cluster's three brokers never share the machine with the rows above.
  std::optional<ClusterRow> on_cluster;
  if (cluster) on_cluster = cluster_bench(events, payload_bytes, say);

  const double relay_rate = events / relay_s, produce_rate = events / produce_s;
  const double batched_rate = batched_applied / batched.seconds;
  const double naive_rate = naive_applied / naive.seconds;
  // Like for like: the time COPY takes to write the rows a projection left,
  // against the time the projection took to write them from its events.
  const auto of_copy = [](const CopyLimit& c, const Run& r) { return c.seconds / r.seconds; };
  char host[256] = "?";
  gethostname(host, sizeof host);
  std::printf("\nlethe benchmark  host=%s cores=%ld  payload=%zu B  message value=%zu B\n", host,
              sysconf(_SC_NPROCESSORS_ONLN), payload_bytes, value_bytes);
  std::printf("Kafka, PostgreSQL and lethe share the machine; every figure below is from this one run.\n\n");
  std::printf("%-46s %9s %8s %10s %8s  %s\n", "path", "events", "seconds", "events/s", "peak RSS", "ratio");
  std::printf("%-46s %9lld %8.2f %10.0f %5ld MiB  %.2fx of produce-only\n", "lethe relay (acks=all, idempotent)",
              static_cast<long long>(events), relay_s, relay_rate, relay.rss_mib, relay_rate / produce_rate);
  std::printf("%-46s %9lld %8.2f %10.0f %8s  (Kafka limit here)\n", "  baseline: produce same messages from memory",
              static_cast<long long>(events), produce_s, produce_rate, "");
  if (on_cluster) {
    const double cluster_rate = events / on_cluster->relay.seconds, cluster_produce = events / on_cluster->produce_s;
    std::printf("%-46s %9lld %8.2f %10.0f %5ld MiB  %.2fx of produce-only there, %.2fx of one broker\n",
                "lethe relay, 3 brokers (3 replicas, 2 in sync)", static_cast<long long>(events),
                on_cluster->relay.seconds, cluster_rate, on_cluster->relay.rss_mib, cluster_rate / cluster_produce,
                cluster_rate / relay_rate);
    std::printf("%-46s %9lld %8.2f %10.0f %8s  (Kafka limit there)\n", "  baseline: produce from memory, 3 brokers",
                static_cast<long long>(events), on_cluster->produce_s, cluster_produce, "");
  }
  std::printf("%-46s %9lld %8.2f %10.0f %5ld MiB  %.1fx naive, %.2fx of COPY\n", "lethe project users (batched)",
              static_cast<long long>(batched_applied), batched.seconds, batched_rate, batched.rss_mib,
              batched_rate / naive_rate, of_copy(users_copy, batched));
  std::printf("%-46s %9lld %8.2f %10.0f %5ld MiB  1.0x\n", "  baseline: --batch-size 1, one tx per event",
              static_cast<long long>(naive_applied), naive.seconds, naive_rate, naive.rss_mib);
  const double shared_rate = static_cast<double>(shared_applied) / shared->seconds;
  std::string split;
  for (const auto n : shared->applied_by_process) split += (split.empty() ? "" : " + ") + std::to_string(n);
  std::printf("%-46s %9lld %8.2f %10.0f %5ld MiB  %.2fx of one process (applied %s)\n",
              "  same, 2 processes sharing the partitions", static_cast<long long>(shared_applied), shared->seconds,
              shared_rate, shared->rss_mib, shared_rate / batched_rate, split.c_str());
  const double rebuilt_rate = static_cast<double>(rebuilt_applied) / rebuilt.seconds;
  std::printf("%-46s %9lld %8.2f %10.0f %5ld MiB  %.2fx of the replay in place (compared, cut over)\n",
              "  same, rebuilt beside the live one", static_cast<long long>(rebuilt_applied), rebuilt.seconds,
              rebuilt_rate, rebuilt.rss_mib, rebuilt_rate / batched_rate);
  std::printf("%-46s %9s %8.2f %10s %5ld MiB  (in each run above)\n", "  start-up and exit, nothing to apply", "",
              startup.seconds, "", startup.rss_mib);
  std::printf("%-46s %9lld %8.2f %10.0f %8s  (PostgreSQL limit here; rows/s)\n",
              "  limit: COPY of the users tables' rows", static_cast<long long>(users_copy.rows), users_copy.seconds,
              static_cast<double>(users_copy.rows) / users_copy.seconds, "");
  const double plain_rate = static_cast<double>(plain_applied) / plain.seconds;
  std::printf("%-46s %9lld %8.2f %10.0f %5ld MiB  sealed is %.2fx of it (pairs %.2f-%.2fx)\n",
              "  same events in clear (read model before sealing)", static_cast<long long>(plain_applied),
              plain.seconds, plain_rate, plain.rss_mib, batched_rate / plain_rate, users_pair.low, users_pair.high);
  double slowest_other = 1e18;
  for (const auto& r : projection_rows) {
    const double rate = static_cast<double>(r.applied) / r.runs.sealed.seconds;
    slowest_other = std::min(slowest_other, rate);
    const double plain_other = static_cast<double>(r.plain_applied) / r.runs.clear.seconds;
    std::printf(
        "%-46s %9lld %8.2f %10.0f %5ld MiB  %.2fx of COPY of its %lld rows, %.2fx of plaintext (%.0f/s; pairs "
        "%.2f-%.2fx)\n",
        ("lethe project " + r.name).c_str(), static_cast<long long>(r.applied), r.runs.sealed.seconds, rate,
        r.runs.sealed.rss_mib, of_copy(r.copy, r.runs.sealed), static_cast<long long>(r.copy.rows), rate / plain_other,
        plain_other, r.runs.low, r.runs.high);
  }
  std::printf("%-46s %9d %8s %10s %8s  p50 %.2f ms, p99 %.2f ms; in clear p50 %.2f ms, p99 %.2f ms\n",
              "GET /users?limit=50, sealed (one key query)", 500, "", "", "", list_sealed.p50_ms, list_sealed.p99_ms,
              list_plain.p50_ms, list_plain.p99_ms);
  double replay_rate = 0;
  if (replay) {
    const auto& r = *replay;
    replay_rate = static_cast<double>(r.events) / r.replay.seconds;
    const double first_rate = static_cast<double>(r.events) / r.first.seconds;
    std::printf(
        "%-46s %9lld %8.2f %10.0f %5ld MiB  %.2fx of first pass, %.2fx of COPY of its %lld rows, %.2fx of users "
        "alone\n",
        ("lethe project --replay (all " + std::to_string(r.projection_count) + " at once)").c_str(),
        static_cast<long long>(r.events), r.replay.seconds, replay_rate, r.replay.rss_mib, replay_rate / first_rate,
        of_copy(r.copy, r.replay), static_cast<long long>(r.copy.rows), replay_rate / batched_rate);
    std::printf("%-46s %9lld %8.2f %10.0f %5ld MiB  (%lld erased people among them)\n",
                "  same log, first pass: catching up from zero", static_cast<long long>(r.events), r.first.seconds,
                first_rate, r.first.rss_mib, static_cast<long long>(r.erased));
    std::printf("%-46s %9lld %8.2f %10.0f %8s  %.2f per event: event_log, audit read other topics\n",
                "  messages the projections read in the replay", static_cast<long long>(r.deliveries), r.replay.seconds,
                static_cast<double>(r.deliveries) / r.replay.seconds, "",
                static_cast<double>(r.deliveries) / static_cast<double>(r.events));
    std::printf("%-46s %9lld %8.2f %10.0f %5ld MiB  %lld of %lld erased forgotten again, %lld keys left\n",
                "lethe gdpr reapply after a restore", static_cast<long long>(r.events), r.reapply.seconds,
                static_cast<double>(r.events) / r.reapply.seconds, r.reapply.rss_mib,
                static_cast<long long>(r.forgotten_again), static_cast<long long>(r.erased),
                static_cast<long long>(r.keys_left));
    std::string when;
    for (const auto& [name, at] : replay->last_batch)
      when += fmt::format("{}{} {:.1f}", when.empty() ? "" : ", ", name, at);
    std::printf("%-46s %s\n", "  last batch began, s into the replay:", when.c_str());
  }
  for (const auto& l : large)
    std::printf("%-46s %9lld %8.2f %10.0f %5ld MiB  %.0f MiB/s of payload\n", l.what.c_str(),
                static_cast<long long>(large_events), l.run.seconds, large_events / l.run.seconds, l.run.rss_mib,
                static_cast<double>(large_events) * 0.25 / l.run.seconds);
  if (api_options.seconds > 0) {
    const double http_rate = api.http / api.http_s, direct_rate = api.direct / api.direct_s,
                 store_rate = api.store / api.store_s;
    std::printf("\n%-46s %9s %8s %10s  %s\n", "commands (rename / role change mix)", "commands", "seconds", "per s",
                "ratio");
    std::printf("%-46s %9lld %8.2f %10.0f  %.2fx of in-process, %.2fx of bare appends\n",
                "HTTP through lethe serve, keep-alive", static_cast<long long>(api.http), api.http_s, http_rate,
                http_rate / direct_rate, http_rate / store_rate);
    if (api.http_random_s > 0)
      std::printf("%-46s %9lld %8.2f %10.0f  %.2fx of bare appends, %.2fx of the row above\n",
                  fmt::format("  renames of {} people at random", api_options.random_users).c_str(),
                  static_cast<long long>(api.http_random), api.http_random_s, api.http_random / api.http_random_s,
                  api.http_random / api.http_random_s / store_rate, api.http_random / api.http_random_s / http_rate);
    std::printf("%-46s %9lld %8.2f %10.0f  (the command path without HTTP)\n",
                "  same commands, UserService in-process", static_cast<long long>(api.direct), api.direct_s,
                direct_rate);
    std::printf("%-46s %9lld %8.2f %10.0f  (PostgreSQL append limit here)\n",
                "  limit: EventStore::append of one event", static_cast<long long>(api.store), api.store_s, store_rate);
    const double mixed_rate = api.mixed / api.mixed_s;
    std::printf("%-46s %9lld %8.2f %10.0f  %.2fx of the users mix over HTTP\n",
                "mixed: tickets, comments, carts, orders, charges", static_cast<long long>(api.mixed), api.mixed_s,
                mixed_rate, mixed_rate / http_rate);
    std::printf("%-46s %9lld %8.2f %10.0f  p50 %.1f ms, p99 %.1f ms, max %.1f ms, unseen %lld, failed %lld\n",
                "visibility: answer -> read model, paced", static_cast<long long>(api.paced), api.paced_s,
                api.paced / api.paced_s, api.p50_ms, api.p99_ms, api.max_ms, static_cast<long long>(api.paced_unseen),
                static_cast<long long>(api.paced_failed));
    if (api.erased > 0 || api.erase_errors > 0) {
      std::printf("%-46s %9lld %8.2f %10.1f  p50 %.1f ms, p99 %.1f ms, max %.1f ms, unfinished %lld\n",
                  ("erasure: answer -> " + std::to_string(api.erasure_projections) + " receipts stored").c_str(),
                  static_cast<long long>(api.erased), api.erasure_s, static_cast<double>(api.erased) / api.erasure_s,
                  api.erasure.p50_ms, api.erasure.p99_ms, api.erasure.max_ms,
                  static_cast<long long>(api.erasures_unfinished));
      std::printf("%-46s %9s %8s %10s  p50 %.1f ms, p99 %.1f ms, max %.1f ms, unseen %lld\n",
                  "  answer -> GET /erasure-requests shows them", "", "", "", api.erasure_view.p50_ms,
                  api.erasure_view.p99_ms, api.erasure_view.max_ms, static_cast<long long>(api.erasures_unseen));
      std::printf("%-46s %9s %8s %10s  p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", "  the erase command: send -> answer",
                  "", "", "", api.erase_answer.p50_ms, api.erase_answer.p99_ms, api.erase_answer.max_ms);
      std::printf("%-46s %9lld %8.2f %10.0f  p50 %.1f ms, p99 %.1f ms, max %.1f ms, unseen %lld, failed %lld\n",
                  "  visibility beside it, every projection on", static_cast<long long>(api.beside_paced), api.beside_s,
                  static_cast<double>(api.beside_paced) / api.beside_s, api.beside.p50_ms, api.beside.p99_ms,
                  api.beside.max_ms, static_cast<long long>(api.beside_unseen),
                  static_cast<long long>(api.beside_failed));
    }
    std::printf("%-46s %9s %8s %10s  p99 %.1f ms beside %d slow clients, %.1f ms alone\n",
                "GET /health, one at a time (4 workers)", "", "", "", api.health_p99_slow, api.slow_clients,
                api.health_p99_alone);
    std::printf("%-46s %9s %8s %10s  p99 %.1f ms beside %d slow clients, %.1f ms alone\n",
                "  signed-in GET /tickets, one at a time", "", "", "", api.read_p99_slow, api.slow_clients,
                api.read_p99_alone);
    if (api.restart_before_ok + api.restart_before_refused > 0)
      std::printf(
          "%-46s %9s %8s %10s  down %.1f s; until back %d served, %d refused (503); after, %d served, %d failed\n",
          "HTTP through a PostgreSQL restart, 8 clients", "", "", "", api.restart_outage_s, api.restart_before_ok,
          api.restart_before_refused, api.restart_after_ok, api.restart_after_failed);
    if (api.slow_failures) std::printf("WARNING: %d requests failed beside the slow clients\n", api.slow_failures);
    if (api.http_errors) std::printf("WARNING: %lld HTTP commands failed\n", static_cast<long long>(api.http_errors));
    if (api.http_random_errors)
      std::printf("WARNING: %lld HTTP commands for people at random failed\n",
                  static_cast<long long>(api.http_random_errors));
    if (api.mixed_errors)
      std::printf("WARNING: %lld mixed commands failed\n", static_cast<long long>(api.mixed_errors));
    std::printf("targets: HTTP >= 5000 commands/s: %s; visible within p99 100 ms at %d/s: %s; mixed >= 3000/s: %s\n",
                http_rate >= 5000 ? "met" : "MISSED", api_options.paced_rate, api.p99_ms <= 100 ? "met" : "MISSED",
                mixed_rate >= 3000 ? "met" : "MISSED");
    if (api.erased > 0 || api.erase_errors > 0) {
      if (api.erase_errors)
        std::printf("WARNING: %lld erase commands failed\n", static_cast<long long>(api.erase_errors));
      if (api.erasure_out_of_order)
        std::printf("WARNING: %lld events of erasure streams reached Kafka after a later version of their stream\n",
                    static_cast<long long>(api.erasure_out_of_order));
      if (api.erasure_dead_letters)
        std::printf("WARNING: %lld messages dead-lettered during the erasure row (reasons on stderr)\n",
                    static_cast<long long>(api.erasure_dead_letters));
      std::printf(
          "targets: erasure applied by every projection within p99 1 s beside %d commands/s: %s\n",
          api_options.paced_rate,
          api.erasure.p99_ms < 1000 && api.erasures_unfinished == 0 && api.erase_errors == 0 ? "met" : "MISSED");
    }
  }
  std::printf("\nlethe rows time the whole process: start-up, connections and group join included.\n");
  std::printf(
      "Projection rows: the fastest of %d runs each, sealed and in clear in turn; pairs: the range of the\n"
      "runs' sealed/clear ratios, one pair at a time.\n",
      repeat);
  std::printf(
      "CPU of the lethe process itself (the rest is PostgreSQL and Kafka): relay %.2f s, batched projector "
      "%.2f s, naive projector %.2f s\n",
      relay.cpu_seconds, batched.cpu_seconds, naive.cpu_seconds);
  if (replay)
    std::printf("CPU of the replaying projector (%zu projections, one thread each): %.2f s of %.2f s wall\n",
                replay->projection_count, replay->replay.cpu_seconds, replay->replay.seconds);
  std::printf(
      "targets: relay >= 50000/s: %s; users projection >= 35000/s: %s; every other projection >= 30000/s: %s; "
      "projection >= "
      "10x naive: %s\n",
      relay_rate >= 50000 ? "met" : "MISSED", batched_rate >= 35000 ? "met" : "MISSED",
      projection_rows.empty()  ? "not run"
      : slowest_other >= 30000 ? "met"
                               : "MISSED",
      batched_rate >= 10 * naive_rate ? "met" : "MISSED");
  if (replay) {
    std::printf("targets: replay of every projection >= 40000 events/s: %s\n", replay_rate >= 40000 ? "met" : "MISSED");
    for (const auto& m : replay->mismatches) std::printf("WARNING: the replay changed %s\n", m.c_str());
    if (replay->dead_letters)
      std::printf("WARNING: the replay's projections dead-lettered %lld messages\n",
                  static_cast<long long>(replay->dead_letters));
    if (replay->erased_left)
      std::printf("WARNING: after the replay, %lld rows still name an erased person\n",
                  static_cast<long long>(replay->erased_left));
  }
  for (const auto& p : problems) std::printf("WARNING: %s\n", p.c_str());
  // Last: the peers restart PostgreSQL twice (wal_level=logical and back).
  if (peers) bench::print_peers(bench::peers_bench(peer_options, say));
  return 0;
}

int main(int argc, char** argv) {
  // Caught, so that the processes the bench started are stopped on the way
  // out (and the peers' wal_level is put back).
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench: failed: %s\n", e.what());
    return 1;
  }
}
