#pragma once
// The register of erased people as the erasure topic keeps it: every
// user.erased on <prefix>erasure, which is retained forever and lives
// outside PostgreSQL, so a database restored from a backup taken before an
// erasure can learn it again (`lethe gdpr reapply`).
#include <vector>

#include "lethe/domain/envelope.hpp"
#include "lethe/infra/config.hpp"

namespace lethe::consumers {

// Every user.erased envelope on the erasure topic, read raw from the
// earliest offset to the end each partition has when the read starts (a
// topic not created yet holds none). Throws infra errors when Kafka cannot
// be read, and infra::Misconfigured for a message on it that is not an
// envelope: then the register is unknown, not empty.
std::vector<domain::Envelope> erasures_on_topic(const infra::Config& cfg);

}  // namespace lethe::consumers
