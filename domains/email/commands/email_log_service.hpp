#pragma once
// The email log's command service: one logged email per stream (email-<id>)
// on the one command path (command_path.hpp), written by the mail service (a
// system actor) or an admin or owner. The id and the time sent come with the
// command; the subject is sealed under the recipient's key.
// ctx.expected_version (If-Match) is compared with the email's stream.
// Refusals are values (nothing appended); infrastructure failures throw infra
// errors, and ConcurrencyConflict when the stream still moves after
// run_command's retries. Not thread-safe: one service per EventStore.
#include "email.hpp"
#include "lethe/producers/command_path.hpp"
#include "lethe/producers/event_store.hpp"
#include "user_service.hpp"

namespace lethe::producers {

class EmailLogService {
 public:
  explicit EmailLogService(EventStore& store) : store_(store) {}
  // Logs that an email was sent; an email id is logged once.
  domain::Result<Written> handle(const domain::email::Command& command, const CommandContext& ctx);

 private:
  EventStore& store_;
};

}  // namespace lethe::producers
