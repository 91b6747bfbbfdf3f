#include "lethe/producers/event_store.hpp"

#include <spdlog/spdlog.h>

#include "envelope_row.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/keyring.hpp"
#include "lethe/infra/pg.hpp"
#include "publisher.hpp"

namespace lethe::producers {

namespace {

constexpr const char* kHead = "stream_head";
constexpr const char* kHeadSql =
    "SELECT stream_version, hash FROM events WHERE stream_id = $1 "
    "ORDER BY stream_version DESC LIMIT 1";

// Event and outbox row in one statement, one round trip per event; the
// erasure fence (V013) is taken and checked by the same statement.
constexpr const char* kInsert = "append_event";
constexpr const char* kInsertSql =
    "WITH e AS ("
    " INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, occurred_at,"
    "   actor, correlation_id, causation_id, payload, prev_hash, hash)"
    " SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 WHERE lethe_fence($15::text[], $14::text[])"
    " RETURNING global_position)"
    " INSERT INTO outbox (global_position, topic) SELECT global_position, $13 FROM e"
    " RETURNING global_position";

constexpr const char* kRead = "read_stream";
constexpr const char* kReadSql =
    "SELECT " LETHE_ENVELOPE_COLUMNS " FROM events WHERE stream_id = $1 ORDER BY stream_version";

}  // namespace

ConcurrencyConflict::ConcurrencyConflict(std::string stream, std::int64_t expected, std::int64_t actual)
    : std::runtime_error("concurrency conflict on " + stream + ": expected version " + std::to_string(expected) +
                         ", stream is at " + std::to_string(actual)),
      stream_(std::move(stream)),
      expected_(expected),
      actual_(actual) {}

struct EventStore::Impl {
  std::unique_ptr<pqxx::connection> conn;

  std::int64_t current_version(pqxx::transaction_base& tx, std::string_view stream, std::string* hash) {
    const auto r = tx.exec_prepared(kHead, std::string(stream));
    if (r.empty()) return 0;
    if (hash) *hash = r[0][1].c_str();
    return r[0][0].as<std::int64_t>();
  }
};

bool EventStore::connection_closed() const {
  return infra::peer_closed(*impl_->conn);
}

EventStore::EventStore(const std::string& conninfo) : impl_(std::make_unique<Impl>()) {
  impl_->conn = infra::connect(conninfo);
  impl_->conn->prepare(kHead, kHeadSql);
  impl_->conn->prepare(kInsert, kInsertSql);
  impl_->conn->prepare(kRead, kReadSql);
}

EventStore::~EventStore() = default;

std::vector<domain::Envelope> EventStore::append(std::string_view stream, std::int64_t expected_version,
                                                 std::span<const NewEvent> events) {
  if (events.empty()) return {};
  std::vector<domain::Envelope> out;
  transact([&](Transaction& tx) {
    out = tx.append(stream, expected_version, events);
    return true;
  });
  return out;
}

void EventStore::transact(const std::function<bool(Transaction&)>& body) {
  infra::translate_pg("store transaction", [&] {
    pqxx::work tx(*impl_->conn);
    const infra::Tx handle(tx);
    Transaction t(*impl_, handle);
    if (body(t)) tx.commit();
  });
}

void EventStore::autocommit(const std::function<void(infra::Tx)>& body) {
  infra::translate_pg("store statement", [&] {
    pqxx::nontransaction tx(*impl_->conn);
    body(tx);
  });
}

namespace {

// The append itself, on whichever connection holds the transaction: checks
// each event, chains its hash to the one before, and inserts it with its
// outbox row (insert returns the global position). Throws as append() says.
template <class Insert>
std::vector<domain::Envelope> append_chained(std::string_view stream, std::int64_t expected_version,
                                             std::string prev_hash, std::span<const NewEvent> events, Insert&& insert) {
  std::vector<domain::Envelope> out;
  out.reserve(events.size());
  std::int64_t version = expected_version;
  for (const auto& ne : events) {
    if (ne.payload.size() > kMaxPayloadBytes)
      throw std::invalid_argument("payload of " + ne.type + " is " + std::to_string(ne.payload.size()) +
                                  " bytes; the limit is " + std::to_string(kMaxPayloadBytes));
    const auto topic = domain::topic_of(ne.type);
    if (topic.empty()) throw std::invalid_argument("event type '" + ne.type + "' belongs to no topic");
    domain::Envelope e{
        ne.event_id, ne.type,           ne.schema_version, std::string(stream), ++version, 0, ne.occurred_at,
        ne.actor,    ne.correlation_id, ne.causation_id,   ne.payload,          prev_hash, ""};
    domain::canonicalize(e);  // the bytes hashed are the bytes stored and sent
    if (auto err = domain::unstorable(e))
      throw std::invalid_argument("event " + ne.event_id + " cannot be stored: " + err->message);
    e.hash = domain::chain_hash(e);
    prev_hash = e.hash;
    // What the relay will send must fit the broker, or the row could never
    // be published. The position is not known yet: 20 digits are allowed.
    if (const auto size = message_size(e) + 20; size > infra::kMaxMessageBytes)
      throw std::invalid_argument("event " + ne.event_id + " would be a Kafka message of " + std::to_string(size) +
                                  " bytes; the limit is " + std::to_string(infra::kMaxMessageBytes));
    try {
      e.global_position = insert(e, topic, infra::pg_text_array(ne.fenced), infra::pg_text_array(ne.people));
    } catch (const pqxx::unique_violation&) {
      // Another append took this version between our read and our insert
      // (it waited for that writer to commit). The event id key can
      // collide too: a retried command with the same ids is a conflict
      // as well, never a duplicate.
      throw ConcurrencyConflict(std::string(stream), expected_version, expected_version + 1);
    } catch (const pqxx::sql_error& err) {
      if (infra::classify_pg(err.sqlstate()) != infra::PgFailure::erased) throw;
      // "person <id> is erased", from lethe_fence.
      const std::string what = err.what();
      const auto from = what.find("person ") + 7, to = what.find(" is erased");
      throw infra::PersonErased(to == std::string::npos ? std::string() : what.substr(from, to - from));
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

std::vector<domain::Envelope> EventStore::Transaction::append(std::string_view stream, std::int64_t expected_version,
                                                              std::span<const NewEvent> events) {
  if (events.empty()) return {};
  std::string prev_hash;
  std::int64_t actual = 0;
  if (const auto known = heads_.find(stream); known != heads_.end()) {
    actual = known->second.first;
    prev_hash = known->second.second;
  } else {
    actual = impl_.current_version(tx_, stream, &prev_hash);
  }
  if (actual != expected_version) throw ConcurrencyConflict(std::string(stream), expected_version, actual);
  auto out = append_chained(
      stream, expected_version, std::move(prev_hash), events,
      [&](const domain::Envelope& e, std::string_view topic, const std::string& fenced, const std::string& people) {
        return tx_.driver()
            .exec_prepared(kInsert, e.event_id, e.stream_id, e.stream_version, e.type, e.schema_version, e.occurred_at,
                           e.actor, e.correlation_id, e.causation_id, e.payload, e.prev_hash, e.hash,
                           std::string(topic), fenced, people)[0][0]
            .as<std::int64_t>();
      });
  heads_[std::string(stream)] = {out.back().stream_version, out.back().hash};
  return out;
}

void lock_stream(infra::Tx tx, std::string_view stream) {
  infra::exec_hot(tx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", std::string(stream));
}

std::vector<domain::Envelope> append_at_head(infra::Tx handle, std::string_view stream,
                                             std::span<const NewEvent> events) {
  if (events.empty()) return {};
  pqxx::dbtransaction& tx = handle.db();  // the head read and the inserts commit together
  const auto head = infra::exec_hot(tx, kHeadSql, std::string(stream));
  const std::int64_t version = head.empty() ? 0 : head[0][0].as<std::int64_t>();
  std::string prev_hash = head.empty() ? "" : head[0][1].c_str();
  return append_chained(
      stream, version, std::move(prev_hash), events,
      [&](const domain::Envelope& e, std::string_view topic, const std::string& fenced, const std::string& people) {
        return infra::exec_hot(tx, kInsertSql, e.event_id, e.stream_id, e.stream_version, e.type, e.schema_version,
                               e.occurred_at, e.actor, e.correlation_id, e.causation_id, e.payload, e.prev_hash, e.hash,
                               std::string(topic), fenced, people)[0][0]
            .as<std::int64_t>();
      });
}

std::vector<domain::Envelope> EventStore::Transaction::read_stream(std::string_view stream) {
  std::vector<domain::Envelope> out;
  for (const auto& row : tx_.driver().exec_prepared(kRead, std::string(stream))) out.push_back(envelope_from_row(row));
  heads_[std::string(stream)] =
      out.empty() ? std::pair<std::int64_t, std::string>{0, ""} : std::pair{out.back().stream_version, out.back().hash};
  return out;
}

void EventStore::Transaction::assume_head(std::string_view stream, std::int64_t version, std::string hash) {
  heads_[std::string(stream)] = {version, std::move(hash)};
}

std::vector<domain::Envelope> EventStore::read_stream(std::string_view stream) {
  return infra::translate_pg("read " + std::string(stream), [&] {
    pqxx::read_transaction tx(*impl_->conn);
    std::vector<domain::Envelope> out;
    for (const auto& row : tx.exec_prepared(kRead, std::string(stream))) out.push_back(envelope_from_row(row));
    return out;
  });
}

}  // namespace lethe::producers
