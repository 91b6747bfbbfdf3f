#include "audit_queries.hpp"
#include "audited_types.hpp"
#include "email.hpp"
#include "event_log_queries.hpp"
#include "route_kit.hpp"

namespace lethe::api {

namespace {

namespace q = projections::audit_queries;

// ?from= and ?to= bound a time range (RFC 3339, inclusive from, exclusive to).
std::string time_param(const Call& c, const char* name) {
  const auto v = c.req.get_param_value(name);
  if (!v.empty() && !domain::email::is_utc_timestamp(v))
    throw HttpError{400, "invalid_argument", name,
                    std::string(name) + " must be an RFC 3339 time in UTC, e.g. 2026-11-25T00:00:00Z"};
  return v;
}

bool audited(std::string_view type) {
  return projections::find_audited(type) != nullptr;
}
bool every_event(std::string_view) {
  return true;
}

void audit_log(Call& c) {
  await_event(c, "audit_log", audited);
  const auto page = page_of(c);
  pqxx::read_transaction tx(reads(c));
  pqxx::result rows;
  try {
    rows = run(tx, q::kEntries, c.req.get_param_value("target_id"), c.req.get_param_value("actor"),
               time_param(c, "from"), time_param(c, "to"), page.limit, page.offset);
  } catch (const pqxx::data_exception&) {
    // Well formed (checked above), yet a day that does not exist (30 February).
    throw HttpError{422, "rule_violated", "from", "from and to must name days and times that exist"};
  }
  Json j;
  j.begin().begin_array("entries");
  for (const auto& r : rows)
    j.begin()
        .str("event_id", r["event_id"].c_str())
        .str("action", r["action"].c_str())
        .str("actor", r["actor"].c_str())
        .str("target_kind", r["target_kind"].c_str())
        .str("target_id", r["target_id"].c_str())
        .str("stream_id", r["stream_id"].c_str())
        .num("stream_version", r["stream_version"].as<std::int64_t>())
        .str("occurred_at", r["occurred_at"].c_str())
        .str("correlation_id", r["correlation_id"].c_str())
        .end();
  j.end_array();
  page_json(j, page, rows.size());
  c.json(200, j.end().text());
}

// The event log: every event delivered, by id, type and stream, with its
// place in Kafka; no payload.
void event_log(Call& c) {
  await_event(c, "event_log", every_event);
  const auto page = page_of(c);
  pqxx::read_transaction tx(reads(c));
  const auto rows = run(tx, projections::event_log_queries::kDeliveries, c.req.get_param_value("stream_id"),
                        c.req.get_param_value("type"), page.limit, page.offset);
  Json j;
  j.begin().begin_array("events");
  for (const auto& r : rows)
    j.begin()
        .str("topic", r["topic"].c_str())
        .num("partition", r["partition"].as<std::int64_t>())
        .num("offset", r["kafka_offset"].as<std::int64_t>())
        .str("event_id", r["event_id"].c_str())
        .str("type", r["type"].c_str())
        .str("stream_id", r["stream_id"].c_str())
        .num("stream_version", r["stream_version"].as<std::int64_t>())
        .str("occurred_at", r["occurred_at"].c_str())
        .str("actor", r["actor"].c_str())
        .str("correlation_id", r["correlation_id"].c_str())
        .end();
  j.end_array();
  page_json(j, page, rows.size());
  c.json(200, j.end().text());
}

}  // namespace

DomainRoutes audit_routes() {
  return {{
              {"GET", "/audit-log", kAuditor | kAdminUp, audit_log},
              {"GET", "/event-log", kAuditor | kAdminUp, event_log},
          },
          {}};
}

}  // namespace lethe::api
