#include "file_service.hpp"

#include "stream_command.hpp"

namespace lethe::producers {

namespace files = domain::files;

domain::Result<Written> FileService::handle(const files::Command& command, const CommandContext& ctx) {
  const auto file_id = std::visit([](const auto& c) { return c.file_id; }, command);
  if (auto err = stream_command::check_id("file_id", file_id, files::file_stream(""))) return *err;
  return stream_command::run<files::File>(
      store_, ctx, files::file_stream(file_id), "file",
      [](std::string_view type, int schema_version, std::string_view payload) {
        return files::decode_payload(type, schema_version, payload);
      },
      [](files::File s, const files::Event& e) { return files::evolve(std::move(s), e); },
      [&](const files::File& state, const domain::users::Actor& actor) {
        return files::decide(state, command, actor);
      });
}

}  // namespace lethe::producers
