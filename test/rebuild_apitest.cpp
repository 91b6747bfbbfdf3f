#define BOOST_TEST_MODULE rebuild
// A read model rebuilt beside the live one (`lethe project rebuild`), with
// `lethe serve`, the relay and the live projector running, over HTTP:
//  - under load, with people erased while it rebuilds, the cut-over leaves
//    a read model equal to a replay from offset zero done at rest (nothing
//    lost or applied twice at the switch), the erased people forgotten in
//    it, and the API never failed nor answered stale without saying so;
//  - a new version that differs from the live one (a row changed, a row
//    naming an erased person) is refused at cut-over, saying what differs,
//    and nothing switches;
//  - a rebuild killed with SIGKILL resumes from its saved offsets; a
//    rollback switches back to the kept version, brought up to date first
//    (a later erasure included); drop removes the kept version;
//  - the same rebuild and rollback started over HTTP (the console's buttons)
//    run in the server, show their progress and outcome in GET /operations,
//    and are on record in the audit log.
#include <signal.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>

#include "support/api.hpp"
#include "support/fixtures.hpp"
#include "support/scenario.hpp"

using namespace lethe;
using namespace std::chrono_literals;

namespace {

constexpr const char* kUsersColumns =
    "user_id, email, name, role, registered_at, updated_at, version, last_event_id, active";

// The users table of one version, every declared column.
std::vector<std::string> users_in(const test::TestSchema& db, const std::string& schema) {
  return db.rows(std::string("SELECT ") + kUsersColumns + " FROM " + schema + ".users");
}

std::string next_of(const test::TestSchema& db) {
  return db.name() + "_next_users";
}
std::string previous_of(const test::TestSchema& db) {
  return db.name() + "_prev_users";
}

bool schema_exists(const test::TestSchema& db, const std::string& schema) {
  return db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = '" + schema + "'") == "1";
}

// `lethe <args>`: exit code, and everything it wrote.
test::Captured run_lethe(const test::Served& s, const std::string& args) {
  return test::capture_env(s.env(), "'" + test::lethe_bin() + "' " + args + " 2>&1");
}

bool says(const test::Captured& c, const std::string& what) {
  return c.output.find(what) != std::string::npos;
}

// Until the live users projection has applied everything on its topics.
bool live_caught_up(const test::Served& s) {
  return test::eventually(
      [&] {
        // Every event stored is on Kafka first: the topics' ends alone
        // would let a check pass before the relay published the last ones.
        if (!test::relay_drained(s.db)) return false;
        std::int64_t end = 0;
        for (const auto& topic : s.db.rows("SELECT DISTINCT topic FROM projection_offsets WHERE projection = 'users'"))
          end += test::topic_end(topic);
        return s.db.scalar("SELECT sum(next_offset) FROM projection_offsets WHERE projection = 'users'") ==
               std::to_string(end);
      },
      60s, 200ms);
}

// A replay of the users projection from offset zero, done at rest, into the
// next version's schema (left there, not cut over): the reference.
std::vector<std::string> replay_at_rest(const test::Served& s) {
  BOOST_REQUIRE(live_caught_up(s));
  const auto r = run_lethe(s, "project rebuild users --restart --no-cut-over");
  BOOST_REQUIRE_MESSAGE(r.rc == 0, r.output);
  return users_in(s.db, next_of(s.db));
}

// Commands and reads against the API from another thread: users registered
// and read back with ?min_version=1. Every answer must be the documented
// one: 201, then 200, or an answer marked X-Lethe-Stale when the wait ran
// out.
class Load {
 public:
  explicit Load(const test::Api& api) : api_(api), thread_([this] { run(); }) {}
  ~Load() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int commands() const { return commands_; }
  int stale() const { return stale_; }
  std::vector<std::string> failures() {
    const std::lock_guard lock(mutex_);
    return failures_;
  }

 private:
  void run() {
    const auto run_id = test::random_suffix();
    for (int i = 0; !stop_; ++i) {
      const auto email = "load" + std::to_string(i) + "-" + run_id + "@example.org";
      const auto made =
          api_.call("POST", "/users", test::json_object({{"email", email}, {"name", "Load " + std::to_string(i)}}),
                    api_.owner_key());
      if (made.status != 201) {
        fail("POST /users: " + std::to_string(made.status) + " " + made.body);
        continue;
      }
      ++commands_;
      const auto read = api_.call("GET", "/users/" + made.str("id") + "?min_version=1", "", api_.owner_key());
      if (read.header("X-Lethe-Stale") == "true")
        ++stale_;
      else if (read.status != 200 || read.str("id") != made.str("id"))
        fail("GET /users/{id}?min_version=1: " + std::to_string(read.status) + " " + read.body);
      std::this_thread::sleep_for(20ms);
    }
  }
  void fail(const std::string& what) {
    const std::lock_guard lock(mutex_);
    failures_.push_back(what);
  }

  const test::Api& api_;
  std::atomic<bool> stop_{false};
  std::atomic<int> commands_{0}, stale_{0};
  std::mutex mutex_;
  std::vector<std::string> failures_;
  std::thread thread_;
};

// An admin erases the person; returns once every projection has applied it.
void erase(test::Served& s, const std::string& user_id) {
  auto r =
      test::must(s.api.call("POST", "/users/" + user_id + "/erasure", "", s.api.owner_key(), {{"Content-Length", "0"}}),
                 202, "erase");
  const auto applied = test::until_erasure_applied(s.api, r.str("id"), s.api.owner_key());
  BOOST_REQUIRE_MESSAGE(applied.json.IsObject() && applied.json["receipts"].Size() == test::all_projections().size(),
                        applied.body);
}

// Users with history straight into the event store, published.
int seed(test::Served& s, int users, const std::string& prefix) {
  const int n = test::write_users(s.db, users, 2, prefix);
  BOOST_REQUIRE(live_caught_up(s));
  return n;
}

}  // namespace

namespace {

// A rebuild of the users projection under HTTP load, frozen once it has
// begun while two people are erased, then let go to cut over. `fault`
// adds test hooks to the rebuild: cut-over.pause keeps the live version
// held for 2 s before the comparison, so that the live projector has
// batches waiting; cut-over.no_hold (the negative control) does not hold
// it at all.
struct UnderLoad {
  int rc = -1;
  std::string said;  // the rebuild's output
  std::size_t users_before = 0;
  int commands = 0;
  std::vector<std::string> failures;
  std::vector<std::string> erased;
};

UnderLoad rebuild_under_load(test::Served& s, const std::string& fault) {
  UnderLoad out;
  seed(s, 1500, "r");
  const auto ana = s.api.person("ana-" + test::random_suffix() + "@example.org");
  const auto bo = s.api.person("bo-" + test::random_suffix() + "@example.org");
  BOOST_REQUIRE(live_caught_up(s));
  out.users_before = users_in(s.db, s.db.name()).size();
  out.erased = {ana.id, bo.id};

  Load load(s.api);
  auto env = s.env();
  env["LETHE_FAULT"] = fault;
  const auto log = "/tmp/lethe-rebuild-" + test::random_suffix();
  test::Process rebuild(
      test::Program{"/bin/sh"},
      {"-c", "exec '" + test::lethe_bin() + "' project rebuild users --batch-size 100 >'" + log + "' 2>&1"}, env);
  BOOST_REQUIRE(test::eventually(
      [&] {
        return schema_exists(s.db, next_of(s.db)) &&
               s.db.scalar("SELECT coalesce(sum(next_offset), 0) FROM " + next_of(s.db) + ".projection_offsets") != "0";
      },
      60s, 5ms));
  rebuild.signal(SIGSTOP);
  erase(s, ana.id);
  erase(s, bo.id);
  BOOST_TEST_REQUIRE(rebuild.running());
  BOOST_TEST(std::stoul(s.db.scalar("SELECT count(*) FROM " + next_of(s.db) + ".users")) < out.users_before);
  rebuild.signal(SIGCONT);
  out.rc = rebuild.wait(std::chrono::seconds(300));
  {
    std::ifstream in(log);
    out.said.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::remove(log.c_str());
  // Load goes on across the cut-over and a little after it.
  std::this_thread::sleep_for(2s);
  load.stop();
  out.commands = load.commands();
  out.failures = load.failures();
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_rebuild_under_load_with_erasures_midway_cuts_over_to_what_a_replay_at_rest_builds) {
  test::Served s;
  const auto indexes = [&] {
    return s.db.scalar(
        "SELECT string_agg(tablename || '.' || indexname, ',' ORDER BY indexname) FROM pg_indexes"
        " WHERE schemaname = '" +
        s.db.name() + "' AND tablename IN ('users', 'user_notes', 'user_oauth_identities')");
  };
  const auto indexes_before = indexes();
  const auto run = rebuild_under_load(s, "cut-over.pause");
  BOOST_TEST_REQUIRE(run.rc == 0, run.said);
  BOOST_TEST(run.said.find("\"action\":\"cut-over\",\"done\":true") != std::string::npos, run.said);
  // Indexes and constraints keep the names the migrations gave them.
  BOOST_TEST(indexes() == indexes_before);
  BOOST_TEST(run.failures.empty(), "first failure: " << (run.failures.empty() ? "" : run.failures.front()));
  BOOST_TEST(run.commands > 0);

  // Switched once, the old version kept, the new one live.
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM projection_versions WHERE projection = 'users' AND action = "
                         "'cut-over'") == "1");
  BOOST_TEST(schema_exists(s.db, previous_of(s.db)));
  BOOST_TEST(!schema_exists(s.db, next_of(s.db)));
  BOOST_TEST(users_in(s.db, previous_of(s.db)).size() >= run.users_before);

  // The erased are forgotten in the version that is live now.
  for (const auto& id : run.erased)
    BOOST_TEST(s.db.scalar("SELECT name || ' ' || active FROM users WHERE user_id = '" + id + "'") ==
               "Deleted user false");

  // The live version, having lived through the switch under load, is what
  // a replay from offset zero at rest builds: no event lost or applied twice.
  const auto reference = replay_at_rest(s);
  const auto live = users_in(s.db, s.db.name());
  BOOST_TEST(live.size() == reference.size());
  BOOST_TEST(live == reference);
  BOOST_TEST(live.size() >= run.users_before + static_cast<std::size_t>(run.commands));
}

// The negative control: with the live version not held, its projector
// writes on while the new version is brought to the offsets read and
// compared, and the cut-over is refused (it would otherwise switch to a
// version missing those batches).
BOOST_AUTO_TEST_CASE(without_holding_the_live_version_the_cut_over_does_not_hold) {
  test::Served s;
  const auto run = rebuild_under_load(s, "cut-over.pause,cut-over.no_hold");
  BOOST_TEST(run.rc == 1, run.said);
  BOOST_TEST(run.said.find("cut-over users refused: table users: ") != std::string::npos, run.said);
  BOOST_TEST(run.said.find("; the digests differ over") != std::string::npos, run.said);
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM projection_versions") == "0");
  BOOST_TEST(schema_exists(s.db, next_of(s.db)));
}

BOOST_AUTO_TEST_CASE(a_new_version_that_differs_is_refused_and_nothing_switches) {
  test::Served s;
  seed(s, 200, "t");
  const auto cleo = s.api.person("cleo-" + test::random_suffix() + "@example.org");
  const auto dora = s.api.person("dora-" + test::random_suffix() + "@example.org");
  erase(s, cleo.id);
  BOOST_REQUIRE(live_caught_up(s));
  const auto built = run_lethe(s, "project rebuild users --no-cut-over");
  BOOST_REQUIRE_MESSAGE(built.rc == 0, built.output);
  BOOST_TEST(says(built, "\"action\":\"rebuild\",\"done\":false"), built.output);
  const auto next = next_of(s.db);
  BOOST_TEST(users_in(s.db, next) == users_in(s.db, s.db.name()));

  // An erasure while the rebuild waits, no runner on it: the live
  // projector makes the new version forget too.
  const auto dora_in_next = "SELECT name FROM " + next + ".users WHERE user_id = '" + dora.id + "'";
  BOOST_TEST(s.db.scalar(dora_in_next) != "Deleted user");
  erase(s, dora.id);
  BOOST_TEST(s.db.scalar(dora_in_next) == "Deleted user");

  // A row changed in the new version.
  s.db.exec("UPDATE " + next + ".users SET role = 'owner' WHERE user_id = 't7'");
  auto refused = run_lethe(s, "project cut-over users");
  BOOST_TEST(refused.rc == 1, refused.output);
  BOOST_TEST(says(refused, "\"done\":false"), refused.output);
  const auto rows = s.db.scalar("SELECT count(*) FROM users");
  BOOST_TEST(says(refused, "table users: " + rows + " rows live, " + rows + " in " + next + "; the digests differ"),
             refused.output);
  BOOST_TEST(says(refused, "user_id t7 only live, t7 only in"), refused.output);
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM projection_versions") == "0");
  BOOST_TEST(s.db.scalar("SELECT role FROM users WHERE user_id = 't7'") == "user");
  BOOST_TEST(schema_exists(s.db, next));

  // Put back, and a row naming the erased person added instead.
  s.db.exec("UPDATE " + next + ".users SET role = 'user' WHERE user_id = 't7'");
  s.db.exec("INSERT INTO " + next + ".user_oauth_identities (user_id, provider, subject, linked_at) VALUES ('" +
            cleo.id + "', 'github', 'x', now())");
  refused = run_lethe(s, "project cut-over users");
  BOOST_TEST(refused.rc == 1, refused.output);
  BOOST_TEST(says(refused,
                  "table user_oauth_identities: 1 row(s) of user_id name people the erasure register holds "
                  "as erased"),
             refused.output);
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM projection_versions") == "0");

  // Untampered, it cuts over.
  s.db.exec("DELETE FROM " + next + ".user_oauth_identities WHERE user_id = '" + cleo.id + "'");
  const auto cut = run_lethe(s, "project cut-over users");
  BOOST_TEST(cut.rc == 0, cut.output);
  BOOST_TEST(says(cut, "\"action\":\"cut-over\",\"done\":true"), cut.output);
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM projection_versions") == "1");

  // Without a rebuild in progress, cut-over has nothing to finish.
  const auto nothing = run_lethe(s, "project cut-over users");
  BOOST_TEST(nothing.rc == 2, nothing.output);
  BOOST_TEST(says(nothing, "no rebuild is in progress"), nothing.output);
}

BOOST_AUTO_TEST_CASE(a_killed_rebuild_resumes_and_a_rollback_switches_back_up_to_date) {
  test::Served s;
  const auto eve = s.api.person("eve-" + test::random_suffix() + "@example.org");
  const int events = seed(s, 1500, "k");
  const auto next = next_of(s.db);
  const auto passed = [&] {
    return std::stoll(s.db.scalar("SELECT coalesce(sum(next_offset), 0) FROM " + next + ".projection_offsets"));
  };
  {
    test::Process rebuild({"project", "rebuild", "users", "--batch-size", "20"}, s.env());
    BOOST_REQUIRE(test::eventually([&] { return schema_exists(s.db, next) && passed() >= events / 4; }, 60s, 5ms));
    rebuild.signal(SIGKILL);
    rebuild.wait();
  }
  const auto at_kill = passed();
  BOOST_TEST_REQUIRE(at_kill < events);
  const auto resumed = run_lethe(s, "project rebuild users");
  BOOST_TEST_REQUIRE(resumed.rc == 0, resumed.output);
  BOOST_TEST(says(resumed, "resuming in " + next + " from its saved offsets (" + std::to_string(at_kill) +
                               " events passed before)"),
             resumed.output);
  BOOST_TEST(says(resumed, "\"action\":\"cut-over\",\"done\":true"), resumed.output);
  // It applied what was left, not everything again.
  const auto applied_at = resumed.output.find("\"applied\":");
  BOOST_TEST_REQUIRE(applied_at != std::string::npos);
  BOOST_TEST(std::stoll(resumed.output.substr(applied_at + 10)) <= events - at_kill + 10);
  const auto cut_over = users_in(s.db, s.db.name());

  // More users and an erasure after the cut-over; then back to the kept version.
  seed(s, 50, "later");
  const auto eve_in_kept = "SELECT name FROM " + previous_of(s.db) + ".users WHERE user_id = '" + eve.id + "'";
  BOOST_TEST(s.db.scalar(eve_in_kept) != "Deleted user");
  erase(s, eve.id);
  BOOST_REQUIRE(live_caught_up(s));
  const auto live_then = users_in(s.db, s.db.name());
  BOOST_TEST(live_then.size() == cut_over.size() + 50);
  // The kept version forgot eve with the live one, though no projector runs it.
  BOOST_TEST(s.db.scalar(eve_in_kept) == "Deleted user");
  // gdpr verify searches the kept version too: a row left naming her there
  // is found, under the version's schema.
  const auto verify = "gdpr verify " + eve.id + " --pg-data -";
  auto verified = run_lethe(s, verify);
  BOOST_TEST(verified.rc == 0, verified.output);
  s.db.exec("INSERT INTO " + previous_of(s.db) +
            ".user_notes (note_id, user_id, text, author, added_at) VALUES ('00000000-0000-4000-8000-00000000e1e1', '" +
            eve.id + "', 'x', NULL, now())");
  verified = run_lethe(s, verify);
  BOOST_TEST(verified.rc == 1, verified.output);
  BOOST_TEST(
      says(verified, "table " + previous_of(s.db) +
                         ".user_notes.user_id: row note_id=00000000-0000-4000-8000-00000000e1e1 holds the person's id"),
      verified.output);
  s.db.exec("DELETE FROM " + previous_of(s.db) + ".user_notes WHERE note_id = '00000000-0000-4000-8000-00000000e1e1'");
  const auto back = run_lethe(s, "project rollback users");
  BOOST_TEST_REQUIRE(back.rc == 0, back.output);
  BOOST_TEST(says(back, "\"action\":\"rollback\",\"done\":true"), back.output);
  BOOST_TEST(users_in(s.db, s.db.name()) == live_then);
  BOOST_TEST(s.db.scalar("SELECT name FROM users WHERE user_id = '" + eve.id + "'") == "Deleted user");
  BOOST_TEST(s.db.scalar("SELECT string_agg(action, ',' ORDER BY switched_at) FROM projection_versions") ==
             "cut-over,rollback");

  // The live projector goes on writing into the version rolled back to.
  seed(s, 10, "after");
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM users WHERE user_id LIKE 'after%'") == "10");

  const auto dropped = run_lethe(s, "project drop users");
  BOOST_TEST(dropped.rc == 0, dropped.output);
  BOOST_TEST(says(dropped, "\"dropped\":true"), dropped.output);
  BOOST_TEST(!schema_exists(s.db, previous_of(s.db)));
  const auto none = run_lethe(s, "project rollback users");
  BOOST_TEST(none.rc == 2, none.output);
  BOOST_TEST(says(none, "no previous version is kept"), none.output);
}

namespace {

// The job of `projection` as GET /operations shows it ("" when none).
std::string job_state(const test::Served& s, const std::string& projection, std::string* message = nullptr,
                      double* progress = nullptr, std::string* by = nullptr) {
  const auto ops = test::must(s.api.call("GET", "/operations", "", s.api.owner_key()), 200, "operations");
  for (const auto& job : ops.json["jobs"].GetArray()) {
    if (job["projection"].GetString() != projection) continue;
    if (message) *message = job["message"].GetString();
    if (progress) *progress = job["progress"].GetDouble();
    if (by) *by = job["started_by"].GetString();
    return job["state"].GetString();
  }
  return "";
}

bool job_ends(const test::Served& s, const std::string& projection) {
  return test::eventually([&] { return job_state(s, projection) != "running"; }, 120s, 200ms);
}

}  // namespace

// The console's buttons: an admin or owner starts a rebuild or a rollback
// over HTTP, the server runs it (one per projection at a time), GET
// /operations shows its progress and outcome, and every start is on record
// in the audit log. Staff may look, not start.
BOOST_AUTO_TEST_CASE(a_rebuild_and_a_rollback_started_over_http_run_in_the_server_and_are_on_record) {
  test::Served s;
  seed(s, 300, "h");
  const auto staff = s.api.person("staff-" + test::random_suffix() + "@example.org", "staff");
  const auto refused = s.api.call("POST", "/projections/users/rebuild", "", staff.token);
  BOOST_TEST(refused.status == 403, refused.body);
  const auto unknown = s.api.call("POST", "/projections/nosuch/rebuild", "", s.api.owner_key());
  BOOST_TEST(unknown.status == 404, unknown.body);
  BOOST_TEST(unknown.str("field") == "name");

  // Nothing is kept yet: the rollback starts, and fails saying why.
  test::must(s.api.call("POST", "/projections/users/rollback", "", s.api.owner_key()), 202, "rollback");
  BOOST_REQUIRE(job_ends(s, "users"));
  std::string message;
  BOOST_TEST(job_state(s, "users", &message) == "failed");
  BOOST_TEST(message.find("no previous version is kept") != std::string::npos, message);

  const auto before = users_in(s.db, s.db.name());
  const auto started =
      test::must(s.api.call("POST", "/projections/users/rebuild", "", s.api.owner_key()), 202, "rebuild");
  BOOST_TEST(started.str("state") == "running");
  BOOST_TEST(started.str("action") == "rebuild");
  // One job per projection at a time.
  const auto again = s.api.call("POST", "/projections/users/rebuild", "", s.api.owner_key());
  BOOST_TEST(again.status == 409, again.body);
  BOOST_TEST(again.str("field") == "name");
  BOOST_REQUIRE(job_ends(s, "users"));
  double progress = 0;
  std::string by;
  BOOST_TEST(job_state(s, "users", &message, &progress, &by) == "done", message);
  BOOST_TEST(progress == 1.0);
  BOOST_TEST(by == s.api.owner_id());
  BOOST_TEST(message.find("kept in " + previous_of(s.db)) != std::string::npos, message);
  BOOST_TEST(users_in(s.db, s.db.name()) == before, boost::test_tools::per_element());

  test::must(s.api.call("POST", "/projections/users/rollback", "", s.api.owner_key()), 202, "rollback");
  BOOST_REQUIRE(job_ends(s, "users"));
  BOOST_TEST(job_state(s, "users", &message) == "done", message);
  BOOST_TEST(s.db.scalar("SELECT string_agg(action, ',' ORDER BY switched_at) FROM projection_versions") ==
             "cut-over,rollback");
  // Every start is on record, with who started it; the refusals are not.
  BOOST_TEST(test::eventually(
      [&] {
        return s.db.rows(
                   "SELECT actor || ' ' || target_kind || ' ' || target_id FROM audit_log"
                   " WHERE action = 'operations.projection_job_started' ORDER BY stream_version") ==
               std::vector<std::string>(3, s.api.owner_id() + " projection users");
      },
      30s));
}
