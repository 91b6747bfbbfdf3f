#define BOOST_TEST_MODULE envelope
#include "lethe/domain/envelope.hpp"

#include <boost/test/unit_test.hpp>

using lethe::domain::Envelope;
namespace d = lethe::domain;

namespace {
Envelope sample() {
  Envelope e{"3f1c0b6e-4a7d-4c55-9d1e-0a6b7f1e2c3d",
             "user.registered",
             1,
             "user-42",
             1,
             7,
             "2026-11-25T08:00:00.000001Z",
             "admin-1",
             "corr-1",
             "cause-1",
             R"({"user_id":"42","email":"a@b.org","name":"Ann \"A\" \u00e9","role":"user"})",
             "",
             ""};
  e.hash = d::chain_hash(e);
  return e;
}
}  // namespace

BOOST_AUTO_TEST_CASE(encode_then_decode_gives_back_every_field) {
  auto e = sample();
  // The payload as RapidJSON writes it, which is how the domain encodes it.
  e.payload = R"({"user_id":"42","email":"a@b.org","name":"Ann \"A\" é","role":"user"})";
  e.hash = d::chain_hash(e);
  const auto r = d::decode(d::encode(e));
  BOOST_REQUIRE(r.ok());
  const auto& g = r.value();
  BOOST_TEST(g.event_id == e.event_id);
  BOOST_TEST(g.type == e.type);
  BOOST_TEST(g.schema_version == e.schema_version);
  BOOST_TEST(g.stream_id == e.stream_id);
  BOOST_TEST(g.stream_version == e.stream_version);
  BOOST_TEST(g.global_position == e.global_position);
  BOOST_TEST(g.occurred_at == e.occurred_at);
  BOOST_TEST(g.actor == e.actor);
  BOOST_TEST(g.correlation_id == e.correlation_id);
  BOOST_TEST(g.causation_id == e.causation_id);
  BOOST_TEST(g.payload == e.payload);
  BOOST_TEST(g.prev_hash == e.prev_hash);
  BOOST_TEST(g.hash == e.hash);
  BOOST_TEST(d::verify_link(g, ""));
}

BOOST_AUTO_TEST_CASE(decode_names_the_missing_field) {
  const auto r = d::decode(R"({"event_id":"x","type":"user.registered"})");
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.error().field == "stream_id");
}

BOOST_AUTO_TEST_CASE(decode_rejects_garbage_and_non_objects) {
  BOOST_TEST(!d::decode("not json at all").ok());
  BOOST_TEST(!d::decode("[1,2,3]").ok());
  BOOST_TEST(!d::decode("").ok());
  auto e = sample();
  auto text = d::encode(e);
  text.replace(text.find("\"stream_version\":1"), 18, "\"stream_version\":\"1\"");
  const auto r = d::decode(text);
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.error().field == "stream_version");
}

BOOST_AUTO_TEST_CASE(changing_any_hashed_field_breaks_the_hash) {
  const auto e = sample();
  BOOST_TEST(d::verify_link(e, ""));
  std::vector<std::function<void(Envelope&)>> edits{
      [](Envelope& x) { x.event_id[0] = '4'; },      [](Envelope& x) { x.type = "user.profile_changed"; },
      [](Envelope& x) { x.schema_version = 2; },     [](Envelope& x) { x.stream_id = "user-43"; },
      [](Envelope& x) { x.stream_version = 2; },     [](Envelope& x) { x.occurred_at[3] = '7'; },
      [](Envelope& x) { x.actor = "someone-else"; }, [](Envelope& x) { x.correlation_id = "c"; },
      [](Envelope& x) { x.causation_id = "c"; },     [](Envelope& x) { x.payload[3] = 'X'; },
  };
  for (std::size_t i = 0; i < edits.size(); ++i) {
    auto x = e;
    edits[i](x);
    BOOST_TEST(d::chain_hash(x) != e.hash, "edit " << i << " left the hash unchanged");
    BOOST_TEST(!d::verify_link(x, ""));
  }
}

BOOST_AUTO_TEST_CASE(hash_chain_links_each_event_to_the_previous_one) {
  auto first = sample();
  auto second = sample();
  second.event_id = "5f1c0b6e-4a7d-4c55-9d1e-0a6b7f1e2c3d";
  second.stream_version = 2;
  second.prev_hash = first.hash;
  second.hash = d::chain_hash(second);
  BOOST_TEST(d::verify_link(second, first.hash));
  // Dropping the first event, or reordering, is detected.
  BOOST_TEST(!d::verify_link(second, ""));
  BOOST_TEST(!d::verify_link(first, second.hash));
}

BOOST_AUTO_TEST_CASE(fields_are_length_prefixed_so_shifting_bytes_changes_the_hash) {
  auto a = sample();
  auto b = a;
  a.actor = "ab";
  a.correlation_id = "c";
  b.actor = "a";
  b.correlation_id = "bc";
  BOOST_TEST(d::chain_hash(a) != d::chain_hash(b));
}

BOOST_AUTO_TEST_CASE(event_types_map_to_their_domain_topic) {
  BOOST_TEST(d::topic_of("user.registered") == "users");
  BOOST_TEST(d::topic_of("ticket.created") == "tickets");
  BOOST_TEST(d::topic_of("nonsense") == "");
}

BOOST_AUTO_TEST_CASE(decode_refuses_what_the_database_could_not_store) {
  const auto good = d::encode(sample());
  auto with = [&](const std::string& from, const std::string& to) {
    auto text = good;
    text.replace(text.find(from), from.size(), to);
    return d::decode(text);
  };
  BOOST_TEST(with("3f1c0b6e-4a7d-4c55-9d1e-0a6b7f1e2c3d", "not-a-uuid").error().field == "event_id");
  BOOST_TEST(with("2026-11-25T08:00:00.000001Z", "yesterday").error().field == "occurred_at");
  BOOST_TEST(with("2026-11-25T08:00:00.000001Z", "2026-11-25T08:00:00.Z").error().field == "occurred_at");
  BOOST_TEST(with("\"actor\":\"admin-1\"", "\"actor\":\"ad\\u0000min\"").error().field == "actor");
  BOOST_TEST(d::is_utc_timestamp("2026-11-25T08:00:00Z"));
  BOOST_TEST(d::is_utc_timestamp("2026-11-25T08:00:00.123456Z"));
  BOOST_TEST(!d::is_utc_timestamp("2026-11-25 08:00:00Z"));
}
