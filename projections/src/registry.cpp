#include "lethe/projections/projection.hpp"

namespace lethe::projections {

std::vector<std::string> projection_names() {
  std::vector<std::string> out;
  for (const auto& m : read_models()) out.emplace_back(m.name);
  return out;
}

std::unique_ptr<Projection> make_projection(std::string_view name) {
  for (const auto& m : read_models())
    if (m.name == name) return m.make();
  return nullptr;
}

}  // namespace lethe::projections
