#pragma once
// Limits on requests made without a sign-in (registering, logging in): per
// client address and for everyone, per minute, kept in PostgreSQL so that
// every server process shares them, like the login limit. Addresses are
// stored as blind indexes only.
#include <string>

namespace lethe::producers {

class EventStore;

struct AnonymousLimits {
  int per_address_per_minute = 30;
  int per_minute = 1200;
};

// Counts one request from `address`. Returns 0 when it may go on, else the
// seconds until the minute that refused it ends (for Retry-After). A
// refused request is counted too, so a flood keeps itself refused.
int count_anonymous_request(EventStore& store, const std::string& address, const AnonymousLimits& limits);

}  // namespace lethe::producers
