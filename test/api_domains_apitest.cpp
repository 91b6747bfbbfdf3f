#define BOOST_TEST_MODULE api_domains
// Billing, content, files and email logs over HTTP against a running
// `lethe serve`, the relay and the projections: each route's happy path,
// who sees what, and bad input answered with the field at fault and
// nothing written.
#include <boost/test/unit_test.hpp>

#include "support/api.hpp"
#include "support/fixtures.hpp"

using namespace lethe;
using test::Api;

namespace {

struct Stack : test::Stack {
  std::string events() const { return db.scalar("SELECT count(*) FROM events"); }
};

std::string pos(const test::Reply& r) {
  return std::to_string(r.num("position"));
}

const std::string kChecksum = "sha256:" + std::string(64, 'b');

}  // namespace

BOOST_AUTO_TEST_CASE(a_charge_a_partial_refund_and_what_a_customer_sees) {
  Stack s;
  auto& api = s.api;
  const auto ann = api.person("ann@example.org");
  const auto bob = api.person("bob@example.org");
  const auto adm = api.person("adam@example.org", "admin");

  // The profile: the customer's own (sealed personal fields).
  auto profile = api.call("PUT", "/users/" + ann.id + "/billing-profile",
                          R"({"holder_name":"Ann A.","address":"1 Main St","tax_id":"DE123"})", ann.token);
  BOOST_REQUIRE_MESSAGE(profile.status == 200, profile.body);
  BOOST_TEST(api.call("PUT", "/users/" + ann.id + "/billing-profile", R"({"holder_name":"X","address":"Y"})", bob.token)
                 .status == 403);
  auto seen = api.call("GET", "/users/" + ann.id + "/billing-profile?min_position=" + pos(profile), "", ann.token);
  BOOST_REQUIRE_MESSAGE(seen.status == 200, seen.body);
  BOOST_TEST(seen.str("holder_name") == "Ann A.");
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events WHERE payload::text LIKE '%1 Main St%'") == "0");  // sealed

  // A charge by the billing right, a partial refund, one too many.
  auto charge = api.call(
      "POST", "/transactions",
      "{\"user_id\":\"" + ann.id + R"(","amount":10000,"currency":"EUR","description":"Annual plan"})", adm.token);
  BOOST_REQUIRE_MESSAGE(charge.status == 201, charge.body);
  const auto tx = charge.str("id");
  BOOST_TEST(api.call("POST", "/transactions",
                      "{\"user_id\":\"" + ann.id + R"(","amount":1,"currency":"EUR","description":"x"})", ann.token)
                 .status == 403);
  auto refund = api.call("POST", "/transactions/" + tx + "/refunds",
                         R"({"amount":3000,"currency":"EUR","reason":"partial"})", adm.token);
  BOOST_REQUIRE_MESSAGE(refund.status == 201, refund.body);
  auto too_much = api.call("POST", "/transactions/" + tx + "/refunds",
                           R"({"amount":7001,"currency":"EUR","reason":"all"})", adm.token);
  BOOST_TEST(too_much.status == 422);
  BOOST_TEST(too_much.str("field") == "amount");
  auto other_currency = api.call("POST", "/transactions/" + tx + "/refunds",
                                 R"({"amount":10,"currency":"USD","reason":"fx"})", adm.token);
  BOOST_TEST(other_currency.status == 422);
  BOOST_TEST(other_currency.str("field") == "currency");
  auto note = api.call("POST", "/transactions/" + tx + "/credit-notes",
                       R"({"amount":500,"currency":"EUR","reason":"goodwill"})", adm.token);
  BOOST_REQUIRE_MESSAGE(note.status == 201, note.body);

  auto view = api.call("GET", "/transactions/" + tx + "?min_position=" + pos(note), "", ann.token);
  BOOST_REQUIRE_MESSAGE(view.status == 200, view.body);
  BOOST_TEST(view.num("amount") == 10000);
  BOOST_TEST(view.num("refunded") == 3000);
  BOOST_TEST(view.num("refundable") == 7000);
  BOOST_TEST(view.num("credited") == 500);
  BOOST_TEST(view.json["refunds"].Size() == 1u);
  BOOST_TEST(view.json["credit_notes"].Size() == 1u);
  BOOST_TEST(api.call("GET", "/transactions/" + tx, "", bob.token).status == 404);  // not bob's
  BOOST_TEST(api.call("GET", "/transactions", "", bob.token).json["transactions"].Size() == 0u);
  BOOST_TEST(api.call("GET", "/transactions", "", ann.token).json["transactions"].Size() == 1u);

  // Subscriptions: create, cancel, a second cancel refused.
  auto sub = api.call("POST", "/subscriptions", R"({"plan":"pro"})", ann.token);
  BOOST_REQUIRE_MESSAGE(sub.status == 201, sub.body);
  BOOST_TEST(
      api.call("POST", "/subscriptions/" + sub.str("id") + "/cancel", R"({"reason":"too pricey"})", ann.token).status ==
      200);
  auto again = api.call("POST", "/subscriptions/" + sub.str("id") + "/cancel", R"({"reason":"again"})", ann.token);
  BOOST_TEST(again.status == 409);
  auto subs = api.call("GET", "/subscriptions?min_position=" + pos(sub), "", ann.token);
  BOOST_REQUIRE(subs.json["subscriptions"].Size() == 1u);
}

BOOST_AUTO_TEST_CASE(posts_comments_files_and_email_logs) {
  Stack s;
  auto& api = s.api;
  const auto ann = api.person("ann@example.org");
  const auto bob = api.person("bob@example.org");
  const auto adm = api.person("adam@example.org", "admin");

  auto post = api.call("POST", "/posts", R"({"title":"Hello","body":"First post"})", ann.token);
  BOOST_REQUIRE_MESSAGE(post.status == 201, post.body);
  const auto post_id = post.str("id");
  auto comment = api.call("POST", "/posts/" + post_id + "/comments", R"({"body":"Welcome!"})", bob.token);
  BOOST_REQUIRE_MESSAGE(comment.status == 201, comment.body);
  // The author or an admin edits; another user may not.
  BOOST_TEST(api.call("PUT", "/posts/" + post_id, R"({"title":"Hi","body":"x"})", bob.token).status == 403);
  BOOST_TEST(api.call("PUT", "/posts/" + post_id, R"({"title":"Hello again","body":"Edited"})", ann.token).status ==
             200);
  BOOST_TEST(api.call("PUT", "/comments/" + comment.str("id"), R"({"body":"Welcome, Ann!"})", bob.token).status == 200);
  // The post and its comment are streams of their own: wait for both.
  auto read = test::poll(api, "/posts/" + post_id + "?min_version=2", bob.token, [](const test::Reply& r) {
    return r.status == 200 && r.json.HasMember("comments") && r.json["comments"].Size() == 1u &&
           std::string(r.json["comments"][0]["body"].GetString()) == "Welcome, Ann!";
  });
  BOOST_REQUIRE_MESSAGE(read.status == 200, read.body);
  BOOST_TEST(read.str("title") == "Hello again");
  BOOST_REQUIRE(read.json["comments"].Size() == 1u);
  BOOST_TEST(std::string(read.json["comments"][0]["author_id"].GetString()) == bob.id);
  BOOST_TEST(read.json["comments_next_offset"].IsNull());
  // Paged like every list: past the last comment, an empty page.
  auto past = api.call("GET", "/posts/" + post_id + "?offset=1", "", bob.token);
  BOOST_TEST(past.json["comments"].Size() == 0u);
  BOOST_TEST(past.num("comments_offset") == 1);
  auto gone = api.call("DELETE", "/posts/" + post_id, "", adm.token);
  BOOST_REQUIRE_MESSAGE(gone.status == 200, gone.body);
  BOOST_TEST(api.call("POST", "/posts/" + post_id + "/comments", R"({"body":"late"})", bob.token).status == 409);
  BOOST_TEST(api.call("GET", "/posts/" + post_id + "?min_position=" + pos(gone), "", bob.token).status == 404);

  // Files: the owner's own.
  auto file = api.call(
      "POST", "/files",
      R"({"name":"cv.pdf","size":1234,"content_type":"application/pdf","checksum":")" + kChecksum + "\"}", ann.token);
  BOOST_REQUIRE_MESSAGE(file.status == 201, file.body);
  auto mine = api.call("GET", "/files/" + file.str("id") + "?min_position=" + pos(file), "", ann.token);
  BOOST_REQUIRE_MESSAGE(mine.status == 200, mine.body);
  BOOST_TEST(mine.num("size") == 1234);
  BOOST_TEST(api.call("GET", "/files/" + file.str("id"), "", bob.token).status == 404);
  BOOST_TEST(api.call("DELETE", "/files/" + file.str("id"), "", bob.token).status == 403);
  BOOST_TEST(api.call("DELETE", "/files/" + file.str("id"), "", ann.token).status == 200);

  // Email logs: written by a service account (admin role), read by the recipient.
  auto mail = api.call("POST", "/email-logs",
                       "{\"recipient_id\":\"" + ann.id +
                           R"(","template":"receipt","subject":"Your receipt, Ann","sent_at":"2026-11-25T08:00:00Z"})",
                       adm.token);
  BOOST_REQUIRE_MESSAGE(mail.status == 201, mail.body);
  BOOST_TEST(api.call("POST", "/email-logs",
                      "{\"recipient_id\":\"" + ann.id +
                          R"(","template":"receipt","subject":"x","sent_at":"2026-11-25T08:00:00Z"})",
                      ann.token)
                 .status == 403);
  auto logs = api.call("GET", "/email-logs?min_position=" + pos(mail), "", ann.token);
  BOOST_REQUIRE(logs.json["email_logs"].Size() == 1u);
  BOOST_TEST(std::string(logs.json["email_logs"][0]["subject"].GetString()) == "Your receipt, Ann");
  BOOST_TEST(api.call("GET", "/email-logs", "", bob.token).json["email_logs"].Size() == 0u);
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events WHERE payload::text LIKE '%Your receipt%'") == "0");  // sealed
}

BOOST_AUTO_TEST_CASE(bad_input_names_the_field_and_writes_nothing) {
  Stack s;
  auto& api = s.api;
  const auto ann = api.person("ann@example.org");
  const auto adm = api.person("adam@example.org", "admin");
  auto charge =
      api.call("POST", "/transactions",
               "{\"user_id\":\"" + ann.id + R"(","amount":100,"currency":"EUR","description":"d"})", adm.token);
  BOOST_REQUIRE(charge.status == 201);
  const auto before = s.events();
  struct Case {
    std::string method, path, body, token, field;
    int status;
  };
  const std::vector<Case> cases{
      {"PUT", "/users/" + ann.id + "/billing-profile", R"({"holder_name":"A"})", ann.token, "address", 400},
      {"POST", "/subscriptions", R"({"plan":"Pro Plan!"})", ann.token, "plan", 400},
      {"POST", "/transactions", "{\"user_id\":\"" + ann.id + R"(","amount":0,"currency":"EUR","description":"d"})",
       adm.token, "amount", 400},
      {"POST", "/transactions", "{\"user_id\":\"" + ann.id + R"(","amount":1.5,"currency":"EUR","description":"d"})",
       adm.token, "amount", 400},
      {"POST", "/transactions", "{\"user_id\":\"" + ann.id + R"(","amount":10,"currency":"eur","description":"d"})",
       adm.token, "currency", 400},
      {"POST", "/transactions/" + charge.str("id") + "/refunds", R"({"amount":101,"currency":"EUR","reason":"r"})",
       adm.token, "amount", 422},
      {"POST", "/transactions/nope/refunds", R"({"amount":1,"currency":"EUR","reason":"r"})", adm.token,
       "transaction_id", 404},
      {"POST", "/posts", R"({"title":"","body":"b"})", ann.token, "title", 400},
      {"POST", "/posts/nope/comments", R"({"body":"b"})", ann.token, "post_id", 404},
      {"POST", "/files", R"({"name":"a","size":-1,"content_type":"text/plain","checksum":")" + kChecksum + "\"}",
       ann.token, "size", 400},
      {"POST", "/files", R"({"name":"a","size":1,"content_type":"text/plain","checksum":"md5:00"})", ann.token,
       "checksum", 400},
      {"POST", "/email-logs",
       "{\"recipient_id\":\"" + ann.id + R"(","template":"Receipt!","subject":"s","sent_at":"2026-11-25T08:00:00Z"})",
       adm.token, "template", 400},
  };
  for (const auto& c : cases) {
    auto r = api.call(c.method, c.path, c.body, c.token);
    BOOST_TEST(r.status == c.status, c.method << " " << c.path << " " << c.body << ": " << r.status << " " << r.body);
    BOOST_TEST(r.str("field") == c.field, c.path << " " << c.body << ": " << r.body);
  }
  BOOST_TEST(s.events() == before);
}
