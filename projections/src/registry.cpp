#include "lethe/projections/projection.hpp"
#include "users/users_projection.hpp"

namespace lethe::projections {

std::vector<std::string> projection_names() { return {"users"}; }

std::unique_ptr<Projection> make_projection(std::string_view name) {
  if (name == "users") return std::make_unique<UsersProjection>();
  return nullptr;
}

}  // namespace lethe::projections
