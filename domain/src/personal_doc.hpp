#pragma once
// Opening sealed fields on parsed documents, for the domain's decoders: a
// batch is parsed once, opened, and handed over as documents, so that a
// decoder reads the opened values without writing and parsing them again.
#include <rapidjson/document.h>

#include <functional>
#include <optional>
#include <vector>

#include "lethe/domain/personal.hpp"

namespace lethe::domain {

// Called once per item that parsed and opened, with its document (sealed
// fields replaced by their values, or null where the key is gone) and
// whether any field was sealed.
using OpenedVisitor = std::function<void(std::size_t index, rapidjson::Document& doc, bool changed)>;

// Parses the items (with every_item, also those of types without personal
// fields), calls load once with the people their sealed values name, opens
// them, and visits each. Returns, per item, why it was not visited.
std::vector<std::optional<DomainError>> open_documents(const std::vector<SealedPayload>& items, const KeyLoader& load,
                                                       const OpenedVisitor& visit, bool every_item);

}  // namespace lethe::domain
