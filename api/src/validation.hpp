#pragma once
// Request bodies are checked against the OpenAPI document's request schemas
// (valijson, JSON Schema draft 7 keywords only), before any handler runs.
#include <rapidjson/document.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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
  // Checks the path and query parameters against the operation's declared
  // ones (type, bounds, enum, required): 400 naming the parameter, or
  // nullopt. `path_values` are the route's path parameters in order.
  std::optional<HttpError> check_parameters(const std::string& method, const std::string& path, const Request& req,
                                            const std::vector<std::string>& path_values) const;
  // Parses and validates a body: 400 naming the field, or nullopt when valid.
  std::optional<HttpError> parse(const std::string& method, const std::string& path, const std::string& body,
                                 rapidjson::Document& doc) const;

 private:
  struct Parameter {
    std::string name;
    bool in_path = false, required = false;
    std::string type;  // "integer", "boolean", "string"
    std::shared_ptr<valijson::Schema> schema;
  };
  std::map<std::string, std::unique_ptr<valijson::Schema>> schemas_;  // "POST /users"
  std::map<std::string, std::vector<Parameter>> parameters_;          // "GET /users"
};

}  // namespace lethe::api
