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

BOOST_AUTO_TEST_CASE(event_types_map_to_the_topic_their_domain_registered) {
  BOOST_TEST(d::topic_of("user.registered") == "users");
  BOOST_TEST(d::topic_of("user.note_added") == "staff");  // staff-only: the restricted topic
  // A type no domain registered belongs to no topic: the store refuses it.
  BOOST_TEST(d::topic_of("ticket.created") == "");
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

BOOST_AUTO_TEST_CASE(canonical_form_lowercases_the_event_id_and_writes_the_payload_once_compactly) {
  auto e = sample();
  e.event_id = "3F1C0B6E-4A7D-4C55-9D1E-0A6B7F1E2C3D";
  e.payload =
      "{ \"name\" : \"Ren\\u00e9e \\/ A\\nB\\\"\", \"price\": 1.50, \"big\":1e2 ,"
      " \"n\":12345678901234567890, \"tags\": [ 1 , true, null, {} ] }";
  d::canonicalize(e);
  BOOST_TEST(e.event_id == "3f1c0b6e-4a7d-4c55-9d1e-0a6b7f1e2c3d");
  // Escapes in their shortest form, whitespace gone, numbers exactly as written.
  BOOST_TEST(e.payload ==
             "{\"name\":\"Ren\xc3\xa9"
             "e / A\\nB\\\"\",\"price\":1.50,\"big\":1e2,"
             "\"n\":12345678901234567890,\"tags\":[1,true,null,{}]}");
  const auto once = e;
  d::canonicalize(e);
  BOOST_TEST(e.payload == once.payload, "canonical form is idempotent");
  BOOST_TEST(!d::unstorable(e).has_value());
}

BOOST_AUTO_TEST_CASE(canonical_form_leaves_what_is_not_an_object_for_unstorable_to_refuse) {
  for (const std::string& bad :
       std::vector<std::string>{"[1,2]", "\"text\"", "{\"a\":1", "{\"a\":1} x", "", std::string("{}\0{}", 5)}) {
    auto e = sample();
    e.payload = bad;
    d::canonicalize(e);
    BOOST_TEST(e.payload == bad);
    BOOST_TEST(d::unstorable(e).has_value(), "payload " << bad << " must be refused");
  }
  BOOST_TEST(d::canonical_payload("{\"a\":\"x\\u0000y\"}").has_value());  // valid JSON; unstorable refuses the NUL
  auto e = sample();
  e.payload = "{\"a\":\"x\\u0000y\"}";
  d::canonicalize(e);
  BOOST_TEST(d::unstorable(e)->field == "payload");
}

BOOST_AUTO_TEST_CASE(decode_keeps_the_payload_bytes_of_the_message_exactly) {
  for (const std::string payload :
       {"{ \"name\" : \"Ren\\u00e9e \\/ A\\nB\" , \"price\": 1.50, \"big\": 1e2, \"n\": -0.0 }",
        "{\"nested\":{\"a\":[{\"b\":[]},{}],\"c\":{\"d\":\"}\"}},\"z\":\"{\"}", "{}", "{\n\t}"}) {
    auto e = sample();
    e.payload = payload;
    e.hash = d::chain_hash(e);
    const auto text = d::encode(e);
    const auto r = d::decode(text);
    BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    BOOST_TEST(r.value().payload == payload);
    BOOST_TEST(d::chain_hash(r.value()) == e.hash, "the hash checks out from the message bytes alone");
    // Fields after the payload are read too.
    BOOST_TEST(r.value().hash == e.hash);
  }
}

BOOST_AUTO_TEST_CASE(decode_refuses_nul_in_payload_strings_non_object_payloads_and_repeated_fields) {
  auto e = sample();
  auto with_payload = [&](const std::string& p) {
    auto x = e;
    x.payload = p;
    return d::decode(d::encode(x));
  };
  BOOST_TEST(with_payload(R"({"a":"x\u0000y"})").error().field == "payload");
  BOOST_TEST(with_payload(R"({"a\u0000":1})").error().field == "payload");
  BOOST_TEST(with_payload(R"({"a":[{"b":"\u0000"}]})").error().field == "payload");
  auto text = d::encode(e);
  const auto at = text.find("\"payload\":");
  for (const std::string bad : {"[1]", "\"{}\"", "1", "null", "true"}) {
    auto t = text;
    const auto end = t.find(",\"prev_hash\"");
    t.replace(at + 10, end - at - 10, bad);
    const auto r = d::decode(t);
    BOOST_REQUIRE(!r.ok());
    BOOST_TEST(r.error().field == "payload", "payload " << bad);
  }
  auto twice = text;
  twice.insert(1, "\"actor\":\"mallory\",");
  BOOST_TEST(d::decode(twice).error().field == "actor");
  auto fractional = text;
  fractional.replace(fractional.find("\"stream_version\":1"), 18, "\"stream_version\":1.0");
  BOOST_TEST(d::decode(fractional).error().field == "stream_version");
  auto extra = text;
  extra.insert(1, "\"unknown\":{\"deep\":[1,{\"x\":null}]},");
  BOOST_TEST(d::decode(extra).ok(), "unknown fields are ignored");
}
