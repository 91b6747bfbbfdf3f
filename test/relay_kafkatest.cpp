#define BOOST_TEST_MODULE relay
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <boost/crc.hpp>
#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "lethe/infra/kafka.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/producers/relay.hpp"
#include "lethe/producers/topics.hpp"
#include "support/events.hpp"
#include "support/fixtures.hpp"
#include "support/scenario.hpp"

using namespace lethe;
using namespace std::chrono_literals;

namespace {

void slow_append(const test::TestSchema& db, const std::string& id, std::chrono::milliseconds hold) {
  test::OpenAppend append(db, id);
  std::this_thread::sleep_for(hold);
  append.commit();
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  if (p) pclose(p);
  return out;
}

}  // namespace

namespace {

// What a relay published while 6 fast writers (many one-event commits) and
// 30 slow ones (each holding its position 50-250 ms while later positions
// commit: the sequence-gap case) wrote: every message of the users topic.
struct LateCommits {
  std::int64_t total = 0, published = 0;
  std::vector<test::Message> messages;
};

LateCommits publish_beside_late_commits(const test::TestSchema& db, const test::TestTopics& topics,
                                        bool position_order) {
  std::atomic<bool> stop{false};
  std::int64_t published = 0;
  std::thread relay_thread([&] {
    auto options = test::relay_options(db, topics);
    options.negative_control_position_order = position_order;
    producers::Relay relay(options);
    published = relay.run(stop);
  });
  // Stops and joins the relay on every way out, failed assertions included.
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joiner() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } joiner{stop, relay_thread};

  constexpr int kFastWriters = 6, kStreamsPerWriter = 20, kRenames = 4, kSlow = 30;
  std::vector<std::thread> writers;
  for (int w = 0; w < kFastWriters; ++w) {
    writers.emplace_back([&, w] {
      producers::EventStore store(db.conninfo());
      for (int s = 0; s < kStreamsPerWriter; ++s) {
        const auto id = "w" + std::to_string(w) + "s" + std::to_string(s);
        // One event per transaction: many small commits interleaving.
        auto history = test::user_history(id, kRenames);
        for (std::size_t i = 0; i < history.size(); ++i)
          store.append("user-" + id, static_cast<std::int64_t>(i), std::span(&history[i], 1));
      }
    });
  }
  // Slow writers take a position, hold it while fast writers commit later
  // positions, then commit.
  std::mt19937 rng(7);
  for (int i = 0; i < kSlow; ++i) {
    const auto hold = std::chrono::milliseconds(50 + static_cast<int>(rng() % 200));
    writers.emplace_back([&, i, hold] { slow_append(db, "slow" + std::to_string(i), hold); });
  }
  for (auto& t : writers) t.join();
  // The same case without chance, so that a position-ordered relay loses at
  // least this one on any machine: "held" takes its position, "after" takes
  // a later one and commits, and "held" commits only once the relay has
  // published "after" (a correct relay never does while "held" is open, so
  // that wait ends at its 5 s deadline; the position-ordered one must get
  // there, however slow the machine).
  {
    test::OpenAppend held(db, "held");
    producers::EventStore store(db.conninfo());
    auto after = test::user_history("after", 0);
    store.append("user-after", 0, after);
    const bool passed = test::eventually(
        [&] {
          return db.scalar(
                     "SELECT c.global_position >= e.global_position FROM relay_checkpoint c, events e"
                     " WHERE e.stream_id = 'user-after'") == "t";
        },
        position_order ? 60s : 5s);
    BOOST_TEST(passed == position_order, "the relay's checkpoint passed an open transaction: " << passed);
    held.commit();
  }
  LateCommits out;
  out.total = kFastWriters * kStreamsPerWriter * (1 + kRenames) + kSlow + 2;
  // Until everything is published, or nothing more has been for 3 s (a
  // relay that skipped rows never gets there), 60 s at most.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  std::string last;
  auto last_change = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < deadline) {
    const auto now_published = db.scalar("SELECT published FROM relay_checkpoint");
    if (now_published == std::to_string(out.total)) break;
    if (now_published != last) {
      last = now_published;
      last_change = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_change > 3s) {
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  stop = true;
  relay_thread.join();
  out.published = published;
  out.messages = test::read_topic(topics.topic("users"));
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(relay_never_skips_a_transaction_that_commits_late_and_keeps_stream_order) {
  test::TestSchema db;
  test::TestTopics topics;
  const auto run = publish_beside_late_commits(db, topics, false);
  const auto total = run.total;
  BOOST_TEST(run.published == total);
  std::set<std::string> ids;
  std::map<std::string, std::vector<std::int64_t>> versions;  // per key, in partition order
  for (const auto& m : run.messages) {
    auto env = domain::decode(m.value);
    BOOST_REQUIRE(env.ok());
    ids.insert(env.value().event_id);
    BOOST_TEST(m.key == env.value().stream_id);
    versions[m.key].push_back(env.value().stream_version);
  }
  BOOST_TEST(run.messages.size() == static_cast<std::size_t>(total));  // nothing lost, nothing twice
  BOOST_TEST(ids.size() == static_cast<std::size_t>(total));
  for (const auto& [key, vs] : versions) {
    for (std::size_t i = 0; i < vs.size(); ++i) BOOST_TEST(vs[i] == static_cast<std::int64_t>(i + 1), key);
  }
  BOOST_TEST(db.scalar("SELECT count(*) FROM events") == std::to_string(total));
}

// The negative control of the test above: the same writers against a relay
// that reads the outbox by position alone. It skips transactions that
// commit late, so the checks above would fail: fewer messages than events,
// and the held writer's event among the missing.
BOOST_AUTO_TEST_CASE(the_same_writers_defeat_a_relay_that_orders_by_position_alone) {
  test::TestSchema db;
  test::TestTopics topics;
  const auto run = publish_beside_late_commits(db, topics, true);
  BOOST_TEST(db.scalar("SELECT count(*) FROM events") == std::to_string(run.total));
  BOOST_TEST(run.messages.size() < static_cast<std::size_t>(run.total));
  BOOST_TEST(run.published < run.total);
  std::set<std::string> keys;
  for (const auto& m : run.messages) keys.insert(m.key);
  // The held transaction is lost on every run; the slow writers' by chance.
  BOOST_TEST(keys.contains("user-after"));
  BOOST_TEST(!keys.contains("user-held"));
}

BOOST_AUTO_TEST_CASE(kcat_reads_key_and_headers_of_published_events) {
  test::TestSchema db;
  test::TestTopics topics;
  producers::EventStore store(db.conninfo());
  auto history = test::user_history("k1", 1);
  const auto stored = store.append("user-k1", 0, history);
  BOOST_TEST(test::relay_until_idle(db, topics) == 2);

  // kcat is an independent client: what it sees is what any subscriber sees.
  const auto out = run("kcat -C -b " + infra::Config::from_env().brokers + " -t " + topics.topic("users") +
                       " -o beginning -e -q -f '%k|%h|%s\\n' 2>&1");
  BOOST_TEST_MESSAGE("kcat: " << out);
  for (const auto& e : stored) {
    const auto line_start = out.find("event_id=" + e.event_id);
    BOOST_REQUIRE_MESSAGE(line_start != std::string::npos, "kcat did not show " << e.event_id);
    const auto line_begin = out.rfind('\n', line_start);
    const auto line = out.substr(line_begin == std::string::npos ? 0 : line_begin + 1,
                                 out.find('\n', line_start) - (line_begin == std::string::npos ? 0 : line_begin + 1));
    BOOST_TEST(line.rfind("user-k1|", 0) == 0u, line);
    BOOST_TEST(line.find("type=" + e.type) != std::string::npos, line);
    BOOST_TEST(line.find("schema_version=1") != std::string::npos, line);
    BOOST_TEST(line.find("\"hash\":\"" + e.hash + "\"") != std::string::npos, line);
  }
}

BOOST_AUTO_TEST_CASE(the_java_client_places_every_key_where_the_relay_put_it) {
  // A downstream system that produces with the Java client (its default
  // partitioner: murmur2 of the key) must find a stream's events where lethe
  // put them. 400 streams over 12 partitions, each key's partition read back
  // from the topic, then produced again by kafka-clients from the broker's jars.
  constexpr int kPartitions = 12, kStreams = 400;
  test::TestSchema db;
  test::TestTopics topics(kPartitions);
  producers::EventStore store(db.conninfo());
  for (int i = 0; i < kStreams; ++i) {
    auto history = test::user_history("jp" + std::to_string(i), 0);
    store.append("user-jp" + std::to_string(i), 0, history);
  }
  BOOST_REQUIRE(test::relay_until_idle(db, topics) == kStreams);
  std::map<std::string, int> lethe;
  for (const auto& m : test::read_topic(topics.topic("users"))) lethe[m.key] = m.partition;
  BOOST_REQUIRE(lethe.size() == static_cast<std::size_t>(kStreams));

  const auto keys = std::filesystem::temp_directory_path() / ("lethe-keys-" + test::random_suffix());
  {
    std::ofstream out(keys);
    for (const auto& [key, partition] : lethe) out << key << '\n';
  }
  const char* libs_env = std::getenv("LETHE_KAFKA_LIBS");
  const std::string libs = libs_env && *libs_env ? libs_env : test::source_dir() + "/.lethe/kafka-libs";
  const auto out =
      run("java -cp '" + libs + "/*' " + test::source_dir() + "/test/java/KeyPlacement.java " +
          infra::Config::from_env().brokers + " " + topics.topic("users") + " " + keys.string() + " 2>/dev/null");
  std::filesystem::remove(keys);
  std::map<std::string, int> java;
  std::istringstream lines(out);
  for (std::string key; std::getline(lines, key);) {
    const auto space = key.rfind(' ');
    BOOST_REQUIRE_MESSAGE(space != std::string::npos, "KeyPlacement printed: " << out.substr(0, 400));
    java[key.substr(0, space)] = std::stoi(key.substr(space + 1));
  }
  BOOST_REQUIRE_MESSAGE(java.size() == lethe.size(), "the Java client placed " << java.size() << " keys: " << out);
  std::set<int> used;
  for (const auto& [key, partition] : lethe) {
    BOOST_TEST(java[key] == partition, key);
    used.insert(partition);
  }
  BOOST_TEST(used.size() == static_cast<std::size_t>(kPartitions));  // the keys spread over every partition

  // The control: librdkafka's own default (CRC32 of the key) would place
  // most of these keys elsewhere, so the comparison above can tell.
  int crc_agrees = 0;
  for (const auto& [key, partition] : java) {
    boost::crc_32_type crc;
    crc.process_bytes(key.data(), key.size());
    crc_agrees += static_cast<int>(crc.checksum() % kPartitions) == partition;
  }
  BOOST_TEST(crc_agrees < kStreams / 4, crc_agrees << " of " << kStreams << " keys agree with CRC32");
}

namespace {

// A relay whose fallback poll is 2 minutes, idle and listening; one event is
// appended: whether the relay published it within `wait`. Stopping it takes
// one more wake, on the channel it listens on.
bool published_within(std::chrono::milliseconds wait, bool listen_elsewhere) {
  test::TestSchema db;
  test::TestTopics topics;
  auto opt = test::relay_options(db, topics);
  opt.idle_wait_ms = 120000;  // only a NOTIFY can wake it within the test's wait
  opt.negative_control_listen_elsewhere = listen_elsewhere;
  std::atomic<bool> stop{false};
  producers::EventStore store(db.conninfo());
  // An event written before the relay runs: its first read publishes it
  // without any wake, which shows the relay has started on any machine.
  auto first = test::user_history("n0", 0);
  store.append("user-n0", 0, first);
  producers::Relay relay(opt);
  std::thread t([&] { relay.run(stop); });
  const auto published = [&](const char* n) { return db.scalar("SELECT published FROM relay_checkpoint") == n; };
  BOOST_TEST(test::eventually([&] { return published("1"); }, 60s), "the relay never published the first event");
  std::this_thread::sleep_for(1s);  // its one empty read after that, then it waits
  auto history = test::user_history("n1", 0);
  store.append("user-n1", 0, history);
  const bool seen = test::eventually([&] { return published("2"); }, wait);
  stop = true;
  db.exec("SELECT pg_notify('lethe_outbox_' || md5(current_schema()) || '" +
          std::string(listen_elsewhere ? "_elsewhere" : "") + "', '')");
  t.join();
  return seen;
}

}  // namespace

BOOST_AUTO_TEST_CASE(relay_wakes_on_notify_not_on_its_fallback_poll) {
  BOOST_TEST(published_within(20s, false));
}

// The negative control of the case above: a relay listening where appends
// do not notify (a test-only switch) sleeps through the append.
BOOST_AUTO_TEST_CASE(a_relay_listening_elsewhere_sleeps_through_the_append) {
  BOOST_TEST(!published_within(3s, true));
}

BOOST_AUTO_TEST_CASE(until_idle_waits_for_entries_held_back_by_an_open_transaction) {
  test::TestSchema db;
  test::TestTopics topics;
  // An unrelated transaction with an xid, open while an event commits after
  // it: the event sits above the watermark until the transaction ends.
  auto blocker = infra::connect(db.conninfo());
  pqxx::work open_tx(*blocker);
  open_tx.exec("CREATE TEMP TABLE hold (x int); INSERT INTO hold VALUES (1)");
  producers::EventStore store(db.conninfo());
  auto history = test::user_history("h1", 0);
  store.append("user-h1", 0, history);
  std::thread release([&] {
    std::this_thread::sleep_for(2s);
    open_tx.commit();
  });
  // Drained means nothing left, not nothing fetchable yet.
  BOOST_TEST(test::relay_until_idle(db, topics) == 1);
  release.join();
}

BOOST_AUTO_TEST_CASE(topics_are_created_with_their_partitions_and_unlimited_retention) {
  test::TestTopics topics;  // created by producers::create_topics, as `lethe topics create` does
  auto conf = infra::kafka_conf({{"bootstrap.servers", infra::Config::from_env().brokers}});
  std::string err;
  std::unique_ptr<RdKafka::Producer> handle(RdKafka::Producer::create(conf.get(), err));
  BOOST_REQUIRE(handle);
  rd_kafka_t* rk = handle->c_ptr();
  for (const auto& spec : producers::topic_specs()) {
    const auto name = topics.topic(spec.name);
    // Partitions, from the cluster's metadata.
    RdKafka::Metadata* md = nullptr;
    std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(handle.get(), name, nullptr, err));
    BOOST_REQUIRE(handle->metadata(false, t.get(), &md, 10000) == RdKafka::ERR_NO_ERROR);
    std::unique_ptr<RdKafka::Metadata> owned(md);
    BOOST_TEST(static_cast<int>(md->topics()->at(0)->partitions()->size()) == spec.partitions, name);

    // Retention, from the broker's own description of the topic.
    auto* resource = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name.c_str());
    auto* queue = rd_kafka_queue_new(rk);
    rd_kafka_DescribeConfigs(rk, &resource, 1, nullptr, queue);
    auto* ev = rd_kafka_queue_poll(queue, 15000);
    BOOST_REQUIRE(ev);
    BOOST_REQUIRE(!rd_kafka_event_error(ev));
    size_t n = 0;
    const auto** resources = rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
    BOOST_REQUIRE(n == 1u);
    size_t entries = 0;
    const auto** configs = rd_kafka_ConfigResource_configs(resources[0], &entries);
    std::map<std::string, std::string> values;
    for (size_t i = 0; i < entries; ++i) {
      const char* v = rd_kafka_ConfigEntry_value(configs[i]);
      values[rd_kafka_ConfigEntry_name(configs[i])] = v ? v : "";
    }
    BOOST_TEST(values["retention.ms"] == "-1", name);
    BOOST_TEST(values["retention.bytes"] == "-1", name);
    BOOST_TEST(values["min.insync.replicas"] == "1", name);  // what the fixture asked for one broker
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(queue);
    rd_kafka_ConfigResource_destroy(resource);
  }
}

BOOST_AUTO_TEST_CASE(published_rows_leave_the_outbox_and_stay_in_the_event_store) {
  test::TestSchema db;
  test::TestTopics topics;
  producers::EventStore store(db.conninfo());
  for (int i = 0; i < 30; ++i) {
    auto history = test::user_history("p" + std::to_string(i), 2);
    store.append("user-p" + std::to_string(i), 0, history);
  }
  auto opt = test::relay_options(db, topics);
  opt.batch_size = 25;
  opt.prune_every_ms = 0;  // prune with every checkpoint
  opt.exit_when_idle = true;
  std::atomic<bool> stop{false};
  BOOST_TEST(producers::Relay(opt).run(stop) == 90);
  BOOST_TEST(db.scalar("SELECT count(*) FROM outbox") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM events") == "90");
  BOOST_TEST(db.scalar("SELECT published FROM relay_checkpoint") == "90");
  BOOST_TEST(test::read_topic(topics.topic("users")).size() == 90u);
}

// A decision over several streams (a cart conversion: the cart and every
// product in it) appends to each at its own version in one transaction.
// Concurrent transactions over overlapping sets of streams: each stream's
// versions still arrive in order on its partition, nothing lost or twice.
BOOST_AUTO_TEST_CASE(multi_stream_transactions_keep_every_streams_order) {
  test::TestSchema db;
  test::TestTopics topics;
  constexpr int kStreams = 10, kWriters = 6, kTransactionsEach = 40, kStreamsPerTx = 3;
  std::atomic<int> committed{0}, conflicts{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      producers::EventStore store(db.conninfo());
      std::mt19937 rng(static_cast<unsigned>(100 + w));
      for (int n = 0; n < kTransactionsEach;) {
        std::set<int> picked;
        while (static_cast<int>(picked.size()) < kStreamsPerTx) picked.insert(static_cast<int>(rng() % kStreams));
        try {
          store.transact([&](producers::EventStore::Transaction& tx) {
            // Every stream's head first, then the writes (the relay's order).
            std::map<std::string, std::int64_t> heads;
            for (const int s : picked) {
              const auto stream = "user-m" + std::to_string(s);
              heads[stream] = static_cast<std::int64_t>(tx.read_stream(stream).size());
            }
            std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
            for (const auto& [stream, head] : heads) {
              const auto id = stream.substr(5);
              const auto ev = head == 0 ? test::user_history(id, 0)[0]
                                        : test::new_event(domain::users::UserProfileChanged{
                                              id, "Name " + std::to_string(head) + " by " + std::to_string(w)});
              tx.append(stream, head, std::span(&ev, 1));
            }
            return true;
          });
          ++committed;
          ++n;
        } catch (const producers::ConcurrencyConflict&) {
          ++conflicts;  // another transaction got there first: decide again
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  const int total = kWriters * kTransactionsEach * kStreamsPerTx;
  BOOST_TEST(committed.load() == kWriters * kTransactionsEach);
  BOOST_TEST_MESSAGE("conflicts retried: " << conflicts.load());
  BOOST_TEST(db.scalar("SELECT count(*) FROM events") == std::to_string(total));

  test::relay_until_idle(db, topics);
  const auto messages = test::read_topic(topics.topic("users"));
  BOOST_TEST(messages.size() == static_cast<std::size_t>(total));
  std::map<std::string, std::vector<std::int64_t>> versions;  // per key, in partition order
  for (const auto& m : messages) {
    auto env = domain::decode(m.value);
    BOOST_REQUIRE(env.ok());
    versions[m.key].push_back(env.value().stream_version);
  }
  BOOST_TEST(versions.size() == static_cast<std::size_t>(kStreams));
  for (const auto& [key, vs] : versions)
    for (std::size_t i = 0; i < vs.size(); ++i) BOOST_TEST(vs[i] == static_cast<std::int64_t>(i + 1), key);
}
