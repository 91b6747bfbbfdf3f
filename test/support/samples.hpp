#pragma once
// Samples of every event a domain can produce, made by running its
// decisions. Each domain folder gives its own (domains/<name>/test/
// <name>_samples.cpp defines lethe::test::<name>_event_samples()), and the
// build gathers them into all_event_samples(): adding a domain edits no
// test's list.
#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

namespace lethe::test {

// An event as it is appended: type, schema version, payload.
struct EventSample {
  std::string type;
  int version;
  std::string payload;
};

template <class Event>
std::vector<EventSample> samples_of(const std::vector<Event>& events) {
  std::vector<EventSample> out;
  for (const auto& e : events) out.push_back({std::string(type_of(e)), version_of(e), encode_payload(e)});
  return out;
}

// Runs decisions against a state, keeping the state and every event decided:
// each must be accepted.
template <class State, class Event>
struct Runner {
  State state{};
  std::vector<Event>* out;
  template <class Decision>
  void take(const Decision& r) {
    BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    for (const auto& e : r.value()) {
      state = evolve(state, e);
      out->push_back(e);
    }
  }
};

// Every domain folder's samples, in folder-name order.
std::vector<EventSample> all_event_samples();

}  // namespace lethe::test
