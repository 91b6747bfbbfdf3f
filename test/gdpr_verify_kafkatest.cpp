#define BOOST_TEST_MODULE gdpr_verify
// `lethe gdpr verify` proves a person forgotten, or names every place that
// still holds them: a column commented `lethe:person` with their id, a text
// or JSON column with their email or name, a message on a topic with either
// in clear. It never prints the email or the name itself.
#include <boost/test/unit_test.hpp>
#include <cctype>
#include <filesystem>
#include <fstream>

#include "lethe/consumers/gdpr_verify.hpp"
#include "lethe/infra/errors.hpp"
#include "lethe/infra/ids.hpp"
#include "lethe/producers/topics.hpp"
#include "support/fixtures.hpp"

using namespace lethe;

namespace {

// `lethe ARGS` against this test's schema and topics: exit code and output
// (stdout and stderr, so that the logs are checked too).
test::Captured run_lethe(const test::TestSchema& db, const test::TestTopics& topics, const std::string& args) {
  return test::capture_env(test::lethe_env(db, topics), test::lethe_bin() + " " + args);
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Whether the output shows the text itself, in any case.
bool shows(const std::string& output, const std::string& text) {
  return has(lower(output), lower(text));
}

// A table whose person column must lose the id, and one that keeps it by design.
void create_tables(const test::TestSchema& db) {
  db.exec("CREATE TABLE verify_requests (request_id text PRIMARY KEY, requester_id text, body text)");
  db.exec("COMMENT ON COLUMN verify_requests.requester_id IS 'lethe:person'");
  db.exec("CREATE TABLE verify_audit (seq bigint PRIMARY KEY, actor_id uuid, detail jsonb)");
  db.exec("COMMENT ON COLUMN verify_audit.actor_id IS 'lethe:person-kept'");
}

std::string topics_read(std::size_t n) {
  return std::to_string(n) + " topics read";
}

struct Person {
  std::string id = infra::new_uuid();
  std::string email = "Jo.Doe." + test::random_suffix() + "@Example.org";
  std::string name = "Josephine Q. Nowhere " + test::random_suffix();
  // The planted rows of these cases are in PostgreSQL's files too (the
  // data directory is searched in its own case): not searched here.
  std::string args(bool with_name = true) const {
    return "gdpr verify " + id + " --email '" + email + "'" + (with_name ? " --name '" + name + "'" : "") +
           " --pg-data -";
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_person_still_held_by_a_table_or_a_topic_is_reported_and_once_forgotten_is_not) {
  test::TestSchema db;
  const Person p;
  create_tables(db);
  db.exec("INSERT INTO verify_requests VALUES ('r-1', '" + p.id +
          "', 'printer broken'),"
          " ('r-2', 'someone-else', 'write to " +
          lower(p.email) +
          " please'),"
          " ('r-3', 'someone-else', 'nothing personal')");
  db.exec("INSERT INTO verify_audit VALUES (1, '" + p.id + "', '{\"action\": \"erased\"}')");
  const auto all_topics = producers::topic_specs().size();
  {
    test::TestTopics topics(1);
    test::produce_raw(topics.topic("users"), "user-" + p.id, R"({"email":")" + upper(p.email) + "\"}");
    test::produce_raw(topics.topic("users"), "user-other", R"({"email":"other@example.org"})");

    const auto r = run_lethe(db, topics, p.args());
    BOOST_TEST(r.rc == 1, r.output);
    BOOST_TEST(has(r.output, "table verify_requests.requester_id: row request_id=r-1 holds the person's id"), r.output);
    BOOST_TEST(has(r.output, "table verify_requests.body: row request_id=r-2 holds the email"), r.output);
    BOOST_TEST(has(r.output, "topic " + topics.topic("users") + "/0@0: value holds the email in clear"), r.output);
    // Kept by design: the id in a `lethe:person-kept` column is no finding.
    BOOST_TEST(!has(r.output, "verify_audit"), r.output);
    // The name is nowhere: nothing reports it, though the email is found.
    BOOST_TEST(!has(r.output, "holds the name"), r.output);
    BOOST_TEST(has(r.output, "gdpr verify " + p.id + ": 3 findings in "), r.output);
    BOOST_TEST(has(r.output, topics_read(all_topics) + " (2 messages)"), r.output);
    BOOST_TEST(!shows(r.output, p.email), r.output);
    BOOST_TEST(!shows(r.output, p.name), r.output);
  }

  // Forgotten: the id gone from the person column, the email from the text,
  // and topics that never held it.
  db.exec("UPDATE verify_requests SET requester_id = NULL WHERE request_id = 'r-1'");
  db.exec("DELETE FROM verify_requests WHERE request_id = 'r-2'");
  test::TestTopics fresh(1);
  test::produce_raw(fresh.topic("users"), "user-other", R"({"email":"other@example.org"})");
  const auto r = run_lethe(db, fresh, p.args());
  BOOST_TEST(r.rc == 0, r.output);
  BOOST_TEST(has(r.output, "gdpr verify " + p.id + ": 0 findings in "), r.output);
  BOOST_TEST(has(r.output, topics_read(all_topics) + " (1 messages)"), r.output);
  BOOST_TEST(!has(r.output, "holds"), r.output);
}

BOOST_AUTO_TEST_CASE(the_name_is_found_in_any_case_in_json_in_a_key_and_in_a_dead_letters_header_and_withheld) {
  test::TestSchema db;
  test::TestTopics topics(1);
  const Person p;
  create_tables(db);
  // A table keyed by the name itself: the row is named without it.
  db.exec("CREATE TABLE verify_by_name (display_name text PRIMARY KEY, seen int)");
  db.exec("INSERT INTO verify_by_name VALUES ('" + upper(p.name) + "', 1)");
  db.exec("INSERT INTO verify_audit VALUES (7, NULL, '{\"note\": \"" + lower(p.name) + " asked\"}')");
  test::produce_raw(topics.topic("dead-letters"), "user-x", "{}", {{"reason", "cannot apply " + upper(p.name)}});
  test::produce_raw(topics.topic("users"), lower(p.name), "{}");

  const auto r = run_lethe(db, topics, p.args());
  BOOST_TEST(r.rc == 1, r.output);
  BOOST_TEST(has(r.output, "table verify_by_name.display_name: row display_name=(withheld) holds the name"), r.output);
  BOOST_TEST(has(r.output, "table verify_audit.detail: row seq=7 holds the name"), r.output);
  BOOST_TEST(has(r.output, "topic " + topics.topic("dead-letters") + "/0@0: header reason holds the name in clear"),
             r.output);
  BOOST_TEST(has(r.output, "topic " + topics.topic("users") + "/0@0: key holds the name in clear"), r.output);
  BOOST_TEST(has(r.output, ": 4 findings in "), r.output);
  BOOST_TEST(!has(r.output, "holds the email"), r.output);
  BOOST_TEST(!shows(r.output, p.name), r.output);
}

BOOST_AUTO_TEST_CASE(a_column_shows_twenty_findings_and_counts_the_rest) {
  test::TestSchema db;
  test::TestTopics topics(1);
  const Person p;
  create_tables(db);
  db.exec("INSERT INTO verify_requests SELECT 'r-' || n, '" + p.id + "', 'from " + p.email +
          "' FROM generate_series(1, 25) AS n");

  const auto r = run_lethe(db, topics, p.args(false));
  BOOST_TEST(r.rc == 1, r.output);
  BOOST_TEST(has(r.output, "table verify_requests.requester_id: 5 more rows hold the person's id"), r.output);
  BOOST_TEST(has(r.output, "table verify_requests.body: 5 more rows hold the email"), r.output);
  std::size_t lines = 0;
  for (std::size_t at = 0; (at = r.output.find("holds the person's id", at)) != std::string::npos; ++at) ++lines;
  BOOST_TEST(lines == 20u);
  BOOST_TEST(has(r.output, ": 50 findings in "), r.output);
}

BOOST_AUTO_TEST_CASE(without_a_database_it_cannot_tell_and_exits_2) {
  const Person p;
  const auto r =
      test::capture("LETHE_PG=postgresql://postgres@127.0.0.1:1/lethe " + test::lethe_bin() + " " + p.args());
  BOOST_TEST(r.rc == 2, r.output);
  BOOST_TEST(!has(r.output, "findings"), r.output);
  const auto usage = test::capture(test::lethe_bin() + " gdpr verify --email x@example.org");
  BOOST_TEST(usage.rc == 2, usage.output);
}

// The library the command prints: its report, line for line.
BOOST_AUTO_TEST_CASE(the_report_names_each_place_once_and_counts_every_finding) {
  test::TestSchema db;
  test::TestTopics topics(1);
  const Person p;
  create_tables(db);
  db.exec("INSERT INTO verify_requests VALUES ('r-1', '" + p.id + "', 'hello " + upper(p.name) + "')");
  test::produce_raw(topics.topic("users"), "user-x", R"({"email":")" + p.email + "\"}");
  test::produce_raw(topics.topic("users"), "user-y", "{}");

  const auto report = consumers::gdpr_verify(test::config_for(db, topics), {p.id, p.email, p.name, "-", {}});
  const std::vector<std::string> expected{
      "table verify_requests.requester_id: row request_id=r-1 holds the person's id",
      "table verify_requests.body: row request_id=r-1 holds the name",
      "topic " + topics.topic("users") + "/0@0: value holds the email in clear",
  };
  BOOST_TEST(report.lines == expected, boost::test_tools::per_element());
  BOOST_TEST(report.findings == 3);
  BOOST_TEST(report.tables >= 3u);  // verify_requests, verify_audit and lethe's own
  BOOST_TEST(report.topics_read);
  BOOST_TEST(report.topics == static_cast<std::int64_t>(producers::topic_specs().size()));
  BOOST_TEST(report.messages == 2);
  for (const auto& line : report.lines) {
    BOOST_TEST(!shows(line, p.email), line);
    BOOST_TEST(!shows(line, p.name), line);
  }

  // With neither an email nor a name, only the id is sought, in the tables.
  const auto by_id = consumers::gdpr_verify(test::config_for(db, topics), {p.id, "", "", "-", {}});
  BOOST_TEST(by_id.findings == 1);
  BOOST_TEST(!by_id.topics_read);
  BOOST_TEST(by_id.messages == 0);
}

BOOST_AUTO_TEST_CASE(the_report_is_refused_not_empty_when_postgresql_cannot_be_read) {
  test::TestSchema db;
  test::TestTopics topics(1);
  auto cfg = test::config_for(db, topics);
  cfg.pg = "postgresql://postgres@127.0.0.1:1/lethe";
  BOOST_CHECK_THROW(consumers::gdpr_verify(cfg, {"someone", "a@example.org", "", "", {}}), infra::InfraError);
}

// What a row held stays in PostgreSQL's files after it is deleted (the dead
// tuple in the heap until VACUUM, the WAL until it is recycled): the data
// directory is searched byte by byte after a CHECKPOINT, and so are the log
// files given. A person never written anywhere is found in no file.
BOOST_AUTO_TEST_CASE(the_data_directory_and_the_logs_are_searched_byte_by_byte) {
  test::TestSchema db;
  test::TestTopics topics(1);
  const Person p, never;
  create_tables(db);
  db.exec("INSERT INTO verify_requests VALUES ('r-1', NULL, 'write to " + p.email + "')");
  db.exec("DELETE FROM verify_requests");
  const auto log = std::filesystem::temp_directory_path() / ("lethe-verify-" + test::random_suffix());
  std::filesystem::create_directories(log);
  std::ofstream(log / "api.log") << "2026-12-05 info a line about " << upper(p.name) << "\n";
  std::ofstream(log / "relay.log") << "2026-12-05 info nothing personal\n";

  const auto all = "gdpr verify " + p.id + " --email '" + p.email + "' --name '" + p.name + "' --logs " + log.string();
  const auto r = run_lethe(db, topics, all);
  BOOST_TEST(r.rc == 1, r.output);
  BOOST_TEST(!has(r.output, "table "), r.output);  // the tables hold nothing of them any more
  BOOST_TEST(has(r.output, "(PostgreSQL data directory): holds the email in clear"), r.output);
  BOOST_TEST(
      has(r.output, "file " + (log / "api.log").string() + " (log " + log.string() + "): holds the name in clear"),
      r.output);
  BOOST_TEST(!has(r.output, "relay.log"), r.output);
  BOOST_TEST(has(r.output, "PostgreSQL's data directory among them"), r.output);
  BOOST_TEST(!shows(r.output, p.email), r.output);
  BOOST_TEST(!shows(r.output, p.name), r.output);

  const auto clean = run_lethe(
      db, topics,
      "gdpr verify " + never.id + " --email '" + never.email + "' --name '" + never.name + "' --logs " + log.string());
  BOOST_TEST(clean.rc == 0, clean.output);
  BOOST_TEST(has(clean.output, "PostgreSQL's data directory among them"), clean.output);
  std::filesystem::remove_all(log);
}
