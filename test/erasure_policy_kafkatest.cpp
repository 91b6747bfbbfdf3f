#define BOOST_TEST_MODULE erasure_policy
// Every projection declares how it forgets a person, and the declaration is
// checked against its tables: a column that names a person or holds their
// data (marked by its comment in the migrations) without a rule makes
// `lethe project` refuse to start, naming the column.
#include <boost/test/unit_test.hpp>
#include <pqxx/pqxx>

#include "lethe/projections/projection.hpp"
#include "support/fixtures.hpp"

using namespace lethe;

namespace {

std::vector<std::string> gaps_of(const test::TestSchema& db, const std::string& name) {
  pqxx::connection conn(db.conninfo());
  pqxx::work tx(conn);
  return projections::erasure_policy_gaps(tx, *projections::make_projection(name));
}

std::string shell_env(const std::map<std::string, std::string>& env) {
  std::string out;
  for (const auto& [k, v] : env) out += k + "='" + v + "' ";
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_projection_covers_every_person_column) {
  test::TestSchema db;
  for (const auto& name : projections::projection_names()) {
    const auto gaps = gaps_of(db, name);
    BOOST_TEST(gaps.empty(), name << ": " << (gaps.empty() ? "" : gaps.front()));
  }
  // The migrations mark the columns the policies must cover: without the
  // comments the check could not fail.
  BOOST_TEST(std::stoi(db.scalar("SELECT count(*) FROM pg_description WHERE description LIKE 'lethe:person%'")) >= 30);
}

BOOST_AUTO_TEST_CASE(a_person_column_without_a_rule_stops_the_projection_and_is_named) {
  test::TestSchema db;
  test::TestTopics topics;
  db.exec("ALTER TABLE files ADD COLUMN uploader text");
  db.exec("COMMENT ON COLUMN files.uploader IS 'lethe:person'");
  db.exec("ALTER TABLE files ADD COLUMN uploader_email text");
  db.exec("COMMENT ON COLUMN files.uploader_email IS 'lethe:personal'");
  const auto gaps = gaps_of(db, "files");
  BOOST_TEST_REQUIRE(gaps.size() == 2u);
  BOOST_TEST(gaps[0].find("files.uploader ") != std::string::npos, gaps[0]);
  BOOST_TEST(gaps[1].find("files.uploader_email") != std::string::npos, gaps[1]);
  // The other projections are not affected.
  BOOST_TEST(gaps_of(db, "email").empty());

  const auto run =
      test::capture(shell_env(test::lethe_env(db, topics)) + test::lethe_bin() + " project files --until-idle");
  BOOST_TEST(run.rc != 0, run.output);
  BOOST_TEST(run.output.find("refuses to start") != std::string::npos, run.output);
  BOOST_TEST(run.output.find("files.uploader") != std::string::npos, run.output);
  // Nothing was consumed: no offsets stored.
  BOOST_TEST(db.scalar("SELECT count(*) FROM projection_offsets") == "0");
}

BOOST_AUTO_TEST_CASE(a_kept_id_must_be_declared_kept) {
  test::TestSchema db;
  // The audit log keeps actor ids by a keep rule; marked as an ordinary
  // person column, the policy would leave an erased person's id in it.
  db.exec("COMMENT ON COLUMN audit_log.actor IS 'lethe:person'");
  const auto gaps = gaps_of(db, "audit");
  BOOST_TEST_REQUIRE(gaps.size() == 1u);
  BOOST_TEST(gaps[0].find("audit_log.actor") != std::string::npos, gaps[0]);
}
