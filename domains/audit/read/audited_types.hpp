#pragma once
// The event types the audit log records (domains/audit/read/), each with the
// payload field that names its target and the target's kind: the audit
// projection writes them, and the API's read-your-writes on the audit log
// knows from it which events to wait for.
#include <string_view>
#include <vector>

namespace lethe::projections {

struct AuditedType {
  std::string_view type, target_field, target_kind;
};
const std::vector<AuditedType>& audited_types();
const AuditedType* find_audited(std::string_view type);

}  // namespace lethe::projections
