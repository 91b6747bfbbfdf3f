#pragma once
// Where ids and time come from outside the pure domain.
#include <string>
#include <string_view>

namespace lethe::infra {

std::string new_uuid();  // random UUID (version 4), lower-case hex
std::string utc_now();   // e.g. 2026-11-25T08:00:00.123456Z
// Bytes as lower-case hex digits (fingerprints, blind indexes as text).
std::string hex(std::string_view bytes);

}  // namespace lethe::infra
