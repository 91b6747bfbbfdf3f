#define BOOST_TEST_MODULE key_release
// A downstream system opens personal fields on lethe's topics with keys it
// fetches from `lethe serve` (POST /key-releases), signed in as a service
// account. Only an owner entitles a service, topic by topic; every release
// is in the audit log; an erased person's key answers 410; nobody but a
// service gets a key.
#include <rapidjson/document.h>
#include <sodium.h>

#include <array>
#include <boost/test/unit_test.hpp>
#include <map>

#include "lethe/domain/envelope.hpp"
#include "lethe/domain/personal.hpp"
#include "support/api.hpp"
#include "support/fixtures.hpp"

using namespace lethe;
using test::Api;

namespace {

using test::Stack;

std::string release_body(const std::string& user_id, const std::string& topic) {
  return "{\"user_id\":\"" + user_id + "\",\"topic\":\"" + topic + "\"}";
}

struct RawKey {
  int key_id = 0;
  std::array<unsigned char, domain::kPersonKeyBytes> key{};
};

RawKey key_of(const test::Reply& released) {
  RawKey out;
  out.key_id = static_cast<int>(released.num("key_id"));
  const auto b64 = released.str("key");
  std::size_t len = 0;
  BOOST_REQUIRE(sodium_base642bin(out.key.data(), out.key.size(), b64.data(), b64.size(), nullptr, &len, nullptr,
                                  sodium_base64_VARIANT_ORIGINAL) == 0);
  BOOST_REQUIRE(len == out.key.size());
  return out;
}

// A sealed string field of the first event of `type` on `stream` on the
// topic, opened as a downstream system would, with libsodium and one
// released key as the spec says (docs/sealed-format.md); nullopt when the
// key does not open it. Requires the event to be on the topic, sealed in
// the key domain `domain`.
std::optional<std::string> open_field(const Stack& s, const std::string& topic, const std::string& type,
                                      const std::string& stream, const std::string& field, const RawKey& key,
                                      const std::string& domain) {
  for (const auto& m : test::read_topic(s.topics.topic(topic))) {
    auto env = domain::decode(m.value);
    if (!env.ok() || env.value().type != type || env.value().stream_id != stream) continue;
    rapidjson::Document payload;
    payload.Parse(env.value().payload.c_str());
    const auto& value = payload[field.c_str()];
    BOOST_REQUIRE(value.IsObject());
    BOOST_TEST((value.HasMember("dom") && std::string(value["dom"].GetString()) == domain),
               field << " is not in the key domain " << domain);
    BOOST_TEST(value["kid"].GetInt() == key.key_id);
    const auto decoded = [](const rapidjson::Value& v) {
      std::string out(v.GetStringLength(), '\0');
      std::size_t n = 0;
      BOOST_REQUIRE(sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), v.GetString(),
                                      v.GetStringLength(), nullptr, &n, nullptr, sodium_base64_VARIANT_ORIGINAL) == 0);
      out.resize(n);
      return out;
    };
    const auto nonce = decoded(value["n"]), box = decoded(value["c"]);
    const auto ad = env.value().event_id + std::string(1, '\0') + field;
    std::string plain(box.size(), '\0');
    unsigned long long plain_len = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(plain.data()), &plain_len, nullptr,
                                                   reinterpret_cast<const unsigned char*>(box.data()), box.size(),
                                                   reinterpret_cast<const unsigned char*>(ad.data()), ad.size(),
                                                   reinterpret_cast<const unsigned char*>(nonce.data()),
                                                   key.key.data()) != 0)
      return std::nullopt;
    plain.resize(plain_len);
    return plain;
  }
  BOOST_FAIL("no " << type << " on " << stream << " on the topic " << topic);
  return std::nullopt;
}

std::optional<std::string> open_staff_note(const Stack& s, const std::string& person, const RawKey& key) {
  return open_field(s, "staff", "user.note_added", "usernotes-" + person, "text", key, "staff");
}

}  // namespace

// Staff-only data stays staff-only downstream, and every topic's fields are
// its own: a staff note's text is sealed in the staff key domain, a billing
// profile in the billing one, so the key a service gets for the users topic
// opens neither; the keys released for those topics (to a service an owner
// entitled to them) do.
BOOST_AUTO_TEST_CASE(a_key_for_the_users_topic_does_not_open_staff_notes) {
  Stack s;
  auto& api = s.api;
  const auto crm = api.person("crm@example.org", "service");
  const auto desk = api.person("desk@example.org", "service");
  const auto sam = api.person("sam.notes@example.org", "staff");
  const auto eve = api.person("eve.notes@example.org");
  test::must(api.call("PUT", "/users/" + crm.id + "/entitlements", R"({"topics":["users"]})", api.owner_key()), 200,
             "crm: users");
  test::must(api.call("PUT", "/users/" + desk.id + "/entitlements", R"({"topics":["billing","staff","users"]})",
                      api.owner_key()),
             200, "desk: staff");
  const std::string note = "Eve called twice about the refund; be kind.";
  test::must(api.call("PUT", "/users/" + eve.id + "/billing-profile",
                      R"({"holder_name":"Eve Notes","address":"2 Side St"})", eve.token),
             200, "billing profile");
  test::must(api.call("POST", "/users/" + eve.id + "/notes", "{\"text\":\"" + note + "\"}", sam.token), 201, "note");
  BOOST_REQUIRE(test::eventually(
      [&] {
        for (const auto& m : test::read_topic(s.topics.topic("staff")))
          if (m.key == "usernotes-" + eve.id) return true;
        return false;
      },
      std::chrono::seconds(30)));

  const auto users_key = key_of(
      test::must(api.call("POST", "/key-releases", release_body(eve.id, "users"), crm.token), 201, "crm: users key"));
  test::exactly(api.call("POST", "/key-releases", release_body(eve.id, "staff"), crm.token), 403, "crm: staff key",
                "topic");
  auto staff_release =
      test::must(api.call("POST", "/key-releases", release_body(eve.id, "staff"), desk.token), 201, "desk: staff key");
  BOOST_TEST(staff_release.str("domain") == "staff");
  const auto staff_key = key_of(staff_release);
  const auto desk_users_key = key_of(
      test::must(api.call("POST", "/key-releases", release_body(eve.id, "users"), desk.token), 201, "desk: users key"));

  BOOST_TEST(!open_staff_note(s, eve.id, users_key).has_value(), "the users key opened a staff note");
  // Every topic is a key domain of its own: her users key does not open her
  // billing profile on the billing topic; her billing key does.
  const auto billing_key = key_of(test::must(
      api.call("POST", "/key-releases", release_body(eve.id, "billing"), desk.token), 201, "desk: billing key"));
  test::exactly(api.call("POST", "/key-releases", release_body(eve.id, "billing"), crm.token), 403, "crm: billing",
                "topic");
  const auto profile = "billingprofile-" + eve.id;
  BOOST_REQUIRE(test::eventually(
      [&] {
        for (const auto& m : test::read_topic(s.topics.topic("billing")))
          if (m.key == profile) return true;
        return false;
      },
      std::chrono::seconds(30)));
  BOOST_TEST(!open_field(s, "billing", "billing.profile_set", profile, "holder_name", users_key, "billing").has_value(),
             "the users key opened a billing value");
  BOOST_TEST(open_field(s, "billing", "billing.profile_set", profile, "holder_name", billing_key, "billing")
                 .value_or("(not opened)") == "Eve Notes");
  BOOST_TEST(open_staff_note(s, eve.id, staff_key).value_or("(not opened)") == note);
  // The same person's key, whoever asks; the staff key is another.
  BOOST_TEST(users_key.key == desk_users_key.key);
  BOOST_TEST(staff_key.key != users_key.key);
  // Staff still read the note through the API, opened.
  const auto notes = test::poll(api, "/users/" + eve.id + "/notes", sam.token, [&](const test::Reply& r) {
    return r.status == 200 && r.body.find(note) != std::string::npos;
  });
  BOOST_TEST(notes.body.find(note) != std::string::npos, notes.body);
}

BOOST_AUTO_TEST_CASE(an_entitled_service_opens_a_persons_fields_and_every_release_is_audited) {
  Stack s;
  auto& api = s.api;
  const auto svc = api.person("crm-service@example.org", "service");
  const auto ann = api.person("ann.keyrelease@example.org");
  const auto adm = api.person("adm@example.org", "admin");
  const auto sam = api.person("sam@example.org", "staff");
  const auto aud = api.person("aud@example.org", "auditor");
  const auto owner = api.owner_key();

  // Not entitled yet: no key.
  test::exactly(api.call("POST", "/key-releases", release_body(ann.id, "users"), svc.token), 403, "unentitled",
                "topic");
  // Entitlements: an owner's, on a service account, known topics only.
  test::exactly(api.call("PUT", "/users/" + svc.id + "/entitlements", R"({"topics":["users"]})", adm.token), 403,
                "an admin entitles", "Authorization");
  test::exactly(api.call("PUT", "/users/" + ann.id + "/entitlements", R"({"topics":["users"]})", owner), 422,
                "a customer entitled", "user_id");
  test::exactly(api.call("PUT", "/users/" + svc.id + "/entitlements", R"({"topics":["users","nope"]})", owner), 422,
                "an unknown topic", "topics");
  test::exactly(api.call("PUT", "/users/" + svc.id + "/entitlements", R"({"topics":"users"})", owner), 400,
                "topics not an array", "topics");
  test::must(api.call("PUT", "/users/" + svc.id + "/entitlements", R"({"topics":["users"]})", owner), 200,
             "entitle to users");

  // Nobody but a service gets a key, whatever their role.
  for (const auto* token : {&ann.token, &sam.token, &adm.token, &aud.token, &owner})
    test::exactly(api.call("POST", "/key-releases", release_body(ann.id, "users"), *token), 403, "not a service");
  test::exactly(api.call("POST", "/key-releases", release_body(ann.id, "users")), 401, "anonymous");
  // Bad input names its field.
  test::exactly(api.call("POST", "/key-releases", R"({"topic":"users"})", svc.token), 400, "no user_id", "user_id");
  test::exactly(api.call("POST", "/key-releases", release_body(ann.id, ""), svc.token), 400, "empty topic", "topic");
  // Entitled to users, not to the staff topic.
  test::exactly(api.call("POST", "/key-releases", release_body(ann.id, "staff"), svc.token), 403, "staff topic",
                "topic");
  // Only a person's key: no id that is nobody's, never a key domain's secret.
  for (const auto* nobody : {"nobody-at-all", "~domain:staff", "~domain:credentials"})
    test::exactly(api.call("POST", "/key-releases", release_body(nobody, "users"), svc.token), 404, nobody, "user_id");
  // A service is nobody's "self": it issues itself no keys.
  test::exactly(api.call("POST", "/users/" + svc.id + "/api-keys", R"({"name":"more"})", svc.token), 403,
                "a service's self route", "Authorization");

  auto released =
      test::must(api.call("POST", "/key-releases", release_body(ann.id, "users"), svc.token), 201, "release");
  BOOST_TEST(released.str("user_id") == ann.id);
  BOOST_TEST(released.str("topic") == "users");
  BOOST_TEST(released.header("Cache-Control") == "no-store");
  const auto key = key_of(released);
  BOOST_TEST(key.key_id == 1);

  // The key opens what the users topic holds of her, and only with it.
  BOOST_REQUIRE(test::eventually(
      [&] {
        for (const auto& m : test::read_topic(s.topics.topic("users")))
          if (m.key == "user-" + ann.id) return true;
        return false;
      },
      std::chrono::seconds(30)));
  const auto user = "user-" + ann.id;
  BOOST_TEST(open_field(s, "users", "user.registered", user, "email", key, "users").value_or("(not opened)") ==
             "ann.keyrelease@example.org");
  RawKey wrong = key;
  wrong.key[0] ^= 1;
  BOOST_TEST(!open_field(s, "users", "user.registered", user, "email", wrong, "users").has_value());
  // Her password hash is in the credentials key domain: her users key does
  // not open it (the control: the email above did open).
  BOOST_TEST(!open_field(s, "users", "user.registered", user, "password_hash", key, "credentials").has_value());

  // The audit log has the entitlement and the release: the service as the
  // actor, the person as the target.
  const auto audited = test::poll(api, "/audit-log?target_id=" + ann.id, aud.token, [](const test::Reply& r) {
    return r.status == 200 && r.body.find("user.key_released") != std::string::npos;
  });
  bool found = false;
  for (const auto& e : audited.json["entries"].GetArray())
    if (std::string(e["action"].GetString()) == "user.key_released") {
      found = true;
      BOOST_TEST(std::string(e["actor"].GetString()) == svc.id);
    }
  BOOST_TEST(found, audited.body);
  const auto entitled = test::poll(api, "/audit-log?target_id=" + svc.id, aud.token, [](const test::Reply& r) {
    return r.status == 200 && r.body.find("user.entitlements_set") != std::string::npos;
  });
  BOOST_TEST(entitled.body.find("user.entitlements_set") != std::string::npos, entitled.body);

  // Entitlements taken away: no key again.
  test::must(api.call("PUT", "/users/" + svc.id + "/entitlements", R"({"topics":[]})", owner), 200, "unentitle");
  test::exactly(api.call("POST", "/key-releases", release_body(ann.id, "users"), svc.token), 403, "unentitled again",
                "topic");
  test::must(api.call("PUT", "/users/" + svc.id + "/entitlements", R"({"topics":["users","shop"]})", owner), 200,
             "entitle again");

  // Erased: her key is gone for good, and the service hears so.
  auto erased = test::must(api.call("POST", "/users/" + ann.id + "/erasure", "", adm.token, {{"Content-Length", "0"}}),
                           202, "erase");
  const auto request = test::until_erasure_applied(api, erased.str("id"), adm.token);
  BOOST_REQUIRE_MESSAGE(request.status == 200, request.body);
  test::exactly(api.call("POST", "/key-releases", release_body(ann.id, "users"), svc.token), 410, "erased", "user_id");
  test::exactly(api.call("POST", "/key-releases", release_body(ann.id, "shop"), svc.token), 410, "erased, shop",
                "user_id");
}

// A deactivated service account's key no longer signs in; its sessions and
// keys end with it.
BOOST_AUTO_TEST_CASE(a_deactivated_service_gets_no_key) {
  Stack s;
  auto& api = s.api;
  const auto svc = api.person("svc2@example.org", "service");
  const auto bea = api.person("bea.keyrelease@example.org");
  test::must(api.call("PUT", "/users/" + svc.id + "/entitlements", R"({"topics":["users"]})", api.owner_key()), 200,
             "entitle");
  test::must(api.call("POST", "/key-releases", release_body(bea.id, "users"), svc.token), 201, "release");
  test::must(api.call("POST", "/users/" + svc.id + "/deactivate", "", api.owner_key(), {{"Content-Length", "0"}}), 200,
             "deactivate");
  test::exactly(api.call("POST", "/key-releases", release_body(bea.id, "users"), svc.token), 401, "deactivated");
}
