#include "wiring.hpp"

#include "lethe/infra/pg.hpp"
#include "lethe/producers/event_store.hpp"

namespace lethe::app {

projections::ReceiptLog event_store_receipts() {
  return {
      [](infra::Tx tx, const std::string& stream) { producers::lock_stream(tx, stream); },
      [](infra::Tx tx, const projections::Receipt& r) {
        const producers::NewEvent event{r.event_id,    r.type,  r.schema_version, r.payload,
                                        r.occurred_at, r.actor, r.correlation_id, r.causation_id};
        producers::append_at_head(tx, r.stream, std::span(&event, 1));
      },
  };
}

}  // namespace lethe::app
