#include "audit_projection.hpp"

#include <rapidjson/document.h>

#include <algorithm>
#include <pqxx/pqxx>

#include "lethe/domain/registry.hpp"
#include "lethe/infra/pg.hpp"

namespace lethe::projections {

const std::vector<AuditedType>& audited_types() {
  static const std::vector<AuditedType> all{
      {"user.role_changed", "user_id", "user"},
      {"user.deactivated", "user_id", "user"},
      {"user.restored", "user_id", "user"},
      {"user.password_changed", "user_id", "user"},
      {"user.api_key_issued", "user_id", "user"},
      {"user.api_key_revoked", "user_id", "user"},
      {"user.logged_in", "user_id", "user"},
      {"user.logged_out", "user_id", "user"},
      {"user.login_failed", "user_id", "user"},
      {"user.note_added", "user_id", "user"},
      // Keys to a person's data: which services may have them, and every
      // release (the actor is the service, the target the person).
      {"user.entitlements_set", "user_id", "user"},
      {"user.key_released", "user_id", "user"},
      {"ticket.assigned", "ticket_id", "ticket"},
      {"ticket.internal_note_added", "ticket_id", "ticket"},
      {"shop.category_created", "category_id", "category"},
      {"shop.product_created", "product_id", "product"},
      {"shop.product_updated", "product_id", "product"},
      {"shop.inventory_adjusted", "product_id", "product"},
      {"shop.order_fulfilled", "order_id", "order"},
      {"billing.charge_recorded", "transaction_id", "transaction"},
      {"billing.refund_recorded", "transaction_id", "transaction"},
      {"billing.credit_note_issued", "transaction_id", "transaction"},
      {"shop.category_handed_over", "category_id", "category"},
      {"shop.product_handed_over", "product_id", "product"},
      // Erasure: who asked, who confirmed, the hand-over, the erasure itself,
      // every external task an admin confirmed, and who withdrew a request
      // (actor, request, time).
      {"erasure.requested", "request_id", "erasure_request"},
      {"erasure.confirmed", "request_id", "erasure_request"},
      {"erasure.ownership_handed_over", "request_id", "erasure_request"},
      {"user.erased", "request_id", "erasure_request"},
      {"erasure.task_confirmed", "request_id", "erasure_request"},
      {"erasure.cancelled", "request_id", "erasure_request"},
      // An admin or owner looked at a dead letter's payload.
      {"operations.dead_letter_revealed", "dead_letter_id", "dead_letter"},
      // An admin or owner started a rebuild or a rollback of a read model.
      {"operations.projection_job_started", "projection", "projection"},
  };
  return all;
}

std::vector<std::string> AuditProjection::topics() const {
  std::vector<std::string> out;
  for (const auto& a : audited_types())
    if (const auto* spec = domain::find_event_type(a.type))
      if (std::find(out.begin(), out.end(), spec->topic) == out.end()) out.emplace_back(spec->topic);
  return out;
}

const AuditedType* find_audited(std::string_view type) {
  const auto& types = audited_types();
  const auto it = std::find_if(types.begin(), types.end(), [&](const auto& t) { return t.type == type; });
  return it == types.end() ? nullptr : &*it;
}

bool AuditProjection::reads(std::string_view type) const {
  return find_audited(type) != nullptr;
}

ApplyResult AuditProjection::apply(std::span<const Delivered> batch, infra::Tx tx) {
  ApplyResult result;
  tx.driver().exec("CREATE TEMP TABLE IF NOT EXISTS audit_log_stage (LIKE audit_log) ON COMMIT DELETE ROWS");
  bool any = false;
  {
    pqxx::stream_to copy(tx, "audit_log_stage");
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const auto& e = batch[i].envelope;
      const auto* spec = find_audited(e.type);
      if (!spec) {
        ++result.skipped;
        continue;
      }
      // The target is an id, never a personal field: read it from the
      // payload as stored, without opening any seal.
      rapidjson::Document doc;
      doc.Parse(e.payload.c_str(), e.payload.size());
      const std::string field(spec->target_field);
      if (doc.HasParseError() || !doc.IsObject()) {
        result.rejected.push_back({i, "payload of " + e.type + " is not a JSON object"});
        continue;
      }
      const auto it = doc.FindMember(field.c_str());
      // A failed login for an unknown email names nobody: its target is
      // the attempt's stream.
      const std::string target = it != doc.MemberEnd() && it->value.IsString() && it->value.GetStringLength() > 0
                                     ? std::string(it->value.GetString(), it->value.GetStringLength())
                                     : e.stream_id;
      copy << std::make_tuple(e.event_id, e.type, e.actor, std::string(spec->target_kind), target, e.stream_id,
                              e.stream_version, e.occurred_at, e.correlation_id);
      any = true;
      ++result.applied;
    }
    copy.complete();
  }
  if (any) tx.driver().exec("INSERT INTO audit_log SELECT * FROM audit_log_stage ON CONFLICT (event_id) DO NOTHING");
  return result;
}

// How this read model forgets a person (see ErasureRule); its migrations
// mark the columns it must cover.
const ErasurePolicy& AuditProjection::erasure_policy() const {
  static const ErasurePolicy policy{
      {"audit_log", "actor", Erase::keep, {}, {}, "the audit log keeps who acted, by id; it never held their text"},
      {"audit_log", "target_id", Erase::keep, {}, {}, "and what they acted on, by id"},
  };
  return policy;
}

std::vector<ReadModel> audit_read_models() {
  return {{"audit", []() -> std::unique_ptr<Projection> { return std::make_unique<AuditProjection>(); }}};
}

}  // namespace lethe::projections
