#pragma once
// A domain that exists only in the test tree, to prove that a domain is one
// folder: nothing outside test/domains/bookmarks/ names it, and the test
// build's catalog (test/CMakeLists.txt lists the folders, not the domains)
// registers its event, topic, projection, erasure policy and routes.
//
// A signed-in person saves a bookmark: a URL and a label of their own
// (personal: sealed under their key). Stream: bookmark-<id>.
#include <array>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lethe/domain/event_fields.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/domain/registry.hpp"
#include "lethe/domain/result.hpp"
#include "users.hpp"

namespace lethe::domain::bookmarks {

inline constexpr std::size_t kMaxUrl = 2000;
inline constexpr std::size_t kMaxLabel = 200;

std::string bookmark_stream(std::string_view bookmark_id);

struct BookmarkSaved {
  LETHE_EVENT("bookmark.saved");
  std::string bookmark_id, owner_id, url, label;
  static constexpr auto fields() {
    using E = BookmarkSaved;
    return std::array<FieldSpec<E>, 4>{
        {{"bookmark_id", &E::bookmark_id}, {"owner_id", &E::owner_id}, {"url", &E::url}, {"label", &E::label}}};
  }
};
using Event = std::variant<BookmarkSaved>;

const DomainSpec& spec();

struct SaveBookmark {
  std::string bookmark_id, url, label;  // the owner is the actor
};
using Command = std::variant<SaveBookmark>;

struct Bookmark {
  bool exists = false;
  std::string owner_id;
  std::int64_t version = 0;
};

// Any signed-in person who may change things saves a bookmark once; the URL
// is 1..kMaxUrl bytes starting http:// or https://, the label 1..kMaxLabel.
Result<std::vector<Event>> decide(const Bookmark& state, const Command& command, const users::Actor& actor);
Bookmark evolve(Bookmark state, const Event& event);

LETHE_DECLARE_EVENT_CODEC();

}  // namespace lethe::domain::bookmarks
