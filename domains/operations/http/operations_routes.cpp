// The dead letters, for the console's operations page: GET /dead-letters
// lists the newest on the dead-letter topic with every payload masked (its
// size only) and each reason cut before what it may quote; POST
// /dead-letters/{id}/reveal shows one payload and its whole reason to an
// admin or owner, and the reveal is an event, so it is in the audit log.
// Both read only the messages they show, from Kafka, within a few seconds
// (503 when Kafka does not answer). And the rebuild and rollback of a read
// model, started from the console's operations page.
#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <optional>

#include "lethe/domain/envelope.hpp"
#include "lethe/infra/ids.hpp"
#include "lethe/infra/kafka.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/projections/projection.hpp"
#include "operations_service.hpp"
#include "ready.hpp"
#include "route_kit.hpp"

namespace lethe::api {

namespace {

namespace operations = domain::operations;

// The newest dead letters a list shows, and the longest a read of the
// topic may take: a page of the console waits on it.
constexpr std::int64_t kListed = 200;
constexpr auto kReadLimit = std::chrono::seconds(5);
// The dead-letter topic has one partition (producers' topic set-up).
constexpr std::int32_t kPartition = 0;

struct Letter {
  std::int64_t offset = 0, timestamp_ms = 0;
  std::size_t bytes = 0;
  std::string key, value, projection, reason, source, type;
};

std::string header(RdKafka::Message& m, const char* name) {
  const auto* headers = m.headers();
  if (!headers) return {};
  const auto h = headers->get_last(name);
  return h.value() ? std::string(static_cast<const char*>(h.value()), h.value_size()) : std::string();
}

Letter letter_of(RdKafka::Message& m, bool keep_value) {
  Letter l;
  l.offset = m.offset();
  l.timestamp_ms = m.timestamp().timestamp;
  l.bytes = m.len();
  if (m.key()) l.key = *m.key();
  const std::string_view value(static_cast<const char*>(m.payload()), m.len());
  if (keep_value) l.value = value;
  l.projection = header(m, "projection");
  l.reason = header(m, "reason");
  l.source = header(m, "source_topic") + "[" + header(m, "source_partition") + "]@" + header(m, "source_offset");
  if (const auto env = domain::decode(value)) l.type = env.value().type;
  return l;
}

HttpError kafka_unavailable(const std::string& what) {
  return {503, "unavailable", "", "Kafka did not answer (" + what + "); try again", 5};
}

// The messages at offsets [from, to) of the dead-letter topic, within
// kReadLimit; throws 503 when Kafka does not answer.
std::vector<Letter> read_letters(Call& c, std::int64_t from, std::int64_t to, bool keep_values) {
  std::vector<Letter> out;
  if (from >= to) return out;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  try {
    consumer = infra::raw_reader(c.shared.cfg.brokers, "dead-letters");
  } catch (const std::exception& e) {
    throw kafka_unavailable(infra::first_line(e.what()));
  }
  std::unique_ptr<RdKafka::TopicPartition> at(
      RdKafka::TopicPartition::create(c.shared.cfg.topic("dead-letters"), kPartition, from));
  std::vector<RdKafka::TopicPartition*> assignment{at.get()};
  if (consumer->assign(assignment) != RdKafka::ERR_NO_ERROR) throw kafka_unavailable("assign");
  const auto deadline = std::chrono::steady_clock::now() + kReadLimit;
  std::int64_t next = from;
  while (next < to) {
    if (std::chrono::steady_clock::now() > deadline) {
      consumer->close();
      throw kafka_unavailable("the dead-letter topic was not read in time");
    }
    std::unique_ptr<RdKafka::Message> m(consumer->consume(200));
    if (m->err() == RdKafka::ERR__TIMED_OUT || m->err() == RdKafka::ERR__PARTITION_EOF) continue;
    if (m->err() != RdKafka::ERR_NO_ERROR) {
      consumer->close();
      throw kafka_unavailable(RdKafka::err2str(m->err()));
    }
    next = m->offset() + 1;
    if (m->offset() < to) out.push_back(letter_of(*m, keep_values));
  }
  consumer->close();
  return out;
}

// The dead-letter topic's first and next offsets.
std::pair<std::int64_t, std::int64_t> bounds(const Call& c) {
  const auto ends = watermarks(c, c.shared.cfg.topic("dead-letters"), kPartition);
  if (!ends) throw kafka_unavailable("the dead-letter topic's offsets");
  return *ends;
}

void list_dead_letters(Call& c) {
  const auto [low, high] = bounds(c);
  const auto letters = read_letters(c, std::max(low, high - kListed), high, false);
  Json j;
  j.begin().num("total", high - low).begin_array("dead_letters");
  for (auto it = letters.rbegin(); it != letters.rend(); ++it)
    j.begin()
        .str("id", operations::dead_letter_id(kPartition, it->offset))
        .num("partition", kPartition)
        .num("offset", it->offset)
        .num("timestamp_ms", it->timestamp_ms)
        .str("projection", it->projection)
        .str("reason", reason_head(it->reason))
        .str("source", it->source)
        .str("stream_id", it->key)
        .str("type", it->type)
        .num("payload_bytes", static_cast<std::int64_t>(it->bytes))
        .end();
  c.json(200, j.end_array().end().text());
}

// "<partition>-<offset>" of a message the topic holds, or nullopt.
std::optional<std::int64_t> offset_of(const std::string& id, std::int64_t low, std::int64_t high) {
  const auto prefix = std::to_string(kPartition) + "-";
  if (!id.starts_with(prefix)) return std::nullopt;
  std::int64_t offset = -1;
  const auto* first = id.data() + prefix.size();
  const auto [end, ec] = std::from_chars(first, id.data() + id.size(), offset);
  if (ec != std::errc() || end != id.data() + id.size() || offset < low || offset >= high) return std::nullopt;
  return offset;
}

void reveal_dead_letter(Call& c) {
  const auto& id = c.params.at(0);
  const auto [low, high] = bounds(c);
  const auto offset = offset_of(id, low, high);
  if (!offset) throw HttpError{404, "not_found", "id", "no dead letter has this id"};
  auto letters = read_letters(c, *offset, *offset + 1, true);
  if (letters.empty()) throw HttpError{404, "not_found", "id", "no dead letter has this id"};
  const auto& found = letters.front();
  const auto w = ok_or_throw(c.service<producers::OperationsService>().handle(
      operations::RevealDeadLetter{id, found.projection.empty() ? "unknown" : found.projection, found.source}, c.ctx));
  c.written(200, id, w, [&](Json& j) {
    j.str("projection", found.projection)
        .str("reason", found.reason)
        .str("source", found.source)
        .str("stream_id", found.key);
    // What the topic holds, as text when it is text (an envelope), else
    // its bytes in hex (a message that never decoded).
    if (valid_text(found.value))
      j.str("payload", found.value).null("payload_hex");
    else
      j.null("payload").str("payload_hex", infra::hex(found.value));
  });
}

// POST /projections/{name}/rebuild|rollback: starts the job in the server
// (ProjectionJobs), on record first as operations.projection_job_started;
// 202 with the job, 409 while one of this projection runs. GET /operations
// shows its progress and outcome.
void start_projection_job(Call& c, const std::string& action) {
  const auto& name = c.params.at(0);
  const auto names = projections::projection_names();
  if (std::ranges::find(names, name) == names.end())
    throw HttpError{404, "not_found", "name", "no projection has this name"};
  if (!c.shared.jobs.available()) throw HttpError{501, "not_implemented", "", "this server runs no projection jobs"};
  producers::Written written;
  const bool started = c.shared.jobs.start(name, action, c.who->user_id, [&] {
    written = ok_or_throw(
        c.service<producers::OperationsService>().handle(operations::StartProjectionJob{name, action}, c.ctx));
  });
  if (!started)
    throw HttpError{409, "conflict", "name", "a rebuild or rollback of " + name + " is running; wait for its end"};
  c.written(202, name, written,
            [&](Json& j) { j.str("projection", name).str("action", action).str("state", "running"); });
}

}  // namespace

DomainRoutes operations_routes() {
  return {{
              {"GET", "/dead-letters", kStaffUp | kAuditor, list_dead_letters},
              {"POST", "/dead-letters/{id}/reveal", kAdminUp, reveal_dead_letter},
              {"POST", "/projections/{name}/rebuild", kAdminUp, [](Call& c) { start_projection_job(c, "rebuild"); }},
              {"POST", "/projections/{name}/rollback", kAdminUp, [](Call& c) { start_projection_job(c, "rollback"); }},
          },
          {}};
}

}  // namespace lethe::api
