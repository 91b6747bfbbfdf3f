#pragma once
// Runs a user command: load the stream, fold it, decide, append at the
// version that was read. A concurrent writer makes the append conflict; the
// command is then decided again on the fresh state (a few times at most).
#include <string>
#include <vector>

#include "lethe/domain/envelope.hpp"
#include "lethe/domain/users.hpp"
#include "lethe/producers/event_store.hpp"

namespace lethe::producers {

// Who asks and why; ids and time are filled in here, outside the domain.
struct CommandContext {
  std::string actor = "system";
  std::string correlation_id;  // new one when empty
  std::string causation_id;    // the correlation id when empty
};

class UserService {
 public:
  explicit UserService(EventStore& store) : store_(store) {}
  domain::Result<std::vector<domain::Envelope>> handle(const domain::users::Command& command,
                                                       const CommandContext& ctx);
  domain::users::User load(const std::string& user_id);

 private:
  EventStore& store_;
};

}  // namespace lethe::producers
