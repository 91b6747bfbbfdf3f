#define BOOST_TEST_MODULE openapi
// The OpenAPI document compiled into the server and the server's route table
// describe the same API: every route is documented with the roles the server
// enforces, every documented operation is served, and every request schema
// compiles as the server compiles it (valijson, draft 7, no $ref).
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <valijson/adapters/rapidjson_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>

#include "lethe/api/server.hpp"
#include "support/fixtures.hpp"

namespace {

const std::set<std::string> kHttpMethods{"get", "put", "post", "delete", "options", "head", "patch", "trace"};

std::string upper(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

struct Parsed {
  rapidjson::Document doc;
  Parsed() {
    const auto& text = lethe::api::openapi_document();
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(text.data(), text.size());
  }
};

const rapidjson::Document& document() {
  static const Parsed parsed;
  return parsed.doc;
}

// "GET /users/{id}" -> the operation object.
std::map<std::string, const rapidjson::Value*> operations() {
  std::map<std::string, const rapidjson::Value*> out;
  const auto& doc = document();
  if (!doc.IsObject() || !doc.HasMember("paths") || !doc["paths"].IsObject()) return out;
  for (const auto& path : doc["paths"].GetObject()) {
    if (!path.value.IsObject()) continue;
    for (const auto& op : path.value.GetObject()) {
      const std::string method = op.name.GetString();
      if (!kHttpMethods.contains(method)) continue;  // "parameters", "summary", x-...
      out[upper(method) + " " + path.name.GetString()] = &op.value;
    }
  }
  return out;
}

std::map<std::string, std::string> routes() {  // "GET /users/{id}" -> roles
  std::map<std::string, std::string> out;
  for (const auto& r : lethe::api::route_table()) out[r.method + " " + r.path] = r.roles;
  return out;
}

// Where in a value a "$ref" key occurs ("" when nowhere).
std::string ref_in(const rapidjson::Value& v, const std::string& at) {
  if (v.IsObject()) {
    for (const auto& m : v.GetObject()) {
      const std::string key = m.name.GetString();
      if (key == "$ref") return at + "/$ref";
      if (auto found = ref_in(m.value, at + "/" + key); !found.empty()) return found;
    }
  } else if (v.IsArray()) {
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i)
      if (auto found = ref_in(v[i], at + "/" + std::to_string(i)); !found.empty()) return found;
  }
  return "";
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_compiled_in_document_is_openapi_3) {
  const auto& text = lethe::api::openapi_document();
  BOOST_REQUIRE(!text.empty());
  const auto& doc = document();
  BOOST_REQUIRE_MESSAGE(!doc.HasParseError(), "the compiled-in OpenAPI document is not JSON: "
                                                  << rapidjson::GetParseError_En(doc.GetParseError()) << " at byte "
                                                  << doc.GetErrorOffset());
  BOOST_REQUIRE(doc.IsObject());
  BOOST_REQUIRE_MESSAGE(doc.HasMember("openapi") && doc["openapi"].IsString(), "no \"openapi\" version string");
  const std::string version = doc["openapi"].GetString();
  BOOST_TEST_MESSAGE("openapi " << version);
  BOOST_TEST(std::regex_match(version, std::regex(R"(3\.\d+\.\d+)")), "openapi version " << version << " is not 3.x.y");
  BOOST_TEST(doc.HasMember("info"));
  BOOST_REQUIRE(doc.HasMember("paths"));
  BOOST_REQUIRE(doc["paths"].IsObject());
  BOOST_TEST(!operations().empty());
}

// Merged here independently of cmake/catalog.cmake: the base document with
// the paths and component schemas of every domain folder's part.
BOOST_AUTO_TEST_CASE(the_compiled_in_document_is_the_base_with_every_domain_part_merged) {
  namespace fs = std::filesystem;
  const fs::path root(lethe::test::source_dir());
  rapidjson::Document expected;
  expected.Parse(read_file(root / "schemas" / "openapi.json").c_str());
  BOOST_REQUIRE(!expected.HasParseError() && expected.HasMember("paths"));
  auto& alloc = expected.GetAllocator();
  int parts = 0;
  for (const auto& d : fs::directory_iterator(root / "domains")) {
    if (!fs::is_directory(d.path() / "http")) continue;
    for (const auto& f : fs::directory_iterator(d.path() / "http")) {
      if (!f.path().string().ends_with(".openapi.json")) continue;
      ++parts;
      rapidjson::Document part;
      part.Parse(read_file(f.path()).c_str());
      BOOST_REQUIRE_MESSAGE(!part.HasParseError() && part.IsObject(), f.path() << " is not a JSON object");
      const auto merge = [&](rapidjson::Value& into, const rapidjson::Value& from) {
        for (const auto& m : from.GetObject()) {
          BOOST_TEST(!into.HasMember(m.name), f.path() << ": " << m.name.GetString() << " defined twice");
          into.AddMember(rapidjson::Value(m.name, alloc), rapidjson::Value(m.value, alloc), alloc);
        }
      };
      if (part.HasMember("paths")) merge(expected["paths"], part["paths"]);
      if (part.HasMember("components") && part["components"].HasMember("schemas"))
        merge(expected["components"]["schemas"], part["components"]["schemas"]);
    }
  }
  BOOST_TEST(parts >= 9);
  const auto& compiled = document();
  BOOST_TEST((compiled == expected), "the compiled-in document is not the base with the domains' parts merged");
  BOOST_TEST(compiled["paths"].MemberCount() == expected["paths"].MemberCount());
  // Schemathesis reads the same document from the build tree.
  BOOST_TEST(read_file(LETHE_OPENAPI_FILE) == lethe::api::openapi_document());
}

BOOST_AUTO_TEST_CASE(every_request_body_schema_compiles_with_valijson_draft7_and_has_no_ref) {
  int bodies = 0;
  for (const auto& [op, value] : operations()) {
    if (!value->IsObject() || !value->HasMember("requestBody")) continue;
    ++bodies;
    const auto& body = (*value)["requestBody"];
    BOOST_TEST_CONTEXT(op) {
      BOOST_REQUIRE(body.IsObject());
      BOOST_TEST(ref_in(body, "requestBody") == "", "a request body may not use $ref (the server compiles it alone)");
      const bool has_schema =
          body.HasMember("content") && body["content"].IsObject() && body["content"].HasMember("application/json") &&
          body["content"]["application/json"].IsObject() && body["content"]["application/json"].HasMember("schema");
      BOOST_TEST(has_schema, "no content/application/json/schema");
      if (!has_schema) continue;
      const auto& schema = body["content"]["application/json"]["schema"];
      BOOST_TEST(schema.IsObject());
      if (schema.IsObject()) {
        BOOST_TEST((schema.HasMember("type") && schema["type"] == "object"), "a request body is a JSON object");
      }
      valijson::Schema compiled;
      valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
      valijson::adapters::RapidJsonAdapter adapter(schema);
      BOOST_CHECK_NO_THROW(parser.populateSchema(adapter, compiled));
    }
  }
  BOOST_TEST(bodies > 0);
}

BOOST_AUTO_TEST_CASE(every_route_is_documented_and_every_documented_operation_is_served) {
  const auto served = routes();
  const auto documented = operations();
  BOOST_REQUIRE(!served.empty());
  BOOST_TEST(served.size() == lethe::api::route_table().size(), "the route table lists a route twice");
  for (const auto& [op, roles] : served) BOOST_TEST(documented.contains(op), "served but not documented: " << op);
  for (const auto& [op, value] : documented) BOOST_TEST(served.contains(op), "documented but not served: " << op);
}

BOOST_AUTO_TEST_CASE(every_operation_documents_the_roles_the_server_enforces) {
  const auto served = routes();
  for (const auto& [op, value] : operations()) {
    BOOST_TEST_CONTEXT(op) {
      const bool has_roles = value->IsObject() && value->HasMember("x-roles") && (*value)["x-roles"].IsString();
      BOOST_TEST(has_roles, "no x-roles string");
      const auto it = served.find(op);
      if (!has_roles || it == served.end()) continue;
      BOOST_TEST(std::string((*value)["x-roles"].GetString()) == it->second);
    }
  }
}

BOOST_AUTO_TEST_CASE(every_operation_documents_a_4xx_response) {
  for (const auto& [op, value] : operations()) {
    BOOST_TEST_CONTEXT(op) {
      const bool has_responses = value->IsObject() && value->HasMember("responses") && (*value)["responses"].IsObject();
      BOOST_TEST(has_responses, "no responses");
      if (!has_responses) continue;
      std::vector<std::string> codes;
      for (const auto& r : (*value)["responses"].GetObject()) codes.emplace_back(r.name.GetString());
      const bool any_4xx =
          std::any_of(codes.begin(), codes.end(), [](const std::string& c) { return !c.empty() && c[0] == '4'; });
      std::string listed;
      for (const auto& c : codes) listed += (listed.empty() ? "" : ", ") + c;
      BOOST_TEST(any_4xx, op << " documents no 4xx response (it documents: " << listed << ")");
    }
  }
}

BOOST_AUTO_TEST_CASE(path_parameters_and_security_match_the_route) {
  const auto served = routes();
  const std::regex param(R"(\{([a-z_]+)\})");
  for (const auto& [op, value] : operations()) {
    BOOST_TEST_CONTEXT(op) {
      if (!value->IsObject()) continue;
      const auto path = op.substr(op.find(' ') + 1);
      std::set<std::string> in_path, declared;
      for (std::sregex_iterator m(path.begin(), path.end(), param), end; m != end; ++m) in_path.insert((*m)[1]);
      if (value->HasMember("parameters") && (*value)["parameters"].IsArray())
        for (const auto& p : (*value)["parameters"].GetArray())
          if (p.IsObject() && p.HasMember("in") && p["in"] == "path" && p.HasMember("name") && p["name"].IsString())
            declared.insert(p["name"].GetString());
      BOOST_TEST(in_path == declared, "path parameters in the path and in \"parameters\" differ");

      // Anonymous routes take no token; the others need a bearer one.
      const auto it = served.find(op);
      if (it == served.end() || !value->HasMember("security") || !(*value)["security"].IsArray()) {
        BOOST_TEST(value->HasMember("security"), "no security");
        continue;
      }
      const auto& security = (*value)["security"];
      bool bearer = false;
      for (const auto& s : security.GetArray())
        if (s.IsObject() && s.HasMember("bearer")) bearer = true;
      BOOST_TEST(bearer == (it->second != "anyone"), "security bearer: " << bearer << ", roles: " << it->second);
    }
  }
}
