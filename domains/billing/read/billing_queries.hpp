#pragma once
// The named queries of the billing read models (V106__billing.sql and after),
// run by the billing routes.
#include "lethe/projections/query.hpp"

namespace lethe::projections::billing_queries {

// A person's billing profile: $1 user id.
extern const Query kProfile;
// Subscriptions, newest first: $1 user ('' any), $2 limit, $3 offset.
extern const Query kSubscriptions;
// Transactions, newest first: $1 user ('' any), $2 limit, $3 offset.
extern const Query kTransactions;
// One transaction: $1 transaction id; its refunds and credit notes, in
// the order written: $1 transaction id.
extern const Query kTransaction;
extern const Query kRefunds;
extern const Query kCreditNotes;
// A customer's plan, trial, usage and card on file: $1 user id. Read at the
// store's clock: used is this month's (0 in a month not counted yet), and a
// running trial past its end reads as expired.
extern const Query kPlan;
// Freshness ($1 id, $2 version) of a profile, a subscription, a transaction.
extern const Query kProfileFresh;
extern const Query kSubscriptionFresh;
extern const Query kTransactionFresh;
extern const Query kPlanFresh;

}  // namespace lethe::projections::billing_queries
