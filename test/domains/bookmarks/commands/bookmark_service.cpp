#include "bookmark_service.hpp"

#include "stream_command.hpp"

namespace lethe::producers {

namespace bookmarks = domain::bookmarks;

domain::Result<Written> BookmarkService::handle(const bookmarks::Command& command, const CommandContext& ctx) {
  const auto& id = std::get<bookmarks::SaveBookmark>(command).bookmark_id;
  if (auto err = stream_command::check_id("bookmark_id", id, bookmarks::bookmark_stream(""))) return *err;
  return stream_command::run<bookmarks::Bookmark>(
      store_, ctx, bookmarks::bookmark_stream(id), "bookmark",
      [](std::string_view type, int schema_version, std::string_view payload) {
        return bookmarks::decode_payload(type, schema_version, payload);
      },
      [](bookmarks::Bookmark s, const bookmarks::Event& e) { return bookmarks::evolve(std::move(s), e); },
      [&](const bookmarks::Bookmark& state, const domain::users::Actor& actor) {
        return bookmarks::decide(state, command, actor);
      });
}

}  // namespace lethe::producers
