#define BOOST_TEST_MODULE api_erasure
// The right to erasure end to end, over HTTP against `lethe serve`, with
// the real relay, projector, Kafka and PostgreSQL: the data-handling table
// row by row, ownership handed over, financial totals unchanged, receipts
// from every projection, the fence, who may erase whom, the rate limit and
// the self-service token flow.
#include <boost/test/unit_test.hpp>

#include "support/api.hpp"
#include "support/fixtures.hpp"

using namespace lethe;
using test::Api;

namespace {

using Stack = test::Served;

}  // namespace

BOOST_AUTO_TEST_CASE(the_data_handling_table_row_by_row) {
  Stack s;
  auto& api = s.api;
  auto& db = s.db;
  const auto run = test::random_suffix();
  const std::string email = "vera" + run + "@example.org", name = "Vera Quist " + run;
  const auto ada = api.person("ada" + run + "@example.org", "admin");
  const auto sam = api.person("sam" + run + "@example.org", "staff");
  const auto cleo = api.person("cleo" + run + "@example.org");
  // Vera: staff, so that tickets are assigned to her and she creates catalogue records.
  auto vera = api.person(email, "staff");
  test::must(api.call("PATCH", "/users/" + vera.id, test::json_object({{"name", name}}), vera.token), 200, "rename");
  test::must(api.call("POST", "/users/" + vera.id + "/api-keys", test::json_object({{"name", "laptop"}}), vera.token),
             201, "api key");
  test::must(api.call("POST", "/users/" + vera.id + "/oauth-identities",
                      test::json_object({{"provider", "github"}, {"subject", "gh-" + run}}), vera.token),
             201, "oauth");
  test::must(
      api.call("POST", "/users/" + vera.id + "/notes", test::json_object({{"text", "asked about " + name}}), sam.token),
      201, "note about vera");
  test::must(
      api.call("POST", "/users/" + cleo.id + "/notes", test::json_object({{"text", "note by vera"}}), vera.token), 201,
      "note by vera");
  test::must(
      api.call("PUT", "/users/" + vera.id + "/billing-profile",
               test::json_object({{"holder_name", name}, {"address", "1 Quist Lane " + run}, {"tax_id", "TX" + run}}),
               vera.token),
      200, "billing profile");
  // Catalogue records she created, bought from, and a cart left open.
  const auto category = test::must(api.call("POST", "/categories",
                                            test::json_object({{"name", "Tea"}, {"slug", "tea-" + run}}), vera.token),
                                   201, "category")
                            .str("id");
  const auto product = test::must(api.call("POST", "/products",
                                           test::json_object({{"name", "Oolong"},
                                                              {"price", "450"},
                                                              {"currency", "EUR"},
                                                              {"category_id", category},
                                                              {"active", "true"}}),
                                           vera.token),
                                  201, "product")
                           .str("id");
  test::must(api.call("POST", "/products/" + product + "/inventory",
                      test::json_object({{"delta", "10"}, {"reason", "stock"}}), vera.token),
             201, "inventory");
  const auto cart =
      test::must(api.call("POST", "/carts", "", vera.token, {{"Content-Length", "0"}}), 201, "cart").str("id");
  test::must(api.call("POST", "/carts/" + cart + "/lines",
                      test::json_object({{"product_id", product}, {"quantity", "2"}}), vera.token),
             201, "line");
  const auto order =
      test::must(api.call("POST", "/carts/" + cart + "/convert", "", vera.token, {{"Content-Length", "0"}}), 200,
                 "convert")
          .str("id");
  const auto open_cart =
      test::must(api.call("POST", "/carts", "", vera.token, {{"Content-Length", "0"}}), 201, "open cart").str("id");
  test::must(api.call("POST", "/carts/" + open_cart + "/lines",
                      test::json_object({{"product_id", product}, {"quantity", "1"}}), vera.token),
             201, "open line");
  const auto charge =
      test::must(api.call("POST", "/transactions",
                          test::json_object(
                              {{"user_id", vera.id}, {"amount", "900"}, {"currency", "EUR"}, {"description", "order"}}),
                          ada.token),
                 201, "charge")
          .str("id");
  test::must(api.call("POST", "/transactions/" + charge + "/credit-notes",
                      test::json_object({{"amount", "100"}, {"currency", "EUR"}, {"reason", "late"}}), ada.token),
             201, "credit note");
  test::must(api.call("POST", "/email-logs",
                      test::json_object({{"recipient_id", vera.id},
                                         {"template", "welcome"},
                                         {"subject", "Hello " + name},
                                         {"sent_at", "2026-11-25T08:00:00Z"}}),
                      ada.token),
             201, "email log");
  const auto file = test::must(api.call("POST", "/files",
                                        test::json_object({{"name", "cv.pdf"},
                                                           {"size", "1234"},
                                                           {"content_type", "application/pdf"},
                                                           {"checksum", "sha256:" + std::string(64, 'a')}}),
                                        vera.token),
                               201, "file")
                        .str("id");
  const auto post =
      test::must(api.call("POST", "/posts", test::json_object({{"title", "Hi"}, {"body", "my post"}}), vera.token), 201,
                 "post")
          .str("id");
  test::must(api.call("POST", "/posts/" + post + "/comments", test::json_object({{"body", "my comment"}}), vera.token),
             201, "comment");
  const auto own_ticket =
      test::must(api.call("POST", "/tickets", test::json_object({{"subject", "Help"}, {"body", "please"}}), vera.token),
                 201, "ticket")
          .str("id");
  test::must(
      api.call("POST", "/tickets/" + own_ticket + "/comments", test::json_object({{"body", "more"}}), vera.token), 201,
      "ticket comment");
  const auto cleo_ticket =
      test::must(
          api.call("POST", "/tickets", test::json_object({{"subject", "Broken"}, {"body", "it is"}}), cleo.token), 201,
          "ticket 2")
          .str("id");
  test::must(
      api.call("POST", "/tickets/" + cleo_ticket + "/assign", test::json_object({{"assignee_id", vera.id}}), sam.token),
      200, "assign");
  // Everything reached the read models before the erasure.
  BOOST_REQUIRE(test::eventually(
      [&] {
        return db.scalar("SELECT count(*) FROM email_logs") == "1" && db.scalar("SELECT count(*) FROM files") == "1" &&
               db.scalar("SELECT count(*) FROM content_comments") == "1" &&
               db.scalar("SELECT assignee_id FROM tickets WHERE ticket_id = '" + cleo_ticket + "'") == vera.id &&
               db.scalar("SELECT count(*) FROM billing_credit_notes") == "1" &&
               db.scalar("SELECT count(*) FROM shop_cart_lines WHERE cart_id = '" + open_cart + "'") == "1";
      },
      std::chrono::seconds(20)));
  const auto totals_before = db.rows("SELECT amount, refunded, credited FROM billing_transactions");

  // Ada (an admin) erases Vera (staff).
  auto erased = test::must(api.call("POST", "/users/" + vera.id + "/erasure", "", ada.token, {{"Content-Length", "0"}}),
                           202, "erase");
  const auto request_id = erased.str("id");
  auto request = test::until_erasure_applied(api, request_id, ada.token);
  BOOST_REQUIRE_MESSAGE(request.status == 200, request.body);
  BOOST_TEST(request.str("status") == "erased");  // the external tasks wait
  BOOST_TEST(request.str("key_fingerprint").size() == 32u);
  BOOST_TEST(request.str("beyond_reach").find("backups") != std::string::npos);
  BOOST_TEST(request.json["receipts"].Size() == 10u);
  BOOST_TEST(request.body.find(email) == std::string::npos);
  BOOST_TEST(request.body.find(name) == std::string::npos);

  // Write side: credentials, reservations, the open cart and the key are gone;
  // the account row stays, anonymous, erased.
  BOOST_TEST(db.scalar("SELECT count(*) FROM credentials WHERE user_id = '" + vera.id + "'") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM email_reservations WHERE user_id = '" + vera.id + "'") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM oauth_reservations WHERE user_id = '" + vera.id + "'") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM open_carts WHERE user_id = '" + vera.id + "'") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM person_keys WHERE subject = '" + vera.id + "'") == "0");
  BOOST_TEST(db.scalar("SELECT email_index IS NULL AND NOT active AND erased_at IS NOT NULL FROM accounts WHERE "
                       "user_id = '" +
                       vera.id + "'") == "t");
  BOOST_TEST(db.scalar("SELECT key_fingerprint FROM erased_persons WHERE subject = '" + vera.id + "'") ==
             request.str("key_fingerprint"));
  // Her credentials stopped working at once.
  BOOST_TEST(api.call("GET", "/me", "", vera.token).status == 401);

  // Delete: OAuth identities, notes about her, billing profile, carts and lines.
  BOOST_TEST(db.scalar("SELECT count(*) FROM user_oauth_identities WHERE user_id = '" + vera.id + "'") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM user_notes WHERE user_id = '" + vera.id + "'") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM billing_profiles WHERE user_id = '" + vera.id + "'") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM shop_carts WHERE cart_id IN ('" + cart + "', '" + open_cart + "')") ==
             "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM shop_cart_lines WHERE cart_id IN ('" + cart + "', '" + open_cart + "')") ==
             "0");
  // A note she wrote about someone else stays, without its author.
  BOOST_TEST(db.scalar("SELECT author IS NULL FROM user_notes WHERE user_id = '" + cleo.id + "'") == "t");
  // Kept, person NULL: orders, transactions, credit notes, email logs (and their subject), files.
  BOOST_TEST(db.scalar("SELECT user_id IS NULL FROM shop_orders WHERE order_id = '" + order + "'") == "t");
  BOOST_TEST(db.scalar("SELECT count(*) FROM billing_transactions WHERE user_id IS NULL") == "1");
  BOOST_TEST(db.scalar("SELECT count(*) FROM billing_credit_notes WHERE user_id IS NULL") == "1");
  BOOST_TEST(db.scalar("SELECT recipient_id IS NULL AND subject IS NULL FROM email_logs") == "t");
  BOOST_TEST(db.scalar("SELECT owner_id IS NULL FROM files WHERE file_id = '" + file + "'") == "t");
  // Financial totals unchanged.
  BOOST_TEST(db.rows("SELECT amount, refunded, credited FROM billing_transactions") == totals_before);
  // Posts and comments: content kept, author NULL, author_deleted.
  BOOST_TEST(db.scalar("SELECT author_id IS NULL AND author_deleted AND body = 'my post' FROM content_posts") == "t");
  BOOST_TEST(db.scalar("SELECT author_id IS NULL AND author_deleted AND body = 'my comment' FROM content_comments") ==
             "t");
  // Tickets: requester NULL and anonymized_at stamped; her comments likewise.
  BOOST_TEST(db.scalar("SELECT requester_id IS NULL AND anonymized_at IS NOT NULL FROM tickets WHERE ticket_id = '" +
                       own_ticket + "'") == "t");
  BOOST_TEST(db.scalar("SELECT author_id IS NULL AND anonymized_at IS NOT NULL FROM ticket_comments WHERE ticket_id "
                       "= '" +
                       own_ticket + "'") == "t");
  // Handed over to Ada: the ticket assigned to her, the product, the category.
  BOOST_TEST(test::eventually(
      [&] {
        return db.scalar("SELECT assignee_id FROM tickets WHERE ticket_id = '" + cleo_ticket + "'") == ada.id &&
               db.scalar("SELECT created_by FROM shop_products WHERE product_id = '" + product + "'") == ada.id &&
               db.scalar("SELECT created_by FROM shop_categories WHERE category_id = '" + category + "'") == ada.id;
      },
      std::chrono::seconds(10)));
  BOOST_TEST(request.json["records"].Size() == 3u);
  // The user row: anonymized, erased_at set.
  BOOST_TEST(db.scalar("SELECT email || '|' || name || '|' || (erased_at IS NOT NULL) FROM users WHERE user_id = '" +
                       vera.id + "'") == "deleted-" + vera.id + "@anonymous.invalid|Deleted user|true");
  // The audit log keeps its entries with her id and no personal text.
  BOOST_TEST(db.scalar("SELECT count(*) FROM audit_log WHERE target_id = '" + vera.id + "'") != "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM audit_log WHERE action = 'user.erased' AND target_id = '" + request_id +
                       "'") == "1");

  // Nothing of hers is left anywhere: every table, every topic.
  test::Process verify({"gdpr", "verify", vera.id, "--email", email, "--name", name}, test::lethe_env(s.db, s.topics));
  BOOST_TEST(verify.wait() == 0);

  // The external tasks: confirmed by an admin, each once, into the audit log.
  for (const std::string task : {"payment_provider", "newsletter"}) {
    test::must(api.call("POST", "/erasure-requests/" + request_id + "/tasks/" + task + "/confirm", "", ada.token,
                        {{"Content-Length", "0"}}),
               200, task);
    BOOST_TEST(api.call("POST", "/erasure-requests/" + request_id + "/tasks/" + task + "/confirm", "", ada.token,
                        {{"Content-Length", "0"}})
                   .status == 409);
  }
  BOOST_TEST(api.call("POST", "/erasure-requests/" + request_id + "/tasks/fax/confirm", "", ada.token,
                      {{"Content-Length", "0"}})
                 .status == 404);
  auto complete = test::poll(api, "/erasure-requests/" + request_id, ada.token,
                             [](const test::Reply& r) { return r.str("status") == "complete"; });
  BOOST_TEST(complete.str("status") == "complete", complete.body);
  BOOST_TEST(test::eventually(
      [&] {
        return db.scalar("SELECT count(*) FROM audit_log WHERE action = 'erasure.task_confirmed' AND actor = '" +
                         ada.id + "' AND target_id = '" + request_id + "'") == "2";
      },
      std::chrono::seconds(10)));

  // The fence: commands naming her are refused with 410, her id is never reused.
  BOOST_TEST(api.call("POST", "/users/" + vera.id + "/erasure", "", ada.token, {{"Content-Length", "0"}}).status ==
             410);
  BOOST_TEST(api.call("PATCH", "/users/" + vera.id, test::json_object({{"name", "Back"}}), api.owner_key()).status ==
             410);
  BOOST_TEST(
      api.call("POST", "/transactions",
               test::json_object({{"user_id", vera.id}, {"amount", "1"}, {"currency", "EUR"}, {"description", "x"}}),
               ada.token)
          .status == 410);
  BOOST_TEST(
      api.call("POST", "/tickets/" + cleo_ticket + "/assign", test::json_object({{"assignee_id", vera.id}}), sam.token)
          .status != 200);
  BOOST_TEST(
      api.call(
             "POST", "/email-logs",
             test::json_object(
                 {{"recipient_id", vera.id}, {"template", "t"}, {"subject", "s"}, {"sent_at", "2026-11-25T08:00:00Z"}}),
             ada.token)
          .status == 410);
  // Listed by user id; not pending.
  auto listed = api.call("GET", "/erasure-requests?user_id=" + vera.id, "", ada.token);
  BOOST_TEST(listed.status == 200);
  BOOST_TEST(listed.json["erasure_requests"].Size() == 1u);
  BOOST_TEST(api.call("GET", "/erasure-requests?status=pending", "", ada.token).json["erasure_requests"].Size() == 0u);
  BOOST_TEST(api.call("GET", "/erasure-requests?status=bogus", "", ada.token).status == 400);
}
