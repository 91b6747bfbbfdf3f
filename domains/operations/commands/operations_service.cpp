#include "operations_service.hpp"

#include "stream_command.hpp"

namespace lethe::producers {

namespace operations = domain::operations;

domain::Result<Written> OperationsService::handle(const operations::Command& command, const CommandContext& ctx) {
  const auto& id = std::get<operations::RevealDeadLetter>(command).dead_letter_id;
  if (auto err = stream_command::check_id("dead_letter_id", id, operations::dead_letter_stream(""))) return *err;
  return stream_command::run<operations::DeadLetter>(
      store_, ctx, operations::dead_letter_stream(id), "dead letter",
      [](std::string_view type, int schema_version, std::string_view payload) {
        return operations::decode_payload(type, schema_version, payload);
      },
      [](operations::DeadLetter s, const operations::Event& e) { return operations::evolve(std::move(s), e); },
      [&](const operations::DeadLetter& state, const domain::users::Actor& actor) {
        return operations::decide(state, command, actor);
      });
}

}  // namespace lethe::producers
