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
    // The read model and the readers open it with the key.
    BOOST_TEST(db.scalar("SELECT email || '|' || name FROM users WHERE user_id = '" + p.id + "'") ==
               p.email + "|" + p.new_name);
    const auto opened = run(env, "events user-" + p.id + " 2>/dev/null");
    BOOST_TEST(contains(opened.output, "\"email\":\"" + p.email + "\""), opened.output);
    const auto sealed = run(env, "events --sealed user-" + p.id + " 2>/dev/null");
    BOOST_TEST(!contains(sealed.output, p.email), sealed.output);
    BOOST_TEST(contains(sealed.output, "\"sealed\":\"xchacha20poly1305\""), sealed.output);
  }
  // No key ever goes to a topic: every key is in the keyring table only.
  BOOST_TEST(db.scalar("SELECT count(*) FROM person_keys") == "4");
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
  db.exec("DELETE FROM person_keys WHERE subject = '" + gone.id + "'");
  BOOST_REQUIRE(run(env, "project users --until-idle").rc == 0);
  BOOST_TEST(db.scalar("SELECT email || '|' || name FROM users WHERE user_id = '" + gone.id + "'") ==
             "deleted-" + gone.id + "@anonymous.invalid|Deleted user");
  BOOST_TEST(db.scalar("SELECT email FROM users WHERE user_id = '" + persons[0].id + "'") == persons[0].email);
  // Nothing was dead-lettered: an erased field is not an error.
  BOOST_TEST(test::read_topic(topics.topic("dead-letters")).empty());
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
  BOOST_TEST(db.scalar("SELECT wrapped::text || ' ' || length(key_material) FROM person_keys") == "true 72");

  r = run(env_of(db, topics, {{"LETHE_MASTER_KEY", wrong}}), "user rename --id " + p.id + " --name Other");
  BOOST_TEST(r.rc == 2, r.output);
  BOOST_TEST(contains(r.output, "wrong master key"), r.output);
  r = run(env_of(db, topics), "user rename --id " + p.id + " --name Other");
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
