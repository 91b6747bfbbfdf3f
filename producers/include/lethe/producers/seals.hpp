#pragma once
// Seals of the event log (see lethe/domain/seal.hpp): `lethe seal` takes
// them, `lethe verify` with the key checks them.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lethe/domain/seal.hpp"

namespace lethe::producers {

// Reads a seal key file. Throws infra::Misconfigured, naming the file, if it
// cannot be read or holds no key.
domain::SealKey load_seal_key(const std::string& path);

struct SealOptions {
  // Longest wait for the transactions that were open when the seal started.
  std::chrono::milliseconds max_wait{std::chrono::seconds(60)};
};

// Seals every event after the last seal, up to a position below which no
// transaction can add an event any more. Returns the new seal, or nullopt if
// there was nothing new to seal. Throws infra::Unavailable if transactions
// stay open past max_wait (naming the oldest), infra::Misconfigured if
// another `lethe seal` runs on this schema, std::runtime_error if the last
// seal fails its HMAC under this key (a wrong key, or a forged seal: it is
// not extended), infra::InfraError on other PostgreSQL failures.
std::optional<domain::Seal> seal_event_store(const std::string& conninfo, const domain::SealKey& key,
                                             const SealOptions& options = {});

struct SealProblem {
  std::int64_t seal_number;
  std::string problem;
};

struct SealReport {
  std::int64_t seals = 0;            // seal rows checked
  std::int64_t sealed_events = 0;    // events at or below the last seal's position
  std::int64_t unsealed_events = 0;  // events after it: not covered by any seal yet
  std::int64_t last_position = 0;    // of the last seal, 0 without seals
  std::vector<SealProblem> problems;
  bool ok() const { return problems.empty(); }
};

// Recomputes the running digest over every event in position order and
// checks every seal: numbers without a gap, HMAC, event count and digest of
// its range. Each seal's range is checked from the previous authentic seal,
// so a problem is reported where it is. Read-only; progress(events) after
// each page.
SealReport verify_seals(const std::string& conninfo, const domain::SealKey& key,
                        const std::function<void(std::int64_t)>& progress = {});

}  // namespace lethe::producers
