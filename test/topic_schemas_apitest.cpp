#define BOOST_TEST_MODULE topic_schemas
// Every message on every topic validates against the schemas a downstream
// team would subscribe with: the envelope schema, and its type's payload
// schema (personal fields in their sealed form). The messages come from a
// walk through every domain over HTTP, relayed by the real relay and read
// raw from the broker.
#include <boost/test/unit_test.hpp>
#include <map>
#include <set>

#include "lethe/domain/envelope.hpp"
#include "lethe/domain/registry.hpp"
#include "support/api.hpp"
#include "support/fixtures.hpp"
#include "support/json_schema.hpp"
#include "support/scenario.hpp"

using namespace lethe;
using test::Api;

namespace {

std::string id_of(const test::Reply& r, const std::string& what) {
  BOOST_REQUIRE_MESSAGE(r.status / 100 == 2, what << ": " << r.status << " " << r.body);
  return r.str("id");
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_message_on_every_topic_validates_against_its_schemas) {
  test::TestSchema db;
  test::TestTopics topics;
  Api api{db, &topics};
  auto& a = api;
  const auto owner = a.owner_key();
  const auto ann = a.person("ann@example.org");
  const auto sam = a.person("sam@example.org", "staff");

  // Users: profile, role, key, note, identity, a failed login.
  id_of(a.call("PATCH", "/users/" + ann.id, R"({"name":"Ann B."})", ann.token), "rename");
  id_of(a.call("PUT", "/users/" + sam.id + "/role", R"({"role":"admin"})", owner), "role");
  id_of(a.call("POST", "/users/" + ann.id + "/api-keys", R"({"name":"laptop"})", ann.token), "api key");
  id_of(a.call("POST", "/users/" + ann.id + "/notes", R"({"text":"prefers mail"})", sam.token), "note");
  id_of(a.call("POST", "/users/" + ann.id + "/oauth-identities", R"({"provider":"github","subject":"42"})", ann.token),
        "oauth");
  a.call("POST", "/sessions", R"({"email":"ann@example.org","password":"wrong one"})");
  // Tickets.
  const auto ticket = id_of(a.call("POST", "/tickets", R"({"subject":"Help","body":"Please"})", ann.token), "ticket");
  id_of(a.call("POST", "/tickets/" + ticket + "/assign", "{\"assignee_id\":\"" + sam.id + "\"}", sam.token), "assign");
  id_of(a.call("POST", "/tickets/" + ticket + "/status", R"({"status":"in_progress"})", sam.token), "status");
  id_of(a.call("POST", "/tickets/" + ticket + "/comments", R"({"body":"On it"})", sam.token), "comment");
  id_of(a.call("POST", "/tickets/" + ticket + "/internal-notes", R"({"text":"VIP"})", sam.token), "internal note");
  // Shop: catalogue, stock, a cart converted, an order cancelled, one fulfilled.
  const auto cat = id_of(a.call("POST", "/categories", R"({"name":"Shirts","slug":"shirts"})", sam.token), "category");
  const auto tee =
      id_of(a.call("POST", "/products", R"({"name":"Tee","price":1500,"currency":"EUR","category_id":")" + cat + "\"}",
                   sam.token),
            "product");
  id_of(a.call("PUT", "/products/" + tee,
               R"({"name":"Tee","price":1600,"currency":"EUR","category_id":")" + cat + "\"}", sam.token),
        "product update");
  id_of(a.call("POST", "/products/" + tee + "/inventory", R"({"delta":10,"reason":"delivery"})", sam.token), "stock");
  std::vector<std::string> orders;
  for (int i = 0; i < 2; ++i) {
    const auto cart = id_of(a.call("POST", "/carts", "", ann.token), "cart");
    const auto line =
        id_of(a.call("POST", "/carts/" + cart + "/lines",
                     "{\"product_id\":\"" + tee + R"(","quantity":2,"selected_specs":{"size":"M"}})", ann.token),
              "line");
    id_of(a.call("PUT", "/carts/" + cart + "/lines/" + line, R"({"quantity":3})", ann.token), "quantity");
    const auto other =
        id_of(a.call("POST", "/carts/" + cart + "/lines",
                     "{\"product_id\":\"" + tee + R"(","quantity":1,"selected_specs":{"size":"L"}})", ann.token),
              "second line");
    id_of(a.call("DELETE", "/carts/" + cart + "/lines/" + other, "", ann.token), "remove line");
    orders.push_back(id_of(a.call("POST", "/carts/" + cart + "/convert", "", ann.token), "convert"));
  }
  id_of(a.call("POST", "/orders/" + orders[0] + "/cancel", R"({"reason":"changed my mind"})", ann.token), "cancel");
  id_of(a.call("POST", "/orders/" + orders[1] + "/fulfil", "", sam.token), "fulfil");
  // Billing.
  id_of(a.call("PUT", "/users/" + ann.id + "/billing-profile", R"({"holder_name":"Ann","address":"1 Main St"})",
               ann.token),
        "profile");
  const auto sub = id_of(a.call("POST", "/subscriptions", R"({"plan":"pro"})", ann.token), "subscription");
  id_of(a.call("POST", "/subscriptions/" + sub + "/cancel", R"({"reason":"too pricey"})", ann.token), "cancel sub");
  const auto charge =
      id_of(a.call("POST", "/transactions",
                   "{\"user_id\":\"" + ann.id + R"(","amount":4800,"currency":"EUR","description":"Order"})", owner),
            "charge");
  id_of(
      a.call("POST", "/transactions/" + charge + "/refunds", R"({"amount":1600,"currency":"EUR","reason":"r"})", owner),
      "refund");
  id_of(a.call("POST", "/transactions/" + charge + "/credit-notes", R"({"amount":100,"currency":"EUR","reason":"c"})",
               owner),
        "credit note");
  // Content, files, email.
  const auto post = id_of(a.call("POST", "/posts", R"({"title":"Hi","body":"First"})", ann.token), "post");
  id_of(a.call("PUT", "/posts/" + post, R"({"title":"Hi!","body":"First!"})", ann.token), "edit post");
  const auto comment =
      id_of(a.call("POST", "/posts/" + post + "/comments", R"({"body":"Nice"})", sam.token), "comment");
  id_of(a.call("PUT", "/comments/" + comment, R"({"body":"Very nice"})", sam.token), "edit comment");
  id_of(a.call("DELETE", "/comments/" + comment, "", sam.token), "delete comment");
  id_of(a.call("DELETE", "/posts/" + post, "", ann.token), "delete post");
  const auto file = id_of(a.call("POST", "/files",
                                 R"({"name":"cv.pdf","size":10,"content_type":"application/pdf","checksum":"sha256:)" +
                                     std::string(64, 'c') + "\"}",
                                 ann.token),
                          "file");
  id_of(a.call("DELETE", "/files/" + file, "", ann.token), "delete file");
  id_of(a.call("POST", "/email-logs",
               "{\"recipient_id\":\"" + ann.id +
                   R"(","template":"receipt","subject":"Your receipt","sent_at":"2026-11-25T08:00:00Z"})",
               owner),
        "email");
  BOOST_TEST(a.call("DELETE", "/sessions/current", "", ann.token).status == 200);
  // The rest of the account's life, by the owner.
  id_of(a.call("PATCH", "/users/" + ann.id, R"({"email":"ann.b@example.org"})", owner), "email change");
  id_of(a.call("PUT", "/users/" + ann.id + "/password", R"({"new_password":"a new password"})", owner), "password");
  const auto keys = a.call("GET", "/users/" + ann.id + "/api-keys", "", owner);
  BOOST_REQUIRE(keys.status == 200 && keys.json["api_keys"].Size() == 1u);
  id_of(a.call("DELETE", "/users/" + ann.id + "/api-keys/" + keys.json["api_keys"][0]["key_id"].GetString(), "", owner),
        "revoke key");
  id_of(a.call("POST", "/users/" + ann.id + "/deactivate", "", owner), "deactivate");
  id_of(a.call("POST", "/users/" + ann.id + "/restore", "", owner), "restore");
  // Ann's plan: a trial used up, a card, a plan and its usage, the card gone;
  // then a trial converted by a plan.
  const auto plan = "/users/" + ann.id;
  id_of(a.call("POST", plan + "/trial", R"({"plan":"pro","limit":2,"days":7})", owner), "trial");
  id_of(a.call("POST", plan + "/usage", R"({"units":2})", owner), "trial used up");
  id_of(a.call("PUT", plan + "/payment-method", R"({"brand":"visa","last4":"4242","expires":"12/29"})", owner), "card");
  id_of(a.call("PUT", plan + "/plan", R"({"plan":"pro","monthly_limit":100})", owner), "plan");
  id_of(a.call("POST", plan + "/usage", R"({"units":5})", owner), "usage");
  id_of(a.call("DELETE", plan + "/payment-method", "", owner), "card removed");
  // A downstream service, entitled by the owner, fetches Ann's key.
  const auto svc = a.person("svc@example.org", "service");
  id_of(a.call("PUT", "/users/" + svc.id + "/entitlements", R"({"topics":["users"]})", owner), "entitle");
  id_of(a.call("POST", "/key-releases", "{\"user_id\":\"" + ann.id + R"(","topic":"users"})", svc.token), "key");

  // Erasure: a staff member who owns a ticket, a category and a product, and
  // has a cart open and a subscription, is erased by the owner (the records
  // are handed over, the cart closed, the subscription cancelled); a person asks for
  // their own erasure, confirms it, and an admin carries it out and confirms
  // an external task; another asks and withdraws.
  const auto stan = a.person("stan@example.org", "staff");
  const auto stans_cat =
      id_of(a.call("POST", "/categories", R"({"name":"Mugs","slug":"mugs"})", stan.token), "stan's category");
  id_of(a.call("POST", "/products", R"({"name":"Mug","price":900,"currency":"EUR","category_id":")" + stans_cat + "\"}",
               stan.token),
        "stan's product");
  id_of(a.call("POST", "/tickets/" + ticket + "/assign", "{\"assignee_id\":\"" + stan.id + "\"}", sam.token),
        "assign to stan");
  id_of(a.call("POST", "/carts", "", stan.token), "stan's cart");
  id_of(a.call("POST", "/subscriptions", R"({"plan":"basic"})", stan.token), "stan's subscription");
  id_of(a.call("POST", "/users/" + stan.id + "/erasure", "", owner), "erase stan");
  const auto eve = a.person("eve@example.org");
  const auto asked = a.call("POST", "/me/erasure", "", eve.token);
  const auto request = id_of(asked, "eve asks");
  id_of(a.call("POST", "/me/erasure/confirm",
               "{\"token\":\"" + asked.str("token") + "\",\"password\":\"a good password\"}", eve.token),
        "eve confirms");
  id_of(a.call("POST", "/erasure-requests/" + request + "/execute", "", sam.token), "sam carries it out");
  id_of(a.call("POST", "/erasure-requests/" + request + "/tasks/newsletter/confirm", "", sam.token), "task");
  // Fay asks and withdraws.
  const auto fay = a.person("fay@example.org");
  id_of(a.call("POST", "/me/erasure", "", fay.token), "fay asks");
  id_of(a.call("POST", "/me/erasure/cancel", "", fay.token), "fay withdraws");
  // A dead letter, as a projection leaves one, revealed by the owner.
  test::produce_raw(topics.topic("dead-letters"), "user-garbled", "not an event",
                    {{"projection", "users"},
                     {"source_topic", topics.topic("users")},
                     {"source_partition", "0"},
                     {"source_offset", "7"},
                     {"reason", "not an envelope"}});
  id_of(a.call("POST", "/dead-letters/0-0/reveal", "", owner), "reveal a dead letter");
  // A rollback started from the console (with nothing kept, it fails in the
  // server; the start is on record all the same).
  id_of(a.call("POST", "/projections/users/rollback", "", owner), "start a rollback");
  // The projections' receipts (erasure.applied) come from their own runs.
  test::relay_until_idle(db, topics);
  BOOST_TEST(test::Process({"project", "--until-idle"}, test::lethe_env(db, topics)).wait() == 0);

  test::relay_until_idle(db, topics);
  const auto envelope_schema = test::load_schema(test::envelope_schema_file());
  std::map<std::string, std::unique_ptr<valijson::Schema>> payload_schemas;
  std::set<std::string> seen_types;
  std::size_t messages = 0;
  for (const auto* topic :
       {"users", "tickets", "shop", "billing", "content", "files", "email", "staff", "erasure", "operations"}) {
    for (const auto& m : test::read_topic(topics.topic(topic))) {
      ++messages;
      BOOST_TEST(test::violations(*envelope_schema, m.value) == "", topic << ": " << m.value.substr(0, 200));
      auto env = domain::decode(m.value);
      BOOST_REQUIRE_MESSAGE(env.ok(), m.value.substr(0, 200));
      const auto& e = env.value();
      // On the topic its type is registered for.
      const auto* spec = domain::find_event_type(e.type, e.schema_version);
      BOOST_REQUIRE_MESSAGE(spec != nullptr, e.type);
      BOOST_TEST(std::string(spec->topic) == topic, e.type);
      auto& schema = payload_schemas[e.type];
      if (!schema) schema = test::load_schema(test::schema_file(e.type, e.schema_version));
      BOOST_TEST(test::violations(*schema, e.payload) == "", e.type << ": " << e.payload.substr(0, 300));
      seen_types.insert(e.type);
    }
  }
  BOOST_TEST(messages == std::stoull(db.scalar("SELECT count(*) FROM events")));
  // The walk produced every registered type.
  for (const auto* d : domain::domains())
    for (const auto& t : d->events) BOOST_TEST(seen_types.count(std::string(t.type)) == 1u, t.type);
}
