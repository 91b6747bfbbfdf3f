#pragma once
// Builders of user events for integration tests and the benchmark.
#include <string>
#include <vector>

#include "lethe/infra/ids.hpp"
#include "lethe/producers/event_store.hpp"
#include "users.hpp"

namespace lethe::test {

inline producers::NewEvent new_event(const domain::users::Event& e, const std::string& actor = "test") {
  const auto corr = infra::new_uuid();
  return producers::NewEvent{infra::new_uuid(),
                             std::string(domain::users::type_of(e)),
                             domain::users::version_of(e),
                             domain::users::encode_payload(e),
                             infra::utc_now(),
                             actor,
                             corr,
                             corr};
}

// The same for any domain's event (type_of, version_of and encode_payload
// are found in the event's own domain namespace).
template <class Event>
producers::NewEvent new_domain_event(const Event& e, const std::string& actor = "test") {
  const auto corr = infra::new_uuid();
  return producers::NewEvent{infra::new_uuid(),
                             std::string(type_of(e)),
                             version_of(e),
                             encode_payload(e),
                             infra::utc_now(),
                             actor,
                             corr,
                             corr};
}

// The message value the relay would publish for an event at the given
// stream version (position = version, first of its chain), for tests that
// produce to a topic directly.
inline std::string envelope_json(const producers::NewEvent& ne, const std::string& stream, std::int64_t version) {
  domain::Envelope e{ne.event_id, ne.type,           ne.schema_version, stream,     version, version, ne.occurred_at,
                     ne.actor,    ne.correlation_id, ne.causation_id,   ne.payload, "",      ""};
  e.hash = domain::chain_hash(e);
  return domain::encode(e);
}

// A registration followed by `renames` profile changes, as one stream's events.
inline std::vector<producers::NewEvent> user_history(const std::string& id, int renames,
                                                     const std::string& name_pad = "") {
  namespace u = domain::users;
  std::vector<producers::NewEvent> out{
      new_event(u::UserRegistered{id, "user-" + id + "@example.org", "User " + id + name_pad, "user", ""})};
  for (int i = 1; i <= renames; ++i)
    out.push_back(new_event(u::UserProfileChanged{id, "Name " + std::to_string(i) + " of " + id + name_pad}));
  return out;
}

}  // namespace lethe::test
