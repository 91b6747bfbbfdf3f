#pragma once
// Request bodies are checked against the OpenAPI document's request schemas
// (valijson, JSON Schema draft 7 keywords only), before any handler runs.
#include <rapidjson/document.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "http.hpp"

namespace valijson {
class Schema;
}

namespace lethe::api {

class RequestValidator {
 public:
  // Compiles every operation's application/json request schema.
  explicit RequestValidator(const std::string& openapi_json);
  ~RequestValidator();
  bool has_body(const std::string& method, const std::string& path) const;
  // Parses and validates a body: 400 naming the field, or nullopt when valid.
  std::optional<HttpError> parse(const std::string& method, const std::string& path, const std::string& body,
                                 rapidjson::Document& doc) const;

 private:
  std::map<std::string, std::unique_ptr<valijson::Schema>> schemas_;  // "POST /users"
};

}  // namespace lethe::api
