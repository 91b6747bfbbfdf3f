#define BOOST_TEST_MODULE erasure_policy
// Every projection declares how it forgets a person, and the declaration is
// checked against its tables: a column that names a person or holds their
// data (marked by its comment in the migrations) without a rule makes
// `lethe project` refuse to start, naming the column.
#include <boost/test/unit_test.hpp>
#include <pqxx/pqxx>

#include "erasure_service.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/producers/event_store.hpp"
#include "lethe/projections/projection.hpp"
#include "support/events.hpp"
#include "support/fixtures.hpp"
#include "support/scenario.hpp"

using namespace lethe;

namespace {

std::vector<std::string> gaps_of(const test::TestSchema& db, const std::string& name) {
  pqxx::connection conn(db.conninfo());
  pqxx::work tx(conn);
  return projections::erasure_policy_gaps(tx, *projections::make_projection(name));
}

// ann (staff) writes a note about bob and has an OAuth identity; then she is
// erased and the users projection applies her erasure. Returns the columns
// of its tables that still hold her id (a substring search over every
// column, so a rule left out anywhere shows), sorted, space separated.
std::string where_an_erased_staff_member_is_left() {
  namespace u = domain::users;
  const std::string ann = "ann-7f3e", bob = "bob-2c9d", kNote = "6d1c0a4e-0000-4000-8000-00000000000a";
  test::TestSchema db;
  test::TestTopics topics;
  producers::EventStore store(db.conninfo());
  auto history = test::user_history(ann, 0);
  history.push_back(test::new_event(u::OAuthLinked{ann, "github", "octo-ann"}, ann));
  store.append("user-" + ann, 0, history);
  store.append("user-" + bob, 0, test::user_history(bob, 0));
  const std::vector<producers::NewEvent> note{
      test::new_event(u::NoteAdded{bob, kNote, "called about the invoice"}, ann)};
  store.append("usernotes-" + bob, 0, note);
  // The positive control: before the erasure her id is in every column
  // that names her.
  test::relay_until_idle(db, topics);
  test::project_until_idle(db, topics);
  BOOST_REQUIRE(db.scalar("SELECT author FROM user_notes WHERE note_id = '" + kNote + "'") == ann);
  BOOST_REQUIRE(db.scalar("SELECT count(*) FROM user_oauth_identities WHERE user_id = '" + ann + "'") == "1");
  producers::ErasureService erasure(store, producers::ErasureSettings{.projections = {"users"}});
  BOOST_REQUIRE(erasure.erase(ann, producers::CommandContext{"system:test"}).ok());
  test::relay_until_idle(db, topics);
  test::project_until_idle(db, topics);
  BOOST_REQUIRE(db.scalar("SELECT name FROM users WHERE user_id = '" + ann + "'") == "Deleted user");
  std::vector<std::string> left;
  const auto tables = projections::make_projection("users")->tables();
  for (const auto& column : db.columns_holding(ann))
    if (std::find(tables.begin(), tables.end(), column.substr(0, column.find('.'))) != tables.end())
      left.push_back(column);
  std::sort(left.begin(), left.end());
  std::string out;
  for (const auto& c : left) out += (out.empty() ? "" : " ") + c;
  return out;
}

}  // namespace

// Her id stays only where the policy keeps it on purpose: the account row
// (user_id, and the anonymous email made from it). The note she wrote stays,
// without its author; her identity is gone.
BOOST_AUTO_TEST_CASE(an_erasure_leaves_the_person_id_only_where_the_policy_keeps_it) {
  BOOST_TEST(where_an_erased_staff_member_is_left() == "users.email users.user_id");
}

// The negative control of the case above: the same erasure through a users
// policy that skips one rule (the note's author; a test-only switch) leaves
// her id in that column, and the case's check fails.
BOOST_AUTO_TEST_CASE(a_policy_that_skips_a_rule_leaves_the_person_id_behind) {
  struct Skip {
    Skip() { projections::negative_control_skip_rule = "user_notes.author"; }
    ~Skip() { projections::negative_control_skip_rule = nullptr; }
  } skip;
  BOOST_TEST(where_an_erased_staff_member_is_left() == "user_notes.author users.email users.user_id");
}

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

  const auto run = test::capture_env(test::lethe_env(db, topics), test::lethe_bin() + " project files --until-idle");
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

// The declared tables (projections/src/table.hpp) say what each column holds
// of a person, and the migrations' comments must say the same: a column
// whose comment went missing, or a marked one the declaration leaves out,
// stops the projection like a column without a rule.
BOOST_AUTO_TEST_CASE(a_declaration_that_differs_from_the_comments_stops_the_projection) {
  test::TestSchema db;
  BOOST_TEST_REQUIRE(gaps_of(db, "files").empty());
  db.exec("COMMENT ON COLUMN files.owner_id IS NULL");
  db.exec("COMMENT ON COLUMN files.name IS NULL");
  db.exec("COMMENT ON COLUMN files.content_type IS 'lethe:personal'");
  db.exec("ALTER TABLE files ADD COLUMN uploader text");
  db.exec("COMMENT ON COLUMN files.uploader IS 'lethe:person'");
  const auto gaps = gaps_of(db, "files");
  const std::vector<std::string> expected{
      "column files.owner_id is declared by files as holding lethe:person, but its comment says nothing",
      "column files.name is declared by files as holding lethe:sealed, but its comment says nothing",
      "column files.content_type is declared by files as holding nothing of a person, but its comment says "
      "lethe:personal",
      "column files.content_type (lethe:personal) has no rule in the erasure policy of files",
      "column files.uploader (lethe:person) has no rule in the erasure policy of files, and the declaration of files "
      "in files leaves it out",
  };
  BOOST_TEST(gaps == expected, boost::test_tools::per_element());

  // A declared column the table lacks.
  test::TestSchema other;
  other.exec("ALTER TABLE email_logs DROP COLUMN template");
  const auto missing = gaps_of(other, "email");
  BOOST_TEST_REQUIRE(missing.size() == 1u);
  BOOST_TEST(missing[0] == "column email_logs.template is declared by email, but the table lacks it");
}

// A declaration gives each column its type too: a migration that changes a
// declared column's type (here a size cut to integer, and a time kept as
// text) stops the projection until the two agree again.
BOOST_AUTO_TEST_CASE(a_declared_type_the_table_does_not_hold_stops_the_projection) {
  test::TestSchema db;
  BOOST_TEST_REQUIRE(gaps_of(db, "files").empty());
  db.exec("ALTER TABLE files ALTER COLUMN size TYPE integer");
  db.exec("ALTER TABLE files ALTER COLUMN recorded_at TYPE text");
  const auto gaps = gaps_of(db, "files");
  const std::vector<std::string> expected{
      "column files.size is declared by files as bigint, but the table holds integer",
      "column files.recorded_at is declared by files as timestamp with time zone, but the table holds text",
  };
  BOOST_TEST(gaps == expected, boost::test_tools::per_element());
}
