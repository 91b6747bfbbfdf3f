#define BOOST_TEST_MODULE flow
#include <rapidjson/document.h>
#include <signal.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <sstream>

#include "lethe/projections/projection.hpp"
#include "support/fixtures.hpp"

using namespace lethe;
using namespace std::chrono_literals;
using test::Process;

namespace {
int run_lethe(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
  return Process(args, env).wait();
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_change_travels_from_command_to_read_model_through_the_binary) {
  test::TestSchema db;
  test::TestTopics topics;
  const auto env = test::lethe_env(db, topics);
  BOOST_REQUIRE(run_lethe({"migrate"}, env) == 0);  // already migrated by the fixture: a no-op
  BOOST_REQUIRE(run_lethe({"user", "register", "--id", "e1", "--email", "eve@example.org", "--name", "Eve"}, env) == 0);
  BOOST_REQUIRE(
      run_lethe({"user", "register", "--id", "e2", "--email", "sam@example.org", "--name", "Sam", "--role", "staff"},
                env) == 0);
  BOOST_REQUIRE(run_lethe({"user", "rename", "--id", "e1", "--name", "Eve Q."}, env) == 0);
  BOOST_REQUIRE(run_lethe({"user", "role", "--id", "e2", "--role", "admin"}, env) == 0);

  // Relay and projector run as services, as an operator would run them.
  Process relay({"relay"}, env);
  Process projector({"project", "users"}, env);
  const bool arrived = test::eventually(
      [&] {
        return db.opened_rows("SELECT user_id, name, role, version FROM users") ==
               std::vector<std::string>{"e1|Eve Q.|user|2", "e2|Sam|admin|2"};
      },
      60s);
  BOOST_TEST(arrived, db.rows("SELECT user_id, name, role, version FROM users").size() << " rows");
  // The table keeps names sealed; they open to what was written.
  BOOST_TEST(db.scalar("SELECT count(*) FROM users WHERE name LIKE '%Eve%' OR name LIKE '%Sam%'") == "0");

  // SIGTERM: both finish what they hold and exit 0.
  relay.signal(SIGTERM);
  projector.signal(SIGTERM);
  int rc = -1;
  BOOST_TEST(relay.wait_for(15s, &rc));
  BOOST_TEST(rc == 0);
  BOOST_TEST(projector.wait_for(15s, &rc));
  BOOST_TEST(rc == 0);
  BOOST_TEST(run_lethe({"events", "user-e1"}, env) == 0);  // hash chain verifies

  // Replay: the read model is emptied and rebuilt from offset zero, equal.
  const auto before = db.rows("SELECT * FROM users");
  db.exec("UPDATE users SET name = 'tampered'");
  BOOST_TEST(run_lethe({"project", "users", "--replay", "--until-idle"}, env) == 0);
  BOOST_TEST(db.rows("SELECT * FROM users") == before, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(an_unknown_projection_is_refused_with_the_known_names) {
  test::TestSchema db;
  test::TestTopics topics;
  const auto r = test::capture("LETHE_PG='" + db.conninfo() + "' LETHE_TOPIC_PREFIX=" + topics.prefix() + " " +
                               test::lethe_bin() + " project nosuch");
  BOOST_TEST(r.rc == 2);
  std::string known;
  for (const auto& n : projections::projection_names()) known += (known.empty() ? "" : ", ") + n;
  BOOST_TEST(known.find("users") != std::string::npos);
  BOOST_TEST(r.output.find("unknown projection 'nosuch' (known: " + known + ")") != std::string::npos, r.output);
}

BOOST_AUTO_TEST_CASE(bad_command_input_is_rejected_with_the_field_and_nothing_is_written) {
  test::TestSchema db;
  test::TestTopics topics;
  std::string prefix;
  for (const auto& [k, v] : test::lethe_env(db, topics)) prefix += k + "='" + v + "' ";
  const auto r = test::capture(prefix + test::lethe_bin() + " user register --email nope --name X");
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(r.output.find(R"("field":"email")") != std::string::npos, r.output);
  BOOST_TEST(db.scalar("SELECT count(*) FROM events") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM outbox") == "0");
}

BOOST_AUTO_TEST_CASE(unreachable_services_give_one_line_that_says_what_to_run) {
  test::TestSchema db;
  const auto kafka =
      test::capture("LETHE_PG='" + db.conninfo() + "' LETHE_BROKERS=127.0.0.1:1 " + test::lethe_bin() + " relay");
  BOOST_TEST(kafka.rc == 2);
  BOOST_TEST(kafka.output.find("Kafka broker unreachable at 127.0.0.1:1") != std::string::npos, kafka.output);
  BOOST_TEST(kafka.output.find("scripts/kafka start") != std::string::npos, kafka.output);
  BOOST_TEST(std::count(kafka.output.begin(), kafka.output.end(), '\n') == 1, kafka.output);

  const auto pg = test::capture("LETHE_PG=postgresql://postgres@127.0.0.1:1/lethe " + test::lethe_bin() + " migrate");
  BOOST_TEST(pg.rc == 2);
  BOOST_TEST(pg.output.find("PostgreSQL unreachable at postgresql://postgres@127.0.0.1:1/lethe") != std::string::npos,
             pg.output);
  BOOST_TEST(pg.output.find("scripts/postgres start") != std::string::npos, pg.output);
  BOOST_TEST(std::count(pg.output.begin(), pg.output.end(), '\n') == 1, pg.output);
}

BOOST_AUTO_TEST_CASE(a_relay_without_its_topics_stops_and_says_to_create_them) {
  test::TestSchema db;
  test::TestTopics topics;
  auto env = test::lethe_env(db, topics);
  BOOST_REQUIRE(run_lethe({"user", "register", "--id", "t1", "--email", "t@example.org", "--name", "T"}, env) == 0);
  const auto r = test::capture("LETHE_PG='" + db.conninfo() + "' LETHE_TOPIC_PREFIX=missing" + test::random_suffix() +
                               ". timeout 60 " + test::lethe_bin() + " relay --until-idle");
  BOOST_TEST(r.rc == 2, r.output);
  BOOST_TEST(r.output.find("lethe topics create") != std::string::npos, r.output);
  BOOST_TEST(db.scalar("SELECT published FROM relay_checkpoint") == "0");
}

BOOST_AUTO_TEST_CASE(json_logs_are_one_parseable_object_per_line) {
  test::TestSchema db;
  // A quote in the message must come out escaped.
  const auto r = test::capture("LETHE_LOG_FORMAT=json " + test::lethe_bin() +
                               " --pg 'postgresql://postgres@127.0.0.1:1/no\"db' migrate");
  BOOST_TEST(r.rc == 2);
  std::istringstream lines(r.output);
  std::string line;
  int parsed = 0;
  while (std::getline(lines, line)) {
    rapidjson::Document doc;
    doc.Parse(line.c_str());
    BOOST_REQUIRE_MESSAGE(!doc.HasParseError() && doc.IsObject(), "not a JSON object: " << line);
    BOOST_TEST(std::string(doc["level"].GetString()) == "error");
    BOOST_TEST(std::string(doc["msg"].GetString()).find("no\"db") != std::string::npos);
    BOOST_TEST(doc.HasMember("time"));
    ++parsed;
  }
  BOOST_TEST(parsed == 1);
}
