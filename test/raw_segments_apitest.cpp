#define BOOST_TEST_MODULE raw_segments
// People registered, renamed and given new passwords through the API leave
// no email, name or password in clear anywhere the log is kept: not in the
// broker's segment files on disk, not in the events or outbox tables. The
// topics are uncompressed here, so the bytes on disk are the records as
// sent, and a positive control (ids and event types, which are not
// personal) proves the search sees plaintext.
#include <boost/test/unit_test.hpp>

#include "support/api.hpp"
#include "support/fixtures.hpp"
#include "support/scenario.hpp"

using namespace lethe;

BOOST_AUTO_TEST_CASE(no_email_name_or_password_in_clear_in_segments_or_tables) {
  test::TestSchema db;
  test::TestTopics topics(3, {{"compression.type", "uncompressed"}});
  test::Api api(db, &topics);
  test::Process relay({"relay", "--batch-size", "50"}, test::lethe_env(db, topics));

  const auto run = test::random_suffix();
  std::vector<std::string> secrets, ids;
  for (int i = 0; i < 5; ++i) {
    const auto n = run + "x" + std::to_string(i);
    const auto email = "zq" + n + "@example.org", name = "Zelda Quux " + n, password = "pw " + n + " secret";
    const auto email2 = "zr" + n + "@example.org", name2 = "Zora Rune " + n, password2 = "pw2 " + n + " secret";
    secrets.insert(secrets.end(), {"zq" + n, "zr" + n, name, name2, password, password2});
    auto p = api.person(email, "user", password);
    ids.push_back(p.id);
    BOOST_REQUIRE(
        api.call("PATCH", "/users/" + p.id, "{\"name\":\"" + name2 + "\",\"email\":\"" + email2 + "\"}", p.token)
            .status == 200);
    BOOST_REQUIRE(api.call("PUT", "/users/" + p.id + "/password",
                           "{\"current_password\":\"" + password + "\",\"new_password\":\"" + password2 + "\"}",
                           p.token)
                      .status == 200);
    BOOST_REQUIRE(api.call("POST", "/users/" + p.id + "/oauth-identities",
                           "{\"provider\":\"github\",\"subject\":\"gh" + n + "\"}", p.token)
                      .status == 201);
    secrets.push_back("gh" + n);
    BOOST_REQUIRE(
        api.call("POST", "/users/" + p.id + "/notes", "{\"text\":\"note about " + n + "\"}", api.owner_key()).status ==
        201);
    secrets.push_back("note about " + n);
  }
  const auto total = db.scalar("SELECT count(*) FROM events");
  BOOST_TEST(std::stoi(total) >= 5 * 6);
  // Everything is on Kafka: the relay's checkpoint is at the last event.
  BOOST_REQUIRE(test::eventually([&] { return test::relay_drained(db); }, std::chrono::seconds(60)));

  const auto segments = test::kafka_segments(topics.prefix());
  // The positive control: the search reads plaintext records.
  BOOST_REQUIRE_MESSAGE(!segments.empty(), "no segment files for " << topics.prefix());
  for (const auto& id : ids) BOOST_TEST(segments.find("user-" + id) != std::string::npos, "id " << id);
  BOOST_TEST(segments.find("user.password_changed") != std::string::npos);
  BOOST_TEST(segments.find("user.note_added") != std::string::npos);  // the staff topic is searched too

  const auto events = db.rows("SELECT payload::text FROM events");
  const auto outbox = db.rows("SELECT o::text FROM outbox o");
  const auto credentials = db.rows("SELECT c::text FROM credentials c");
  const auto accounts = db.rows(
      "SELECT a::text FROM accounts a UNION ALL SELECT r::text FROM email_reservations r"
      " UNION ALL SELECT o::text FROM oauth_reservations o");
  auto contains = [](const std::vector<std::string>& rows, const std::string& s) {
    return std::any_of(rows.begin(), rows.end(), [&](const auto& r) { return r.find(s) != std::string::npos; });
  };
  for (const auto& s : secrets) {
    BOOST_TEST(segments.find(s) == std::string::npos, "in a segment: " << s);
    BOOST_TEST(!contains(events, s), "in events: " << s);
    BOOST_TEST(!contains(outbox, s), "in outbox: " << s);
    BOOST_TEST(!contains(credentials, s), "in credentials: " << s);
    BOOST_TEST(!contains(accounts, s), "in accounts or reservations: " << s);
  }
  // No password hash in clear either: they are sealed like any personal field.
  BOOST_TEST(segments.find("$argon2id$") == std::string::npos);
  BOOST_TEST(!contains(events, "$argon2id$"));
}
