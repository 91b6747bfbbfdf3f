#include "billing_service.hpp"

#include <pqxx/pqxx>

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

domain::Result<Written> BillingService::handle(billing::PlanCommand command, const CommandContext& ctx,
                                               int trial_days) {
  const auto user_id = std::visit([](const auto& c) { return c.user_id; }, command);
  if (auto err = stream_command::check_id("user_id", user_id, billing::plan_stream(""))) return *err;
  // The store's clock (a test moves it), in the store's own format, so that
  // times compare as text.
  std::string now, ends_at;
  store_.autocommit([&](pqxx::transaction_base& tx) {
    const auto r = tx.exec_params(
        "SELECT " LETHE_UTC_US("lethe_now()") ", " LETHE_UTC_US("lethe_now() + make_interval(days => $1)"),
        trial_days)[0];
    now = r[0].c_str();
    ends_at = r[1].c_str();
  });
  std::visit(
      [&](auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, billing::StartTrial>) {
          c.now = now;
          c.ends_at = ends_at;
        } else if constexpr (std::is_same_v<T, billing::RecordUsage>) {
          c.now = now;
        }
      },
      command);
  return stream_command::run<billing::Plan>(store_, ctx, billing::plan_stream(user_id), "plan", decode(),
                                            evolve<billing::Plan>(),
                                            [&](const billing::Plan& state, const domain::users::Actor& actor) {
                                              return billing::decide(state, command, actor);
                                            });
}

}  // namespace lethe::producers
