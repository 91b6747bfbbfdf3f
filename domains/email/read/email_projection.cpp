#include "email_projection.hpp"

#include "email.hpp"
#include "lethe/infra/pg.hpp"
#include "stream_batch.hpp"
#include "table.hpp"

namespace lethe::projections {

namespace email = domain::email;

namespace {

// One event per stream today; a later version of the stream would move the
// row forward, never back (recipient_id stays the erasure policy's).
const table::Spec kEmailLogs{"email_logs",
                             {"email_id", table::text},
                             {{"recipient_id", table::text, table::kOnCreate, table::Mark::person},
                              {"template", table::text},
                              {"subject", table::text, table::Mark::sealed},
                              {"sent_at", table::timestamptz},
                              {"logged_at", table::timestamptz},
                              {"version", table::bigint}}};

}  // namespace

ApplyResult EmailProjection::apply(std::span<const Delivered> batch, infra::Tx tx) {
  ApplyResult result;
  // The subject ("Hello <name>") stays sealed in the table, opened only when
  // a query answers: no key is read here.
  auto decoded = stream_batch::decode_kept<email::Event>(batch, "email.", email::decode_sealed, result);
  if (decoded.empty()) return result;

  std::vector<std::string> ids;
  ids.reserve(decoded.size());
  for (const auto& d : decoded) ids.push_back(std::visit([](const auto& e) { return e.email_id; }, d.event));
  table::Rows rows(kEmailLogs);
  rows.load(tx, ids);

  for (std::size_t k = 0; k < decoded.size(); ++k) {
    const auto index = decoded[k].index;
    const auto& e = std::get<email::EmailSentLogged>(decoded[k].event);
    const auto& d = batch[index];
    if (!stream_batch::on_stream(d, index, email::email_stream(ids[k]), result)) continue;
    auto& row = rows.row(ids[k]);
    if (!stream_batch::is_next(d, index, row.version(), row.exists(), true, result)) continue;
    row.set("recipient_id", e.recipient_id)
        .set("template", e.template_name)
        .set("subject", stream_batch::opened(e.subject))
        .set("sent_at", e.sent_at)
        .set("logged_at", d.envelope.occurred_at)
        .applied(d.envelope.stream_version);
    ++result.applied;
  }
  rows.write(tx);
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

std::vector<DeclaredColumn> EmailProjection::declared_columns() const {
  return table::declared({&kEmailLogs});
}

std::vector<ReadModel> email_read_models() {
  return {{"email", []() -> std::unique_ptr<Projection> { return std::make_unique<EmailProjection>(); }}};
}

}  // namespace lethe::projections
