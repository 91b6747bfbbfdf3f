#pragma once
// The bookmarks domain's command handler on the one command path.
#include "bookmarks.hpp"
#include "lethe/producers/command_path.hpp"
#include "lethe/producers/event_store.hpp"

namespace lethe::producers {

class BookmarkService {
 public:
  explicit BookmarkService(EventStore& store) : store_(store) {}
  domain::Result<Written> handle(const domain::bookmarks::Command& command, const CommandContext& ctx);

 private:
  EventStore& store_;
};

}  // namespace lethe::producers
