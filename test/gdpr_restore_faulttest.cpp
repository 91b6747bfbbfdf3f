#define BOOST_TEST_MODULE gdpr_restore
// A restore forgets again. PostgreSQL is backed up for real (pg_basebackup)
// while a person is alive, then the person is erased, then the backup is
// started as a second server: it holds their key again and its register
// lacks them. `lethe gdpr reapply` reads the register from the erasure
// topic and forgets them again (key, write side, every projection's
// policy), and `gdpr verify` finds nothing of them in the restored database
// or on the topics. The start of the projector does the same on a second
// restore of the same backup.
#include <boost/test/unit_test.hpp>
#include <pqxx/pqxx>
#include <regex>

#include "lethe/infra/pg.hpp"
#include "support/api.hpp"
#include "support/fixtures.hpp"

using namespace lethe;

namespace {

constexpr int kRestoredPort = 55497;

void postgres(const std::string& args) {
  const auto r = test::capture(test::source_dir() + "/scripts/postgres " + args);
  BOOST_REQUIRE_MESSAGE(r.rc == 0, "scripts/postgres " << args << ": " << r.output);
}

// The test's connection string pointed at the restored server.
std::string on_restored(const std::string& conninfo) {
  return std::regex_replace(conninfo, std::regex(R"(127\.0\.0\.1:[0-9]+)"),
                            "127.0.0.1:" + std::to_string(kRestoredPort));
}

std::string scalar(const std::string& conninfo, const std::string& sql) {
  auto conn = infra::connect(conninfo);
  pqxx::read_transaction tx(*conn);
  const auto r = tx.exec(sql);
  return r.empty() || r[0][0].is_null() ? std::string("NULL") : std::string(r[0][0].c_str());
}

struct Backup {
  std::string name = "restore_" + test::random_suffix();
  ~Backup() { test::capture(test::source_dir() + "/scripts/postgres drop " + name); }
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_database_restored_from_before_an_erasure_forgets_the_person_again) {
  test::Served s;
  auto& api = s.api;
  const auto run = test::random_suffix();
  const std::string email = "vera" + run + "@example.org", name = "Vera Restore " + run;
  const auto ada = api.person("ada" + run + "@example.org", "admin");
  const auto vera = api.person(email);
  test::must(api.call("PATCH", "/users/" + vera.id, test::json_object({{"name", name}}), vera.token), 200, "rename");
  const auto ticket =
      test::must(
          api.call("POST", "/tickets",
                   test::json_object({{"subject", "Refund for " + name}, {"body", "Write to " + email + ", please"}}),
                   vera.token),
          201, "ticket")
          .str("id");
  test::must(api.call("PUT", "/users/" + vera.id + "/billing-profile",
                      test::json_object({{"holder_name", name}, {"address", "2 Restore Road"}, {"tax_id", "TX" + run}}),
                      vera.token),
             200, "billing profile");
  BOOST_REQUIRE(test::eventually(
      [&] {
        return s.db.scalar("SELECT count(*) FROM tickets WHERE ticket_id = '" + ticket + "'") == "1" &&
               s.db.scalar("SELECT count(*) FROM billing_profiles WHERE user_id = '" + vera.id + "'") == "1";
      },
      std::chrono::seconds(20)));

  // The backup, taken while Vera is alive; then her erasure.
  Backup backup;
  postgres("backup " + backup.name);
  const auto request_id =
      test::must(api.call("POST", "/users/" + vera.id + "/erasure", "", ada.token, {{"Content-Length", "0"}}), 202,
                 "erase")
          .str("id");
  const auto applied = test::until_erasure_applied(api, request_id, ada.token);
  BOOST_REQUIRE_MESSAGE(applied.str("status") == "erased", applied.body);
  const auto fingerprint = applied.str("key_fingerprint");
  // The user.erased is on the erasure topic (the relay published it).
  BOOST_REQUIRE(test::eventually(
      [&] {
        for (const auto& m : test::read_topic(s.topics.topic("erasure")))
          if (m.value.find("\"user.erased\"") != std::string::npos && m.value.find(vera.id) != std::string::npos)
            return true;
        return false;
      },
      std::chrono::seconds(20)));

  auto env = s.env();
  const auto restored = on_restored(s.db.conninfo());
  env["LETHE_PG"] = restored;
  const auto key_count = "SELECT count(*) FROM person_keys WHERE subject = '" + vera.id + "'";
  const auto registered = "SELECT request_id FROM erased_persons WHERE subject = '" + vera.id + "'";

  // The restore: the register lacks her (the control that makes the checks
  // below mean something). With the keyring apart (the scripts' way) the
  // backup holds no key of anyone, and hers stays destroyed in the keyring,
  // which the restore did not touch; beside the data, her key is back.
  const bool apart = s.db.keyring_apart();
  postgres("restore " + backup.name + " " + std::to_string(kRestoredPort));
  BOOST_REQUIRE(scalar(restored, registered) == "NULL");
  if (apart) {
    BOOST_TEST(scalar(restored, "SELECT count(*) FROM person_keys") == "0");
    BOOST_TEST(s.db.keyring().scalar("SELECT count(*) FROM person_keys WHERE subject = '" + ada.id + "'") == "1");
    BOOST_TEST(s.db.keyring().scalar("SELECT fingerprint FROM key_tombstones WHERE subject = '" + vera.id + "'") ==
               fingerprint);
  } else {
    BOOST_REQUIRE(scalar(restored, key_count) == "1");
  }
  BOOST_REQUIRE(scalar(restored, "SELECT count(*) FROM credentials WHERE user_id = '" + vera.id + "'") != "0");
  BOOST_REQUIRE(scalar(restored, "SELECT count(*) FROM billing_profiles WHERE user_id = '" + vera.id + "'") == "1");
  {
    test::Process before({"gdpr", "verify", vera.id, "--email", email, "--name", name}, env);
    BOOST_TEST(before.wait() == 1);  // a restored database is found holding her
  }

  const auto out = test::capture_env(env, test::lethe_bin() + " gdpr reapply");
  BOOST_TEST(out.rc == 0, out.output);
  const std::string destroyed = apart ? "0" : "1";  // apart, there was no key to destroy again
  BOOST_TEST(out.output.find(R"({"on_topic":1,"forgotten_again":1,"keys_destroyed":)" + destroyed +
                             R"(,"fingerprint_differs":0})") != std::string::npos,
             out.output);
  BOOST_TEST(out.output.find(email) == std::string::npos);
  BOOST_TEST(scalar(restored, key_count) == "0");
  BOOST_TEST(s.db.keyring().scalar(key_count) == "0");
  BOOST_TEST(scalar(restored, registered) == request_id);
  BOOST_TEST(scalar(restored, "SELECT key_fingerprint FROM erased_persons WHERE subject = '" + vera.id + "'") ==
             fingerprint);
  BOOST_TEST(scalar(restored, "SELECT erased_by FROM erased_persons WHERE subject = '" + vera.id + "'") == ada.id);
  BOOST_TEST(scalar(restored, "SELECT count(*) FROM credentials WHERE user_id = '" + vera.id + "'") == "0");
  BOOST_TEST(scalar(restored, "SELECT email_index IS NULL FROM accounts WHERE user_id = '" + vera.id + "'") == "t");
  // Every projection's policy: her billing profile deleted, her user row anonymous.
  BOOST_TEST(scalar(restored, "SELECT count(*) FROM billing_profiles WHERE user_id = '" + vera.id + "'") == "0");
  BOOST_TEST(scalar(restored, "SELECT name FROM users WHERE user_id = '" + vera.id + "'") == "Deleted user");
  const auto after = test::capture_env(
      env, test::lethe_bin() + " gdpr verify " + vera.id + " --email '" + email + "' --name '" + name + "'");
  BOOST_TEST(after.rc == 0, after.output);
  BOOST_TEST(after.output.find("PostgreSQL's data directory among them") != std::string::npos, after.output);
  // Once is enough: a second run finds the register whole.
  const auto again = test::capture_env(env, test::lethe_bin() + " gdpr reapply");
  BOOST_TEST(again.output.find(R"({"on_topic":1,"forgotten_again":0,"keys_destroyed":0,"fingerprint_differs":0})") !=
                 std::string::npos,
             again.output);

  // The same backup restored again: the projector's start forgets her
  // before it projects anything.
  postgres("restore " + backup.name + " " + std::to_string(kRestoredPort));
  BOOST_REQUIRE(scalar(restored, registered) == "NULL");
  // A group of its own: the restored database is another deployment, and
  // the served projector still consumes as instance 0 of the first group.
  test::Process projector({"project", "--until-idle", "users", "--group-prefix", s.topics.prefix() + "restored."}, env);
  BOOST_TEST(projector.wait() == 0);
  BOOST_TEST(scalar(restored, key_count) == "0");
  BOOST_TEST(s.db.keyring().scalar(key_count) == "0");
  BOOST_TEST(scalar(restored, registered) == request_id);
  BOOST_TEST(scalar(restored, "SELECT name FROM users WHERE user_id = '" + vera.id + "'") == "Deleted user");
}
