#pragma once
// The operations domain's command handler on the one command path.
#include "lethe/producers/command_path.hpp"
#include "lethe/producers/event_store.hpp"
#include "operations.hpp"

namespace lethe::producers {

class OperationsService {
 public:
  explicit OperationsService(EventStore& store) : store_(store) {}
  domain::Result<Written> handle(const domain::operations::Command& command, const CommandContext& ctx);

 private:
  EventStore& store_;
};

}  // namespace lethe::producers
