#pragma once
// What app wires between layers that must not include each other.
#include "lethe/projections/projection.hpp"

namespace lethe::app {

// Erasure receipts from a projection's transaction into the event store:
// the write side's stream lock and head append (producers/event_store.hpp).
projections::ReceiptLog event_store_receipts();

}  // namespace lethe::app
