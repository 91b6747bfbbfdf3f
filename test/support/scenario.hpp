#pragma once
// Shared steps of the fault tests: write a known history, run the binary's
// services, and compare a read model with a fresh replay from offset zero.
#include <memory>
#include <string>
#include <vector>

#include "lethe/consumers/runner.hpp"
#include "lethe/producers/relay.hpp"
#include "support/fixtures.hpp"

namespace lethe::test {

// Relay options pointing at this test's schema and topics.
producers::RelayOptions relay_options(const TestSchema& db, const TestTopics& topics);

// Runs the relay in-process until the outbox is drained; returns the count.
std::int64_t relay_until_idle(const TestSchema& db, const TestTopics& topics);

// Runs the users projection in-process until caught up. The group defaults
// to the topic prefix.
consumers::RunStats project_until_idle(const TestSchema& db, const TestTopics& topics, int batch_size = 1000,
                                       const std::string& group_prefix = "");

// Appends `users` user histories "user-<prefix><i>" of a registration and
// exactly `renames` renames each, one append per stream; returns the number
// of events.
int append_users(const TestSchema& db, const std::string& prefix, int users, int renames);

// Appends `users` user histories (a registration and 0..max_renames
// renames each) in separate commands; returns the number of events.
// A pause after each user spreads the traffic over time.
int write_users(const TestSchema& db, int users, int max_renames, const std::string& id_prefix = "u",
                std::chrono::milliseconds pause = std::chrono::milliseconds(0));

// The users read model as sorted text rows (every column).
std::vector<std::string> users_table(const TestSchema& db);

// What the users table must hold, derived from the event store alone: per
// user, the stream's last version and event id.
std::vector<std::string> expected_versions(const TestSchema& db);
std::vector<std::string> projected_versions(const TestSchema& db);

// An append of a user's registration (stream "user-<id>", version 1) whose
// transaction stays open until commit(): its position is drawn now, and it
// becomes visible later than appends that follow it (the sequence-gap case
// a relay ordering by position alone skips).
class OpenAppend {
 public:
  OpenAppend(const TestSchema& db, const std::string& id);
  ~OpenAppend();
  void commit();
  std::int64_t position() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Whether the relay has published everything the outbox holds: its
// checkpoint exists and no entry lies beyond it.
bool relay_drained(const TestSchema& db);

// Until the relay's checkpoint counts `events` published (at most `limit`).
// When it does not, `why` says what the relay faced: the checkpoint, the
// entries waiting, the events stored and the messages on `topic` (the one
// the events go to), whether the relay still runs, and the oldest open
// transactions of the cluster with what each waits on.
bool relay_publishes(const TestSchema& db, const std::string& topic, std::int64_t events, std::chrono::seconds limit,
                     Process* relay, std::string& why);

// Projects the topics of `topics` into a brand-new schema with a new consumer
// group, from offset zero, until idle; returns that schema's users table.
std::vector<std::string> fresh_replay(const TestTopics& topics);

}  // namespace lethe::test
