#define BOOST_TEST_MODULE reference_consumers
// The reference consumers of consumers/reference/ against the real broker
// and `lethe serve`: each subscribes to the users and erasure topics as a
// service account, opens the sealed email and name with keys from
// POST /key-releases, keeps its own copy of the customers, and deletes a
// person's row when user.erased arrives.
#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "support/api.hpp"
#include "support/fixtures.hpp"

using namespace lethe;
using test::Api;

namespace {

using test::Stack;

std::string python() {
  const char* p = std::getenv("LETHE_REFERENCE_PYTHON");
  return p && *p ? p : test::source_dir() + "/.lethe/venv/bin/python";
}

std::string java_libs() {
  const char* p = std::getenv("LETHE_JAVA_MIRROR_LIBS");
  return p && *p ? p : test::source_dir() + "/.lethe/java-mirror-libs";
}

// A service account entitled to the users topic, and its API key.
std::string service_key(Api& api) {
  const auto svc = api.person("mirror-service@example.org", "service");
  test::must(api.call("PUT", "/users/" + svc.id + "/entitlements", R"({"topics":["users"]})", api.owner_key()), 200,
             "entitle");
  auto key = test::must(api.call("POST", "/users/" + svc.id + "/api-keys", R"({"name":"mirror"})", api.owner_key()),
                        201, "service key");
  return key.str("key");
}

// One reference consumer, its SQLite file and consumer group its own.
struct Mirror {
  std::string language, db_path;
  ~Mirror() { std::filesystem::remove(db_path); }

  // Runs it until 5 s pass with nothing new: its exit code.
  int run(const Stack& s, const std::string& token) const {
    const auto users = s.topics.topic("users");
    const std::vector<std::string> args{"--brokers",      infra::Config::from_env().brokers,
                                        "--topic-prefix", users.substr(0, users.size() - 5),
                                        "--api",          "http://127.0.0.1:" + std::to_string(s.api.port()),
                                        "--db",           db_path,
                                        "--group",        "mirror-" + language + "-" + s.db.name(),
                                        "--until-idle",   "5"};
    std::vector<std::string> command;
    if (language == "python") {
      command = {test::source_dir() + "/consumers/reference/python/mirror.py"};
    } else {
      command = {"-cp", java_libs() + "/*", test::source_dir() + "/consumers/reference/java/Mirror.java"};
    }
    command.insert(command.end(), args.begin(), args.end());
    test::Process mirror(test::Program{language == "python" ? python() : "/usr/bin/java"}, command,
                         {{"LETHE_SERVICE_TOKEN", token}});
    return mirror.wait(std::chrono::seconds(180));
  }
};

// The copy's rows as "id|email|name|role|active", and the people it knows
// are erased.
std::set<std::string> rows_of(const std::string& db_path, const char* query) {
  const auto out_path = db_path + ".rows";
  test::Process dump(test::Program{python(), out_path}, {"-c",
                                                         "import sqlite3, sys\n"
                                                         "for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]):\n"
                                                         "    print('|'.join(str(v) for v in r))\n",
                                                         db_path, query});
  BOOST_REQUIRE(dump.wait() == 0);
  std::set<std::string> rows;
  std::ifstream in(out_path);
  for (std::string line; std::getline(in, line);) rows.insert(line);
  std::filesystem::remove(out_path);
  return rows;
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_python_and_java_mirrors_open_sealed_fields_and_forget_the_erased) {
  Stack s;
  auto& api = s.api;
  const auto token = service_key(api);
  const auto adm = api.person("adm.mirror@example.org", "admin");
  const auto ann = api.person("ann.mirror@example.org");
  const auto bob = api.person("bob.mirror@example.org");
  const auto cy = api.person("cy.mirror@example.org");
  const auto dee = api.person("dee.mirror@example.org");
  test::must(api.call("PATCH", "/users/" + bob.id, R"({"name":"Robert Mirror"})", bob.token), 200, "rename");
  // Dee is erased before the mirrors ever run: they never hold her.
  auto erased = test::must(api.call("POST", "/users/" + dee.id + "/erasure", "", adm.token, {{"Content-Length", "0"}}),
                           202, "erase dee");
  BOOST_REQUIRE(test::until_erasure_applied(api, erased.str("id"), adm.token).status == 200);

  const char* customers =
      "SELECT user_id, email, name, role, active FROM customers WHERE email LIKE '%.mirror@example.org'";
  const auto expected = [&](std::initializer_list<const Api::Person*> people) {
    std::set<std::string> rows;
    for (const auto* p : people) {
      const auto name = p == &bob ? std::string("Robert Mirror") : "Name of " + p->email;
      rows.insert(p->id + "|" + p->email + "|" + name + "|" + (p == &adm ? "admin" : "user") + "|1");
    }
    return rows;
  };
  const auto dir = std::filesystem::temp_directory_path();
  const std::vector<Mirror> mirrors{{"python", (dir / ("lethe-mirror-py-" + s.db.name() + ".sqlite")).string()},
                                    {"java", (dir / ("lethe-mirror-java-" + s.db.name() + ".sqlite")).string()}};

  for (const auto& m : mirrors) {
    BOOST_TEST_CONTEXT(m.language) {
      BOOST_REQUIRE(m.run(s, token) == 0);
      BOOST_TEST(rows_of(m.db_path, customers) == expected({&adm, &ann, &bob, &cy}), boost::test_tools::per_element());
      BOOST_TEST(rows_of(m.db_path, "SELECT user_id FROM erased") == std::set<std::string>{dee.id});
    }
  }

  // Cy is erased while the mirrors hold her: their next run deletes her row.
  erased = test::must(api.call("POST", "/users/" + cy.id + "/erasure", "", adm.token, {{"Content-Length", "0"}}), 202,
                      "erase cy");
  BOOST_REQUIRE(test::until_erasure_applied(api, erased.str("id"), adm.token).status == 200);
  for (const auto& m : mirrors) {
    BOOST_TEST_CONTEXT(m.language) {
      BOOST_REQUIRE(m.run(s, token) == 0);
      BOOST_TEST(rows_of(m.db_path, customers) == expected({&adm, &ann, &bob}), boost::test_tools::per_element());
      BOOST_TEST(rows_of(m.db_path, "SELECT user_id FROM erased") == (std::set<std::string>{cy.id, dee.id}));
      // Her email is nowhere in the file, not even in its free pages.
      std::ifstream raw(m.db_path, std::ios::binary);
      const std::string bytes{std::istreambuf_iterator<char>(raw), std::istreambuf_iterator<char>()};
      BOOST_TEST(bytes.find("cy.mirror@example.org") == std::string::npos);
      BOOST_TEST(bytes.find("ann.mirror@example.org") != std::string::npos);  // the control: a kept one is there
    }
  }
}
