#pragma once
// Runs a user command: load the stream, fold it, decide, seal the personal
// fields under the person's key, append at the version that was read. A
// concurrent writer makes the append conflict; the command is then decided
// again on the fresh state (a few times at most).
#include <memory>
#include <string>
#include <vector>

#include "lethe/domain/envelope.hpp"
#include "lethe/domain/users.hpp"
#include "lethe/producers/event_store.hpp"

namespace lethe::producers {

// Who asks and why; ids and time are filled in here, outside the domain.
// actor is the id of the acting user, whose role the service loads from the
// store; a system actor ("system", or "system:<name>" such as the CLI's
// "system:cli") acts as an owner: whoever runs lethe against the database is
// its operator. Any other id that is no registered user acts anonymously.
struct CommandContext {
  std::string actor = "system";
  std::string correlation_id;  // new one when empty
  std::string causation_id;    // the correlation id when empty
};

class UserService {
 public:
  // conninfo: the database of the store, whose keyring holds the people's
  // keys (a connection of its own).
  UserService(EventStore& store, const std::string& conninfo);
  ~UserService();
  domain::Result<std::vector<domain::Envelope>> handle(const domain::users::Command& command,
                                                       const CommandContext& ctx);
  // Folds the stream. Its version is the last envelope's, whatever decodes;
  // an event of an unknown type or schema version throws std::runtime_error
  // rather than being skipped (which would look like a concurrency
  // conflict). A personal field whose key is gone folds as erased().
  domain::users::User load(const std::string& user_id);
  // The actor as the store knows them (see CommandContext).
  domain::users::Actor actor(const std::string& id);

 private:
  struct Keys;
  EventStore& store_;
  std::unique_ptr<Keys> keys_;
};

// The stream's events with their personal fields opened where the keys
// exist (null where they are gone), for readers such as `lethe events`.
std::vector<domain::Envelope> open_stream(const std::string& conninfo, const std::vector<domain::Envelope>& events);

}  // namespace lethe::producers
