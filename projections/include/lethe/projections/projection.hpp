#pragma once
// A projection folds events into read models in PostgreSQL. It sees
// envelopes, never Kafka types; the consumer runtime (consumers/) hands it
// batches and commits them with their offsets.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lethe/domain/envelope.hpp"

namespace pqxx {
class dbtransaction;
}

namespace lethe::projections {

// Where a delivered event sits in the log: a position, not a Kafka type.
struct SourcePosition {
  std::string topic;
  int partition = 0;
  std::int64_t offset = 0;
};

struct Delivered {
  domain::Envelope envelope;
  SourcePosition source;
};

struct Rejected {
  std::size_t index;   // position in the batch
  std::string reason;  // why it could not be applied; goes to the dead-letter topic
};

struct ApplyResult {
  std::size_t applied = 0;
  std::size_t skipped = 0;  // already applied (a republished event) or of a type this projection ignores
  std::vector<Rejected> rejected;
};

class Projection {
 public:
  virtual ~Projection() = default;
  virtual std::string_view name() const = 0;
  // Logical topics it reads ("users"); the runtime adds the topic prefix.
  virtual std::vector<std::string> topics() const = 0;
  // The read-model tables it owns; a replay empties them.
  virtual std::vector<std::string> tables() const = 0;
  // Applies a batch inside tx; the caller commits, with the offsets, so the
  // batch takes effect wholly or not at all. Idempotent: an event at or below
  // the stream version already stored is skipped. Events that cannot be
  // applied are returned as rejected and the rest still applies.
  virtual ApplyResult apply(std::span<const Delivered> batch, pqxx::dbtransaction& tx) = 0;
};

// The projections this build knows, by name.
std::vector<std::string> projection_names();
// nullptr when the name is unknown.
std::unique_ptr<Projection> make_projection(std::string_view name);

}  // namespace lethe::projections
