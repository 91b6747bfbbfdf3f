#include "email/email_projection.hpp"

#include <algorithm>
#include <unordered_map>

#include "lethe/domain/email.hpp"
#include "stream_batch.hpp"

namespace lethe::projections {

namespace email = domain::email;

namespace {

constexpr const char* kLoadSql = "SELECT email_id, version FROM email_logs WHERE email_id = ANY($1::text[])";
constexpr const char* kStageSql =
    "CREATE TEMP TABLE IF NOT EXISTS email_logs_stage (LIKE email_logs) ON COMMIT DELETE ROWS";
const std::vector<std::string> kColumns{"email_id", "recipient_id", "template", "subject",
                                        "sent_at",  "logged_at",    "version"};
// One event per stream today; a later version of the stream would move the
// row forward, never back.
constexpr const char* kMergeSql =
    "INSERT INTO email_logs (email_id, recipient_id, template, subject, sent_at, logged_at, version)"
    " SELECT email_id, recipient_id, template, subject, sent_at, logged_at, version FROM email_logs_stage"
    " ON CONFLICT (email_id) DO UPDATE SET template = EXCLUDED.template, subject = EXCLUDED.subject,"
    " sent_at = EXCLUDED.sent_at, logged_at = EXCLUDED.logged_at, version = EXCLUDED.version"
    " WHERE email_logs.version < EXCLUDED.version";

struct Row {
  std::string recipient_id, template_name;
  std::optional<std::string> subject;
  std::string sent_at, logged_at;
  std::int64_t version = 0;
  bool exists = false;
  bool dirty = false;
};

}  // namespace

ApplyResult EmailProjection::apply(std::span<const Delivered> batch, pqxx::dbtransaction& tx) {
  ApplyResult result;
  auto decoded = stream_batch::decode<email::Event>(batch, "email.", email::decode_sealed, tx, result);
  if (decoded.empty()) return result;

  std::vector<std::string> ids;
  ids.reserve(decoded.size());
  for (const auto& d : decoded) ids.push_back(std::visit([](const auto& e) { return e.email_id; }, d.event));
  std::unordered_map<std::string, Row> rows;
  for (const auto& r : infra::exec_hot(tx, kLoadSql, infra::pg_text_array(ids))) {
    auto& row = rows[r[0].c_str()];
    row.version = r[1].as<std::int64_t>();
    row.exists = true;
  }

  for (std::size_t k = 0; k < decoded.size(); ++k) {
    const auto index = decoded[k].index;
    const auto& e = std::get<email::EmailSentLogged>(decoded[k].event);
    const auto& id = ids[k];
    const auto& d = batch[index];
    if (!stream_batch::on_stream(d, index, email::email_stream(id), result)) continue;
    auto& row = rows[id];
    if (!stream_batch::is_next(d, index, row.version, row.exists, true, result)) continue;
    row.recipient_id = e.recipient_id;
    row.template_name = e.template_name;
    row.subject = stream_batch::opened(e.subject);
    row.sent_at = e.sent_at;
    row.logged_at = d.envelope.occurred_at;
    row.version = d.envelope.stream_version;
    row.exists = row.dirty = true;
    ++result.applied;
  }

  if (std::none_of(rows.begin(), rows.end(), [](const auto& r) { return r.second.dirty; })) return result;
  tx.exec(kStageSql);
  pqxx::stream_to copy(tx, "email_logs_stage", kColumns);
  for (const auto& [id, r] : rows)
    if (r.dirty)
      copy << std::make_tuple(id, r.recipient_id, r.template_name, r.subject, r.sent_at, r.logged_at, r.version);
  copy.complete();
  tx.exec(kMergeSql);
  return result;
}

// How this read model forgets a person (see ErasureRule); its migrations
// mark the columns it must cover.
const ErasurePolicy& EmailProjection::erasure_policy() const {
  static const ErasurePolicy policy{
      {"email_logs",
       "recipient_id",
       Erase::set_null,
       {{"subject", "NULL"}},
       {},
       "the log stays, without the recipient and their subject"},
  };
  return policy;
}

}  // namespace lethe::projections
