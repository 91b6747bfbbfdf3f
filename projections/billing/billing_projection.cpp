#include "billing/billing_projection.hpp"

#include <unordered_map>

#include "lethe/domain/billing.hpp"
#include "stream_batch.hpp"

namespace lethe::projections {

namespace billing = domain::billing;
using stream_batch::nullable;
using stream_batch::opened;

namespace {

constexpr const char* kLoadProfilesSql =
    "SELECT user_id, version FROM billing_profiles WHERE user_id = ANY($1::text[])";
constexpr const char* kLoadSubscriptionsSql =
    "SELECT subscription_id, user_id, plan, status, cancel_reason, created_at::text, cancelled_at::text, version"
    " FROM billing_subscriptions WHERE subscription_id = ANY($1::text[])";
constexpr const char* kLoadTransactionsSql =
    "SELECT transaction_id, user_id, amount, currency, description, refunded, credited, created_at::text, version"
    " FROM billing_transactions WHERE transaction_id = ANY($1::text[])";

// Staging tables: COPY in, then one statement each moves the batch into the
// read model.
constexpr const char* kStageSql =
    "CREATE TEMP TABLE IF NOT EXISTS billing_profiles_stage (LIKE billing_profiles) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS billing_subscriptions_stage (LIKE billing_subscriptions) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS billing_transactions_stage (LIKE billing_transactions) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS billing_refunds_stage (LIKE billing_refunds) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS billing_credit_notes_stage (LIKE billing_credit_notes) ON COMMIT DELETE ROWS";

const std::vector<std::string> kProfileColumns{"user_id", "holder_name", "address", "tax_id", "updated_at", "version"};
const std::vector<std::string> kSubscriptionColumns{"subscription_id", "user_id",    "plan",         "status",
                                                    "cancel_reason",   "created_at", "cancelled_at", "version"};
const std::vector<std::string> kTransactionColumns{"transaction_id", "user_id",  "amount",   "currency",
                                                   "description",    "refunded", "credited", "created_at",
                                                   "updated_at",     "version"};
const std::vector<std::string> kRefundColumns{"refund_id", "transaction_id", "user_id", "amount",
                                              "currency",  "reason",         "at",      "stream_version"};
const std::vector<std::string> kCreditNoteColumns{"credit_note_id", "transaction_id", "user_id", "amount",
                                                  "currency",       "reason",         "at",      "stream_version"};

// A row only moves forward: a stale or repeated version never overwrites.
// An update sets only what events change, so a person column that the
// erasure policy has nulled stays so.
constexpr const char* kMergeProfilesSql =
    "INSERT INTO billing_profiles (user_id, holder_name, address, tax_id, updated_at, version)"
    " SELECT user_id, holder_name, address, tax_id, updated_at, version FROM billing_profiles_stage"
    " ON CONFLICT (user_id) DO UPDATE SET holder_name = EXCLUDED.holder_name, address = EXCLUDED.address,"
    " tax_id = EXCLUDED.tax_id, updated_at = EXCLUDED.updated_at, version = EXCLUDED.version"
    " WHERE billing_profiles.version < EXCLUDED.version";
constexpr const char* kMergeSubscriptionsSql =
    "INSERT INTO billing_subscriptions (subscription_id, user_id, plan, status, cancel_reason, created_at,"
    " cancelled_at, version)"
    " SELECT subscription_id, user_id, plan, status, cancel_reason, created_at, cancelled_at, version"
    " FROM billing_subscriptions_stage"
    " ON CONFLICT (subscription_id) DO UPDATE SET status = EXCLUDED.status, cancel_reason = EXCLUDED.cancel_reason,"
    " cancelled_at = EXCLUDED.cancelled_at, version = EXCLUDED.version"
    " WHERE billing_subscriptions.version < EXCLUDED.version";
constexpr const char* kMergeTransactionsSql =
    "INSERT INTO billing_transactions (transaction_id, user_id, amount, currency, description, refunded, credited,"
    " created_at, updated_at, version)"
    " SELECT transaction_id, user_id, amount, currency, description, refunded, credited, created_at, updated_at,"
    " version FROM billing_transactions_stage"
    " ON CONFLICT (transaction_id) DO UPDATE SET refunded = EXCLUDED.refunded, credited = EXCLUDED.credited,"
    " updated_at = EXCLUDED.updated_at, version = EXCLUDED.version"
    " WHERE billing_transactions.version < EXCLUDED.version";
// Refunds and credit notes are keyed by their own ids: applying one twice
// changes nothing.
constexpr const char* kMergeRefundsSql =
    "INSERT INTO billing_refunds (refund_id, transaction_id, user_id, amount, currency, reason, at, stream_version)"
    " SELECT refund_id, transaction_id, user_id, amount, currency, reason, at, stream_version"
    " FROM billing_refunds_stage ON CONFLICT (refund_id) DO NOTHING";
constexpr const char* kMergeCreditNotesSql =
    "INSERT INTO billing_credit_notes (credit_note_id, transaction_id, user_id, amount, currency, reason, at,"
    " stream_version)"
    " SELECT credit_note_id, transaction_id, user_id, amount, currency, reason, at, stream_version"
    " FROM billing_credit_notes_stage ON CONFLICT (credit_note_id) DO NOTHING";

struct ProfileRow {
  std::optional<std::string> holder_name, address, tax_id;
  std::string updated_at;
  std::int64_t version = 0;
  bool exists = false;
  bool dirty = false;
};
struct SubscriptionRow {
  std::optional<std::string> user_id;
  std::string plan, status;
  std::optional<std::string> cancel_reason;
  std::string created_at;
  std::optional<std::string> cancelled_at;
  std::int64_t version = 0;
  bool exists = false;
  bool dirty = false;
};
struct TransactionRow {
  std::optional<std::string> user_id;
  std::int64_t amount = 0;
  std::string currency, description;
  std::int64_t refunded = 0, credited = 0;
  std::string created_at, updated_at;
  std::int64_t version = 0;
  bool exists = false;
  bool dirty = false;
};
// A refund or a credit note.
struct LineRow {
  std::string id, transaction_id;
  std::optional<std::string> user_id;
  std::int64_t amount;
  std::string currency, reason, at;
  std::int64_t stream_version;
};

enum class Kind { profile, subscription, transaction };

// Which row an event folds into, and that row's id.
std::pair<Kind, std::string> row_of(const billing::Event& ev) {
  return std::visit(
      [](const auto& e) -> std::pair<Kind, std::string> {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, billing::ProfileSet>)
          return {Kind::profile, e.user_id};
        else if constexpr (std::is_same_v<T, billing::SubscriptionCreated> ||
                           std::is_same_v<T, billing::SubscriptionCancelled>)
          return {Kind::subscription, e.subscription_id};
        else
          return {Kind::transaction, e.transaction_id};
      },
      ev);
}

std::string stream_of(Kind kind, const std::string& id) {
  switch (kind) {
    case Kind::profile:
      return billing::profile_stream(id);
    case Kind::subscription:
      return billing::subscription_stream(id);
    case Kind::transaction:
      break;
  }
  return billing::transaction_stream(id);
}

}  // namespace

ApplyResult BillingProjection::apply(std::span<const Delivered> batch, pqxx::dbtransaction& tx) {
  ApplyResult result;
  auto decoded = stream_batch::decode<billing::Event>(batch, "billing.", billing::decode_sealed, tx, result);
  if (decoded.empty()) return result;

  // Collapse keys: each row loaded once, its events folded in memory, each
  // changed row written once.
  std::vector<std::pair<Kind, std::string>> keys;
  keys.reserve(decoded.size());
  std::vector<std::string> ids[3];
  for (const auto& d : decoded) {
    keys.push_back(row_of(d.event));
    ids[static_cast<int>(keys.back().first)].push_back(keys.back().second);
  }
  std::unordered_map<std::string, ProfileRow> profiles;
  std::unordered_map<std::string, SubscriptionRow> subscriptions;
  std::unordered_map<std::string, TransactionRow> transactions;
  if (const auto& v = ids[static_cast<int>(Kind::profile)]; !v.empty())
    for (const auto& r : infra::exec_hot(tx, kLoadProfilesSql, infra::pg_text_array(v))) {
      auto& row = profiles[r[0].c_str()];
      row.version = r[1].as<std::int64_t>();
      row.exists = true;
    }
  if (const auto& v = ids[static_cast<int>(Kind::subscription)]; !v.empty())
    for (const auto& r : infra::exec_hot(tx, kLoadSubscriptionsSql, infra::pg_text_array(v)))
      subscriptions[r[0].c_str()] = SubscriptionRow{nullable(r[1]),          r[2].c_str(), r[3].c_str(),
                                                    nullable(r[4]),          r[5].c_str(), nullable(r[6]),
                                                    r[7].as<std::int64_t>(), true,         false};
  if (const auto& v = ids[static_cast<int>(Kind::transaction)]; !v.empty())
    for (const auto& r : infra::exec_hot(tx, kLoadTransactionsSql, infra::pg_text_array(v)))
      transactions[r[0].c_str()] = TransactionRow{nullable(r[1]),
                                                  r[2].as<std::int64_t>(),
                                                  r[3].c_str(),
                                                  r[4].c_str(),
                                                  r[5].as<std::int64_t>(),
                                                  r[6].as<std::int64_t>(),
                                                  r[7].c_str(),
                                                  "",
                                                  r[8].as<std::int64_t>(),
                                                  true,
                                                  false};

  std::vector<LineRow> refunds, credit_notes;
  for (std::size_t k = 0; k < decoded.size(); ++k) {
    const auto index = decoded[k].index;
    const auto& ev = decoded[k].event;
    const auto kind = keys[k].first;
    const auto& id = keys[k].second;
    const auto& d = batch[index];
    const auto& env = d.envelope;
    if (!stream_batch::on_stream(d, index, stream_of(kind, id), result)) continue;
    std::visit(
        [&](const auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, billing::ProfileSet>) {
            auto& row = profiles[id];
            if (!stream_batch::is_next(d, index, row.version, row.exists, true, result)) return;
            row.holder_name = opened(e.holder_name);
            row.address = opened(e.address);
            row.tax_id = opened(e.tax_id);
            row.updated_at = env.occurred_at;
            row.version = env.stream_version;
            row.exists = row.dirty = true;
          } else if constexpr (std::is_same_v<T, billing::SubscriptionCreated> ||
                               std::is_same_v<T, billing::SubscriptionCancelled>) {
            constexpr bool kCreates = std::is_same_v<T, billing::SubscriptionCreated>;
            auto& row = subscriptions[id];
            if (!stream_batch::is_next(d, index, row.version, row.exists, kCreates, result)) return;
            if constexpr (kCreates) {
              row.user_id = e.user_id;
              row.plan = e.plan;
              row.status = "active";
              row.created_at = env.occurred_at;
            } else {
              row.status = "cancelled";
              row.cancel_reason = e.reason;
              row.cancelled_at = env.occurred_at;
            }
            row.version = env.stream_version;
            row.exists = row.dirty = true;
          } else {
            constexpr bool kCreates = std::is_same_v<T, billing::ChargeRecorded>;
            auto& row = transactions[id];
            if (!stream_batch::is_next(d, index, row.version, row.exists, kCreates, result)) return;
            if constexpr (kCreates) {
              row.user_id = e.user_id;
              row.amount = e.amount;
              row.currency = e.currency;
              row.description = e.description;
              row.refunded = row.credited = 0;
              row.created_at = env.occurred_at;
            } else {
              constexpr bool kRefund = std::is_same_v<T, billing::RefundRecorded>;
              auto& sum = kRefund ? row.refunded : row.credited;
              std::int64_t next = 0;
              if (__builtin_add_overflow(sum, e.amount, &next)) {
                result.rejected.push_back(
                    {index, env.type + " on " + env.stream_id + ": the sum of its amounts overflows bigint"});
                return;
              }
              sum = next;
              std::string line_id;
              if constexpr (kRefund)
                line_id = e.refund_id;
              else
                line_id = e.credit_note_id;
              (kRefund ? refunds : credit_notes)
                  .push_back({std::move(line_id), id, opened(e.user_id), e.amount, e.currency, e.reason,
                              env.occurred_at, env.stream_version});
            }
            row.updated_at = env.occurred_at;
            row.version = env.stream_version;
            row.exists = row.dirty = true;
          }
          ++result.applied;
        },
        ev);
  }

  tx.exec(kStageSql);
  const auto dirty = [](const auto& rows) {
    for (const auto& [id, r] : rows)
      if (r.dirty) return true;
    return false;
  };
  if (dirty(profiles)) {
    pqxx::stream_to copy(tx, "billing_profiles_stage", kProfileColumns);
    for (const auto& [id, r] : profiles)
      if (r.dirty) copy << std::make_tuple(id, r.holder_name, r.address, r.tax_id, r.updated_at, r.version);
    copy.complete();
    tx.exec(kMergeProfilesSql);
  }
  if (dirty(subscriptions)) {
    pqxx::stream_to copy(tx, "billing_subscriptions_stage", kSubscriptionColumns);
    for (const auto& [id, r] : subscriptions)
      if (r.dirty)
        copy << std::make_tuple(id, r.user_id, r.plan, r.status, r.cancel_reason, r.created_at, r.cancelled_at,
                                r.version);
    copy.complete();
    tx.exec(kMergeSubscriptionsSql);
  }
  if (dirty(transactions)) {
    pqxx::stream_to copy(tx, "billing_transactions_stage", kTransactionColumns);
    for (const auto& [id, r] : transactions)
      if (r.dirty)
        copy << std::make_tuple(id, r.user_id, r.amount, r.currency, r.description, r.refunded, r.credited,
                                r.created_at, r.updated_at, r.version);
    copy.complete();
    tx.exec(kMergeTransactionsSql);
  }
  const auto copy_lines = [&](const std::vector<LineRow>& lines, const char* stage,
                              const std::vector<std::string>& columns, const char* merge) {
    if (lines.empty()) return;
    pqxx::stream_to copy(tx, stage, columns);
    for (const auto& l : lines)
      copy << std::make_tuple(l.id, l.transaction_id, l.user_id, l.amount, l.currency, l.reason, l.at,
                              l.stream_version);
    copy.complete();
    tx.exec(merge);
  };
  copy_lines(refunds, "billing_refunds_stage", kRefundColumns, kMergeRefundsSql);
  copy_lines(credit_notes, "billing_credit_notes_stage", kCreditNoteColumns, kMergeCreditNotesSql);
  return result;
}

// How this read model forgets a person (see ErasureRule); its migrations
// mark the columns it must cover.
const ErasurePolicy& BillingProjection::erasure_policy() const {
  static const ErasurePolicy policy{
      {"billing_profiles",
       "user_id",
       Erase::delete_row,
       {},
       {},
       "name, address and tax id",
       "'billingprofile-' || user_id"},
      {"billing_subscriptions", "user_id", Erase::set_null, {}, {}, "financial records stay, without the person"},
      {"billing_transactions", "user_id", Erase::set_null, {}, {}, "financial records stay, without the person"},
      {"billing_refunds", "user_id", Erase::set_null, {}, {}, "financial records stay, without the person"},
      {"billing_credit_notes", "user_id", Erase::set_null, {}, {}, "financial records stay, without the person"},
  };
  return policy;
}

}  // namespace lethe::projections
