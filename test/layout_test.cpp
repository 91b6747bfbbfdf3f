#define BOOST_TEST_MODULE layout
// What the folders promise, read from the source tree: a domain's parts
// keep to their layer. Routes hold no SQL (they run named queries of their
// domain's read/ part); decisions include no driver; read models include
// nothing of the write side; and no public header of a layer above infra
// names a driver type. (The include paths already refuse most of
// this; these checks name the file when someone works around them.)
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/fixtures.hpp"

namespace fs = std::filesystem;

namespace {

// Every file of `part` in every domain folder, lethe's and the test tree's.
std::vector<fs::path> part_files(const std::string& part) {
  std::vector<fs::path> out;
  const fs::path root(lethe::test::source_dir());
  for (const auto& base : {root / "domains", root / "test" / "domains"})
    for (const auto& d : fs::directory_iterator(base))
      if (fs::is_directory(d.path() / part))
        for (const auto& f : fs::directory_iterator(d.path() / part))
          if (f.path().extension() == ".cpp" || f.path().extension() == ".hpp") out.push_back(f.path());
  return out;
}

std::string text_of(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The public headers of a layer: its include/ folder.
std::vector<fs::path> layer_headers(const std::string& layer) {
  std::vector<fs::path> out;
  for (const auto& f : fs::recursive_directory_iterator(fs::path(lethe::test::source_dir()) / layer / "include"))
    if (f.path().extension() == ".hpp") out.push_back(f.path());
  return out;
}

// The lines of `files` that match `pattern`, "file:line: text".
std::vector<std::string> matches_in(const std::vector<fs::path>& files, const std::regex& pattern) {
  std::vector<std::string> out;
  for (const auto& f : files) {
    std::istringstream lines(text_of(f));
    std::string line;
    for (int n = 1; std::getline(lines, line); ++n)
      if (std::regex_search(line, pattern)) out.push_back(f.string() + ":" + std::to_string(n) + ": " + line);
  }
  return out;
}

std::vector<std::string> matches(const std::string& part, const std::regex& pattern) {
  return matches_in(part_files(part), pattern);
}

void none(const std::vector<std::string>& found, const char* what) {
  for (const auto& f : found) BOOST_ERROR(what << ": " << f);
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_part_is_found) {
  // The checks below look at something: each part has files.
  for (const auto* part : {"decide", "commands", "read", "http"}) BOOST_TEST(part_files(part).size() >= 8u, part);
}

BOOST_AUTO_TEST_CASE(routes_hold_no_sql) {
  const std::regex sql(R"((\bSELECT\b|\bINSERT\b|\bUPDATE\b|\bDELETE FROM\b|exec_params|\.exec\())");
  // The pattern finds what it is meant to: a named query's definition.
  BOOST_REQUIRE(!matches("read", sql).empty());
  none(matches("http", sql), "SQL in a route file");
}

BOOST_AUTO_TEST_CASE(decisions_include_no_driver_and_no_other_layer) {
  const std::regex include(R"(#include\s*[<"](pqxx|librdkafka|rdkafka|lethe/(infra|producers|projections|api)/))");
  BOOST_REQUIRE(!matches("read", include).empty());  // read models do include the projections layer
  none(matches("decide", include), "a decision includes a driver or another layer");
}

BOOST_AUTO_TEST_CASE(read_models_include_nothing_of_the_write_side) {
  const std::regex include(R"(#include\s*[<"](lethe/producers/|[a-z_]+_service\.hpp))");
  BOOST_REQUIRE(!matches("http", include).empty());  // routes do include command handlers
  none(matches("read", include), "a read model includes the write side");
}

BOOST_AUTO_TEST_CASE(public_headers_above_infra_name_no_driver_type) {
  // A driver's type, namespace or header, or an infra header that includes
  // a driver's; not a word about a driver in a comment.
  const std::regex driver(
      R"((\bpqxx::|\bRdKafka::|\brd_kafka_[a-z_]+\b|namespace\s+(pqxx|RdKafka)\b|#include\s*[<"](pqxx|librdkafka))"
      R"(|#include\s*"lethe/infra/(pg|kafka|keyring|migrations)\.hpp"))");
  BOOST_REQUIRE(!matches_in(layer_headers("infra"), driver).empty());  // infra wraps both drivers
  std::vector<fs::path> headers;
  for (const auto* layer : {"domain", "producers", "projections", "consumers", "api"}) {
    const auto more = layer_headers(layer);
    headers.insert(headers.end(), more.begin(), more.end());
  }
  // A domain part's headers are public to the layers above it.
  for (const auto* part : {"decide", "commands", "read", "http"})
    for (const auto& f : part_files(part))
      if (f.extension() == ".hpp") headers.push_back(f);
  BOOST_TEST(headers.size() >= 40u);
  none(matches_in(headers, driver), "a public header names a driver type");
}
