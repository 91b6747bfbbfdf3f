// The dead letters, for the console's operations page: GET /dead-letters
// lists what waits on the dead-letter topic with every payload masked (its
// size only); POST /dead-letters/{id}/reveal shows one payload to an admin
// or owner, and the reveal is an event, so it is in the audit log. Both read
// the topic from Kafka as it is (personal fields on it stay sealed).
#include <librdkafka/rdkafkacpp.h>

#include <deque>

#include "lethe/domain/envelope.hpp"
#include "lethe/infra/access.hpp"
#include "lethe/infra/kafka.hpp"
#include "operations_service.hpp"
#include "route_kit.hpp"

namespace lethe::api {

namespace {

namespace operations = domain::operations;

// The newest dead letters a list shows.
constexpr std::size_t kListed = 200;

struct Letter {
  std::int32_t partition = 0;
  std::int64_t offset = 0, timestamp_ms = 0;
  std::string key, value, projection, reason, source, type;
};

std::string header(RdKafka::Message& m, const char* name) {
  const auto* headers = m.headers();
  if (!headers) return {};
  const auto h = headers->get_last(name);
  return h.value() ? std::string(static_cast<const char*>(h.value()), h.value_size()) : std::string();
}

Letter letter_of(RdKafka::Message& m) {
  Letter l;
  l.partition = m.partition();
  l.offset = m.offset();
  l.timestamp_ms = m.timestamp().timestamp;
  if (m.key()) l.key = *m.key();
  l.value.assign(static_cast<const char*>(m.payload()), m.len());
  l.projection = header(m, "projection");
  l.reason = header(m, "reason");
  l.source = header(m, "source_topic") + "[" + header(m, "source_partition") + "]@" + header(m, "source_offset");
  if (const auto env = domain::decode(l.value)) l.type = env.value().type;
  return l;
}

// Every dead letter on the topic, oldest first, to `keep` (false: stop
// keeping); the topic is read to the end it has now.
template <class Keep>
void read_letters(Call& c, Keep&& keep) {
  auto consumer = infra::raw_reader(c.shared.cfg.brokers, "dead-letters");
  infra::read_to_end(*consumer, {c.shared.cfg.topic("dead-letters")}, [&](RdKafka::Message& m) { keep(letter_of(m)); });
  consumer->close();
}

void list_dead_letters(Call& c) {
  std::deque<Letter> newest;
  std::int64_t total = 0;
  read_letters(c, [&](Letter l) {
    ++total;
    newest.push_back(std::move(l));
    if (newest.size() > kListed) newest.pop_front();
  });
  Json j;
  j.begin().num("total", total).begin_array("dead_letters");
  for (auto it = newest.rbegin(); it != newest.rend(); ++it)
    j.begin()
        .str("id", operations::dead_letter_id(it->partition, it->offset))
        .num("partition", it->partition)
        .num("offset", it->offset)
        .num("timestamp_ms", it->timestamp_ms)
        .str("projection", it->projection)
        .str("reason", it->reason)
        .str("source", it->source)
        .str("stream_id", it->key)
        .str("type", it->type)
        .num("payload_bytes", static_cast<std::int64_t>(it->value.size()))
        .end();
  c.json(200, j.end_array().end().text());
}

void reveal_dead_letter(Call& c) {
  const auto& id = c.params.at(0);
  std::optional<Letter> found;
  read_letters(c, [&](Letter l) {
    if (!found && operations::dead_letter_id(l.partition, l.offset) == id) found = std::move(l);
  });
  if (!found) throw HttpError{404, "not_found", "id", "no dead letter has this id"};
  const auto w = ok_or_throw(c.service<producers::OperationsService>().handle(
      operations::RevealDeadLetter{id, found->projection.empty() ? "unknown" : found->projection, found->source},
      c.ctx));
  c.written(200, id, w, [&](Json& j) {
    j.str("projection", found->projection)
        .str("reason", found->reason)
        .str("source", found->source)
        .str("stream_id", found->key);
    // What the topic holds, as text when it is text (an envelope), else
    // its bytes in hex (a message that never decoded).
    if (valid_text(found->value))
      j.str("payload", found->value).null("payload_hex");
    else
      j.null("payload").str("payload_hex", infra::hex(found->value));
  });
}

}  // namespace

DomainRoutes operations_routes() {
  return {{
              {"GET", "/dead-letters", kStaffUp | kAuditor, list_dead_letters},
              {"POST", "/dead-letters/{id}/reveal", kAdminUp, reveal_dead_letter},
          },
          {}};
}

}  // namespace lethe::api
