#include "email_log_service.hpp"

#include "stream_command.hpp"

namespace lethe::producers {

namespace email = domain::email;

domain::Result<Written> EmailLogService::handle(const email::Command& command, const CommandContext& ctx) {
  const auto email_id = std::visit([](const auto& c) { return c.email_id; }, command);
  if (auto err = stream_command::check_id("email_id", email_id, email::email_stream(""))) return *err;
  return stream_command::run<email::EmailLog>(
      store_, ctx, email::email_stream(email_id), "email log",
      [](std::string_view type, int schema_version, std::string_view payload) {
        return email::decode_payload(type, schema_version, payload);
      },
      [](email::EmailLog s, const email::Event& e) { return email::evolve(std::move(s), e); },
      [&](const email::EmailLog& state, const domain::users::Actor& actor) {
        return email::decide(state, command, actor);
      });
}

}  // namespace lethe::producers
