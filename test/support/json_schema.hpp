#pragma once
// JSON Schema checks for tests (valijson over RapidJSON): the event schemas
// in schemas/events, loaded by file, and what a document violates.
#include <rapidjson/document.h>

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

#include "support/fixtures.hpp"

namespace lethe::test {

inline std::filesystem::path schema_dir() {
  return std::filesystem::path(source_dir()) / "schemas" / "events";
}

inline std::filesystem::path schema_file(std::string_view type, int version) {
  return schema_dir() / (std::string(type) + ".v" + std::to_string(version) + ".json");
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
