#pragma once
// The tickets domain's command service: every command on the one command
// path (command_path.hpp). Internal notes go to their own stream
// (ticketnotes-<id>), which the registry sends to the restricted staff topic.
#include <string>

#include "lethe/producers/command_path.hpp"
#include "lethe/producers/event_store.hpp"
#include "tickets.hpp"
#include "user_service.hpp"

namespace lethe::producers {

class TicketService {
 public:
  explicit TicketService(EventStore& store) : store_(store) {}
  // Any ticket command; the ids of new things (ticket, comment, note) come
  // with the command. ctx.expected_version (If-Match) is compared with the
  // ticket stream's version.
  domain::Result<Written> handle(const domain::tickets::Command& command, const CommandContext& ctx);

 private:
  EventStore& store_;
  // Tickets this service met last (see StateCache); not thread-safe, like
  // the service.
  StateCache<domain::tickets::Ticket> tickets_;
};

}  // namespace lethe::producers
