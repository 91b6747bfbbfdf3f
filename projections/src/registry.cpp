#include "audit_projection.hpp"
#include "billing_projection.hpp"
#include "content_projection.hpp"
#include "email_projection.hpp"
#include "erasure_projection.hpp"
#include "event_log_projection.hpp"
#include "files_projection.hpp"
#include "lethe/projections/projection.hpp"
#include "shop_projection.hpp"
#include "tickets_projection.hpp"
#include "users_projection.hpp"

namespace lethe::projections {

std::vector<std::string> projection_names() {
  return {"users", "tickets", "shop", "billing", "content", "files", "email", "audit", "event_log", "erasure"};
}

std::unique_ptr<Projection> make_projection(std::string_view name) {
  if (name == "users") return std::make_unique<UsersProjection>();
  if (name == "tickets") return std::make_unique<TicketsProjection>();
  if (name == "shop") return std::make_unique<ShopProjection>();
  if (name == "billing") return std::make_unique<BillingProjection>();
  if (name == "content") return std::make_unique<ContentProjection>();
  if (name == "files") return std::make_unique<FilesProjection>();
  if (name == "email") return std::make_unique<EmailProjection>();
  if (name == "audit") return std::make_unique<AuditProjection>();
  if (name == "event_log") return std::make_unique<EventLogProjection>();
  if (name == "erasure") return std::make_unique<ErasureProjection>();
  return nullptr;
}

}  // namespace lethe::projections
