#define BOOST_TEST_MODULE bookmarks
// A domain is one folder: bookmarks exists only in test/domains/bookmarks/,
// and the lethe built with the test tree's catalog (lethe-with-test-domains)
// serves it end to end: its event is sealed on its own topic, its projection
// folds it, its route reads it back, and an erasure applies its policy and
// receipts it with every other projection's.
#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <string>

#include "lethe/projections/projection.hpp"
#include "support/api.hpp"
#include "support/fixtures.hpp"

using namespace lethe;

namespace {

// The tests run the lethe whose catalog holds this folder.
struct WithTestDomains {
  WithTestDomains() { setenv("LETHE_BIN", LETHE_TEST_DOMAINS_BIN, 1); }
};

}  // namespace

BOOST_TEST_GLOBAL_FIXTURE(WithTestDomains);

BOOST_AUTO_TEST_CASE(a_domain_of_the_test_tree_is_registered_and_works_over_http) {
  // This test's own catalog (the same as the server's) knows the folder.
  const auto names = projections::projection_names();
  BOOST_REQUIRE(std::find(names.begin(), names.end(), "bookmarks") != names.end());

  test::Served s;
  auto& api = s.api;
  const auto bea = api.person("bea-" + test::random_suffix() + "@example.org");
  const auto other = api.person("otto-" + test::random_suffix() + "@example.org");
  const std::string label = "Bea's reading list " + test::random_suffix();

  // The schema in the folder's OpenAPI part is enforced: a missing field is a 400 naming it.
  const auto bad = api.call("POST", "/bookmarks", test::json_object({{"url", "https://example.org/"}}), bea.token);
  BOOST_TEST(bad.status == 400);
  BOOST_TEST(bad.str("field") == "label");

  const auto saved =
      test::must(api.call("POST", "/bookmarks",
                          test::json_object({{"url", "https://example.org/read"}, {"label", label}}), bea.token),
                 201, "save");
  const auto id = saved.str("id");
  const auto read =
      api.call("GET", "/bookmarks/" + id + "?min_position=" + std::to_string(saved.num("position")), "", bea.token);
  BOOST_REQUIRE_MESSAGE(read.status == 200, read.body);
  BOOST_TEST(read.str("label") == label);
  BOOST_TEST(read.str("url") == "https://example.org/read");
  BOOST_TEST(read.str("owner_id") == bea.id);
  BOOST_TEST(read.header("X-Lethe-Stale").empty());
  // Someone else's bookmark answers as a missing one.
  BOOST_TEST(api.call("GET", "/bookmarks/" + id, "", other.token).status == 404);

  // On its own topic, sealed: the label never travels in clear.
  const auto messages = test::read_topic(s.topics.topic("bookmarks"));
  BOOST_REQUIRE(messages.size() == 1u);
  BOOST_TEST(messages[0].value.find("bookmark.saved") != std::string::npos);
  BOOST_TEST(messages[0].value.find(label) == std::string::npos);

  // The erasure reaches the folder's projection: its policy deletes the row,
  // and its receipt is one of every projection's.
  const auto erased = test::must(
      api.call("POST", "/users/" + bea.id + "/erasure", "", api.owner_key(), {{"Content-Length", "0"}}), 202, "erase");
  const auto request = test::until_erasure_applied(api, erased.str("id"), api.owner_key());
  BOOST_REQUIRE_MESSAGE(request.status == 200, request.body);
  BOOST_TEST(request.json["receipts"].Size() == names.size());
  bool receipted = false;
  for (const auto& r : request.json["receipts"].GetArray())
    receipted = receipted || std::string(r["projection"].GetString()) == "bookmarks";
  BOOST_TEST(receipted);
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM bookmarks WHERE bookmark_id = '" + id + "'") == "0");
  BOOST_TEST(api.call("GET", "/bookmarks/" + id, "", api.owner_key()).status == 404);
}
