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
             200, "inventory");
  const auto cart =
      test::must(api.call("POST", "/carts", "", vera.token, {{"Content-Length", "0"}}), 201, "cart").str("id");
  test::must(api.call("POST", "/carts/" + cart + "/lines",
                      test::json_object({{"product_id", product}, {"quantity", "2"}}), vera.token),
             201, "line");
  const auto order =
      test::must(api.call("POST", "/carts/" + cart + "/convert", "", vera.token, {{"Content-Length", "0"}}), 201,
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
  test::must(api.call("POST", "/tickets/" + cleo_ticket + "/comments",
                      test::json_object({{"body", "Vera Quist here, on it"}}), vera.token),
             201, "vera replies to cleo");
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
  // The master key version of today is rotated out within 30 days, and
  // destroyed by the first rotation 30 days after that (the defaults):
  // backups open her key until then, 90 days at most.
  BOOST_TEST(!request.str("readable_in_backups_until").empty(), request.body);
  const auto newest_version = db.keyring().scalar(
      "SELECT date_trunc('second', created_at) FROM master_key_versions ORDER BY version DESC LIMIT 1");
  BOOST_TEST(db.scalar("SELECT readable_in_backups_until = '" + newest_version +
                       "'::timestamptz + interval '90 days' FROM erasure_requests WHERE request_id = '" + request_id +
                       "'") == "t");
  BOOST_TEST(request.json["receipts"].Size() == 10u);
  BOOST_TEST(request.body.find(email) == std::string::npos);
  BOOST_TEST(request.body.find(name) == std::string::npos);

  // Write side: credentials, reservations, the open cart and the key are gone;
  // the account row stays, anonymous, erased.
  BOOST_TEST(db.scalar("SELECT count(*) FROM credentials WHERE user_id = '" + vera.id + "'") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM email_reservations WHERE user_id = '" + vera.id + "'") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM oauth_reservations WHERE user_id = '" + vera.id + "'") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM open_carts WHERE user_id = '" + vera.id + "'") == "0");
  BOOST_TEST(db.keyring().scalar("SELECT count(*) FROM person_keys WHERE subject = '" + vera.id + "'") == "0");
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
  // Posts and comments: kept, author NULL, author_deleted; their text is
  // sealed text in the table, which answers null with her key gone.
  BOOST_TEST(db.scalar("SELECT author_id IS NULL AND author_deleted AND body LIKE '~s2:%' FROM "
                       "content_posts") == "t");
  BOOST_TEST(db.scalar("SELECT author_id IS NULL AND author_deleted AND body LIKE '~s2:%' FROM "
                       "content_comments") == "t");
  const auto her_post = api.call("GET", "/posts/" + post, "", ada.token);
  BOOST_TEST(her_post.status == 200, her_post.body);
  BOOST_TEST(her_post.json["body"].IsNull(), her_post.body);
  BOOST_TEST(her_post.json["title"].IsNull(), her_post.body);
  BOOST_REQUIRE(her_post.json["comments"].Size() == 1u);
  BOOST_TEST(her_post.json["comments"][0]["body"].IsNull(), her_post.body);
  BOOST_TEST(her_post.body.find("my ") == std::string::npos, her_post.body);
  // Tickets: requester NULL and anonymized_at stamped; her comments likewise.
  BOOST_TEST(db.scalar("SELECT requester_id IS NULL AND anonymized_at IS NOT NULL FROM tickets WHERE ticket_id = '" +
                       own_ticket + "'") == "t");
  BOOST_TEST(db.scalar("SELECT author_id IS NULL AND anonymized_at IS NOT NULL FROM ticket_comments WHERE ticket_id "
                       "= '" +
                       own_ticket + "'") == "t");
  // Cleo's ticket is still hers to read; Vera's reply on it (Vera's words
  // and Cleo's matter, sealed under both) is unreadable.
  const auto cleos = api.call("GET", "/tickets/" + cleo_ticket, "", cleo.token);
  BOOST_TEST(cleos.str("subject") == "Broken", cleos.body);
  BOOST_TEST(cleos.str("body") == "it is", cleos.body);
  BOOST_REQUIRE(cleos.json["comments"].Size() == 1u);
  BOOST_TEST(cleos.json["comments"][0]["body"].IsNull(), cleos.body);
  BOOST_TEST(cleos.body.find("Vera") == std::string::npos, cleos.body);
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

  // The fence: commands naming her are refused with 410 naming the field
  // that holds her id; her id is never reused.
  const auto fenced = [](const test::Reply& r, const std::string& field) {
    BOOST_TEST(r.status == 410, r.status << " " << r.body);
    BOOST_TEST(r.str("error") == "gone", r.body);
    BOOST_TEST(r.str("field") == field, r.body);
  };
  fenced(api.call("POST", "/users/" + vera.id + "/erasure", "", ada.token, {{"Content-Length", "0"}}), "user_id");
  fenced(api.call("PATCH", "/users/" + vera.id, test::json_object({{"name", "Back"}}), api.owner_key()), "user_id");
  fenced(api.call("POST", "/transactions",
                  test::json_object({{"user_id", vera.id}, {"amount", "1"}, {"currency", "EUR"}, {"description", "x"}}),
                  ada.token),
         "user_id");
  fenced(
      api.call("POST", "/tickets/" + cleo_ticket + "/assign", test::json_object({{"assignee_id", vera.id}}), sam.token),
      "assignee_id");
  fenced(api.call(
             "POST", "/email-logs",
             test::json_object(
                 {{"recipient_id", vera.id}, {"template", "t"}, {"subject", "s"}, {"sent_at", "2026-11-25T08:00:00Z"}}),
             ada.token),
         "recipient_id");
  // Listed by user id; not pending.
  auto listed = api.call("GET", "/erasure-requests?user_id=" + vera.id, "", ada.token);
  BOOST_TEST(listed.status == 200);
  BOOST_TEST(listed.json["erasure_requests"].Size() == 1u);
  BOOST_TEST(api.call("GET", "/erasure-requests?status=pending", "", ada.token).json["erasure_requests"].Size() == 0u);
  BOOST_TEST(api.call("GET", "/erasure-requests?status=bogus", "", ada.token).status == 400);
}

namespace {

// Exactly this status (not only its class), and the error's field when refused.
using test::exactly;

}  // namespace

// The fence forbids new personal data of an erased person and new ties to
// them, not the business on records that name them: staff refund, credit,
// cancel, moderate and reassign afterwards. The erasure itself ends their
// subscriptions and closes their open carts, with events that say so.
BOOST_AUTO_TEST_CASE(the_business_goes_on_after_an_erasure) {
  Stack s;
  auto& api = s.api;
  auto& db = s.db;
  const auto run = test::random_suffix();
  const auto ada = api.person("ada" + run + "@example.org", "admin");
  const auto sam = api.person("sam" + run + "@example.org", "staff");
  const auto tom = api.person("tom" + run + "@example.org", "staff");
  const auto una = api.person("una" + run + "@example.org");
  const auto subscription =
      test::must(api.call("POST", "/subscriptions", test::json_object({{"plan", "pro"}}), una.token), 201, "subscribe")
          .str("id");
  const auto charge =
      test::must(
          api.call("POST", "/transactions",
                   test::json_object(
                       {{"user_id", una.id}, {"amount", "900"}, {"currency", "EUR"}, {"description", "monthly"}}),
                   ada.token),
          201, "charge")
          .str("id");
  const auto post =
      test::must(api.call("POST", "/posts", test::json_object({{"title", "Hi"}, {"body", "hello"}}), una.token), 201,
                 "post")
          .str("id");
  const auto comment =
      test::must(api.call("POST", "/posts/" + post + "/comments", test::json_object({{"body", "first"}}), una.token),
                 201, "comment")
          .str("id");
  const auto file = test::must(api.call("POST", "/files",
                                        test::json_object({{"name", "notes.txt"},
                                                           {"size", "12"},
                                                           {"content_type", "text/plain"},
                                                           {"checksum", "sha256:" + std::string(64, 'b')}}),
                                        una.token),
                               201, "file")
                        .str("id");
  const auto ticket = test::must(api.call("POST", "/tickets",
                                          test::json_object({{"subject", "Late"}, {"body", "where is it"}}), una.token),
                                 201, "ticket")
                          .str("id");
  test::must(
      api.call("POST", "/tickets/" + ticket + "/assign", test::json_object({{"assignee_id", sam.id}}), sam.token), 200,
      "assign to sam");
  test::must(api.call("POST", "/tickets/" + ticket + "/comments",
                      test::json_object({{"body", "Dear Una, Sam here: it ships today"}}), sam.token),
             201, "sam replies");
  const auto category = test::must(api.call("POST", "/categories",
                                            test::json_object({{"name", "Tea"}, {"slug", "tea-" + run}}), sam.token),
                                   201, "category")
                            .str("id");
  const auto product = test::must(api.call("POST", "/products",
                                           test::json_object({{"name", "Sencha"},
                                                              {"price", "300"},
                                                              {"currency", "EUR"},
                                                              {"category_id", category},
                                                              {"active", "true"}}),
                                           sam.token),
                                  201, "product")
                           .str("id");
  test::must(api.call("POST", "/products/" + product + "/inventory",
                      test::json_object({{"delta", "5"}, {"reason", "stock"}}), sam.token),
             200, "inventory");
  auto cart_with = [&](const std::string& what) {
    const auto cart =
        test::must(api.call("POST", "/carts", "", una.token, {{"Content-Length", "0"}}), 201, what).str("id");
    test::must(api.call("POST", "/carts/" + cart + "/lines",
                        test::json_object({{"product_id", product}, {"quantity", "1"}}), una.token),
               201, what + " line");
    return cart;
  };
  const auto ordered = cart_with("cart");
  const auto order =
      test::must(api.call("POST", "/carts/" + ordered + "/convert", "", una.token, {{"Content-Length", "0"}}), 201,
                 "convert")
          .str("id");
  const auto open_cart = cart_with("open cart");
  // A failed login under her first email, then under the one she changed
  // to: the login limit keeps a row per email (its blind index).
  auto failed_login = [&](const std::string& address) {
    exactly(api.call("POST", "/sessions", test::json_object({{"email", address}, {"password", "not her password"}})),
            401, "failed login as " + address);
  };
  failed_login(una.email);
  exactly(api.call("PATCH", "/users/" + una.id, test::json_object({{"email", "una.new" + run + "@example.org"}}),
                   api.owner_key()),
          200, "new email");
  failed_login("una.new" + run + "@example.org");
  BOOST_TEST(db.scalar("SELECT count(DISTINCT email_index) FROM login_failures") == "2");

  auto erased = exactly(api.call("POST", "/users/" + una.id + "/erasure", "", ada.token, {{"Content-Length", "0"}}),
                        202, "erase");
  const auto request = test::until_erasure_applied(api, erased.str("id"), ada.token);
  BOOST_REQUIRE_MESSAGE(request.str("status") == "erased", request.body);

  // The login limit's rows of both her emails are gone.
  BOOST_TEST(db.scalar("SELECT count(*) FROM login_failures") == "0");
  // The erasure ended her subscription and closed her open cart, as events
  // by the erasing admin; the cart she converted was left alone.
  auto last_event = [&](const std::string& stream) {
    return db.scalar("SELECT stream_version || '|' || type || '|' || actor FROM events WHERE stream_id = '" + stream +
                     "' ORDER BY stream_version DESC LIMIT 1");
  };
  BOOST_TEST(last_event("subscription-" + subscription) == "2|billing.subscription_cancelled|" + ada.id);
  BOOST_TEST(last_event("cart-" + open_cart) == "3|shop.cart_closed|" + ada.id);
  BOOST_TEST(last_event("cart-" + ordered).find("|shop.cart_converted|") != std::string::npos);
  BOOST_TEST(test::eventually(
      [&] {
        return db.scalar("SELECT status FROM billing_subscriptions WHERE subscription_id = '" + subscription + "'") ==
               "cancelled";
      },
      std::chrono::seconds(15)));
  // A second cancel is what it always was: the subscription is cancelled already.
  exactly(api.call("POST", "/subscriptions/" + subscription + "/cancel", test::json_object({{"reason", "again"}}),
                   ada.token),
          409, "cancel again", "subscription_id");

  // Staff go on with her records.
  exactly(api.call("POST", "/transactions/" + charge + "/refunds",
                   test::json_object({{"amount", "400"}, {"currency", "EUR"}, {"reason", "goodwill"}}), ada.token),
          201, "refund");
  exactly(api.call("POST", "/transactions/" + charge + "/credit-notes",
                   test::json_object({{"amount", "100"}, {"currency", "EUR"}, {"reason", "late"}}), ada.token),
          201, "credit note");
  exactly(api.call("POST", "/orders/" + order + "/cancel", test::json_object({{"reason", "never paid"}}), sam.token),
          200, "cancel order");
  exactly(api.call("PUT", "/comments/" + comment, test::json_object({{"body", "removed by a moderator"}}), ada.token),
          200, "moderate comment");
  exactly(api.call("DELETE", "/comments/" + comment, "", ada.token), 200, "delete comment");
  exactly(api.call("PUT", "/posts/" + post, test::json_object({{"title", "Hi"}, {"body", "removed by a moderator"}}),
                   ada.token),
          200, "moderate post");
  exactly(api.call("DELETE", "/posts/" + post, "", ada.token), 200, "delete post");
  exactly(api.call("DELETE", "/files/" + file, "", ada.token), 200, "delete file");
  exactly(api.call("POST", "/tickets/" + ticket + "/assign", test::json_object({{"assignee_id", tom.id}}), sam.token),
          200, "reassign her ticket");
  exactly(api.call("POST", "/tickets/" + ticket + "/status", test::json_object({{"status", "in_progress"}}), tom.token),
          200, "work on her ticket");
  BOOST_TEST(test::eventually(
      [&] {
        return db.scalar(
                   "SELECT refunded || '/' || credited || '/' || (user_id IS NULL) FROM billing_transactions "
                   "WHERE transaction_id = '" +
                   charge + "'") == "400/100/true" &&
               db.scalar("SELECT status || '/' || (user_id IS NULL) FROM shop_orders WHERE order_id = '" + order +
                         "'") == "cancelled/true" &&
               db.scalar("SELECT deleted FROM content_posts WHERE post_id = '" + post + "'") == "t" &&
               db.scalar(
                   "SELECT assignee_id || '/' || status || '/' || (requester_id IS NULL) FROM tickets WHERE "
                   "ticket_id = '" +
                   ticket + "'") == tom.id + "/in_progress/true";
      },
      std::chrono::seconds(15)));

  // What she wrote, and what staff wrote to her, is unreadable everywhere:
  // the ticket's subject and body and Sam's reply answer null, and the
  // table holds sealed text only. A reply written after her erasure keeps
  // no body (there is no key of hers to seal it under).
  exactly(api.call("POST", "/tickets/" + ticket + "/comments", test::json_object({{"body", "Closing this for Una"}}),
                   tom.token),
          201, "reply after her erasure");
  const auto seen = test::poll(api, "/tickets/" + ticket, tom.token,
                               [](const test::Reply& r) { return r.json["comments"].Size() == 2u; });
  BOOST_REQUIRE_MESSAGE(seen.status == 200 && seen.json["comments"].Size() == 2u, seen.body);
  BOOST_TEST(seen.json["subject"].IsNull(), seen.body);
  BOOST_TEST(seen.json["body"].IsNull(), seen.body);
  for (const auto& c : seen.json["comments"].GetArray()) BOOST_TEST(c["body"].IsNull(), seen.body);
  BOOST_TEST(db.scalar("SELECT subject LIKE '~s2:%' AND body LIKE '~s2:%' FROM tickets "
                       "WHERE ticket_id = '" +
                       ticket + "'") == "t");
  // Sam's reply sealed, the reply after her erasure without a body: no text
  // in clear.
  // (A search for her name in the rows would also match the random base64
  // of a sealed value, once in a few thousand runs.)
  BOOST_TEST(db.scalar("SELECT count(*) FILTER (WHERE body LIKE '~s2:%') || ' sealed, ' ||"
                       " count(*) FILTER (WHERE body IS NULL) || ' without, of ' || count(*) FROM ticket_comments"
                       " WHERE ticket_id = '" +
                       ticket + "'") == "1 sealed, 1 without, of 2",
             db.scalar("SELECT string_agg(body, ' | ') FROM ticket_comments WHERE ticket_id = '" + ticket + "'"));

  // What would tie her to something anew is refused, naming the field.
  exactly(
      api.call("POST", "/transactions",
               test::json_object({{"user_id", una.id}, {"amount", "1"}, {"currency", "EUR"}, {"description", "again"}}),
               ada.token),
      410, "new charge", "user_id");
  exactly(api.call("POST", "/subscriptions", test::json_object({{"plan", "pro"}, {"user_id", una.id}}), ada.token), 410,
          "new subscription", "user_id");
  exactly(api.call("POST", "/tickets/" + ticket + "/assign", test::json_object({{"assignee_id", una.id}}), sam.token),
          410, "assign to her", "assignee_id");
  exactly(api.call(
              "POST", "/email-logs",
              test::json_object(
                  {{"recipient_id", una.id}, {"template", "t"}, {"subject", "s"}, {"sent_at", "2026-11-25T08:00:00Z"}}),
              ada.token),
          410, "email to her", "recipient_id");
}
