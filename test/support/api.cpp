#include "support/api.hpp"

#include <httplib.h>
#include <signal.h>
#include <strings.h>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <thread>

#include "lethe/projections/projection.hpp"

namespace lethe::test {

std::string Reply::str(const char* member) const {
  if (!json.IsObject()) return "";
  const auto it = json.FindMember(member);
  return it != json.MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
}

std::int64_t Reply::num(const char* member) const {
  if (!json.IsObject()) return -1;
  const auto it = json.FindMember(member);
  return it != json.MemberEnd() && it->value.IsInt64() ? it->value.GetInt64() : -1;
}

std::string Reply::header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  return "";
}

Api::Api(const TestSchema& schema, const TestTopics* topics, std::vector<std::string> extra_args, bool bootstrap)
    : Api(schema, topics, std::move(extra_args), bootstrap, true) {}

Api::Api(const TestSchema& schema, const TestTopics* topics, std::vector<std::string> extra_args, bool bootstrap,
         bool start_now)
    : schema_(schema), topics_(topics), args_(std::move(extra_args)) {
  if (start_now) start();
  if (bootstrap) {
    const auto out = capture("(LETHE_PG='" + schema_.conninfo() + "' " + lethe_bin() +
                             " bootstrap --email owner@example.org --name 'Olga Owner' 2>/dev/null)");
    rapidjson::Document d;
    d.Parse(out.output.c_str());
    if (out.rc != 0 || !d.IsObject()) throw std::runtime_error("lethe bootstrap failed: " + out.output);
    owner_key_ = d["api_key"].GetString();
    owner_id_ = d["user_id"].GetString();
  }
}

void Api::start() {
  static std::mt19937 rng(std::random_device{}());
  for (int attempt = 0; attempt < 20; ++attempt) {
    port_ = std::uniform_int_distribution<int>(20000, 45000)(rng);
    std::vector<std::string> args{"serve", "--port", std::to_string(port_)};
    if (std::find(args_.begin(), args_.end(), "--threads") == args_.end()) args.insert(args.end(), {"--threads", "24"});
    args.insert(args.end(), args_.begin(), args_.end());
    std::map<std::string, std::string> env{{"LETHE_PG", schema_.conninfo()}};
    if (topics_) env = lethe_env(schema_, *topics_);
    server_ = std::make_unique<Process>(args, env);
    const bool up = eventually([&] { return !server_->running() || call("GET", "/health").status == 200; },
                               std::chrono::seconds(20), std::chrono::milliseconds(20));
    if (up && server_->running()) return;
    server_.reset();  // the port was taken: another one
  }
  throw std::runtime_error("lethe serve did not start");
}

Api::~Api() {
  if (server_ && server_->running()) {
    server_->signal(SIGTERM);
    server_->wait(std::chrono::seconds(20));
  }
}

std::unique_ptr<Api> Api::twin() const {
  auto other = std::unique_ptr<Api>(new Api(schema_, topics_, args_, false, true));
  other->owner_key_ = owner_key_;
  other->owner_id_ = owner_id_;
  return other;
}

Reply Api::call(const std::string& method, const std::string& path, const std::string& body, const std::string& token,
                const std::map<std::string, std::string>& headers) const {
  httplib::Client client("127.0.0.1", port_);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(30, 0);
  httplib::Headers h;
  if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
  for (const auto& [k, v] : headers) h.emplace(k, v);
  httplib::Result r{nullptr, httplib::Error::Unknown};
  if (method == "GET")
    r = client.Get(path, h);
  else if (method == "POST")
    r = client.Post(path, h, body, "application/json");
  else if (method == "PUT")
    r = client.Put(path, h, body, "application/json");
  else if (method == "PATCH")
    r = client.Patch(path, h, body, "application/json");
  else if (method == "DELETE")
    r = client.Delete(path, h, body, "application/json");
  else
    throw std::invalid_argument("method " + method);
  Reply out;
  if (!r) return out;
  out.status = r->status;
  out.body = r->body;
  for (const auto& [k, v] : r->headers) out.headers.emplace(k, v);
  out.json.Parse(out.body.c_str());
  if (out.json.HasParseError()) out.json.SetNull();
  return out;
}

std::string json_object(std::initializer_list<std::pair<std::string, std::string>> fields) {
  std::string out = "{";
  for (const auto& [k, v] : fields) {
    if (out.size() > 1) out += ',';
    const bool number = !v.empty() && v.find_first_not_of("0123456789") == std::string::npos;
    const bool raw = number || v == "true" || v.starts_with('{') || v.starts_with('[');
    out += "\"" + k + "\":" + (raw ? v : "\"" + v + "\"");
  }
  return out + "}";
}

Reply must(Reply&& r, int status, const std::string& what) {
  if (r.status / 100 != status / 100)
    throw std::runtime_error(what + ": expected " + std::to_string(status) + ", got " + std::to_string(r.status) + " " +
                             r.body);
  return std::move(r);
}

Reply until_erasure_applied(const Api& api, const std::string& request_id, const std::string& token) {
  return poll(api, "/erasure-requests/" + request_id, token, [](const Reply& r) {
    if (r.status != 200 || !r.json.IsObject() || !r.json.HasMember("receipts")) return false;
    const auto& receipts = r.json["receipts"];
    if (receipts.Empty()) return false;
    for (const auto& x : receipts.GetArray())
      if (x["applied_at"].IsNull()) return false;
    return true;
  });
}

Reply poll(const Api& api, const std::string& path, const std::string& token,
           const std::function<bool(const Reply&)>& done) {
  Reply r;
  eventually(
      [&] {
        r = api.call("GET", path, "", token);
        return done(r);
      },
      std::chrono::seconds(15), std::chrono::milliseconds(20));
  return r;
}

Api::Person Api::person(const std::string& email, const std::string& role, const std::string& password) {
  const auto body = "{\"email\":\"" + email + "\",\"name\":\"Name of " + email + "\",\"role\":\"" + role +
                    "\",\"password\":\"" + password + "\"}";
  const auto reg = call("POST", "/users", body, role == "user" ? "" : owner_key_);
  if (reg.status != 201) throw std::runtime_error("register " + email + ": " + reg.body);
  const auto login = call("POST", "/sessions", "{\"email\":\"" + email + "\",\"password\":\"" + password + "\"}");
  if (login.status != 201) throw std::runtime_error("login " + email + ": " + login.body);
  return {reg.str("id"), login.str("token"), email};
}

Served::Served() : Served(Options{}) {}

Served::Served(Options o)
    : options(std::move(o)),
      topics(3, options.topic_config),
      api(db, &topics, options.serve_args),
      relay({"relay"}, lethe_env(db, topics)) {
  start_projector();
}

std::map<std::string, std::string> Served::env() const {
  return lethe_env(db, topics);
}

void Served::start_projector() {
  std::vector<std::string> args{"project"};
  args.insert(args.end(), options.project_args.begin(), options.project_args.end());
  projector.emplace(std::move(args), env());
}

void Served::stop_projector() {
  if (!projector) return;
  projector->signal(SIGTERM);
  const int status = projector->wait();
  projector.reset();
  if (status != 0) throw std::runtime_error("lethe project exited " + std::to_string(status) + " on SIGTERM");
}

std::vector<std::string> all_projections() {
  auto names = projections::projection_names();
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace lethe::test
