#include "api_bench.hpp"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "lethe/infra/access.hpp"
#include "lethe/infra/ids.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/producers/event_store.hpp"
#include "lethe/projections/projection.hpp"
#include "support/api.hpp"
#include "support/events.hpp"
#include "support/fixtures.hpp"
#include "support/restart_load.hpp"
#include "support/slow_clients.hpp"
#include "user_service.hpp"

namespace lethe::bench {

namespace {

namespace u = domain::users;

// Accounts registered through the command service (the write side's
// tables included), split among the workers.
std::vector<std::string> register_users(const test::TestSchema& db, int n) {
  infra::PasswordPool passwords;
  producers::EventStore store(db.conninfo());
  producers::UserService svc(store, passwords);
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    const auto id = infra::new_uuid();
    auto r = svc.register_user({id, "b" + id.substr(0, 8) + "@example.org", "Bench " + std::to_string(i), "user", ""},
                               "", producers::CommandContext{"system:bench"});
    if (!r) throw std::runtime_error("register: " + r.error().message);
    ids.push_back(id);
  }
  return ids;
}

// Runs `workers` threads for `seconds`, each calling step(worker, k) with
// k = 0, 1, 2, ...; returns the calls that succeeded and the time taken.
template <class Step>
std::pair<std::int64_t, double> for_a_while(int workers, double seconds, Step&& step,
                                            std::atomic<std::int64_t>* errors = nullptr) {
  std::atomic<std::int64_t> done{0};
  std::atomic<bool> stop{false};
  std::barrier start(workers + 1);
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w)
    threads.emplace_back([&, w] {
      start.arrive_and_wait();
      for (std::int64_t k = 0; !stop.load(std::memory_order_relaxed); ++k) {
        if (step(w, k))
          done.fetch_add(1, std::memory_order_relaxed);
        else if (errors)
          errors->fetch_add(1);
      }
    });
  start.arrive_and_wait();
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  return {done.load(), seconds_since(t0)};
}

// The command mix: a rename, then a role change, alternating per user.
std::pair<std::string, std::string> http_command(const std::string& id, std::int64_t k) {
  if (k % 2 == 0) return {"/users/" + id, "{\"name\":\"Bench name " + std::to_string(k) + "\"}"};
  return {"/users/" + id + "/role", (k / 2) % 2 == 0 ? R"({"role":"staff"})" : R"({"role":"user"})"};
}
u::Command direct_command(const std::string& id, std::int64_t k) {
  if (k % 2 == 0) return u::ChangeProfile{id, "Direct name " + std::to_string(k), std::nullopt};
  return u::ChangeRole{id, (k / 2) % 2 == 0 ? "staff" : "user"};
}

// POSTs and returns the answer's "id"; throws unless the answer is a success.
std::string post_for_id(httplib::Client& client, const httplib::Headers& auth, const std::string& path,
                        const std::string& body) {
  auto r = client.Post(path, auth, body, "application/json");
  if (!r || r->status / 100 != 2)
    throw std::runtime_error("POST " + path + ": " + (r ? std::to_string(r->status) + " " + r->body : "no answer"));
  rapidjson::Document d;
  d.Parse(r->body.c_str());
  return d["id"].GetString();
}

httplib::Headers bearer(const std::string& key) {
  return {{"Authorization", "Bearer " + key}};
}

struct PacedRun {
  std::int64_t sent = 0, unseen = 0;
  std::int64_t failed = 0;  // no answer, or not 200: counted, never silently dropped
  double seconds = 0;
  std::vector<double> latencies;  // ms, of the commands seen
};

// Renames by the owner's key at `rate` commands/s from 8 threads on a fixed
// schedule, for `seconds`, walking `ids` round robin. Each answer starts a
// clock that stops when the users read model holds the version it returned
// (polled every millisecond); what is not visible 10 s after the last
// answer counts as unseen.
PacedRun paced_renames(const test::TestSchema& db, const test::Api& api, const std::vector<std::string>& ids, int rate,
                       double seconds) {
  struct Pending {
    std::string id;
    std::int64_t version;
    Clock::time_point answered;
  };
  PacedRun out;
  std::mutex mutex;
  std::vector<Pending> pending;
  std::atomic<bool> done{false};
  std::thread checker([&] {
    auto conn = infra::connect(db.conninfo());
    while (true) {
      std::vector<Pending> batch;
      {
        std::lock_guard lock(mutex);
        batch = pending;
      }
      if (batch.empty() && done.load()) break;
      if (!batch.empty()) {
        std::vector<std::string> wanted;
        for (const auto& p : batch) wanted.push_back(p.id);
        // One prepared statement per poll, no transaction around it: the
        // poller takes as little as it can of the two cores it measures.
        pqxx::nontransaction tx(*conn);
        std::map<std::string, std::int64_t> seen;
        for (const auto& r : infra::exec_hot(tx, "SELECT user_id, version FROM users WHERE user_id = ANY($1::text[])",
                                             infra::pg_text_array(wanted)))
          seen[r[0].c_str()] = r[1].as<std::int64_t>();
        const auto now = Clock::now();
        std::lock_guard lock(mutex);
        std::erase_if(pending, [&](const Pending& p) {
          if (seen[p.id] < p.version) return false;
          out.latencies.push_back(std::chrono::duration<double, std::milli>(now - p.answered).count());
          return true;
        });
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  constexpr int kPacers = 8;
  const auto interval = std::chrono::duration<double>(static_cast<double>(kPacers) / rate);
  const auto total = static_cast<std::int64_t>(rate * seconds);
  std::atomic<std::int64_t> sent{0}, failed{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> pacers;
  for (int w = 0; w < kPacers; ++w)
    pacers.emplace_back([&, w] {
      httplib::Client client("127.0.0.1", api.port());
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      const auto auth = bearer(api.owner_key());
      const auto start =
          t0 + std::chrono::duration_cast<Clock::duration>(interval * (static_cast<double>(w) / kPacers));
      for (std::int64_t k = 0; k * kPacers + w < total; ++k) {
        std::this_thread::sleep_until(start +
                                      std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(k)));
        const auto& id = ids[static_cast<std::size_t>(k * kPacers + w) % ids.size()];
        auto r =
            client.Patch("/users/" + id, auth, "{\"name\":\"Paced " + std::to_string(k) + "\"}", "application/json");
        if (!r || r->status != 200) {
          failed.fetch_add(1);
          continue;
        }
        rapidjson::Document d;
        d.Parse(r->body.c_str());
        std::lock_guard lock(mutex);
        pending.push_back({id, d["stream_version"].GetInt64(), Clock::now()});
        sent.fetch_add(1);
      }
    });
  for (auto& t : pacers) t.join();
  out.seconds = seconds_since(t0);
  test::eventually(
      [&] {
        std::lock_guard lock(mutex);
        return pending.empty();
      },
      std::chrono::seconds(10), std::chrono::milliseconds(10));
  {
    std::lock_guard lock(mutex);
    out.unseen = static_cast<std::int64_t>(pending.size());
    pending.clear();
  }
  done = true;
  checker.join();
  out.sent = sent.load();
  out.failed = failed.load();
  return out;
}

// 6. Erasure beside traffic: `lethe serve`, the relay and every projection
// (`lethe project`, as scripts/serve runs it) on one schema. `erasures`
// people each get an API key, a billing profile, a ticket with a comment, a
// cart with a line left open, a post, a file and a charge. Then, while the
// owner renames other users at the paced rate, the owner erases one person
// every `erasure_interval_ms`. Each erasure's answer starts two clocks: one
// stops when every projection's receipt (erasure.applied on the request's
// stream) is in the event store, the other when the erasure read model
// (GET /erasure-requests/{id}) shows every receipt applied. Both are polled
// every 2 ms from here.
void erasure_beside_traffic(const ApiBenchOptions& o, ApiBenchResult& out) {
  test::TestSchema db;
  test::TestTopics topics;
  test::Api api(db, &topics, {"--threads", "16", "--erasures-per-hour", "100000"});
  const auto ids = register_users(db, 400);
  const auto people = register_users(db, o.erasures);
  test::Process relay({"--log-level", "warn", "relay"}, test::lethe_env(db, topics));
  test::Process projector({"--log-level", "warn", "project", "--batch-wait-ms", "5"}, test::lethe_env(db, topics));
  const int expected = static_cast<int>(projections::projection_names().size());
  out.erasure_projections = expected;

  {
    producers::EventStore store(db.conninfo());
    infra::PasswordPool passwords;
    producers::UserService users(store, passwords);
    const auto owner = bearer(api.owner_key());
    httplib::Client client("127.0.0.1", api.port());
    client.set_keep_alive(true);
    const auto category = post_for_id(client, owner, "/categories", R"({"name":"Erasure","slug":"erasure"})");
    const auto product =
        post_for_id(client, owner, "/products",
                    R"({"name":"Tee","price":1500,"currency":"EUR","category_id":")" + category + "\"}");
    post_for_id(client, owner, "/products/" + product + "/inventory", R"({"delta":1000000,"reason":"bench"})");
    for (const auto& id : people) {
      const auto key = users.issue_api_key(id, "bench", "", producers::CommandContext{"system:bench"});
      if (!key) throw std::runtime_error("api key: " + key.error().message);
      const auto auth = bearer(key.value().key);
      auto profile =
          client.Put("/users/" + id + "/billing-profile", auth,
                     R"({"holder_name":"Erin Example","address":"1 Bench Lane","tax_id":"TX1"})", "application/json");
      if (!profile || profile->status != 200)
        throw std::runtime_error("billing profile: " + (profile ? profile->body : std::string("no answer")));
      const auto ticket = post_for_id(client, auth, "/tickets", R"({"subject":"Bench","body":"Help me"})");
      post_for_id(client, auth, "/tickets/" + ticket + "/comments", R"({"body":"Any news?"})");
      const auto cart = post_for_id(client, auth, "/carts", "");
      post_for_id(client, auth, "/carts/" + cart + "/lines", "{\"product_id\":\"" + product + "\",\"quantity\":2}");
      post_for_id(client, auth, "/posts", R"({"title":"Hi","body":"my post"})");
      post_for_id(client, auth, "/files",
                  R"({"name":"cv.pdf","size":1234,"content_type":"application/pdf","checksum":"sha256:)" +
                      std::string(64, 'a') + "\"}");
      post_for_id(client, owner, "/transactions",
                  "{\"user_id\":\"" + id + R"(","amount":3000,"currency":"EUR","description":"Bench charge"})");
    }
  }
  // Every projection holds all of it (the event log: every event) before the clock starts.
  const auto n = std::to_string(people.size());
  if (!test::eventually(
          [&] {
            return db.scalar("SELECT count(*) FROM users") == std::to_string(ids.size() + people.size() + 1) &&
                   db.scalar("SELECT count(*) FROM ticket_comments") == n &&
                   db.scalar("SELECT count(*) FROM shop_cart_lines") == n &&
                   db.scalar("SELECT count(*) FROM content_posts") == n &&
                   db.scalar("SELECT count(*) FROM files") == n &&
                   db.scalar("SELECT count(*) FROM billing_transactions") == n &&
                   db.scalar("SELECT count(*) FROM billing_profiles") == n &&
                   db.scalar("SELECT count(*) FROM event_log") == db.scalar("SELECT count(*) FROM events");
          },
          std::chrono::seconds(60)))
    throw std::runtime_error("the projections did not catch up with the erasure bench's setup");

  struct Erasing {
    std::string request_id;
    Clock::time_point answered;
    bool stored = false, shown = false;
    int receipts_stored = 0, receipts_shown = 0;  // last seen
  };
  std::mutex mutex;
  std::vector<Erasing> erasing;
  std::vector<double> answer_ms, stored_ms, shown_ms;
  std::atomic<bool> done{false};
  std::thread checker([&] {
    auto conn = infra::connect(db.conninfo());
    while (true) {
      std::vector<std::string> wanted;
      {
        std::lock_guard lock(mutex);
        for (const auto& e : erasing) wanted.push_back(e.request_id);
      }
      if (wanted.empty() && done.load()) break;
      if (!wanted.empty()) {
        std::map<std::string, std::pair<int, int>> counts;  // request -> (receipts stored, receipts shown)
        {
          pqxx::nontransaction tx(*conn);  // one statement per poll, as the paced row's poller
          for (const auto& r : infra::exec_hot(
                   tx,
                   "SELECT r, (SELECT count(*) FROM events WHERE stream_id = 'erasure-' || r"
                   " AND type = 'erasure.applied'), (SELECT count(*) FROM erasure_receipts WHERE request_id = r)"
                   " FROM unnest($1::text[]) AS r",
                   infra::pg_text_array(wanted)))
            counts[r[0].c_str()] = {r[1].as<int>(), r[2].as<int>()};
        }
        const auto now = Clock::now();
        std::lock_guard lock(mutex);
        for (auto& e : erasing) {
          const auto [stored, shown] = counts[e.request_id];
          e.receipts_stored = stored;
          e.receipts_shown = shown;
          const double ms = std::chrono::duration<double, std::milli>(now - e.answered).count();
          if (!e.stored && stored >= expected) {
            e.stored = true;
            stored_ms.push_back(ms);
          }
          if (!e.shown && shown >= expected) {
            e.shown = true;
            shown_ms.push_back(ms);
          }
        }
        std::erase_if(erasing, [](const Erasing& e) { return e.stored && e.shown; });
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::atomic<std::int64_t> errors{0};
  const auto t0 = Clock::now();
  std::thread eraser([&] {
    httplib::Client client("127.0.0.1", api.port());
    client.set_keep_alive(true);
    client.set_tcp_nodelay(true);
    client.set_read_timeout(30, 0);
    const auto auth = bearer(api.owner_key());
    for (std::size_t i = 0; i < people.size(); ++i) {
      std::this_thread::sleep_until(t0 + std::chrono::milliseconds(o.erasure_interval_ms) * static_cast<int>(i));
      const auto sent = Clock::now();
      auto r = client.Post("/users/" + people[i] + "/erasure", auth, "", "application/json");
      const auto answered = Clock::now();
      if (!r || r->status != 202) {
        ++errors;
        continue;
      }
      rapidjson::Document d;
      d.Parse(r->body.c_str());
      std::lock_guard lock(mutex);
      answer_ms.push_back(std::chrono::duration<double, std::milli>(answered - sent).count());
      erasing.push_back({d["id"].GetString(), answered});
    }
  });
  const auto run = paced_renames(db, api, ids, o.paced_rate, o.paced_seconds);
  eraser.join();
  out.erasure_s = seconds_since(t0);
  test::eventually(
      [&] {
        std::lock_guard lock(mutex);
        return erasing.empty();
      },
      std::chrono::seconds(10), std::chrono::milliseconds(10));
  {
    std::lock_guard lock(mutex);
    for (const auto& e : erasing) {
      out.erasures_unfinished += !e.stored;
      out.erasures_unseen += !e.shown;
      std::fprintf(stderr, "bench: erasure %s (schema %s): %d receipts stored, %d shown by the read model, of %d\n",
                   e.request_id.c_str(), db.name().c_str(), e.receipts_stored, e.receipts_shown, expected);
    }
    erasing.clear();
  }
  done = true;
  checker.join();
  // Each stream's events must reach Kafka in version order (the event log
  // keeps every delivery with its place).
  test::eventually(
      [&] { return db.scalar("SELECT count(*) FROM event_log") == db.scalar("SELECT count(*) FROM events"); },
      std::chrono::seconds(10));
  out.erasure_out_of_order = std::stoll(db.scalar(
      "SELECT count(*) FROM (SELECT stream_version < lag(stream_version) OVER (PARTITION BY stream_id ORDER BY"
      " partition, kafka_offset) AS back FROM event_log WHERE topic LIKE '%erasure') x WHERE back"));
  // None expected: a dead letter here is an event some projection could not apply.
  for (const auto& m : test::read_topic(topics.topic("dead-letters"))) {
    ++out.erasure_dead_letters;
    const auto reason = m.headers.find("reason");
    const auto projection = m.headers.find("projection");
    std::fprintf(stderr, "bench: dead letter of %s: %s\n",
                 projection == m.headers.end() ? "?" : projection->second.c_str(),
                 reason == m.headers.end() ? "?" : reason->second.c_str());
  }
  out.erased = static_cast<std::int64_t>(answer_ms.size());
  out.erase_errors = errors.load();
  out.erase_answer = latency_of(answer_ms);
  out.erasure = latency_of(stored_ms);
  out.erasure_view = latency_of(shown_ms);
  out.beside_paced = run.sent;
  out.beside_s = run.seconds;
  out.beside_unseen = run.unseen;
  out.beside_failed = run.failed;
  out.beside = latency_of(run.latencies);
}

}  // namespace

// Latency of /health and of a signed-in read, alone and beside slow clients.
void beside_slow_clients(ApiBenchResult& out) {
  test::TestSchema db;
  test::Api api(db, nullptr, {"--threads", "4"});
  const auto vera = api.person("slow-bench@example.org");
  const auto health = [&] { return api.call("GET", "/health").status == 200; };
  const auto read = [&] { return api.call("GET", "/tickets", "", vera.token).status == 200; };
  constexpr int kCalls = 200;
  int failed = 0;
  out.health_p99_alone = test::p99_ms_of(kCalls, health, &failed);
  out.slow_failures += failed;
  out.read_p99_alone = test::p99_ms_of(kCalls, read, &failed);
  out.slow_failures += failed;
  out.slow_clients = 1000;
  test::SlowClients slow(api.port(), out.slow_clients, std::chrono::milliseconds(500));
  out.health_p99_slow = test::p99_ms_of(kCalls, health, &failed);
  out.slow_failures += failed;
  out.read_p99_slow = test::p99_ms_of(kCalls, read, &failed);
  out.slow_failures += failed;
}

// Requests served and refused while PostgreSQL restarts under them.
void through_postgres_restart(ApiBenchResult& out) {
  test::TestSchema db;
  test::Api api(db, nullptr, {"--threads", "8"});
  const auto vera = api.person("restart-bench@example.org");
  const auto run = test::load_through_postgres_restart(api, vera.token);
  out.restart_before_ok = run.before_ok;
  out.restart_before_refused = run.before_failed;
  out.restart_after_ok = run.after_ok;
  out.restart_after_failed = static_cast<int>(run.after_failed.size());
  out.restart_outage_s = run.outage_seconds;
}

Latency list_latency(const test::TestSchema& db, int requests) {
  test::Api api(db, nullptr, {"--threads", "4", "--log-level", "warn"});
  httplib::Client client("127.0.0.1", api.port());
  client.set_keep_alive(true);
  const auto auth = bearer(api.owner_key());
  std::vector<double> ms;
  for (int i = 0; i < requests; ++i) {
    const auto t = Clock::now();
    auto r = client.Get("/users?limit=50", auth);
    if (!r || r->status != 200)
      throw std::runtime_error("GET /users: " + (r ? std::to_string(r->status) + " " + r->body : "no answer"));
    ms.push_back(seconds_since(t) * 1000);
  }
  return latency_of(ms);
}

ApiBenchResult api_bench(const ApiBenchOptions& o) {
  ApiBenchResult out;
  beside_slow_clients(out);
  if (o.postgres_restart) through_postgres_restart(out);
  const int workers = o.connections;
  // Each worker has users of its own, and walks them round robin: commands
  // never race for one stream (that would measure retries, not throughput).
  auto mine = [&](const std::vector<std::string>& ids, int w, std::int64_t k) -> const std::string& {
    const auto per = ids.size() / static_cast<std::size_t>(workers);
    return ids[static_cast<std::size_t>(w) * per + static_cast<std::size_t>(k) % per];
  };
  {
    test::TestSchema db;
    test::Api api(db, nullptr, {"--threads", std::to_string(workers * 2)});
    const auto ids = register_users(db, o.users);
    // 1. Through HTTP, keep-alive connections, authenticated by the owner's API key.
    std::vector<std::unique_ptr<httplib::Client>> clients;
    for (int w = 0; w < workers; ++w) {
      clients.push_back(std::make_unique<httplib::Client>("127.0.0.1", api.port()));
      clients.back()->set_keep_alive(true);
      clients.back()->set_tcp_nodelay(true);
      clients.back()->set_read_timeout(30, 0);
    }
    const httplib::Headers auth{{"Authorization", "Bearer " + api.owner_key()}};
    std::atomic<std::int64_t> errors{0};
    std::tie(out.http, out.http_s) = for_a_while(
        workers, o.seconds,
        [&](int w, std::int64_t k) {
          // Per user, k counts that user's commands: the mix alternates for each.
          const auto per = static_cast<std::int64_t>(ids.size()) / workers;
          const auto [path, body] = http_command(mine(ids, w, k), k / per);
          auto r = (k / per) % 2 == 0
                       ? clients[static_cast<std::size_t>(w)]->Patch(path, auth, body, "application/json")
                       : clients[static_cast<std::size_t>(w)]->Put(path, auth, body, "application/json");
          return r && r->status == 200;
        },
        &errors);
    out.http_errors = errors.load();

    // 2. The same commands through the same command path, in-process.
    std::vector<std::unique_ptr<producers::EventStore>> stores;
    std::vector<std::unique_ptr<producers::UserService>> services;
    infra::PasswordPool passwords;
    for (int w = 0; w < workers; ++w) {
      stores.push_back(std::make_unique<producers::EventStore>(db.conninfo()));
      services.push_back(std::make_unique<producers::UserService>(*stores.back(), passwords));
    }
    const auto owner = api.owner_id();
    std::tie(out.direct, out.direct_s) = for_a_while(workers, o.seconds, [&](int w, std::int64_t k) {
      const auto per = static_cast<std::int64_t>(ids.size()) / workers;
      return services[static_cast<std::size_t>(w)]
          ->handle(direct_command(mine(ids, w, k), k / per + 1), producers::CommandContext{owner})
          .ok();
    });

    // 3. The limit without HTTP and without deciding: appends of a ready
    // event at a known version.
    std::vector<std::map<std::string, std::int64_t>> versions(static_cast<std::size_t>(workers));
    {
      auto conn = infra::connect(db.conninfo());
      pqxx::read_transaction tx(*conn);
      for (const auto& r : tx.exec("SELECT stream_id, max(stream_version) FROM events GROUP BY stream_id"))
        for (auto& v : versions) v[r[0].c_str()] = r[1].as<std::int64_t>();
    }
    std::tie(out.store, out.store_s) = for_a_while(workers, o.seconds, [&](int w, std::int64_t k) {
      const auto& id = mine(ids, w, k);
      const auto stream = domain::stream_of("user", id);
      auto& version = versions[static_cast<std::size_t>(w)][stream];
      const std::vector<producers::NewEvent> ev{
          test::new_event(u::UserProfileChanged{id, "Store name " + std::to_string(k)})};
      stores[static_cast<std::size_t>(w)]->append(stream, version, ev);
      ++version;
      return true;
    });
  }

  // 1b. Renames over HTTP, each for a person drawn at random among many: the
  // caches and the rows a command touches are cold, and two workers
  // sometimes meet on one stream (decided again after a conflict).
  if (o.random_users > 0) {
    test::TestSchema db;
    test::Api api(db, nullptr, {"--threads", std::to_string(workers * 2)});
    const auto ids = register_users(db, o.random_users);
    std::vector<std::unique_ptr<httplib::Client>> clients;
    std::vector<std::mt19937_64> rngs;
    for (int w = 0; w < workers; ++w) {
      clients.push_back(std::make_unique<httplib::Client>("127.0.0.1", api.port()));
      clients.back()->set_keep_alive(true);
      clients.back()->set_tcp_nodelay(true);
      clients.back()->set_read_timeout(30, 0);
      rngs.emplace_back(static_cast<std::uint64_t>(w) + 1);
    }
    const httplib::Headers auth{{"Authorization", "Bearer " + api.owner_key()}};
    std::atomic<std::int64_t> errors{0};
    std::tie(out.http_random, out.http_random_s) = for_a_while(
        workers, o.seconds,
        [&](int w, std::int64_t k) {
          auto& rng = rngs[static_cast<std::size_t>(w)];
          // Renames only, each to a name of its own: a role change drawn at
          // random may ask for the role the person has, which is refused.
          const auto& id = ids[rng() % ids.size()];
          auto r = clients[static_cast<std::size_t>(w)]->Patch(
              "/users/" + id, auth, "{\"name\":\"Random name " + std::to_string(w) + "-" + std::to_string(k) + "\"}",
              "application/json");
          return r && r->status == 200;
        },
        &errors);
    out.http_random_errors = errors.load();
  }

  // 4. The domains' mixed workload through HTTP: per worker a customer with
  // an API key and a product of its own, walking the cycle open a ticket,
  // comment on it, open a cart, add a line, convert it, record a charge (by
  // the owner's key: the billing right). Commands never race for a stream.
  {
    test::TestSchema db;
    test::Api api(db, nullptr, {"--threads", std::to_string(workers * 2)});
    const auto customers = register_users(db, workers);
    producers::EventStore store(db.conninfo());
    infra::PasswordPool passwords;
    producers::UserService users(store, passwords);
    const httplib::Headers owner{{"Authorization", "Bearer " + api.owner_key()}};
    httplib::Client setup("127.0.0.1", api.port());
    const auto category = post_for_id(setup, owner, "/categories", R"({"name":"Bench","slug":"bench"})");
    struct Worker {
      httplib::Headers auth;
      std::string customer, product, ticket, cart;
      std::unique_ptr<httplib::Client> client;
    };
    std::vector<Worker> ws(static_cast<std::size_t>(workers));
    for (int w = 0; w < workers; ++w) {
      auto& x = ws[static_cast<std::size_t>(w)];
      const auto key = users.issue_api_key(customers[static_cast<std::size_t>(w)], "bench", "",
                                           producers::CommandContext{"system:bench"});
      if (!key) throw std::runtime_error("api key: " + key.error().message);
      x.auth = {{"Authorization", "Bearer " + key.value().key}};
      x.customer = customers[static_cast<std::size_t>(w)];
      x.product = post_for_id(setup, owner, "/products",
                              R"({"name":"Tee","price":1500,"currency":"EUR","category_id":")" + category + "\"}");
      post_for_id(setup, owner, "/products/" + x.product + "/inventory", R"({"delta":100000000,"reason":"bench"})");
      x.client = std::make_unique<httplib::Client>("127.0.0.1", api.port());
      x.client->set_keep_alive(true);
      x.client->set_tcp_nodelay(true);
      x.client->set_read_timeout(30, 0);
    }
    std::atomic<std::int64_t> errors{0};
    std::tie(out.mixed, out.mixed_s) = for_a_while(
        workers, o.seconds,
        [&](int w, std::int64_t k) {
          auto& x = ws[static_cast<std::size_t>(w)];
          auto id_of = [](const httplib::Result& r, int want, std::string* id) {
            if (!r || r->status != want) return false;
            if (id) {
              rapidjson::Document d;
              d.Parse(r->body.c_str());
              *id = d["id"].GetString();
            }
            return true;
          };
          switch (k % 6) {
            case 0:
              return id_of(
                  x.client->Post("/tickets", x.auth, R"({"subject":"Bench","body":"Help me"})", "application/json"),
                  201, &x.ticket);
            case 1:
              return id_of(x.client->Post("/tickets/" + x.ticket + "/comments", x.auth, R"({"body":"Any news?"})",
                                          "application/json"),
                           201, nullptr);
            case 2:
              return id_of(x.client->Post("/carts", x.auth, "", "application/json"), 201, &x.cart);
            case 3:
              return id_of(x.client->Post("/carts/" + x.cart + "/lines", x.auth,
                                          "{\"product_id\":\"" + x.product + "\",\"quantity\":2}", "application/json"),
                           201, nullptr);
            case 4:
              return id_of(x.client->Post("/carts/" + x.cart + "/convert", x.auth, "", "application/json"), 201,
                           nullptr);
            default:
              return id_of(x.client->Post("/transactions", owner,
                                          "{\"user_id\":\"" + x.customer +
                                              R"(","amount":3000,"currency":"EUR","description":"Bench charge"})",
                                          "application/json"),
                           201, nullptr);
          }
        },
        &errors);
    out.mixed_errors = errors.load();
  }

  // 5. Visibility at a fixed rate: the relay and the users projection run;
  // each command's answer starts a clock that stops when the read model
  // holds the version it returned.
  {
    test::TestSchema db;
    test::TestTopics topics;
    test::Api api(db, &topics, {"--threads", "16"});
    const auto ids = register_users(db, 400);
    test::Process relay({"--log-level", "warn", "relay"}, test::lethe_env(db, topics));
    test::Process projector({"--log-level", "warn", "project", "users", "--batch-wait-ms", "5"},
                            test::lethe_env(db, topics));
    if (!test::eventually([&] { return db.scalar("SELECT count(*) FROM users") == std::to_string(ids.size() + 1); },
                          std::chrono::seconds(60)))
      throw std::runtime_error("the users projection did not catch up with the registrations");
    const auto run = paced_renames(db, api, ids, o.paced_rate, o.paced_seconds);
    out.paced = run.sent;
    out.paced_s = run.seconds;
    out.paced_unseen = run.unseen;
    out.paced_failed = run.failed;
    const auto l = latency_of(run.latencies);
    out.p50_ms = l.p50_ms;
    out.p99_ms = l.p99_ms;
    out.max_ms = l.max_ms;
  }
  if (o.erasures > 0) erasure_beside_traffic(o, out);
  return out;
}

}  // namespace lethe::bench
