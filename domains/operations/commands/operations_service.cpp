#include "operations_service.hpp"

#include "stream_command.hpp"

namespace lethe::producers {

namespace operations = domain::operations;

domain::Result<Written> OperationsService::handle(const operations::Command& command, const CommandContext& ctx) {
  const auto* reveal = std::get_if<operations::RevealDeadLetter>(&command);
  const char* field = reveal ? "dead_letter_id" : "projection";
  const auto& id = reveal ? reveal->dead_letter_id : std::get<operations::StartProjectionJob>(command).projection;
  const auto stream = reveal ? operations::dead_letter_stream(id) : operations::projection_stream(id);
  if (auto err = stream_command::check_id(field, id, stream.substr(0, stream.size() - id.size()))) return *err;
  return stream_command::run<operations::Record>(
      store_, ctx, stream, reveal ? "dead letter" : "projection",
      [](std::string_view type, int schema_version, std::string_view payload) {
        return operations::decode_payload(type, schema_version, payload);
      },
      [](operations::Record s, const operations::Event& e) { return operations::evolve(std::move(s), e); },
      [&](const operations::Record& state, const domain::users::Actor& actor) {
        return operations::decide(state, command, actor);
      });
}

}  // namespace lethe::producers
