#include "audit/audit_projection.hpp"
#include "event_log/event_log_projection.hpp"
#include "lethe/projections/projection.hpp"
#include "shop/shop_projection.hpp"
#include "tickets/tickets_projection.hpp"
#include "users/users_projection.hpp"

namespace lethe::projections {

std::vector<std::string> projection_names() {
  return {"users", "tickets", "shop", "audit", "event_log"};
}

std::unique_ptr<Projection> make_projection(std::string_view name) {
  if (name == "users") return std::make_unique<UsersProjection>();
  if (name == "tickets") return std::make_unique<TicketsProjection>();
  if (name == "shop") return std::make_unique<ShopProjection>();
  if (name == "audit") return std::make_unique<AuditProjection>();
  if (name == "event_log") return std::make_unique<EventLogProjection>();
  return nullptr;
}

}  // namespace lethe::projections
