#include "validation.hpp"

#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <valijson/adapters/rapidjson_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

namespace lethe::api {

namespace {

// Deeper bodies are refused before a document is built: no request schema
// nests more than a few levels, and a deep document would be freed by
// recursion.
constexpr int kMaxDepth = 32;
// Parsed on the heap, never by recursion on the thread's stack, and every
// string checked to be UTF-8.
constexpr unsigned kParseFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

// A SAX pass that only counts nesting, and stops past kMaxDepth.
struct DepthCheck : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, DepthCheck> {
  int depth = 0;
  bool too_deep = false;
  bool Default() { return true; }
  bool StartObject() { return enter(); }
  bool StartArray() { return enter(); }
  bool EndObject(rapidjson::SizeType) { return leave(); }
  bool EndArray(rapidjson::SizeType) { return leave(); }
  bool enter() {
    too_deep = ++depth > kMaxDepth;
    return !too_deep;
  }
  bool leave() {
    --depth;
    return true;
  }
};

// valijson runs `pattern` with std::regex, which recurses per character
// and overflows a thread's stack on a long string (100 KB of a slug did).
// So a pattern is checked only once the string is known to be within its
// maxLength: {"pattern": P, "maxLength": M} becomes {"maxLength": M, "if":
// {"maxLength": M}, "then": {"pattern": P}}. A pattern without maxLength is
// a mistake in the document, refused at start.
void guard_patterns(rapidjson::Value& schema, rapidjson::Document::AllocatorType& alloc, const std::string& where) {
  if (schema.IsArray()) {
    for (auto& item : schema.GetArray()) guard_patterns(item, alloc, where);
    return;
  }
  if (!schema.IsObject()) return;
  for (auto& member : schema.GetObject()) guard_patterns(member.value, alloc, where);
  const auto pattern = schema.FindMember("pattern");
  if (pattern == schema.MemberEnd() || !pattern->value.IsString()) return;
  const auto max = schema.FindMember("maxLength");
  if (max == schema.MemberEnd())
    throw std::runtime_error(where + ": a pattern without maxLength in the OpenAPI document");
  rapidjson::Value condition(rapidjson::kObjectType), then(rapidjson::kObjectType);
  condition.AddMember("maxLength", rapidjson::Value(max->value, alloc), alloc);
  then.AddMember("pattern", rapidjson::Value(pattern->value, alloc), alloc);
  schema.RemoveMember("pattern");
  schema.AddMember("if", condition, alloc);
  schema.AddMember("then", then, alloc);
}

// JSON has one kind of number: 1.0 and 1e3 are the integers 1 and 1000, as
// JSON Schema's "integer" says; RapidJSON reads them as doubles.
void integral_doubles_as_integers(rapidjson::Value& v) {
  if (v.IsDouble()) {
    const double x = v.GetDouble();
    if (std::trunc(x) == x && std::fabs(x) < 9.0e18) v.SetInt64(static_cast<std::int64_t>(x));
  } else if (v.IsObject()) {
    for (auto& m : v.GetObject()) integral_doubles_as_integers(m.value);
  } else if (v.IsArray()) {
    for (auto& x : v.GetArray()) integral_doubles_as_integers(x);
  }
}

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
  guard_patterns(doc["paths"], doc.GetAllocator(), "paths");
  for (const auto& path : doc["paths"].GetObject()) {
    for (const auto& op : path.value.GetObject()) {
      if (!op.value.IsObject()) continue;
      std::string method = op.name.GetString();
      for (auto& ch : method) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      const auto key = method + " " + path.name.GetString();
      if (op.value.HasMember("parameters")) {
        for (const auto& p : op.value["parameters"].GetArray()) {
          const std::string in = p["in"].GetString();
          if (in != "path" && in != "query") continue;
          Parameter param;
          param.name = p["name"].GetString();
          param.in_path = in == "path";
          param.required = p.HasMember("required") && p["required"].GetBool();
          param.type = p["schema"]["type"].GetString();
          param.schema = std::make_shared<valijson::Schema>();
          valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
          valijson::adapters::RapidJsonAdapter adapter(p["schema"]);
          parser.populateSchema(adapter, *param.schema);
          parameters_[key].push_back(std::move(param));
        }
      }
      if (!op.value.HasMember("requestBody")) continue;
      const auto& schema = op.value["requestBody"]["content"]["application/json"]["schema"];
      auto compiled = std::make_unique<valijson::Schema>();
      valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
      valijson::adapters::RapidJsonAdapter adapter(schema);
      parser.populateSchema(adapter, *compiled);
      schemas_[method + " " + path.name.GetString()] = std::move(compiled);
    }
  }
}

RequestValidator::~RequestValidator() = default;

std::optional<HttpError> RequestValidator::check_parameters(const std::string& method, const std::string& path,
                                                            const Request& req,
                                                            const std::vector<std::string>& path_values) const {
  const auto it = parameters_.find(method + " " + path);
  if (it == parameters_.end()) return std::nullopt;
  std::size_t next_path_value = 0;
  for (const auto& p : it->second) {
    std::optional<std::string> text;
    if (p.in_path) {
      if (next_path_value < path_values.size()) text = path_values[next_path_value++];
    } else if (req.has_param(p.name)) {
      text = req.get_param_value(p.name);
    }
    if (!text) {
      if (p.required) return HttpError{400, "invalid_argument", p.name, p.name + " is required"};
      continue;
    }
    // The text as the JSON value the schema describes.
    rapidjson::Document value;
    if (p.type == "integer") {
      std::int64_t n = 0;
      const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
      if (ec != std::errc() || end != text->data() + text->size())
        return HttpError{400, "invalid_argument", p.name, p.name + " must be an integer"};
      value.SetInt64(n);
    } else if (p.type == "boolean") {
      if (*text != "true" && *text != "false")
        return HttpError{400, "invalid_argument", p.name, p.name + " must be true or false"};
      value.SetBool(*text == "true");
    } else {
      value.SetString(text->data(), static_cast<rapidjson::SizeType>(text->size()), value.GetAllocator());
    }
    valijson::Validator validator;
    valijson::ValidationResults results;
    valijson::adapters::RapidJsonAdapter adapter(value);
    if (!validator.validate(*p.schema, adapter, &results)) {
      valijson::ValidationResults::Error err;
      results.popError(err);
      return HttpError{400, "invalid_argument", p.name, p.name + ": " + err.description};
    }
  }
  return std::nullopt;
}

bool RequestValidator::has_body(const std::string& method, const std::string& path) const {
  return schemas_.contains(method + " " + path);
}

std::optional<HttpError> RequestValidator::parse(const std::string& method, const std::string& path,
                                                 const std::string& body, rapidjson::Document& doc) const {
  const auto it = schemas_.find(method + " " + path);
  if (it == schemas_.end()) return std::nullopt;
  if (body.empty()) return HttpError{400, "invalid_argument", "", "the request needs a JSON object as its body"};
  {
    DepthCheck depth;
    rapidjson::Reader reader;
    rapidjson::MemoryStream in(body.data(), body.size());
    reader.Parse<kParseFlags>(in, depth);
    if (depth.too_deep)
      return HttpError{400, "invalid_json", "",
                       "the body nests arrays and objects deeper than " + std::to_string(kMaxDepth) + " levels"};
  }
  doc.Parse<kParseFlags>(body.data(), body.size());
  if (doc.HasParseError()) {
    const bool encoding = doc.GetParseError() == rapidjson::kParseErrorStringInvalidEncoding;
    return HttpError{400, "invalid_json", "",
                     encoding ? "the body is not valid UTF-8"
                              : std::string("the body is not valid JSON: ") +
                                    rapidjson::GetParseError_En(doc.GetParseError()) + " at byte " +
                                    std::to_string(doc.GetErrorOffset())};
  }
  if (!doc.IsObject()) return HttpError{400, "invalid_json", "", "the body must be a JSON object"};
  integral_doubles_as_integers(doc);
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
