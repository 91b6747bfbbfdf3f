#pragma once
// The content domain's command service: posts (post-<id>) and comments
// (comment-<id>) on the one command path (command_path.hpp). A comment
// command appends to the comment's stream only; its post's stream is read in
// the same transaction, after the comment's (the relay's order: every stream
// appended to is read first), to decide on the post's state. The ids of new
// things come with the commands; the author is the actor.
// ctx.expected_version (If-Match) is compared with the post's or the
// comment's stream. Refusals are values (nothing appended); infrastructure
// failures throw infra errors, and ConcurrencyConflict when the stream still
// moves after run_command's retries. Not thread-safe: one service per
// EventStore.
#include "content.hpp"
#include "lethe/producers/command_path.hpp"
#include "lethe/producers/event_store.hpp"
#include "user_service.hpp"

namespace lethe::producers {

class ContentService {
 public:
  explicit ContentService(EventStore& store) : store_(store) {}
  // Publishes, edits or deletes a post (edits and deletes: its author, or
  // an admin or owner).
  domain::Result<Written> handle(const domain::content::PostCommand& command, const CommandContext& ctx);
  // Adds, edits or deletes a comment; adding needs its post to exist and
  // not be deleted.
  domain::Result<Written> handle(const domain::content::CommentCommand& command, const CommandContext& ctx);

 private:
  EventStore& store_;
};

}  // namespace lethe::producers
