#include "validation.hpp"

#include <rapidjson/error/en.h>

#include <algorithm>
#include <valijson/adapters/rapidjson_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

namespace lethe::api {

namespace {

bool is_nul_string(const rapidjson::Value& v) {
  return v.IsString() && std::string_view(v.GetString(), v.GetStringLength()).find('\0') != std::string_view::npos;
}

// The path of the first member (key or value) holding a NUL character, as
// "name" or "outer.inner"; nullopt when there is none.
std::optional<std::string> nul_at(const rapidjson::Value& v, const std::string& path = "") {
  if (is_nul_string(v)) return path;
  if (v.IsObject()) {
    for (const auto& m : v.GetObject()) {
      const std::string name(m.name.GetString(), m.name.GetStringLength());
      const auto here = path.empty() ? name : path + "." + name;
      if (is_nul_string(m.name)) return path;
      if (auto found = nul_at(m.value, here)) return found;
    }
  } else if (v.IsArray()) {
    for (const auto& x : v.GetArray())
      if (auto found = nul_at(x, path)) return found;
  }
  return std::nullopt;
}

// valijson names where an error is as a context path ("<root>", "[email]");
// a missing or unknown property is named in its description instead.
std::string field_of(const valijson::ValidationResults::Error& e) {
  std::string field;
  for (const auto& part : e.context) {
    if (part == "<root>") continue;
    auto name = part;
    if (name.size() >= 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
    field += (field.empty() ? "" : ".") + name;
  }
  if (!field.empty()) return field;
  const auto close = e.description.rfind('\'');
  if (close != std::string::npos && close > 0) {
    const auto open = e.description.rfind('\'', close - 1);
    if (open != std::string::npos) return e.description.substr(open + 1, close - open - 1);
  }
  return "";
}

}  // namespace

RequestValidator::RequestValidator(const std::string& openapi_json) {
  rapidjson::Document doc;
  doc.Parse(openapi_json.c_str());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("paths"))
    throw std::runtime_error("the compiled-in OpenAPI document is not valid JSON with paths");
  for (const auto& path : doc["paths"].GetObject()) {
    for (const auto& op : path.value.GetObject()) {
      if (!op.value.IsObject() || !op.value.HasMember("requestBody")) continue;
      const auto& schema = op.value["requestBody"]["content"]["application/json"]["schema"];
      std::string method = op.name.GetString();
      for (auto& ch : method) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      auto compiled = std::make_unique<valijson::Schema>();
      valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
      valijson::adapters::RapidJsonAdapter adapter(schema);
      parser.populateSchema(adapter, *compiled);
      schemas_[method + " " + path.name.GetString()] = std::move(compiled);
    }
  }
}

RequestValidator::~RequestValidator() = default;

bool RequestValidator::has_body(const std::string& method, const std::string& path) const {
  return schemas_.contains(method + " " + path);
}

std::optional<HttpError> RequestValidator::parse(const std::string& method, const std::string& path,
                                                 const std::string& body, rapidjson::Document& doc) const {
  const auto it = schemas_.find(method + " " + path);
  if (it == schemas_.end()) return std::nullopt;
  if (body.empty()) return HttpError{400, "invalid_argument", "", "the request needs a JSON object as its body"};
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
  if (doc.HasParseError()) {
    const bool encoding = doc.GetParseError() == rapidjson::kParseErrorStringInvalidEncoding;
    return HttpError{400, "invalid_json", "",
                     encoding ? "the body is not valid UTF-8"
                              : std::string("the body is not valid JSON: ") +
                                    rapidjson::GetParseError_En(doc.GetParseError()) + " at byte " +
                                    std::to_string(doc.GetErrorOffset())};
  }
  if (!doc.IsObject()) return HttpError{400, "invalid_json", "", "the body must be a JSON object"};
  if (const auto at = nul_at(doc)) {
    // The field's name as text: a NUL inside it would cut it short.
    std::string field = *at;
    field.erase(std::remove(field.begin(), field.end(), '\0'), field.end());
    return HttpError{400, "invalid_argument", field, "text must not contain NUL characters"};
  }
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::RapidJsonAdapter adapter(doc);
  if (validator.validate(*it->second, adapter, &results)) return std::nullopt;
  // The deepest complaint names the field most precisely.
  valijson::ValidationResults::Error err, best;
  bool any = false;
  while (results.popError(err))
    if (!any || err.context.size() > best.context.size()) {
      best = err;
      any = true;
    }
  const auto field = field_of(best);
  return HttpError{400, "invalid_argument", field, (field.empty() ? std::string() : field + ": ") + best.description};
}

}  // namespace lethe::api
