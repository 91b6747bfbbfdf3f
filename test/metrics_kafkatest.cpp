// The projector's Prometheus metrics, scraped by a real Prometheus server
// (Debian's `prometheus`), asked through its HTTP query API.
#define BOOST_TEST_MODULE metrics
#include <httplib.h>
#include <rapidjson/document.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>

#include "lethe/infra/pg.hpp"
#include "support/api.hpp"
#include "support/fixtures.hpp"
#include "support/scenario.hpp"

using namespace lethe;

namespace {

int random_port() {
  return test::unused_port();
}

std::string get(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(2);
  client.set_read_timeout(5);
  const auto r = client.Get(path);
  return r && r->status == 200 ? r->body : std::string();
}

// A Prometheus server scraping one target every second, its data in a
// directory of its own, removed afterwards.
class Prometheus {
 public:
  explicit Prometheus(int target_port)
      : dir_(std::filesystem::temp_directory_path() / ("lethe-prometheus-" + test::random_suffix())) {
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "prometheus.yml") << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                                           << "scrape_configs:\n  - job_name: lethe\n    static_configs:\n"
                                           << "      - targets: ['127.0.0.1:" << target_port << "']\n";
    for (int attempt = 0; attempt < 5 && !process_; ++attempt) {
      port_ = random_port();
      auto p = std::make_unique<test::Process>(
          test::Program{"/usr/bin/prometheus"},
          std::vector<std::string>{"--config.file=" + (dir_ / "prometheus.yml").string(),
                                   "--storage.tsdb.path=" + (dir_ / "data").string(),
                                   "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"});
      if (test::eventually([&] { return !get(port_, "/-/ready").empty() || !p->running(); },
                           std::chrono::seconds(30)) &&
          p->running())
        process_ = std::move(p);
    }
    BOOST_REQUIRE_MESSAGE(process_, "Prometheus did not start (scripts/setup installs it)");
  }
  ~Prometheus() {
    process_.reset();
    std::filesystem::remove_all(dir_);
  }

  // The value of an instant query that yields one sample, or NaN.
  double query(const std::string& promql) const {
    constexpr double none = std::numeric_limits<double>::quiet_NaN();
    const auto body = get(port_, "/api/v1/query?query=" + httplib::detail::encode_query_param(promql));
    rapidjson::Document d;
    if (body.empty() || d.Parse(body.c_str()).HasParseError() || !d.HasMember("data")) return none;
    const auto& result = d["data"]["result"];
    if (!result.IsArray() || result.Size() != 1) return none;
    return std::stod(result[0]["value"][1].GetString());
  }

 private:
  std::filesystem::path dir_;
  int port_ = 0;
  std::unique_ptr<test::Process> process_;
};

}  // namespace

BOOST_AUTO_TEST_CASE(prometheus_sees_the_lag_rise_while_a_batch_is_held_and_return_to_zero) {
  test::TestSchema db;
  test::TestTopics topics;
  const auto env = test::lethe_env(db, topics);
  const int first = test::write_users(db, 20, 1, "a");
  test::relay_until_idle(db, topics);

  const int metrics_port = random_port();
  test::Process projector({"project", "users", "--metrics-address", "127.0.0.1:" + std::to_string(metrics_port)}, env);
  BOOST_REQUIRE(test::eventually([&] { return test::projected_versions(db) == test::expected_versions(db); },
                                 std::chrono::seconds(60)));
  const Prometheus prometheus(metrics_port);
  const std::string users = "{projection=\"users\"}";
  BOOST_REQUIRE(test::eventually(
      [&] {
        return prometheus.query("sum(lethe_projection_events_total{projection=\"users\",outcome=\"applied\"})") ==
               first;
      },
      std::chrono::seconds(30)));
  BOOST_TEST(prometheus.query("lethe_projection_state{projection=\"users\",state=\"running\"}") == 1.0);
  BOOST_TEST(prometheus.query("sum(lethe_projection_lag_events" + users + ")") == 0.0);

  // PostgreSQL holds the next batch: the projector takes it, reads its
  // rows and waits to write them. (EXCLUSIVE, not ACCESS EXCLUSIVE: that
  // one would give the holder a transaction id, and the relay waits for
  // every open transaction id before it publishes.)
  auto holder = infra::connect(db.conninfo(), "lethe-test");
  pqxx::work hold(*holder);
  hold.exec("LOCK TABLE users IN EXCLUSIVE MODE");
  const int second = test::write_users(db, 200, 0, "b");
  test::relay_until_idle(db, topics);
  // The lag is taken from the end offsets librdkafka last fetched: when the
  // batch was taken before the relay had published all of them, it reads
  // fewer than were written, and stays there while the batch is held.
  BOOST_TEST(test::eventually(
      [&] {
        const auto lag = prometheus.query("sum(lethe_projection_lag_events" + users + ")");
        return lag > 0 && lag <= second;
      },
      std::chrono::seconds(30)));
  BOOST_TEST(test::eventually([&] { return prometheus.query("max(lethe_projection_lag_seconds" + users + ")") > 0; },
                              std::chrono::seconds(30)));

  hold.abort();
  BOOST_TEST(test::eventually(
      [&] {
        return prometheus.query("sum(lethe_projection_lag_events" + users + ")") == 0.0 &&
               prometheus.query("max(lethe_projection_lag_seconds" + users + ")") == 0.0;
      },
      std::chrono::seconds(30)));
  BOOST_TEST(test::eventually(
      [&] {
        return prometheus.query("sum(lethe_projection_events_total{projection=\"users\",outcome=\"applied\"})") ==
               first + second;
      },
      std::chrono::seconds(30)));
  BOOST_TEST(prometheus.query("sum(lethe_projection_events_by_type_total{projection=\"users\",type=\"user."
                              "registered\"})") == 220.0);
  BOOST_TEST(prometheus.query("sum(lethe_projection_batch_seconds_count" + users + ")") > 0);
  BOOST_TEST(test::projected_versions(db) == test::expected_versions(db), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(prometheus_sees_the_outbox_wait_behind_an_open_transaction_and_drain) {
  test::TestSchema db;
  test::TestTopics topics;
  const int metrics_port = random_port();
  test::Process relay({"relay", "--metrics-address", "127.0.0.1:" + std::to_string(metrics_port)},
                      test::lethe_env(db, topics));
  const Prometheus prometheus(metrics_port);
  const int first = test::write_users(db, 10, 0, "a");
  BOOST_REQUIRE(test::eventually([&] { return prometheus.query("lethe_relay_events_published_total") == first; },
                                 std::chrono::seconds(30)));
  BOOST_TEST(prometheus.query("lethe_relay_outbox_pending") == 0.0);

  // A transaction with an id, open: every event committed after it began
  // waits behind it, so that none is published out of order.
  auto holder = infra::connect(db.conninfo(), "lethe-test");
  pqxx::work hold(*holder);
  hold.exec("SELECT pg_current_xact_id()");
  const int second = test::write_users(db, 25, 0, "b");
  BOOST_TEST(test::eventually([&] { return prometheus.query("lethe_relay_outbox_pending") == second; },
                              std::chrono::seconds(30)));
  BOOST_TEST(test::eventually([&] { return prometheus.query("lethe_relay_outbox_oldest_seconds") > 1; },
                              std::chrono::seconds(30)));
  BOOST_TEST(prometheus.query("lethe_relay_events_published_total") == first);

  hold.abort();
  BOOST_TEST(test::eventually(
      [&] {
        return prometheus.query("lethe_relay_outbox_pending") == 0.0 &&
               prometheus.query("lethe_relay_outbox_oldest_seconds") == 0.0 &&
               prometheus.query("lethe_relay_events_published_total") == first + second;
      },
      std::chrono::seconds(30)));
  BOOST_TEST(prometheus.query("lethe_relay_batch_seconds_count") > 0);
}

BOOST_AUTO_TEST_CASE(prometheus_sees_requests_by_route_and_status_and_the_open_erasure_requests) {
  test::TestSchema db;
  const test::SchemaClock clock(db);
  test::TestTopics topics;
  const int metrics_port = random_port();
  test::Api api(db, &topics, {"--metrics-address", "127.0.0.1:" + std::to_string(metrics_port)});
  test::Process relay{{"relay"}, test::lethe_env(db, topics)};
  test::Process projector{{"project", "erasure", "--batch-wait-ms", "5"}, test::lethe_env(db, topics)};
  const Prometheus prometheus(metrics_port);
  const auto metric = [&](const std::string& promql) { return prometheus.query(promql); };
  BOOST_TEST(test::eventually([&] { return metric("lethe_erasure_requests_open") == 0.0; }, std::chrono::seconds(30)));

  const auto vic = api.person("vic@example.com");
  for (int i = 0; i < 3; ++i) api.call("GET", "/no-such-route");
  const auto asked = test::must(api.call("POST", "/me/erasure", "", vic.token), 201, "ask");
  BOOST_TEST(test::eventually(
      [&] {
        return metric("sum(lethe_http_request_seconds_count{method=\"POST\",route=\"/me/erasure\",status=\"201\"})") ==
                   1.0 &&
               metric("sum(lethe_http_request_seconds_count{route=\"(no route)\",status=\"404\"})") == 3.0;
      },
      std::chrono::seconds(30)));
  // Counted from the read model every 10 s.
  BOOST_TEST(test::eventually([&] { return metric("lethe_erasure_requests_open") == 1.0; }, std::chrono::seconds(40)));
  BOOST_TEST(metric("lethe_erasure_requests_oldest_open_seconds") > 0);
  BOOST_TEST(metric("lethe_erasure_requests_overdue") == 0.0);

  // Confirmed, it waits for an admin; a month and a day later (on the
  // schema's clock) it is overdue.
  test::must(api.call("POST", "/me/erasure/confirm",
                      "{\"token\":\"" + asked.str("token") + "\",\"password\":\"a good password\"}", vic.token),
             200, "confirm");
  clock.advance(std::chrono::hours(24 * 32));
  BOOST_TEST(
      test::eventually([&] { return metric("lethe_erasure_requests_overdue") == 1.0; }, std::chrono::seconds(40)));
  BOOST_TEST(metric("lethe_erasure_requests_open") == 1.0);
  BOOST_TEST(metric("lethe_erasure_requests_oldest_open_seconds") >= 32 * 86400.0);

  test::must(api.call("POST", "/erasure-requests/" + asked.str("id") + "/cancel", "", api.owner_key()), 200, "cancel");
  BOOST_TEST(test::eventually(
      [&] {
        return metric("lethe_erasure_requests_open") == 0.0 &&
               metric("lethe_erasure_requests_oldest_open_seconds") == 0.0;
      },
      std::chrono::seconds(40)));
}
