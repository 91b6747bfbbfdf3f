#include "billing_service.hpp"

#include "stream_command.hpp"

namespace lethe::producers {

namespace billing = domain::billing;

namespace {

auto decode() {
  return [](std::string_view type, int schema_version, std::string_view payload) {
    return billing::decode_payload(type, schema_version, payload);
  };
}

template <class State>
auto evolve() {
  return [](State s, const billing::Event& e) { return billing::evolve(std::move(s), e); };
}

}  // namespace

domain::Result<Written> BillingService::handle(const billing::ProfileCommand& command, const CommandContext& ctx) {
  const auto user_id = std::visit([](const auto& c) { return c.user_id; }, command);
  if (auto err = stream_command::check_id("user_id", user_id, billing::profile_stream(""))) return *err;
  return stream_command::run<billing::Profile>(store_, ctx, billing::profile_stream(user_id), "billing profile",
                                               decode(), evolve<billing::Profile>(),
                                               [&](const billing::Profile& state, const domain::users::Actor& actor) {
                                                 return billing::decide(state, command, actor);
                                               });
}

domain::Result<Written> BillingService::handle(const billing::SubscriptionCommand& command, const CommandContext& ctx) {
  const auto id = std::visit([](const auto& c) { return c.subscription_id; }, command);
  if (auto err = stream_command::check_id("subscription_id", id, billing::subscription_stream(""))) return *err;
  return stream_command::run<billing::Subscription>(
      store_, ctx, billing::subscription_stream(id), "subscription", decode(), evolve<billing::Subscription>(),
      [&](const billing::Subscription& state, const domain::users::Actor& actor) {
        return billing::decide(state, command, actor);
      });
}

domain::Result<Written> BillingService::handle(const billing::TransactionCommand& command, const CommandContext& ctx) {
  const auto id = std::visit([](const auto& c) { return c.transaction_id; }, command);
  if (auto err = stream_command::check_id("transaction_id", id, billing::transaction_stream(""))) return *err;
  return stream_command::run<billing::Transaction>(
      store_, ctx, billing::transaction_stream(id), "transaction", decode(), evolve<billing::Transaction>(),
      [&](const billing::Transaction& state, const domain::users::Actor& actor) {
        return billing::decide(state, command, actor);
      });
}

}  // namespace lethe::producers
