#include "billing_queries.hpp"

namespace lethe::projections::billing_queries {

#define LETHE_TRANSACTION_COLUMNS                                                                           \
  "transaction_id AS id, user_id, amount, currency, description, refunded, credited, amount - refunded AS " \
  "refundable, " LETHE_UTC_TEXT("created_at") ", " LETHE_UTC_TEXT("updated_at") ", version"

const Query kProfile{"billing.profile",
                     "SELECT user_id, holder_name, address, tax_id, " LETHE_UTC_TEXT(
                         "updated_at") ", version FROM billing_profiles WHERE user_id = $1",
                     {"holder_name", "address", "tax_id"}};
const Query kSubscriptions{"billing.subscriptions",
                           "SELECT subscription_id AS id, user_id, plan, status, cancel_reason, " LETHE_UTC_TEXT(
                               "created_at") ", " LETHE_UTC_TEXT("cancelled_at") ", version"
                                                                                 " FROM billing_subscriptions WHERE "
                                                                                 "($1 = '' OR user_id = $1)"
                                                                                 " ORDER BY created_at DESC, "
                                                                                 "subscription_id LIMIT $2 OFFSET $3",
                           {"cancel_reason"}};
const Query kTransactions{"billing.transactions",
                          "SELECT " LETHE_TRANSACTION_COLUMNS
                          " FROM billing_transactions WHERE ($1 = '' OR user_id = $1)"
                          " ORDER BY created_at DESC, transaction_id LIMIT $2 OFFSET $3",
                          {"description"}};
const Query kTransaction{"billing.transaction",
                         "SELECT " LETHE_TRANSACTION_COLUMNS " FROM billing_transactions WHERE transaction_id = $1",
                         {"description"}};
const Query kRefunds{"billing.refunds",
                     "SELECT refund_id AS id, amount, currency, reason, " LETHE_UTC_TEXT(
                         "at") " FROM billing_refunds WHERE transaction_id = $1 ORDER BY stream_version",
                     {"reason"}};
const Query kCreditNotes{"billing.credit_notes",
                         "SELECT credit_note_id AS id, amount, currency, reason, " LETHE_UTC_TEXT(
                             "at") " FROM billing_credit_notes WHERE transaction_id = $1 ORDER BY stream_version",
                         {"reason"}};
#define LETHE_THIS_MONTH "to_char(lethe_now() AT TIME ZONE 'UTC', 'YYYY-MM')"
const Query kPlan{"billing.plan",
                  "SELECT user_id, plan, monthly_limit, " LETHE_THIS_MONTH " AS period,"
                  " CASE WHEN period = " LETHE_THIS_MONTH " THEN used ELSE 0 END AS used,"
                  " trial_plan, trial_limit, trial_used, " LETHE_UTC_TEXT("trial_ends_at") ","
                  " CASE WHEN trial_state = 'running' AND trial_ends_at <= lethe_now() THEN 'expired'"
                  " ELSE trial_state END AS trial_state,"
                  " payment_brand, payment_last4, payment_expires, " LETHE_UTC_TEXT("updated_at") ", version"
                  " FROM billing_plans WHERE user_id = $1",
                  {"payment_last4"}};
#undef LETHE_THIS_MONTH
const Query kProfileFresh{"billing.profile_fresh",
                          "SELECT EXISTS (SELECT 1 FROM billing_profiles WHERE user_id = $1 AND version >= $2)"};
const Query kSubscriptionFresh{
    "billing.subscription_fresh",
    "SELECT EXISTS (SELECT 1 FROM billing_subscriptions WHERE subscription_id = $1 AND version >= $2)"};
const Query kTransactionFresh{
    "billing.transaction_fresh",
    "SELECT EXISTS (SELECT 1 FROM billing_transactions WHERE transaction_id = $1 AND version >= $2)"};

#undef LETHE_TRANSACTION_COLUMNS

const Query kPlanFresh{"billing.plan_fresh",
                       "SELECT EXISTS (SELECT 1 FROM billing_plans WHERE user_id = $1 AND version >= $2)"};

}  // namespace lethe::projections::billing_queries
