#include "bookmarks.hpp"

#include "checks.hpp"
#include "codec.hpp"

namespace lethe::domain::bookmarks {

namespace {

constexpr auto kEventTypes = codec::event_specs<Event>("bookmarks");
constexpr std::string_view kProjections[] = {"bookmarks"};
constexpr TopicSpec kTopics[] = {{"bookmarks", 1, "bookmarks (a domain of the test tree only)"}};

}  // namespace

const DomainSpec& spec() {
  static const DomainSpec s{"bookmarks", kEventTypes, kProjections, kTopics};
  return s;
}

std::string bookmark_stream(std::string_view bookmark_id) {
  return "bookmark-" + std::string(bookmark_id);
}

Result<std::vector<Event>> decide(const Bookmark& state, const Command& command, const users::Actor& actor) {
  if (auto err = checks::may_change_anything(actor)) return *err;
  const auto& c = std::get<SaveBookmark>(command);
  if (auto err = checks::id("bookmark_id", c.bookmark_id)) return *err;
  if (state.exists) return checks::already_exists("bookmark_id", "the bookmark is saved already");
  if (auto err = checks::text("url", c.url, kMaxUrl)) return *err;
  if (!c.url.starts_with("http://") && !c.url.starts_with("https://"))
    return invalid("url", "url must start with http:// or https://");
  if (auto err = checks::text("label", c.label, kMaxLabel)) return *err;
  return std::vector<Event>{BookmarkSaved{c.bookmark_id, actor.id, c.url, c.label}};
}

Bookmark evolve(Bookmark s, const Event& event) {
  const auto& e = std::get<BookmarkSaved>(event);
  s.exists = true;
  s.owner_id = e.owner_id;
  ++s.version;
  return s;
}

LETHE_DEFINE_EVENT_CODEC("bookmark")

}  // namespace lethe::domain::bookmarks
