// verify --against-kafka: every event's hash in PostgreSQL against its
// copies on the domain topics.
#include <sodium.h>

#include <array>
#include <chrono>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "lethe/domain/envelope.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/kafka.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/producers/audit.hpp"
#include "lethe/producers/topics.hpp"

namespace lethe::producers {

namespace {

using Clock = std::chrono::steady_clock;

// What the relay has not published yet: outbox rows above its checkpoint.
// Everything else in events counts as published (the relay prunes the
// outbox only behind its checkpoint).
constexpr const char* kUnpublishedSql =
    "SELECT o.global_position FROM outbox o, relay_checkpoint c"
    " WHERE c.id = 1 AND (o.tx_id, o.global_position) > (c.tx_id, c.global_position)";
// Entries the relay set aside because the broker refused them for good
// (relay_parked) are behind the checkpoint yet on no topic: not published
// either.
constexpr const char* kParkedSql = "SELECT global_position FROM relay_parked";
constexpr const char* kEventsPageSql =
    "SELECT global_position, event_id::text, hash FROM events WHERE global_position > $1"
    " ORDER BY global_position LIMIT $2";
constexpr const char* kEventsByIdSql = "SELECT event_id::text, hash FROM events WHERE event_id = ANY($1::uuid[])";
constexpr std::int64_t kPage = 10000;
constexpr std::size_t kRecheckBatch = 1000;
constexpr auto kProgressEvery = std::chrono::seconds(5);

using Id = std::array<unsigned char, 16>;
using Fingerprint = std::array<unsigned char, 32>;

struct IdHash {
  std::size_t operator()(const Id& id) const noexcept {
    std::size_t h;  // a UUID is random already
    std::memcpy(&h, id.data(), sizeof h);
    return h;
  }
};

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// 16 bytes of a UUID in any case; false if it is none.
bool parse_id(std::string_view text, Id& out) {
  std::size_t n = 0;
  for (char c : text) {
    if (c == '-') continue;
    const int v = hex_value(c);
    if (v < 0 || n >= 32) return false;
    out[n / 2] = static_cast<unsigned char>(n % 2 ? (out[n / 2] << 4) | v : v);
    ++n;
  }
  return n == 32;
}

std::string id_text(const Id& id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += kDigits[id[i] >> 4];
    s += kDigits[id[i] & 0x0f];
  }
  return s;
}

// The 32 bytes a well-formed hash stands for; anything else (a tampered
// column) is fingerprinted by its SHA-256, so it differs from every real hash.
Fingerprint fingerprint(std::string_view hash) {
  Fingerprint f{};
  bool hex = hash.size() == 64;
  for (std::size_t i = 0; hex && i < f.size(); ++i) {
    const int hi = hex_value(hash[2 * i]), lo = hex_value(hash[2 * i + 1]);
    hex = hi >= 0 && lo >= 0;
    f[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  if (!hex) crypto_hash_sha256(f.data(), reinterpret_cast<const unsigned char*>(hash.data()), hash.size());
  return f;
}

struct Copy {
  Fingerprint hash;
  std::int64_t offset;
  std::int32_t partition;
  std::uint16_t topic;   // index into the topic list
  bool matched = false;  // found in PostgreSQL
};

class Audit {
 public:
  Audit(const KafkaAuditOptions& options, const std::function<void(const std::string&, std::int64_t)>& progress)
      : opt_(options), progress_(progress) {}

  KafkaAuditReport run() {
    auto conn = infra::connect(opt_.conninfo);
    // One snapshot for the PostgreSQL side, taken before Kafka is read:
    // whatever it counts as published was acknowledged by Kafka before, so
    // it is below the end offsets read next. It holds no transaction id, so
    // it does not hold back the relay.
    infra::translate_pg("verify --against-kafka", [&] {
      pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(*conn);
      std::unordered_set<std::int64_t> unpublished;
      for (const auto& r : tx.exec(kUnpublishedSql)) unpublished.insert(r[0].as<std::int64_t>());
      for (const auto& r : tx.exec(kParkedSql)) unpublished.insert(r[0].as<std::int64_t>());
      read_kafka();
      compare_events(tx, unpublished);
    });
    recheck_unmatched(*conn);
    return std::move(report_);
  }

 private:
  void problem(std::int64_t& counter, const std::string& line) {
    ++counter;
    if (report_.examples.size() < opt_.max_examples) report_.examples.push_back(line);
  }

  std::string where(const Copy& c) const {
    return topics_[c.topic] + "/" + std::to_string(c.partition) + "@" + std::to_string(c.offset);
  }

  void tick(const std::string& stage, std::int64_t n) {
    if (!progress_ || Clock::now() - last_progress_ < kProgressEvery) return;
    last_progress_ = Clock::now();
    progress_(stage, n);
  }

  void read_kafka() {
    for (const auto& spec : topic_specs())
      if (spec.name != "dead-letters") topics_.push_back(opt_.topic_prefix + spec.name);
    std::unordered_map<std::string, std::uint16_t> topic_index;
    for (std::size_t i = 0; i < topics_.size(); ++i) topic_index[topics_[i]] = static_cast<std::uint16_t>(i);
    // End offsets are read now, after the PostgreSQL snapshot.
    auto consumer = infra::raw_reader(opt_.brokers, "verify");
    infra::read_to_end(*consumer, topics_, [&](RdKafka::Message& m) {
      ++report_.messages;
      take(m, topic_index.at(m.topic_name()));
      tick("messages read from Kafka", report_.messages);
    });
    consumer->close();
  }

  void take(const RdKafka::Message& m, std::uint16_t topic) {
    const Copy copy{{}, m.offset(), m.partition(), topic};
    const auto env = domain::decode(std::string_view(static_cast<const char*>(m.payload()), m.len()));
    Id id{};
    if (!env || !parse_id(env.value().event_id, id)) {
      problem(report_.undecodable,
              where(copy) + ": not an event envelope" + (env ? std::string() : " (" + env.error().message + ")"));
      return;
    }
    auto c = copy;
    c.hash = fingerprint(env.value().hash);
    // The type header is not hashed, and a projection passes over a type it
    // does not read by it: a relabelled copy would drop out of the audit
    // log unseen, so its label must be its type.
    if (const auto label = infra::header_of(m, infra::kTypeHeader); label && *label != env.value().type)
      problem(report_.mislabelled, "event " + id_text(id) + ": its copy at " + where(c) + " is labelled " +
                                       std::string(*label) + " but is a " + env.value().type);
    // The bytes sent are the bytes hashed, so each copy must check out on
    // its own: a copy altered on the broker (or written before the
    // canonical form) would otherwise pass as long as its hash field matched.
    if (domain::chain_hash(env.value()) != env.value().hash)
      problem(report_.hash_differs,
              "event " + id_text(id) + ": its copy at " + where(c) + " does not match its own hash");
    const auto [it, inserted] = copies_.try_emplace(id, c);
    if (!inserted && it->second.hash != c.hash)
      problem(report_.hash_differs, "event " + id_text(id) + ": its copies at " + where(it->second) + " and " +
                                        where(c) + " carry different hashes");
  }

  void compare_events(pqxx::transaction_base& tx, const std::unordered_set<std::int64_t>& unpublished) {
    std::int64_t after = 0;
    for (;;) {
      const auto rows = tx.exec_params(kEventsPageSql, after, kPage);
      for (const auto& r : rows) {
        after = r[0].as<std::int64_t>();
        ++report_.events;
        Id id{};
        parse_id(r[1].c_str(), id);  // a uuid column: always parses
        const auto it = copies_.find(id);
        if (it == copies_.end()) {
          if (unpublished.count(after))
            ++report_.unpublished;
          else
            problem(report_.missing_on_kafka, "event " + id_text(id) + " at position " + std::to_string(after) +
                                                  " was published (it is behind the relay's checkpoint) but is on no"
                                                  " topic");
          continue;
        }
        it->second.matched = true;
        if (it->second.hash != fingerprint(r[2].c_str()))
          problem(report_.hash_differs, "event " + id_text(id) + " at position " + std::to_string(after) +
                                            ": its hash in PostgreSQL differs from its copy at " + where(it->second));
      }
      tick("events compared", report_.events);
      if (static_cast<std::int64_t>(rows.size()) < kPage) break;
    }
  }

  // Copies on Kafka that the snapshot did not hold: events appended while the
  // audit ran are in PostgreSQL now; the rest are not in the store at all.
  void recheck_unmatched(pqxx::connection& conn) {
    std::vector<Id> ids;
    for (const auto& [id, copy] : copies_)
      if (!copy.matched) ids.push_back(id);
    for (std::size_t at = 0; at < ids.size(); at += kRecheckBatch) {
      std::vector<std::string> batch;
      for (std::size_t i = at; i < std::min(ids.size(), at + kRecheckBatch); ++i) batch.push_back(id_text(ids[i]));
      std::unordered_map<std::string, std::string> found;
      infra::translate_pg("verify --against-kafka", [&] {
        pqxx::read_transaction tx(conn);
        for (const auto& r : tx.exec_params(kEventsByIdSql, infra::pg_text_array(batch)))
          found.emplace(r[0].c_str(), r[1].c_str());
      });
      for (const auto& text : batch) {
        Id id{};
        parse_id(text, id);
        const auto& copy = copies_.at(id);
        const auto f = found.find(text);
        if (f == found.end())
          problem(report_.missing_in_store,
                  "event " + text + " at " + where(copy) + " is on Kafka but not in PostgreSQL");
        else if (fingerprint(f->second) != copy.hash)
          problem(report_.hash_differs,
                  "event " + text + ": its hash in PostgreSQL differs from its copy at " + where(copy));
      }
    }
  }

  const KafkaAuditOptions& opt_;
  const std::function<void(const std::string&, std::int64_t)>& progress_;
  std::vector<std::string> topics_;
  std::unordered_map<Id, Copy, IdHash> copies_;
  KafkaAuditReport report_;
  Clock::time_point last_progress_ = Clock::now();
};

}  // namespace

KafkaAuditReport verify_against_kafka(const KafkaAuditOptions& options,
                                      const std::function<void(const std::string&, std::int64_t)>& progress) {
  return Audit(options, progress).run();
}

}  // namespace lethe::producers
