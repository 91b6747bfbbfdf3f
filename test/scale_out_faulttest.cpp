#define BOOST_TEST_MODULE scale_out
// Several `lethe project` processes share a projection's partitions through
// its consumer group. A process that loses partitions while frozen (a
// zombie) must never write a batch for them: its claims in
// projection_owners are fenced by the next owner's. Processes killed and
// frozen during rebalances leave read models equal to a fresh replay, with
// nothing applied twice.
#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <thread>

#include "support/scenario.hpp"

using namespace lethe;
using namespace std::chrono_literals;

namespace {

// A `lethe project` process of the group, its log kept in a file.
struct Projector {
  std::string instance, log;
  std::unique_ptr<test::Process> process;

  Projector(const std::map<std::string, std::string>& env, std::string member, const std::vector<std::string>& names,
            const std::string& fault = "")
      : instance(std::move(member)), log("/tmp/lethe-scale-out-" + test::random_suffix() + "-" + instance) {
    std::string command = "exec '" + test::lethe_bin() + "' --log-level info project";
    for (const auto& n : names) command += " " + n;
    command += " --instance " + instance + " --batch-size 200 --batch-wait-ms 20 >'" + log + "' 2>&1";
    auto with = env;
    if (!fault.empty()) with["LETHE_FAULT"] = fault;
    process = std::make_unique<test::Process>(test::Program{"/bin/sh"}, std::vector<std::string>{"-c", command}, with);
  }
  ~Projector() { std::remove(log.c_str()); }

  std::string said() const {
    std::ifstream in(log);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  // Stopped by a signal (SIGSTOP): 'T' in /proc/PID/stat.
  bool stopped() const {
    std::ifstream in("/proc/" + std::to_string(process->pid()) + "/stat");
    std::string pid, name, state;
    in >> pid >> name >> state;
    return state == "T";
  }
};

bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// Until the event log holds `n` rows (every message once, when nothing was
// applied twice), at most `limit`.
bool event_log_reaches(const test::TestSchema& db, int n, std::chrono::seconds limit) {
  return test::eventually([&] { return db.scalar("SELECT count(*) FROM event_log") == std::to_string(n); }, limit);
}

// What the zombie scenario left.
struct ZombieRun {
  int zombie_rc = -1;      // its exit code: at SIGTERM, or on its own
  std::string zombie_log;  // what it said
  bool rejoined = false;   // whether it claimed partitions again after it was fenced
  int written = 0;
};

// How many group members hold the event log projection's partitions.
std::string owners(const test::TestSchema& db) {
  return db.scalar(
      "SELECT count(DISTINCT split_part(owner, ' ', 1)) FROM projection_owners WHERE projection = 'event_log'");
}

// Process "a" claims every partition of the event log projection, fetches
// its first batch and freezes (a test hook stops it with SIGSTOP just
// before the batch's transaction). Process "b" joins; once a's session has
// expired the group gives b every partition, and b applies every event.
// Then a is woken, its stale batch still in hand. With the fence, its
// transaction finds the partitions claimed by b and writes nothing; a
// rejoins, the group splits the partitions between a and b, and both apply
// what comes next. `fault` adds test hooks to a's (project.no_fence: the
// negative control).
ZombieRun zombie(const test::TestSchema& db, const test::TestTopics& topics, const std::string& fault) {
  const auto env = test::lethe_env(db, topics);
  ZombieRun run;
  run.written = test::write_users(db, 300, 2, "z");
  BOOST_REQUIRE(test::relay_until_idle(db, topics) == run.written);
  Projector a(env, "a", {"event_log"}, fault);
  BOOST_REQUIRE_MESSAGE(test::eventually([&] { return a.stopped(); }, 60s), a.said());
  Projector b(env, "b", {"event_log"});
  BOOST_REQUIRE_MESSAGE(event_log_reaches(db, run.written, 90s), b.said());
  a.process->signal(SIGCONT);
  // Either a writes nothing of its stale batch and rejoins the group, which
  // splits the partitions between the two, or (without the fence) it writes
  // the batch over b's rows.
  test::eventually([&] { return owners(db) == "2" || !a.process->running(); }, 60s);
  run.rejoined = a.process->running() && owners(db) == "2";
  const int more = test::write_users(db, 100, 2, "y");
  BOOST_REQUIRE(test::relay_until_idle(db, topics) == more);
  run.written += more;
  if (a.process->running()) BOOST_TEST(event_log_reaches(db, run.written, 90s), b.said());
  if (a.process->running()) a.process->signal(SIGTERM);
  run.zombie_rc = a.process->wait(std::chrono::seconds(60));
  run.zombie_log = a.said();
  b.process->signal(SIGTERM);
  BOOST_TEST(b.process->wait(std::chrono::seconds(60)) == 0, b.said());
  return run;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_zombie_that_lost_its_partitions_while_frozen_writes_nothing) {
  test::TestSchema db;
  test::TestTopics topics(6);
  const auto run = zombie(db, topics, "project.freeze_before_batch");
  BOOST_TEST(contains(run.zombie_log, "batch not written, its partitions moved to another process"), run.zombie_log);
  BOOST_TEST(run.zombie_rc == 0, run.zombie_log);
  BOOST_TEST(run.rejoined, run.zombie_log);
  // Every message once: the event log's rows are keyed by their place in
  // Kafka, and nothing was set aside.
  BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == std::to_string(run.written));
  BOOST_TEST(db.scalar("SELECT count(DISTINCT event_id) FROM event_log") == std::to_string(run.written));
  BOOST_TEST(db.scalar("SELECT count(*) FROM events") == std::to_string(run.written));
  BOOST_TEST(test::topic_end(topics.topic("dead-letters")) == 0);
  // Every partition was claimed by a, then by b, then once more when a
  // rejoined: each claim raised its epoch (the fence itself is shown by the
  // message above and the negative control below).
  BOOST_TEST(db.scalar("SELECT min(epoch) >= 3 FROM projection_owners WHERE projection = 'event_log'") == "t");
}

// The same, frozen inside its batch's transaction, past the fence and
// holding its claims share-locked: b's claim waits until PostgreSQL ends
// a's idle session (10 s), then b applies every event while a is still
// frozen; woken, a finds its connection gone and rejoins.
BOOST_AUTO_TEST_CASE(a_process_frozen_inside_its_batch_holds_up_the_next_owner_only_briefly) {
  test::TestSchema db;
  test::TestTopics topics(6);
  const auto run = zombie(db, topics, "project.freeze_in_batch");
  BOOST_TEST(run.zombie_rc == 0, run.zombie_log);
  BOOST_TEST(run.rejoined, run.zombie_log);
  BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == std::to_string(run.written));
  BOOST_TEST(db.scalar("SELECT count(DISTINCT event_id) FROM event_log") == std::to_string(run.written));
  BOOST_TEST(test::topic_end(topics.topic("dead-letters")) == 0);
}

// The negative control: the same zombie with its fence switched off (a test
// hook) writes its stale batch over rows b applied. The event log's key
// refuses it (SQLSTATE 23505): the zombie's log says so, and either the run
// of refusals stops it (exit 2) or, for a batch shorter than
// --max-consecutive-refusals, its messages go to the dead letters. Either
// way the checks above fail.
BOOST_AUTO_TEST_CASE(a_zombie_without_the_fence_writes_its_stale_batch) {
  test::TestSchema db;
  test::TestTopics topics(6);
  const auto run = zombie(db, topics, "project.freeze_before_batch,project.no_fence");
  BOOST_TEST(!contains(run.zombie_log, "moved to another process"), run.zombie_log);
  BOOST_TEST(contains(run.zombie_log, "23505"), run.zombie_log);
  BOOST_TEST((run.zombie_rc == 2 || test::topic_end(topics.topic("dead-letters")) > 0), run.zombie_log);
}

// Three processes run the users and event log projections while users
// register and rename themselves. A seeded schedule SIGKILLs one and starts
// it again, or freezes one past its session (SIGSTOP for 12 s, which makes
// the group rebalance without it) and wakes it, again and again: every
// change is a rebalance, some land while another is frozen mid-batch. At
// the end, every event is in the event log once, nothing was dead-lettered,
// and the users table equals a fresh replay of the topics.
BOOST_AUTO_TEST_CASE(kills_and_freezes_during_rebalances_lose_nothing_and_apply_nothing_twice) {
  test::TestSchema db;
  test::TestTopics topics(6);
  const auto env = test::lethe_env(db, topics);
  test::Process relay({"relay"}, env);
  const auto seed = [] {
    const char* s = std::getenv("LETHE_SCALE_OUT_SEED");
    return s && *s ? static_cast<unsigned>(std::stoul(s)) : std::random_device{}();
  }();
  BOOST_TEST_MESSAGE("scale out: seed " << seed << " (LETHE_SCALE_OUT_SEED=" << seed << " replays this schedule)");
  std::mt19937 rng(seed);

  std::atomic<int> written{0};
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    written = test::write_users(db, 1500, 4, "s", 15ms);  // about 30 seconds of traffic
    writing = false;
  });
  const std::vector<std::string> names{"users", "event_log"};
  std::vector<std::unique_ptr<Projector>> group;
  for (const auto* member : {"p0", "p1", "p2"}) group.push_back(std::make_unique<Projector>(env, member, names));
  std::map<std::size_t, std::chrono::steady_clock::time_point> frozen;  // member -> when to wake it
  int kills = 0, freezes = 0;
  // Until the writer is done, at least 3 kills and 2 freezes have happened,
  // and the last frozen member is awake again.
  while (writing || kills < 3 || freezes < 2 || !frozen.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500 + rng() % 1500));
    const auto now = std::chrono::steady_clock::now();
    for (auto it = frozen.begin(); it != frozen.end();) {
      // Woken once the others have claimed every partition it held (the
      // group went on without it), or after 40 s: should it be frozen
      // mid-COPY, their claims wait on it until the lock wait ends.
      const bool taken_over = db.scalar("SELECT count(*) FROM projection_owners WHERE owner LIKE '%." +
                                        group[it->first]->instance + " (%'") == "0";
      if (now < it->second || (!taken_over && now < it->second + 28s)) {
        ++it;
        continue;
      }
      group[it->first]->process->signal(SIGCONT);
      BOOST_TEST_MESSAGE("scale out: woke p" << it->first);
      it = frozen.erase(it);
    }
    // Once the traffic and the faults asked for are done, only the wake of
    // the last frozen member is awaited: more kills would keep the group
    // rebalancing and its partitions from ever being taken over.
    if (!writing && kills >= 3 && freezes >= 2) continue;
    const std::size_t victim = rng() % group.size();
    if (frozen.contains(victim)) continue;
    if (rng() % 2 == 0 && frozen.empty()) {
      group[victim]->process->signal(SIGSTOP);
      frozen[victim] = now + 12s;
      ++freezes;
      BOOST_TEST_MESSAGE("scale out: froze p" << victim);
    } else {
      group[victim]->process->signal(SIGKILL);
      BOOST_TEST(group[victim]->process->wait() == 128 + SIGKILL);
      // Under a new instance name: the group rebalances when it joins, and
      // again when the killed member's session ends.
      group[victim] =
          std::make_unique<Projector>(env, "p" + std::to_string(victim) + "k" + std::to_string(kills), names);
      ++kills;
      BOOST_TEST_MESSAGE("scale out: killed and restarted p"
                         << victim << " (" << db.scalar("SELECT count(*) FROM events") << " events written so far)");
    }
  }
  writer.join();
  BOOST_TEST_MESSAGE("scale out: " << written << " events written, " << kills << " kills, " << freezes << " freezes");
  std::string why;
  BOOST_REQUIRE_MESSAGE(test::relay_publishes(db, topics.topic("users"), written, 120s, &relay, why), why);
  BOOST_TEST(event_log_reaches(db, written, 180s));
  BOOST_TEST(test::eventually([&] { return test::projected_versions(db) == test::expected_versions(db); }, 60s));
  for (auto& p : group) {
    BOOST_TEST(p->process->running(), p->said());
    p->process->signal(SIGTERM);
    BOOST_TEST(p->process->wait(std::chrono::seconds(60)) == 0, p->said());
  }
  // Seen directly: each message once in the event log, no dead letter.
  BOOST_TEST(db.scalar("SELECT count(*) FROM event_log") == std::to_string(written.load()));
  BOOST_TEST(db.scalar("SELECT count(DISTINCT event_id) FROM event_log") == std::to_string(written.load()));
  BOOST_TEST(test::topic_end(topics.topic("dead-letters")) == 0);
  BOOST_TEST(test::projected_versions(db) == test::expected_versions(db), boost::test_tools::per_element());
  // And the users table equals a replay of the topics from offset zero.
  BOOST_TEST(test::users_table(db) == test::fresh_replay(topics), boost::test_tools::per_element());
  relay.signal(SIGTERM);
  BOOST_TEST(relay.wait() == 0);
}
