#pragma once
// The files domain's command service: file metadata (file-<id>) on the one
// command path (command_path.hpp). The file id comes with the command; the
// owner is the actor who records it. ctx.expected_version (If-Match) is
// compared with the file's stream. Refusals are values (nothing appended);
// infrastructure failures throw infra errors, and ConcurrencyConflict when
// the stream still moves after run_command's retries. Not thread-safe: one
// service per EventStore.
#include "files.hpp"
#include "lethe/producers/command_path.hpp"
#include "lethe/producers/event_store.hpp"
#include "user_service.hpp"

namespace lethe::producers {

class FileService {
 public:
  explicit FileService(EventStore& store) : store_(store) {}
  // Records a file's metadata, or deletes it (its owner, or an admin or owner).
  domain::Result<Written> handle(const domain::files::Command& command, const CommandContext& ctx);

 private:
  EventStore& store_;
};

}  // namespace lethe::producers
