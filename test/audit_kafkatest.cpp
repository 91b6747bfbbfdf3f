#define BOOST_TEST_MODULE audit
// The log is tamper-evident for real: the bytes hashed are the bytes sent
// (checked by an independent hasher from the raw messages), and seals and
// `lethe verify --against-kafka` catch what the per-stream chain cannot see.
#include <boost/test/unit_test.hpp>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>

#include "lethe/domain/envelope.hpp"
#include "lethe/infra/ids.hpp"
#include "lethe/producers/event_store.hpp"
#include "lethe/producers/topics.hpp"
#include "support/events.hpp"
#include "support/fixtures.hpp"
#include "support/scenario.hpp"

using namespace lethe;

namespace {

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

producers::NewEvent event(const std::string& type, const std::string& payload, const std::string& id) {
  return {id, type, 1, payload, infra::utc_now(), "test", "corr", "cause"};
}

std::string write_file(const std::string& contents) {
  const auto path = "/tmp/lethe-audit-" + test::random_suffix();
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

// `lethe ARGS` against this test's schema and topics: exit code and output.
test::Captured run_lethe(const test::TestSchema& db, const test::TestTopics& topics, const std::string& args) {
  return test::capture_env(test::lethe_env(db, topics), test::lethe_bin() + " " + args);
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A person's events appended and relayed: where the verify cases start.
struct Relayed {
  test::TestSchema db;
  test::TestTopics topics;
  std::vector<domain::Envelope> stored;

  Relayed(const std::string& id, int renames) {
    producers::EventStore store(db.conninfo());
    stored = store.append("user-" + id, 0, test::user_history(id, renames));
    BOOST_TEST(test::relay_until_idle(db, topics) == static_cast<std::int64_t>(stored.size()));
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(an_independent_hasher_verifies_every_published_event_from_the_raw_message_bytes) {
  test::TestSchema db;
  test::TestTopics topics;
  producers::EventStore store(db.conninfo());
  // Upper-case event ids (PostgreSQL's uuid type lower-cases them), payloads
  // with spaces, escapes and numbers that a re-serialisation would change.
  const std::vector<std::string> ids{upper(infra::new_uuid()), upper(infra::new_uuid()), infra::new_uuid()};
  std::vector<producers::NewEvent> history{
      event("user.registered",
            R"({ "user_id" : "x1", "email": "ren@example.org", "name" : "Ren\u00e9e \/ A\nB \"q\"", "role":"user" })",
            ids[0]),
      event("user.profile_changed", "{\"user_id\":\"x1\",\t\"name\":\"Price 1.50\", \"price\": 1.50, \"big\": 1e2}",
            ids[1]),
      event("user.profile_changed", R"({"user_id":"x1","name":"\ud83d\ude00 plain","n":-0.0,"list":[ 1 , 2 ]})",
            ids[2]),
  };
  const auto stored = store.append("user-x1", 0, history);
  BOOST_REQUIRE(stored.size() == 3u);
  BOOST_TEST(test::relay_until_idle(db, topics) == 3);

  const auto messages = test::read_topic(topics.topic("users"));
  BOOST_REQUIRE(messages.size() == 3u);
  std::string lines;
  for (const auto& m : messages) lines += m.value + "\n";
  const auto file = write_file(lines);
  const auto py = test::capture("python3 " + test::source_dir() + "/test/support/independent_hash.py " + file);
  std::remove(file.c_str());
  BOOST_TEST(py.rc == 0, py.output);
  BOOST_TEST(has(py.output, "checked 3"), py.output);

  // The same bytes everywhere: returned by the append, stored, sent, decoded.
  for (const auto& m : messages) {
    const auto e = domain::decode(m.value);
    BOOST_REQUIRE(e.ok());
    const auto& env = e.value();
    BOOST_TEST(domain::chain_hash(env) == env.hash);
    const auto v = static_cast<std::size_t>(env.stream_version - 1);
    BOOST_TEST(env.event_id == stored[v].event_id);
    BOOST_TEST(env.payload == stored[v].payload);
    BOOST_TEST(env.hash == stored[v].hash);
    BOOST_TEST(db.scalar("SELECT payload::text FROM events WHERE event_id = '" + env.event_id + "'") == env.payload);
    BOOST_TEST(m.headers.at("event_id") == env.event_id);
  }
  auto lower = ids[0];
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  BOOST_TEST(stored[0].event_id == lower);
  BOOST_TEST(stored[1].payload == R"({"user_id":"x1","name":"Price 1.50","price":1.50,"big":1e2})");
  const auto verified = run_lethe(db, topics, "verify");
  BOOST_TEST(verified.rc == 0, verified.output);
}

BOOST_AUTO_TEST_CASE(seals_and_verify_against_kafka_catch_truncation_deleted_streams_and_rewrites) {
  test::TestSchema db;
  test::TestTopics topics;
  const auto key = write_file(
      "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");  // as `openssl rand -hex 32` writes
  const std::string with_key = " --seal-key-file " + key;
  producers::EventStore store(db.conninfo());
  std::map<std::string, std::vector<domain::Envelope>> streams;
  // One stream per seal, so that each seal's range holds one stream.
  for (const std::string id : {"a", "b", "c", "d"}) {
    auto history = test::user_history(id, 2);
    streams[id] = store.append("user-" + id, 0, history);
    const auto sealed = run_lethe(db, topics, "seal" + with_key);
    BOOST_REQUIRE_MESSAGE(sealed.rc == 0, sealed.output);
    BOOST_TEST(has(sealed.output, "\"events\":3"), sealed.output);
  }
  BOOST_TEST(run_lethe(db, topics, "seal" + with_key).output.find("nothing new") != std::string::npos);
  BOOST_TEST(test::relay_until_idle(db, topics) == 12);
  // Appended but not yet published: not expected on Kafka, and not sealed.
  auto late = test::user_history("e", 0);
  store.append("user-e", 0, late);

  auto clean = run_lethe(db, topics, "verify --against-kafka" + with_key);
  BOOST_TEST(clean.rc == 0, clean.output);
  BOOST_TEST(has(clean.output, "4 seals cover 12 events"), clean.output);
  BOOST_TEST(has(clean.output, "1 events after it are unsealed"), clean.output);
  BOOST_TEST(has(clean.output, "1 events not published yet"), clean.output);

  // 1. Stream a loses its last event; 2. stream b disappears; 3. stream c is
  // rewritten from version 2 with every hash recomputed; 4. the newest seal
  // goes and stream d loses its last event with it.
  auto delete_event = [&](const domain::Envelope& e) {
    db.exec("DELETE FROM outbox WHERE global_position = " + std::to_string(e.global_position));
    db.exec("DELETE FROM events WHERE global_position = " + std::to_string(e.global_position));
  };
  delete_event(streams["a"][2]);
  for (const auto& e : streams["b"]) delete_event(e);
  auto rewritten = streams["c"];
  for (std::size_t i = 1; i < rewritten.size(); ++i) {
    auto& e = rewritten[i];
    if (i == 1) e.payload = R"({"user_id":"c","name":"Mallory"})";
    e.prev_hash = rewritten[i - 1].hash;
    e.hash = domain::chain_hash(e);
    db.exec("UPDATE events SET payload = '" + e.payload + "', prev_hash = '" + e.prev_hash + "', hash = '" + e.hash +
            "' WHERE global_position = " + std::to_string(e.global_position));
  }
  db.exec("DELETE FROM seals WHERE seal_number = 4");
  delete_event(streams["d"][2]);

  // The per-stream chains alone see nothing.
  const auto blind = run_lethe(db, topics, "verify");
  BOOST_TEST(blind.rc == 0, blind.output);
  BOOST_TEST(has(blind.output, "seals not checked"), blind.output);

  // Seals see the first three, each in its own seal's range; the fourth hides
  // behind the deleted seal (its events now count as unsealed).
  const auto sealed = run_lethe(db, topics, "verify" + with_key);
  BOOST_TEST(sealed.rc == 1, sealed.output);
  BOOST_TEST(has(sealed.output, "seal #1: 2 events in positions"), sealed.output);
  BOOST_TEST(has(sealed.output, "seal #2: 0 events in positions"), sealed.output);
  BOOST_TEST(has(sealed.output, "seal #3: digest differs"), sealed.output);
  BOOST_TEST(!has(sealed.output, "seal #4"), sealed.output);
  BOOST_TEST(has(sealed.output, "3 events after it are unsealed"), sealed.output);

  // Kafka still holds what was published: all four are reported, by event.
  const auto kafka = run_lethe(db, topics, "verify --against-kafka");
  BOOST_TEST(kafka.rc == 1, kafka.output);
  BOOST_TEST(has(kafka.output, "event " + streams["a"][2].event_id), kafka.output);
  for (const auto& e : streams["b"]) BOOST_TEST(has(kafka.output, "event " + e.event_id), kafka.output);
  BOOST_TEST(has(kafka.output, "event " + streams["c"][1].event_id + " at position"), kafka.output);
  BOOST_TEST(has(kafka.output, "event " + streams["c"][2].event_id + " at position"), kafka.output);
  BOOST_TEST(has(kafka.output, "event " + streams["d"][2].event_id), kafka.output);
  BOOST_TEST(has(kafka.output, "5 events on Kafka missing in PostgreSQL, 2 with another hash"), kafka.output);

  // A key that is not the sealer's fails every seal's HMAC.
  const auto other = write_file(std::string(32, 'k'));
  const auto wrong = run_lethe(db, topics, "verify --seal-key-file " + other);
  BOOST_TEST(wrong.rc == 1);
  BOOST_TEST(has(wrong.output, "seal #1: HMAC does not match"), wrong.output);
  std::remove(key.c_str());
  std::remove(other.c_str());
}

BOOST_AUTO_TEST_CASE(verify_against_kafka_reports_a_published_event_that_is_not_on_kafka) {
  Relayed p("p", 1);
  const auto& [db, topics, stored] = p;
  BOOST_REQUIRE(stored.size() == 2u);
  // The topic is lost (and recreated empty): the store says published.
  test::delete_topic(topics.topic("users"));
  test::create_local_topics(topics.prefix(), 3);
  const auto r = run_lethe(db, topics, "verify --against-kafka");
  BOOST_TEST(r.rc == 1, r.output);
  for (const auto& e : stored)
    BOOST_TEST(
        has(r.output, "event " + e.event_id + " at position " + std::to_string(e.global_position) + " was published"),
        r.output);
  BOOST_TEST(has(r.output, "2 published events missing on Kafka"), r.output);
}

BOOST_AUTO_TEST_CASE(verify_against_kafka_reports_a_copy_altered_on_the_broker_with_its_hash_kept) {
  Relayed k("k", 0);
  const auto& [db, topics, stored] = k;
  auto forged = domain::encode(stored[0]);
  const auto name = forged.find("User k");
  BOOST_REQUIRE(name != std::string::npos);
  forged.replace(name, 6, "Evil k");
  test::produce_raw(topics.topic("users"), stored[0].stream_id, forged);
  const auto r = run_lethe(db, topics, "verify --against-kafka");
  BOOST_TEST(r.rc == 1, r.output);
  BOOST_TEST(has(r.output, "event " + stored[0].event_id + ": its copy at"), r.output);
  BOOST_TEST(has(r.output, "does not match its own hash"), r.output);
}

// The type header is outside the hash, and projections pass over the types
// they do not read by it (the audit log records a role change, not a
// rename): a copy relabelled on the broker, its body and hash intact,
// would drop out of the audit log unseen. Verify reports it.
BOOST_AUTO_TEST_CASE(verify_against_kafka_reports_a_copy_whose_type_header_was_relabelled) {
  Relayed m("m", 0);
  const auto& [db, topics, stored] = m;
  BOOST_TEST(run_lethe(db, topics, "verify --against-kafka").rc == 0);
  test::produce_raw(topics.topic("users"), stored[0].stream_id, domain::encode(stored[0]),
                    {{"type", "user.profile_changed"}});
  const auto r = run_lethe(db, topics, "verify --against-kafka");
  BOOST_TEST(r.rc == 1, r.output);
  BOOST_TEST(has(r.output, "event " + stored[0].event_id + ": its copy at"), r.output);
  BOOST_TEST(has(r.output, "is labelled user.profile_changed but is a " + stored[0].type), r.output);
  BOOST_TEST(has(r.output, "1 labelled with another type"), r.output);
}
