#pragma once
// JSON Schema checks for tests (valijson over RapidJSON): the event schemas
// (domains/<name>/events/, the envelope in schemas/events/), loaded by file,
// and what a document violates.
#include <rapidjson/document.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <valijson/adapters/rapidjson_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>
#include <vector>

#include "support/fixtures.hpp"

namespace lethe::test {

inline std::filesystem::path envelope_schema_file() {
  return std::filesystem::path(source_dir()) / "schemas" / "events" / "envelope.v1.json";
}

// Every event type's schema file, from every domain folder, in name order.
inline std::vector<std::filesystem::path> event_schema_files() {
  std::vector<std::filesystem::path> out;
  for (const auto& d : std::filesystem::directory_iterator(std::filesystem::path(source_dir()) / "domains"))
    if (std::filesystem::is_directory(d.path() / "events"))
      for (const auto& f : std::filesystem::directory_iterator(d.path() / "events")) out.push_back(f.path());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.filename() < b.filename(); });
  return out;
}

// The schema file of an event type at a version ("" path when there is none).
inline std::filesystem::path schema_file(std::string_view type, int version) {
  const auto name = std::string(type) + ".v" + std::to_string(version) + ".json";
  for (const auto& f : event_schema_files())
    if (f.filename() == name) return f;
  return {};
}

// Loads and compiles one JSON Schema file.
inline std::unique_ptr<valijson::Schema> load_schema(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream text;
  text << in.rdbuf();
  rapidjson::Document doc;
  doc.Parse(text.str().c_str());
  BOOST_REQUIRE_MESSAGE(!doc.HasParseError(), "schema " << p << " is not valid JSON");
  auto schema = std::make_unique<valijson::Schema>();
  valijson::SchemaParser parser;
  valijson::adapters::RapidJsonAdapter adapter(doc);
  parser.populateSchema(adapter, *schema);
  return schema;
}

// Empty when valid, else the validator's complaints.
inline std::string violations(const valijson::Schema& schema, const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  if (doc.HasParseError()) return "not JSON";
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::RapidJsonAdapter adapter(doc);
  if (validator.validate(schema, adapter, &results)) return "";
  std::string out;
  valijson::ValidationResults::Error err;
  while (results.popError(err)) {
    for (const auto& c : err.context) out += c;
    out += ": " + err.description + "; ";
  }
  return out;
}

}  // namespace lethe::test
