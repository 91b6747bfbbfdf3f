#pragma once
// The billing domain's command service: every command on the one command path
// (command_path.hpp), one stream each: a person's profile
// (billingprofile-<user id>, its fields sealed under that person's key), a
// subscription (subscription-<id>), a customer's plan (billingplan-<user
// id>: plan, trial, usage and card on file), a transaction (transaction-<id>: the
// charge, its refunds and credit notes, so what is left refundable is checked
// and appended in one decision). The ids of new things come with the
// commands. ctx.expected_version (If-Match) is compared with that stream's
// version. Refusals are values (nothing appended); infrastructure failures
// throw infra errors, and ConcurrencyConflict when the stream still moves
// after run_command's retries. Not thread-safe: one service per EventStore.
#include "billing.hpp"
#include "lethe/producers/command_path.hpp"
#include "lethe/producers/event_store.hpp"
#include "user_service.hpp"

namespace lethe::producers {

class BillingService {
 public:
  explicit BillingService(EventStore& store) : store_(store) {}
  // Sets a billing profile (the user themself, or the billing right).
  domain::Result<Written> handle(const domain::billing::ProfileCommand& command, const CommandContext& ctx);
  // Creates or cancels a subscription; a second cancel is a conflict.
  domain::Result<Written> handle(const domain::billing::SubscriptionCommand& command, const CommandContext& ctx);
  // Records a charge, a refund or a credit note (the billing right only).
  domain::Result<Written> handle(const domain::billing::TransactionCommand& command, const CommandContext& ctx);
  // A customer's plan, trial, usage or payment method (stream
  // billingplan-<user id>). The command's time comes from the store's clock
  // (lethe_now()); a trial ends trial_days after it.
  domain::Result<Written> handle(domain::billing::PlanCommand command, const CommandContext& ctx, int trial_days = 0);

 private:
  EventStore& store_;
};

}  // namespace lethe::producers
