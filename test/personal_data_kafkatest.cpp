#define BOOST_TEST_MODULE personal_data
// Personal data never reaches the event store, the outbox or Kafka in clear:
// checked on the bytes that the broker writes to disk. Read models and
// readers open it with the person's key; once the key is gone it reads as
// erased, and the log still verifies.
#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <pqxx/pqxx>
#include <sstream>

#include "lethe/infra/pg.hpp"
#include "support/fixtures.hpp"

using namespace lethe;
namespace fs = std::filesystem;

namespace {

struct Person {
  std::string id, email, name, new_name;
};

std::string env_of(const test::TestSchema& db, const test::TestTopics& topics,
                   const std::map<std::string, std::string>& extra = {}) {
  std::string env;
  auto all = test::lethe_env(db, topics);
  for (const auto& [k, v] : extra) all[k] = v;
  // The master key a case names (an empty value: none) and not one the
  // environment names in a file; else the tests' own (inherited).
  if (extra.contains("LETHE_MASTER_KEY")) all.emplace("LETHE_MASTER_KEY_FILE", "");
  for (const auto& [k, v] : all) env += k + "='" + v + "' ";
  return env;
}

test::Captured run(const std::string& env, const std::string& args) {
  return test::capture("env " + env + test::lethe_bin() + " " + args);
}

// Every byte of the broker's log segments of the topic, all partitions.
std::string segments_of(const std::string& topic) {
  const char* var = std::getenv("LETHE_VAR_DIR");
  const fs::path data = fs::path(var ? var : test::source_dir() + "/.lethe") / "kafka" / "data";
  std::string bytes;
  int files = 0;
  for (const auto& dir : fs::directory_iterator(data)) {
    const auto name = dir.path().filename().string();
    if (name.rfind(topic + "-", 0) != 0) continue;
    for (const auto& f : fs::directory_iterator(dir.path())) {
      if (f.path().extension() != ".log") continue;
      std::ifstream in(f.path(), std::ios::binary);
      bytes.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      ++files;
    }
  }
  BOOST_REQUIRE_MESSAGE(files > 0, "no segment files of " << topic << " under " << data);
  return bytes;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::vector<Person> people() {
  std::vector<Person> out;
  for (const auto* who : {"ada", "grace", "edsger", "barbara"}) {
    const auto tag = test::random_suffix();
    out.push_back({"p-" + tag, std::string(who) + "-" + tag + "@example.org", std::string(who) + " Sample " + tag,
                   std::string(who) + " Renamed " + tag});
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(no_email_or_name_in_clear_in_the_store_the_outbox_or_the_broker_segments) {
  test::TestSchema db;
  // Uncompressed on disk, so that plaintext would be plainly visible: the
  // producer compresses with lz4, which would hide it from a byte search
  // without protecting anything.
  test::TestTopics topics(3, {{"compression.type", "uncompressed"}});
  const auto env = env_of(db, topics);
  const auto persons = people();
  for (const auto& p : persons) {
    auto r = run(env, "user register --id " + p.id + " --email " + p.email + " --name '" + p.name + "'");
    BOOST_REQUIRE_MESSAGE(r.rc == 0, r.output);
    // What the command prints is what was appended: sealed.
    BOOST_TEST(!contains(r.output, p.email), r.output);
    r = run(env, "user rename --id " + p.id + " --name '" + p.new_name + "'");
    BOOST_REQUIRE_MESSAGE(r.rc == 0, r.output);
  }
  // Before the outbox is relayed and pruned: the raw tables.
  const auto store = db.rows("SELECT payload::text FROM events");
  const auto outbox = db.rows("SELECT e.payload::text FROM outbox o JOIN events e USING (global_position)");
  BOOST_TEST(store.size() == 8u);
  BOOST_TEST(outbox.size() == 8u);
  BOOST_REQUIRE(run(env, "relay --until-idle").rc == 0);
  BOOST_REQUIRE(run(env, "project users --until-idle").rc == 0);

  const auto disk = segments_of(topics.topic("users"));
  for (const auto& p : persons) {
    // The control: the segment is readable, the user id (not personal) is there.
    BOOST_TEST(contains(disk, p.id), p.id);
    for (const auto& secret : {p.email, p.name, p.new_name}) {
      BOOST_TEST(!contains(disk, secret), secret << " is in a log segment");
      for (const auto& row : store) BOOST_TEST(!contains(row, secret), secret << " is in events");
    }
    // The read model keeps it sealed (no email or name in its table), and
    // opens it with the key, as the readers do.
    BOOST_TEST(db.scalar("SELECT count(*) FROM users WHERE email LIKE '%" + p.email + "%' OR name LIKE '%" + p.name +
                         "%' OR name LIKE '%" + p.new_name + "%'") == "0");
    BOOST_TEST(db.opened_rows("SELECT email, name FROM users WHERE user_id = '" + p.id + "'") ==
               std::vector<std::string>{p.email + "|" + p.new_name});
    const auto opened = run(env, "events user-" + p.id + " 2>/dev/null");
    BOOST_TEST(contains(opened.output, "\"email\":\"" + p.email + "\""), opened.output);
    const auto sealed = run(env, "events --sealed user-" + p.id + " 2>/dev/null");
    BOOST_TEST(!contains(sealed.output, p.email), sealed.output);
    BOOST_TEST(contains(sealed.output, "\"sealed\":\"xchacha20poly1305\""), sealed.output);
  }
  // No key ever goes to a topic: every key is in the keyring table only
  // (the four people's and the users topic's key domain secret).
  BOOST_TEST(db.keyring().scalar("SELECT count(*) FROM person_keys") == "5");
  BOOST_TEST(db.keyring().scalar("SELECT count(*) FROM person_keys WHERE subject = '~domain:users'") == "1");
}

BOOST_AUTO_TEST_CASE(a_destroyed_key_leaves_the_log_verifying_and_the_read_model_anonymized) {
  test::TestSchema db;
  test::TestTopics topics;
  const auto env = env_of(db, topics);
  const auto persons = people();
  for (const auto& p : persons)
    BOOST_REQUIRE(run(env, "user register --id " + p.id + " --email " + p.email + " --name '" + p.name + "'").rc == 0);
  BOOST_REQUIRE(run(env, "relay --until-idle").rc == 0);
  const auto& gone = persons[1];
  // The erasure issue destroys keys with its own event; here, directly.
  db.keyring().exec("DELETE FROM person_keys WHERE subject = '" + gone.id + "'");
  BOOST_REQUIRE(run(env, "project users --until-idle").rc == 0);
  // Without the key, the sealed email and name open to nothing (the erasure
  // itself also writes the anonymous placeholders, see api_erasure).
  BOOST_TEST(db.opened_rows("SELECT email, name FROM users WHERE user_id = '" + gone.id + "'") ==
             std::vector<std::string>{"NULL|NULL"});
  BOOST_TEST(db.opened_rows("SELECT email FROM users WHERE user_id = '" + persons[0].id + "'") ==
             std::vector<std::string>{persons[0].email});
  // Nothing was dead-lettered: an erased field is not an error.
  BOOST_TEST(test::topic_end(topics.topic("dead-letters")) == 0);
  // The hash chain covers the sealed bytes, so it still verifies.
  const auto verify = run(env, "verify");
  BOOST_TEST(verify.rc == 0, verify.output);
  const auto shown = run(env, "events user-" + gone.id + " 2>/dev/null");
  BOOST_TEST(shown.rc == 0);
  BOOST_TEST(contains(shown.output, "\"email\":null,\"name\":null"), shown.output);
  BOOST_TEST(!contains(shown.output, gone.email));
}

BOOST_AUTO_TEST_CASE(a_master_key_wraps_the_keyring_and_a_wrong_one_is_one_clear_error) {
  test::TestSchema db;
  test::TestTopics topics;
  const std::string right(64, 'a'), wrong(64, 'b');
  const auto p = people()[0];
  auto r = run(env_of(db, topics, {{"LETHE_MASTER_KEY", right}}),
               "user register --id " + p.id + " --email " + p.email + " --name '" + p.name + "'");
  BOOST_REQUIRE_MESSAGE(r.rc == 0, r.output);
  // Wrapped: 24-byte nonce + 32-byte key + 16-byte tag, not the raw key.
  BOOST_TEST(db.keyring().scalar("SELECT wrapped::text || ' ' || length(key_material) FROM person_keys") == "true 72");

  r = run(env_of(db, topics, {{"LETHE_MASTER_KEY", wrong}}), "user rename --id " + p.id + " --name Other");
  BOOST_TEST(r.rc == 2, r.output);
  BOOST_TEST(contains(r.output, "wrong master key"), r.output);
  r = run(env_of(db, topics, {{"LETHE_MASTER_KEY", ""}}), "user rename --id " + p.id + " --name Other");
  BOOST_TEST(r.rc == 2, r.output);
  BOOST_TEST(contains(r.output, "wrapped by a master key"), r.output);
  r = run(env_of(db, topics, {{"LETHE_MASTER_KEY", "not-hex"}}), "user rename --id " + p.id + " --name Other");
  BOOST_TEST(r.rc == 2, r.output);
  BOOST_TEST(contains(r.output, "64 hex digits"), r.output);
  // The master key from a file works like the variable.
  const auto file = fs::temp_directory_path() / ("lethe-master-" + test::random_suffix());
  std::ofstream(file) << right << "\n";
  r = run(env_of(db, topics, {{"LETHE_MASTER_KEY_FILE", file.string()}}), "user rename --id " + p.id + " --name Other");
  fs::remove(file);
  BOOST_TEST(r.rc == 0, r.output);
  BOOST_TEST(db.scalar("SELECT count(*) FROM events") == "2");  // the refused renames appended nothing
}

// serve, the relay and the projector refuse to start without a master key
// (the keyring would hold every person's key unwrapped, beside the data it
// protects), unless LETHE_DEV_NO_MASTER_KEY=1 says this is development:
// then they start, and warn.
BOOST_AUTO_TEST_CASE(the_long_running_processes_refuse_to_start_without_a_master_key) {
  test::TestSchema db;
  test::TestTopics topics;
  const auto none = env_of(db, topics, {{"LETHE_MASTER_KEY", ""}});
  for (const std::string command : {"relay --until-idle", "project users --until-idle", "serve"}) {
    const auto r = run(none, command);
    BOOST_TEST(r.rc == 2, command << ": " << r.output);
    BOOST_TEST(contains(r.output, "no master key; set LETHE_MASTER_KEY_FILE"), command << ": " << r.output);
  }
  const auto dev = env_of(db, topics, {{"LETHE_MASTER_KEY", ""}, {"LETHE_DEV_NO_MASTER_KEY", "1"}});
  for (const std::string command : {"relay --until-idle", "project users --until-idle"}) {
    const auto r = run(dev, command);
    BOOST_TEST(r.rc == 0, command << ": " << r.output);
    BOOST_TEST(contains(r.output, "no master key (LETHE_DEV_NO_MASTER_KEY=1)"), command << ": " << r.output);
  }
  // Any other value is not the development flag.
  const auto r =
      run(env_of(db, topics, {{"LETHE_MASTER_KEY", ""}, {"LETHE_DEV_NO_MASTER_KEY", "yes"}}), "relay --until-idle");
  BOOST_TEST(r.rc == 2, r.output);
}

// Keys made before a master key was set are stored unwrapped; `lethe keys
// rewrap` wraps them under it, and everything opens as before.
BOOST_AUTO_TEST_CASE(keys_made_before_a_master_key_are_wrapped_by_keys_rewrap) {
  test::TestSchema db;
  test::TestTopics topics;
  const auto persons = people();
  const auto none = env_of(db, topics, {{"LETHE_MASTER_KEY", ""}});
  for (const auto& p : persons)
    BOOST_REQUIRE(run(none, "user register --id " + p.id + " --email " + p.email + " --name '" + p.name + "'").rc == 0);
  // Every person's key and the users topic's key domain secret.
  const auto keys_n = std::to_string(persons.size() + 1);
  BOOST_TEST(db.keyring().scalar("SELECT count(*) FROM person_keys WHERE NOT wrapped AND length(key_material) = 32") ==
             keys_n);
  // Without a master key there is nothing to wrap them under.
  auto r = run(none, "keys rewrap");
  BOOST_TEST(r.rc == 2, r.output);
  BOOST_TEST(contains(r.output, "no master key"), r.output);

  const auto master = env_of(db, topics, {{"LETHE_MASTER_KEY", std::string(64, 'd')}});
  r = run(master, "keys rewrap");
  BOOST_TEST(r.rc == 0, r.output);
  BOOST_TEST(contains(r.output, "{\"rewrapped\":" + keys_n + "}\n"), r.output);
  BOOST_TEST(db.keyring().scalar("SELECT count(*) FROM person_keys WHERE wrapped AND length(key_material) = 72") ==
             keys_n);
  // Nothing left to wrap; each key opens its person's data under the master key.
  r = run(master, "keys rewrap");
  BOOST_TEST(contains(r.output, "{\"rewrapped\":0}\n"), r.output);
  for (const auto& p : persons) {
    const auto shown = run(master, "events user-" + p.id + " 2>/dev/null");
    BOOST_TEST(contains(shown.output, "\"email\":\"" + p.email + "\""), shown.output);
  }
  // A wrapped keyring is refused without its master key.
  r = run(none, "events user-" + persons[0].id);
  BOOST_TEST(r.rc == 2, r.output);
  BOOST_TEST(contains(r.output, "wrapped by a master key"), r.output);
}

// `lethe keys rotate-master` adds a version to the master key file, rewraps
// every key under it and retires the old one; once retired longer than the
// retention window (0 days here) and unused, a version is destroyed: gone
// from the file. A keyring restored from a backup of before the rotation
// then opens nothing, while the live one opens everything as before.
BOOST_AUTO_TEST_CASE(rotating_the_master_key_leaves_older_backups_of_the_keyring_unreadable) {
  test::TestSchema db;
  test::TestTopics topics;
  const auto persons = people();
  const auto file = fs::temp_directory_path() / ("lethe-master-" + test::random_suffix());
  std::ofstream(file) << std::string(64, 'e') << "\n";                    // a bare line: version 1
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);  // as scripts/lib.sh makes it
  const auto master = env_of(db, topics, {{"LETHE_MASTER_KEY_FILE", file.string()}});
  for (const auto& p : persons)
    BOOST_REQUIRE(run(master, "user register --id " + p.id + " --email " + p.email + " --name '" + p.name + "'").rc ==
                  0);
  BOOST_TEST(db.keyring().scalar("SELECT string_agg(DISTINCT master_version::text, ',') FROM person_keys") == "1");
  // The keyring's backup, as it stands before any rotation.
  const auto before = db.keyring().rows("SELECT subject || ' ' || encode(key_material, 'hex') FROM person_keys");

  // Kept 30 days: version 1 retired, not destroyed; both versions in the file.
  auto r = run(master, "keys rotate-master --retention-days 30");
  BOOST_TEST(r.rc == 0, r.output);
  BOOST_TEST(contains(r.output, "{\"version\":2,\"rewrapped\":" + std::to_string(persons.size() + 1) +
                                    ",\"retired\":[1],\"destroyed\":[]}\n"),
             r.output);
  BOOST_TEST(db.keyring().scalar("SELECT string_agg(DISTINCT master_version::text, ',') FROM person_keys") == "2");
  std::stringstream text;
  text << std::ifstream(file).rdbuf();
  BOOST_TEST(text.str().rfind("1:" + std::string(64, 'e') + "\n2:", 0) == 0u, text.str());
  // The rewritten file keeps the old one's mode: owner-only.
  BOOST_TEST(((fs::status(file).permissions() & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none));
  for (const auto& p : persons) {
    const auto shown = run(master, "events user-" + p.id + " 2>/dev/null");
    BOOST_TEST(contains(shown.output, "\"email\":\"" + p.email + "\""), shown.output);
  }

  // Kept 0 days: versions 1 and 2 retired and unused, so destroyed.
  r = run(master, "keys rotate-master --retention-days 0");
  BOOST_TEST(r.rc == 0, r.output);
  BOOST_TEST(contains(r.output, "{\"version\":3,\"rewrapped\":" + std::to_string(persons.size() + 1) +
                                    ",\"retired\":[2],\"destroyed\":[1,2]}\n"),
             r.output);
  std::stringstream after;
  after << std::ifstream(file).rdbuf();
  BOOST_TEST(after.str().rfind("3:", 0) == 0u, after.str());
  BOOST_TEST(after.str().size() == 67u, after.str());  // "3:" + 64 hex digits + newline: nothing else
  BOOST_TEST(db.keyring().scalar("SELECT count(*) FROM master_key_versions WHERE destroyed_at IS NOT NULL") == "2");
  const auto live = run(master, "events user-" + persons[0].id + " 2>/dev/null");
  BOOST_TEST(contains(live.output, "\"email\":\"" + persons[0].email + "\""), live.output);

  // The keyring restored from the backup taken before the rotations: its
  // keys are wrapped under version 1, which no longer exists anywhere.
  auto conn = infra::connect(db.keyring().conninfo());
  {
    pqxx::work tx(*conn);
    for (const auto& line : before) {
      const auto space = line.find(' ');
      tx.exec_params("UPDATE person_keys SET key_material = decode($2, 'hex'), master_version = 1 WHERE subject = $1",
                     line.substr(0, space), line.substr(space + 1));
    }
    tx.commit();
  }
  r = run(master, "events user-" + persons[0].id);
  BOOST_TEST(r.rc == 2, r.output);
  BOOST_TEST(contains(r.output, "master key version 1"), r.output);
  BOOST_TEST(!contains(r.output, persons[0].email), r.output);
  fs::remove(file);
}

// A database whose keys lived beside the data: `lethe migrate` with
// LETHE_KEYRING_PG moves them into the keyring's own database, leaves none
// behind, and from then on a process that would look for keys in the data
// database refuses; a key that differs between the two stops the move.
BOOST_AUTO_TEST_CASE(lethe_migrate_moves_the_keyring_apart_and_beside_is_refused_after) {
  test::TestSchema db;
  test::TestTopics topics;
  BOOST_REQUIRE(db.keyring_apart());
  // As a database from before: keys beside the data, its keyring never moved.
  db.exec("UPDATE keyring_location SET apart = false, moved_at = NULL");
  const auto beside = env_of(db, topics, {{"LETHE_KEYRING_PG", ""}});
  const auto apart = env_of(db, topics);
  const auto persons = people();
  for (const auto& p : persons)
    BOOST_REQUIRE(run(beside, "user register --id " + p.id + " --email " + p.email + " --name '" + p.name + "'").rc ==
                  0);
  const auto n = std::to_string(persons.size() + 1);               // and the users topic's key domain secret
  BOOST_TEST(db.scalar("SELECT count(*) FROM person_keys") == n);  // the control: they are beside
  BOOST_TEST(db.keyring().scalar("SELECT count(*) FROM person_keys") == "0");
  const auto keys_before = db.rows("SELECT subject || ' ' || encode(key_material, 'hex') FROM person_keys");

  // A differing copy of one key already apart stops the move; nothing moves.
  const auto& first = persons.front();
  db.keyring().exec("INSERT INTO person_keys (subject, key_material, wrapped) VALUES ('" + first.id +
                    "', '\\x00', false)");
  auto r = run(apart, "migrate");
  BOOST_TEST(r.rc == 2, r.output);
  BOOST_TEST(contains(r.output, "differ"), r.output);
  BOOST_TEST(db.scalar("SELECT count(*) FROM person_keys") == n);
  BOOST_TEST(db.keyring().scalar("SELECT count(*) FROM person_keys") == "1");
  db.keyring().exec("DELETE FROM person_keys");

  r = run(apart, "migrate");
  BOOST_TEST(r.rc == 0, r.output);
  BOOST_TEST(contains(r.output, n + " keys moved in"), r.output);
  BOOST_TEST(db.scalar("SELECT count(*) FROM person_keys") == "0");
  BOOST_TEST(db.keyring().rows("SELECT subject || ' ' || encode(key_material, 'hex') FROM person_keys") == keys_before);
  BOOST_TEST(db.scalar("SELECT apart FROM keyring_location") == "t");
  // Their data opens with the keys apart.
  for (const auto& p : persons) {
    const auto shown = run(apart, "events user-" + p.id + " 2>/dev/null");
    BOOST_TEST(contains(shown.output, "\"email\":\"" + p.email + "\""), shown.output);
  }
  // Looking for keys beside the data is refused now, with what to set.
  r = run(beside, "events user-" + first.id);
  BOOST_TEST(r.rc == 2, r.output);
  BOOST_TEST(contains(r.output, "set LETHE_KEYRING_PG"), r.output);
  BOOST_TEST(!contains(r.output, first.email), r.output);
  BOOST_TEST(db.scalar("SELECT count(*) FROM person_keys") == "0");  // no second key made
  // A second migrate moves nothing and changes nothing.
  r = run(apart, "migrate");
  BOOST_TEST(contains(r.output, "0 keys moved in"), r.output);
  BOOST_TEST(db.keyring().rows("SELECT subject || ' ' || encode(key_material, 'hex') FROM person_keys") == keys_before);
}
