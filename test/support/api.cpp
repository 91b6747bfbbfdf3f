#include "support/api.hpp"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <thread>

#include "lethe/projections/projection.hpp"

namespace lethe::test {

std::string json_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return {buf.GetString(), buf.GetSize()};
}

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

int unused_port() {
  static std::mt19937 rng(std::random_device{}());
  for (;;) {
    const int port = std::uniform_int_distribution<int>(10000, 32000)(rng);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) continue;
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(static_cast<std::uint16_t>(port));
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool free = ::bind(fd, reinterpret_cast<const sockaddr*>(&at), sizeof at) == 0;
    ::close(fd);
    if (free) return port;
  }
}

int connect_local(int port, int timeout_seconds, const std::string& source) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (!source.empty()) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    if (::inet_pton(AF_INET, source.c_str(), &from.sin_addr) != 1 ||
        ::bind(fd, reinterpret_cast<const sockaddr*>(&from), sizeof from) != 0) {
      ::close(fd);
      return -1;
    }
  }
  timeval tv{timeout_seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

Reply raw_http(int port, const std::string& head, const std::vector<std::string>& body_parts,
               const std::string& source) {
  Reply out;
  const int fd = connect_local(port, 30, source);
  if (fd < 0) return out;
  auto send_all = [&](const std::string& bytes) {
    for (std::size_t sent = 0; sent < bytes.size();) {
      const auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;  // the server may answer and close early
      sent += static_cast<std::size_t>(n);
    }
    return true;
  };
  if (send_all(head))
    for (const auto& part : body_parts)
      if (!send_all(part)) break;
  std::string answer;
  char buf[65536];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) answer.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  if (answer.rfind("HTTP/1.1 ", 0) != 0 || answer.size() < 12) return out;
  out.status = std::stoi(answer.substr(9, 3));
  const auto end = answer.find("\r\n\r\n");
  for (auto at = answer.find("\r\n"); at != std::string::npos && at < end;) {
    const auto next = answer.find("\r\n", at + 2);
    const auto line = answer.substr(at + 2, next - at - 2);
    if (const auto colon = line.find(':'); colon != std::string::npos)
      out.headers.emplace(line.substr(0, colon), line.substr(line.find_first_not_of(' ', colon + 1)));
    at = next;
  }
  if (end != std::string::npos) out.body = answer.substr(end + 4);
  out.json.Parse(out.body.c_str());
  if (out.json.HasParseError()) out.json.SetNull();
  return out;
}

std::vector<std::string> chunked(const std::string& body) {
  std::vector<std::string> parts;
  for (std::size_t at = 0; at < body.size(); at += 65536) {
    const auto piece = body.substr(at, 65536);
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
    parts.push_back(size + piece + "\r\n");
  }
  parts.push_back("0\r\n\r\n");
  return parts;
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
  for (int attempt = 0; attempt < 20; ++attempt) {
    port_ = unused_port();
    std::vector<std::string> args{"serve", "--port", std::to_string(port_)};
    if (std::find(args_.begin(), args_.end(), "--threads") == args_.end()) args.insert(args.end(), {"--threads", "24"});
    // Tests register and log in many people from one address within a
    // minute: the limits on anonymous requests are lifted unless a test
    // sets them (api_hostile_apitest does).
    if (std::find(args_.begin(), args_.end(), "--anonymous-per-address-per-minute") == args_.end())
      args.insert(args.end(),
                  {"--anonymous-per-address-per-minute", "100000000", "--anonymous-per-minute", "100000000"});
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

Reply exactly(Reply&& r, int status, const std::string& what, const std::string& field) {
  BOOST_TEST(r.status == status, what << ": " << r.status << " " << r.body);
  if (!field.empty()) BOOST_TEST(r.str("field") == field, what << ": " << r.body);
  return std::move(r);
}

Reply must(Reply&& r, int status, const std::string& what) {
  if (r.status != status)
    throw std::runtime_error(what + ": expected " + std::to_string(status) + ", got " + std::to_string(r.status) + " " +
                             r.body);
  return std::move(r);
}

Reply until_erasure_applied(const Api& api, const std::string& request_id, const std::string& token) {
  // Every projection of the stack must apply it, each in its own batch: on
  // a loaded machine that takes longer than one read model's write.
  return poll(
      api, "/erasure-requests/" + request_id, token,
      [](const Reply& r) {
        if (r.status != 200 || !r.json.IsObject() || !r.json.HasMember("receipts")) return false;
        const auto& receipts = r.json["receipts"];
        if (receipts.Empty()) return false;
        for (const auto& x : receipts.GetArray())
          if (x["applied_at"].IsNull()) return false;
        return true;
      },
      std::chrono::seconds(45));
}

Reply poll(const Api& api, const std::string& path, const std::string& token,
           const std::function<bool(const Reply&)>& done, std::chrono::seconds limit) {
  Reply r;
  eventually(
      [&] {
        r = api.call("GET", path, "", token);
        return done(r);
      },
      limit, std::chrono::milliseconds(20));
  return r;
}

Api::Person Api::person(const std::string& email, const std::string& role, const std::string& password) {
  const auto body = "{\"email\":\"" + email + "\",\"name\":\"Name of " + email + "\",\"role\":\"" + role +
                    "\",\"password\":\"" + password + "\"}";
  // A plain user registers themself (202, no id: it comes with the first
  // sign-in); the owner registers the other roles (201 with the id).
  const bool self = role == "user";
  const auto reg = call("POST", "/users", body, self ? "" : owner_key_);
  if (reg.status != (self ? 202 : 201)) throw std::runtime_error("register " + email + ": " + reg.body);
  const auto login = call("POST", "/sessions", "{\"email\":\"" + email + "\",\"password\":\"" + password + "\"}");
  if (login.status != 201) throw std::runtime_error("login " + email + ": " + login.body);
  if (!self && login.str("user_id") != reg.str("id")) throw std::runtime_error("login " + email + ": another account");
  return {login.str("user_id"), login.str("token"), email};
}

Served::Served() : Served(Options{}) {}

Served::Served(Options o)
    : options(std::move(o)),
      clock(db),
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
