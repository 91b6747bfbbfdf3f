#include "lethe/producers/seals.hpp"

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include "lethe/infra/errors.hpp"
#include "lethe/infra/pg.hpp"
#include "open_transaction.hpp"

namespace lethe::producers {

namespace {

using Clock = std::chrono::steady_clock;

// One sealer per schema: two would both take the next seal number.
constexpr const char* kLockSql = "SELECT pg_try_advisory_lock(hashtext('lethe.seal.' || current_schema()))";
constexpr const char* kLastSealSql =
    "SELECT seal_number, last_position, event_count, digest, hmac FROM seals ORDER BY seal_number DESC LIMIT 1";
constexpr const char* kSealsPageSql =
    "SELECT seal_number, last_position, event_count, digest, hmac FROM seals WHERE seal_number > $1"
    " ORDER BY seal_number LIMIT $2";
constexpr const char* kInsertSealSql =
    "INSERT INTO seals (seal_number, last_position, event_count, digest, hmac) VALUES ($1, $2, $3, $4, $5)";

// The cut. Positions come from a sequence, but transactions commit in any
// order, so an event with a lower position can commit after a higher one.
// First, without blocking anyone, wait until every transaction that had an
// id when the seal started has ended (the snapshot's xmin passes the xmax
// seen at the start). That alone is not enough: an INSERT draws its position
// from the sequence before its transaction takes an id, so a writer can hold
// a position below the maximum without showing in any snapshot. A SHARE
// lock on events waits for every transaction that has begun writing events
// (they hold ROW EXCLUSIVE from the start of their INSERT) and keeps new ones
// out for the moment it takes to read the maximum; after the first wait only
// short appends are in flight, so writers pause for milliseconds.
constexpr const char* kSnapshotXmaxSql = "SELECT pg_snapshot_xmax(pg_current_snapshot())::text";
constexpr const char* kAllEndedSql = "SELECT pg_snapshot_xmin(pg_current_snapshot()) >= $1::xid8";
constexpr const char* kLockTimeoutSql = "SET LOCAL lock_timeout = '2s'";
constexpr const char* kLockEventsSql = "LOCK TABLE events IN SHARE MODE";
constexpr const char* kMaxPositionSql = "SELECT coalesce(max(global_position), 0) FROM events";
// Only position and hash: rows of ~100 bytes, so a page of rows is small.
constexpr const char* kHashesSql =
    "SELECT global_position, hash FROM events WHERE global_position > $1 AND global_position <= $2"
    " ORDER BY global_position LIMIT $3";
constexpr std::int64_t kPage = 10000;
constexpr std::int64_t kSealsPage = 1000;
constexpr std::int64_t kNoEnd = std::numeric_limits<std::int64_t>::max();

domain::Seal seal_from_row(const pqxx::row& r) {
  return {r[0].as<std::int64_t>(), r[1].as<std::int64_t>(), r[2].as<std::int64_t>(), r[3].c_str(), r[4].c_str()};
}

// The highest position below which no transaction can add an event any more.
std::int64_t stable_position(pqxx::connection& conn, const SealOptions& options) {
  const auto deadline = Clock::now() + options.max_wait;
  auto too_long = [&](const std::string& what) {
    return infra::Unavailable("seal: " + what + " after " + std::to_string(options.max_wait.count()) + " ms" +
                              describe(oldest_open_transaction(conn)) + "; seal again once it has ended");
  };
  std::string xmax;
  {
    pqxx::nontransaction nt(conn);
    xmax = nt.exec(kSnapshotXmaxSql)[0][0].c_str();
  }
  for (;;) {
    bool ended = false;
    {
      pqxx::nontransaction nt(conn);
      ended = nt.exec_params(kAllEndedSql, xmax)[0][0].as<bool>();
    }
    if (ended) break;
    if (Clock::now() > deadline) throw too_long("a transaction that was open when the seal started is still open");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (;;) {
    try {
      pqxx::work tx(conn);
      tx.exec(kLockTimeoutSql);
      tx.exec(kLockEventsSql);
      const auto position = tx.exec(kMaxPositionSql)[0][0].as<std::int64_t>();
      tx.commit();  // releases the lock at once
      return position;
    } catch (const pqxx::sql_error& e) {
      // A writer is still in its transaction.
      if (infra::classify_pg(e.sqlstate()) != infra::PgFailure::lock) throw;
      if (Clock::now() > deadline) throw too_long("a transaction writing events is still open");
    }
  }
}

}  // namespace

domain::SealKey load_seal_key(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw infra::Misconfigured("seal key file " + path + " cannot be read");
  std::ostringstream contents;
  contents << in.rdbuf();
  auto key = domain::parse_seal_key(contents.str());
  if (!key) throw infra::Misconfigured("seal key file " + path + ": " + key.error().message);
  return key.value();
}

std::optional<domain::Seal> seal_event_store(const std::string& conninfo, const domain::SealKey& key,
                                             const SealOptions& options) {
  auto conn = infra::connect(conninfo);
  return infra::translate_pg("seal", [&]() -> std::optional<domain::Seal> {
    {
      pqxx::nontransaction nt(*conn);
      if (!nt.exec(kLockSql)[0][0].as<bool>())
        throw infra::Misconfigured("another `lethe seal` is running on this schema");
    }
    domain::Seal last;  // number 0, position 0, digest "": before the first seal
    {
      pqxx::read_transaction tx(*conn);
      const auto r = tx.exec(kLastSealSql);
      if (!r.empty()) last = seal_from_row(r[0]);
    }
    if (last.number > 0 && !domain::seal_authentic(key, last))
      throw std::runtime_error("seal #" + std::to_string(last.number) +
                               " fails its HMAC under this key: a wrong key file, or a seal written without the key;"
                               " not extending it. Run `lethe verify` with the key");
    const auto up_to = stable_position(*conn, options);
    domain::Seal next{last.number + 1, up_to, 0, last.digest, ""};
    std::int64_t after = last.last_position;
    for (;;) {
      pqxx::read_transaction tx(*conn);
      const auto rows = tx.exec_params(kHashesSql, after, up_to, kPage);
      for (const auto& r : rows) {
        after = r[0].as<std::int64_t>();
        next.digest = domain::seal_step(next.digest, after, r[1].c_str());
        ++next.event_count;
      }
      if (static_cast<std::int64_t>(rows.size()) < kPage) break;
    }
    if (next.event_count == 0) return std::nullopt;
    next.hmac = domain::seal_hmac(key, next);
    pqxx::work tx(*conn);
    tx.exec_params(kInsertSealSql, next.number, next.last_position, next.event_count, next.digest, next.hmac);
    tx.commit();
    return next;
  });
}

SealReport verify_seals(const std::string& conninfo, const domain::SealKey& key,
                        const std::function<void(std::int64_t)>& progress) {
  auto conn = infra::connect(conninfo);
  SealReport report;
  std::vector<domain::Seal> seals;  // the next page of seals
  std::size_t next_seal = 0;
  std::int64_t last_number = 0;
  auto more_seals = [&] {
    if (next_seal < seals.size()) return true;
    seals.clear();
    next_seal = 0;
    infra::translate_pg("verify seals", [&] {
      pqxx::read_transaction tx(*conn);
      for (const auto& r : tx.exec_params(kSealsPageSql, last_number, kSealsPage)) seals.push_back(seal_from_row(r));
    });
    return !seals.empty();
  };

  // State since the last authentic seal.
  std::string digest;
  std::int64_t count = 0, previous_position = 0;
  auto close_seal = [&] {
    const auto& s = seals[next_seal++];
    ++report.seals;
    auto problem = [&](std::string what) { report.problems.push_back({s.number, std::move(what)}); };
    if (s.number != last_number + 1)
      problem("seal numbers jump from " + std::to_string(last_number) + " to " + std::to_string(s.number) +
              ": seals were deleted");
    const bool authentic = domain::seal_authentic(key, s);
    if (!authentic)
      problem("HMAC does not match: a wrong key file, or the seal row was altered or written without the key");
    if (s.last_position < previous_position)
      problem("last position " + std::to_string(s.last_position) + " is below the previous seal's");
    if (count != s.event_count)
      problem(std::to_string(count) + " events in positions (" + std::to_string(previous_position) + ", " +
              std::to_string(s.last_position) + "], the seal counted " + std::to_string(s.event_count) +
              ": events were deleted or added");
    else if (digest != s.digest)
      problem("digest differs: an event in positions (" + std::to_string(previous_position) + ", " +
              std::to_string(s.last_position) + "] was changed, replaced or moved since it was sealed");
    // The next range is checked from this seal if it is authentic, so a
    // problem shows at the seal whose range holds it and not at every later one.
    if (authentic) digest = s.digest;
    last_number = s.number;
    previous_position = std::max(previous_position, s.last_position);
    report.last_position = previous_position;
    report.sealed_events += count;
    count = 0;
  };

  std::int64_t after = 0, events = 0;
  for (;;) {
    const auto rows = infra::translate_pg("verify seals", [&] {
      pqxx::read_transaction tx(*conn);
      return tx.exec_params(kHashesSql, after, kNoEnd, kPage);
    });
    for (const auto& r : rows) {
      const auto position = r[0].as<std::int64_t>();
      while (more_seals() && position > seals[next_seal].last_position) close_seal();
      digest = domain::seal_step(digest, position, r[1].c_str());
      ++count;
      after = position;
    }
    events += static_cast<std::int64_t>(rows.size());
    if (progress) progress(events);
    if (static_cast<std::int64_t>(rows.size()) < kPage) break;
  }
  while (more_seals()) close_seal();
  report.unsealed_events = count;
  return report;
}

}  // namespace lethe::producers
