#define BOOST_TEST_MODULE erasure_sticky
// An erasure stays carried out, whatever comes after it, over HTTP against
// `lethe serve` with the real relay, projector, Kafka and PostgreSQL:
//  - events naming the erased person that are appended after the erasure
//    (straight into the event store, past the command fence) reach the
//    read models without the person, and events of a stream whose rows the
//    policy deleted are skipped, with no dead letter; later commands on her
//    records that do not name her (a status change, a fulfilment, a reply)
//    leave the nulled person columns NULL;
//  - a replay of every projection from offset zero forgets the person again,
//    rebuilds the same read models, and appends no second receipt;
//  - nothing of the person is left in clear in the broker's segment files
//    or in any table (the topics are uncompressed here, so the bytes on disk
//    are the records as sent; the ids and event types found there prove the
//    search reads plaintext).
#include <signal.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cctype>
#include <optional>

#include "billing.hpp"
#include "content.hpp"
#include "files.hpp"
#include "shop.hpp"
#include "support/api.hpp"
#include "support/events.hpp"
#include "support/fixtures.hpp"
#include "support/scenario.hpp"

using namespace lethe;
using namespace std::chrono_literals;
using test::Api;

namespace {

// Uncompressed topics: the segment files hold the records as sent.
struct Stack : test::Served {
  Stack() : test::Served({.topic_config = {{"compression.type", "uncompressed"}}}) {}
};

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (const char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The erased person, the people around her, and one record of hers in
// every domain, her email and name in every personal field there is.
struct Footprint {
  Api::Person ada, sam, cleo, vera;
  std::string run, old_email, email, name, password, oauth_subject, address, tax_id;
  std::string category, product, cart, order, open_cart, charge, file, post, own_ticket, cleo_ticket;
};

Footprint leave_footprint(Stack& s) {
  auto& api = s.api;
  Footprint f;
  f.run = test::random_suffix();
  const auto& run = f.run;
  f.old_email = "vqold" + run + "@example.org";
  f.email = "vquist" + run + "@example.org";
  f.name = "Vera Quist " + run;
  f.password = "pass of vera " + run;
  f.oauth_subject = "gh-vq-" + run;
  f.address = "1 Quist Lane " + run;
  f.tax_id = "TXVQ" + run;
  f.ada = api.person("ada" + run + "@example.org", "admin");
  f.sam = api.person("sam" + run + "@example.org", "staff");
  f.cleo = api.person("cleo" + run + "@example.org");
  // Vera: staff, so that tickets are assigned to her and she creates
  // catalogue records; registered under her name, then a new email.
  auto& vera = f.vera;
  vera.id =
      test::must(api.call("POST", "/users",
                          test::json_object(
                              {{"email", f.old_email}, {"name", f.name}, {"role", "staff"}, {"password", f.password}}),
                          api.owner_key()),
                 201, "register vera")
          .str("id");
  vera.token =
      test::must(api.call("POST", "/sessions", test::json_object({{"email", f.old_email}, {"password", f.password}})),
                 201, "login")
          .str("token");
  vera.email = f.email;
  test::must(api.call("PATCH", "/users/" + vera.id, test::json_object({{"email", f.email}}), vera.token), 200,
             "new email");
  test::must(api.call("POST", "/users/" + vera.id + "/api-keys", test::json_object({{"name", "laptop"}}), vera.token),
             201, "api key");
  test::must(api.call("POST", "/users/" + vera.id + "/oauth-identities",
                      test::json_object({{"provider", "github"}, {"subject", f.oauth_subject}}), vera.token),
             201, "oauth");
  test::must(api.call("POST", "/users/" + vera.id + "/notes", test::json_object({{"text", "asked about " + f.name}}),
                      f.sam.token),
             201, "note about vera");
  test::must(
      api.call("POST", "/users/" + f.cleo.id + "/notes", test::json_object({{"text", "note by vera"}}), vera.token),
      201, "note by vera");
  test::must(
      api.call("PUT", "/users/" + vera.id + "/billing-profile",
               test::json_object({{"holder_name", f.name}, {"address", f.address}, {"tax_id", f.tax_id}}), vera.token),
      200, "billing profile");
  f.category = test::must(api.call("POST", "/categories", test::json_object({{"name", "Tea"}, {"slug", "tea-" + run}}),
                                   vera.token),
                          201, "category")
                   .str("id");
  f.product = test::must(api.call("POST", "/products",
                                  test::json_object({{"name", "Oolong"},
                                                     {"price", "450"},
                                                     {"currency", "EUR"},
                                                     {"category_id", f.category},
                                                     {"active", "true"}}),
                                  vera.token),
                         201, "product")
                  .str("id");
  test::must(api.call("POST", "/products/" + f.product + "/inventory",
                      test::json_object({{"delta", "10"}, {"reason", "stock"}}), vera.token),
             200, "inventory");
  f.cart = test::must(api.call("POST", "/carts", "", vera.token, {{"Content-Length", "0"}}), 201, "cart").str("id");
  test::must(api.call("POST", "/carts/" + f.cart + "/lines",
                      test::json_object({{"product_id", f.product}, {"quantity", "2"}}), vera.token),
             201, "line");
  f.order = test::must(api.call("POST", "/carts/" + f.cart + "/convert", "", vera.token, {{"Content-Length", "0"}}),
                       201, "convert")
                .str("id");
  f.open_cart =
      test::must(api.call("POST", "/carts", "", vera.token, {{"Content-Length", "0"}}), 201, "open cart").str("id");
  test::must(api.call("POST", "/carts/" + f.open_cart + "/lines",
                      test::json_object({{"product_id", f.product}, {"quantity", "1"}}), vera.token),
             201, "open line");
  f.charge =
      test::must(api.call("POST", "/transactions",
                          test::json_object(
                              {{"user_id", vera.id}, {"amount", "900"}, {"currency", "EUR"}, {"description", "order"}}),
                          f.ada.token),
                 201, "charge")
          .str("id");
  test::must(api.call("POST", "/transactions/" + f.charge + "/credit-notes",
                      test::json_object({{"amount", "100"}, {"currency", "EUR"}, {"reason", "late"}}), f.ada.token),
             201, "credit note");
  test::must(api.call("POST", "/email-logs",
                      test::json_object({{"recipient_id", vera.id},
                                         {"template", "welcome"},
                                         {"subject", "Hello " + f.name},
                                         {"sent_at", "2026-11-25T08:00:00Z"}}),
                      f.ada.token),
             201, "email log");
  f.file = test::must(api.call("POST", "/files",
                               test::json_object({{"name", "cv.pdf"},
                                                  {"size", "1234"},
                                                  {"content_type", "application/pdf"},
                                                  {"checksum", "sha256:" + std::string(64, 'a')}}),
                               vera.token),
                      201, "file")
               .str("id");
  f.post = test::must(api.call("POST", "/posts", test::json_object({{"title", "Hi"}, {"body", "my post"}}), vera.token),
                      201, "post")
               .str("id");
  test::must(
      api.call("POST", "/posts/" + f.post + "/comments", test::json_object({{"body", "my comment"}}), vera.token), 201,
      "comment");
  f.own_ticket =
      test::must(api.call("POST", "/tickets", test::json_object({{"subject", "Help"}, {"body", "please"}}), vera.token),
                 201, "ticket")
          .str("id");
  test::must(
      api.call("POST", "/tickets/" + f.own_ticket + "/comments", test::json_object({{"body", "more"}}), vera.token),
      201, "ticket comment");
  test::must(api.call("POST", "/tickets/" + f.own_ticket + "/internal-notes",
                      test::json_object({{"text", "called " + f.name}}), f.sam.token),
             201, "internal note");
  f.cleo_ticket = test::must(api.call("POST", "/tickets", test::json_object({{"subject", "Broken"}, {"body", "it is"}}),
                                      f.cleo.token),
                             201, "ticket 2")
                      .str("id");
  test::must(api.call("POST", "/tickets/" + f.cleo_ticket + "/assign", test::json_object({{"assignee_id", vera.id}}),
                      f.sam.token),
             200, "assign");
  // Everything reached the read models before the erasure.
  auto& db = s.db;
  BOOST_REQUIRE(test::eventually(
      [&] {
        return db.scalar("SELECT count(*) FROM email_logs") == "1" && db.scalar("SELECT count(*) FROM files") == "1" &&
               db.scalar("SELECT count(*) FROM content_comments") == "1" &&
               db.scalar("SELECT count(*) FROM ticket_internal_notes") == "1" &&
               db.scalar("SELECT assignee_id FROM tickets WHERE ticket_id = '" + f.cleo_ticket + "'") == vera.id &&
               db.scalar("SELECT count(*) FROM billing_credit_notes") == "1" &&
               db.scalar("SELECT count(*) FROM billing_profiles") == "1" &&
               db.scalar("SELECT count(*) FROM user_oauth_identities") == "1" &&
               db.opened_rows("SELECT email FROM users WHERE user_id = '" + vera.id + "'") ==
                   std::vector<std::string>{f.email} &&
               db.scalar("SELECT count(*) FROM shop_cart_lines WHERE cart_id = '" + f.open_cart + "'") == "1";
      },
      20s));
  return f;
}

// Ada erases Vera; returns the request id once every receipt is in.
std::string erase(Stack& s, const Footprint& f) {
  auto erased = test::must(
      s.api.call("POST", "/users/" + f.vera.id + "/erasure", "", f.ada.token, {{"Content-Length", "0"}}), 202, "erase");
  const auto request_id = erased.str("id");
  const auto request = test::until_erasure_applied(s.api, request_id, f.ada.token);
  BOOST_REQUIRE_MESSAGE(request.status == 200 && request.json["receipts"].Size() == test::all_projections().size(),
                        "receipts: " << request.body);
  return request_id;
}

// The events the test appends after the erasure, past the command fence.
struct LateEvents {
  std::string charge, post, file, cart_line;
};

// Straight into the event store, as a second writer, a migration or an
// import would: nothing checks the fence there. Then, through the API,
// later events on her records that do not name her: the row is updated, the
// person column the policy nulled must stay NULL.
LateEvents append_late_events(Stack& s, const Footprint& f) {
  const auto& db = s.db;
  namespace billing = domain::billing;
  namespace content = domain::content;
  namespace files = domain::files;
  namespace shop = domain::shop;
  LateEvents late{infra::new_uuid(), infra::new_uuid(), infra::new_uuid(), infra::new_uuid()};
  producers::EventStore store(db.conninfo());
  const std::vector charge{test::new_domain_event(
      billing::Event{billing::ChargeRecorded{late.charge, f.vera.id, 700, "EUR", "after the erasure"}}, f.ada.id)};
  store.append(billing::transaction_stream(late.charge), 0, charge);
  // Her own id as the actor too.
  const std::vector post{test::new_domain_event(
      content::Event{content::PostPublished{late.post, f.vera.id, "Late", "a post after the erasure"}}, f.vera.id)};
  store.append(content::post_stream(late.post), 0, post);
  const std::vector file{
      test::new_domain_event(files::Event{files::FileRecorded{late.file, f.vera.id, "late.pdf", 99, "application/pdf",
                                                              "sha256:" + std::string(64, 'b')}},
                             "system:import")};
  store.append(files::file_stream(late.file), 0, file);
  // A line on the open cart whose rows the policy deleted: its stream is
  // tombstoned, so the line must be skipped (applied, it would be refused:
  // a cart line on a cart that does not exist).
  const auto cart_stream = domain::stream_of("cart", f.open_cart);
  const auto head = static_cast<std::int64_t>(store.read_stream(cart_stream).size());
  BOOST_REQUIRE(head >= 2);
  const std::vector line{test::new_domain_event(
      shop::Event{shop::CartLineAdded{f.open_cart, late.cart_line, f.product, 3, domain::Json{"{}"}, f.vera.id}},
      f.vera.id)};
  store.append(cart_stream, head, line);

  auto& api = s.api;
  test::must(api.call("POST", "/tickets/" + f.own_ticket + "/status", test::json_object({{"status", "in_progress"}}),
                      f.sam.token),
             200, "status of her ticket");
  test::must(api.call("POST", "/orders/" + f.order + "/fulfil", "", f.ada.token, {{"Content-Length", "0"}}), 200,
             "fulfil her order");
  test::must(api.call("POST", "/posts/" + f.post + "/comments", test::json_object({{"body", "a reply"}}), f.cleo.token),
             201, "comment on her post");
  return late;
}

// Waits until the relay has published every event in the outbox.
void relayed_all(const test::TestSchema& db) {
  BOOST_REQUIRE_MESSAGE(test::eventually([&] { return test::relay_drained(db); }, 60s),
                        "the relay did not publish the outbox");
}

// Brings every read model to the end of every topic: the background
// projector stops, then `lethe project --until-idle` runs (with --replay
// the first time, if asked) until a run appends no event (receipts, which
// the erasure projection must see in turn). The background projector starts
// again. A run that fails (exit code not 0) fails the test.
void settle(Stack& s, bool replay = false) {
  s.stop_projector();
  for (int round = 0;; ++round) {
    BOOST_REQUIRE_MESSAGE(round < 5, "the projections kept appending events");
    relayed_all(s.db);
    const auto before = s.db.scalar("SELECT count(*) FROM events");
    std::vector<std::string> args{"project", "--until-idle", "--batch-wait-ms", "5"};
    if (replay && round == 0) args.emplace_back("--replay");
    BOOST_REQUIRE_EQUAL(test::Process(args, s.env()).wait(), 0);
    if (s.db.scalar("SELECT count(*) FROM events") == before) break;
  }
  s.start_projector();
}

void expect_no_dead_letters(const Stack& s) {
  const auto dead = test::read_topic(s.topics.topic("dead-letters"));
  for (const auto& m : dead) {
    const auto at = [&](const char* h) { return m.headers.contains(h) ? m.headers.at(h) : std::string("?"); };
    BOOST_ERROR("dead letter from " << at("projection") << " (" << at("source_topic") << "): " << at("reason"));
  }
  BOOST_TEST(dead.empty());
}

// `lethe gdpr verify`: 0 when no table or topic holds the person.
int gdpr_verify(const Stack& s, const std::string& user_id, const std::string& email, const std::string& name) {
  std::vector<std::string> args{"gdpr", "verify", user_id, "--email", email};
  if (!name.empty()) args.insert(args.end(), {"--name", name});
  return test::Process(args, s.env()).wait();
}

// erasure.applied events on the request stream, per projection: "name=count".
std::vector<std::string> receipt_counts(const test::TestSchema& db, const std::string& request_id) {
  return db.rows("SELECT payload ->> 'projection', count(*) FROM events WHERE stream_id = 'erasure-" + request_id +
                 "' AND type = 'erasure.applied' GROUP BY 1");
}

std::vector<std::string> once_each() {
  std::vector<std::string> out;
  for (const auto& p : test::all_projections()) out.push_back(p + "|1");
  std::sort(out.begin(), out.end());
  return out;
}

// The read models, as far as a replay must rebuild them alike: every
// column but the clock's (when a row was written or anonymized).
std::vector<std::string> read_models(const test::TestSchema& db) {
  std::vector<std::string> out;
  const std::pair<const char*, const char*> queries[] = {
      {"users", "SELECT user_id, email, name, role, active, erased_at IS NOT NULL, version FROM users"},
      {"user_notes", "SELECT note_id, user_id, text, author FROM user_notes"},
      {"user_oauth_identities", "SELECT user_id, provider, subject FROM user_oauth_identities"},
      {"tickets",
       "SELECT ticket_id, requester_id, assignee_id, subject, status, anonymized_at IS NOT NULL, version FROM tickets"},
      {"ticket_comments", "SELECT comment_id, author_id, body, anonymized_at IS NOT NULL FROM ticket_comments"},
      {"ticket_internal_notes", "SELECT note_id, author_id, requester_id, text FROM ticket_internal_notes"},
      {"shop_carts", "SELECT cart_id, user_id, status, order_id, version FROM shop_carts"},
      {"shop_cart_lines", "SELECT cart_id, line_id, product_id, quantity FROM shop_cart_lines"},
      {"shop_orders", "SELECT order_id, cart_id, user_id, status, total, version FROM shop_orders"},
      {"shop_products", "SELECT product_id, name, stock, created_by, version FROM shop_products"},
      {"shop_categories", "SELECT category_id, slug, created_by, version FROM shop_categories"},
      {"billing_profiles", "SELECT user_id, holder_name, address, tax_id FROM billing_profiles"},
      {"billing_transactions",
       "SELECT transaction_id, user_id, amount, refunded, credited, version FROM billing_transactions"},
      {"billing_credit_notes", "SELECT credit_note_id, transaction_id, user_id, amount FROM billing_credit_notes"},
      {"content_posts", "SELECT post_id, author_id, author_deleted, body, version FROM content_posts"},
      {"content_comments", "SELECT comment_id, author_id, author_deleted, body, version FROM content_comments"},
      {"files", "SELECT file_id, owner_id, name, version FROM files"},
      {"email_logs", "SELECT email_id, recipient_id, template, subject FROM email_logs"},
      {"audit_log", "SELECT event_id, action, actor, target_id FROM audit_log"},
      {"event_log", "SELECT count(*) FROM event_log"},
      {"erasure_requests", "SELECT request_id, user_id, status, erased_by, key_fingerprint FROM erasure_requests"},
      {"erasure_receipts", "SELECT request_id, projection, event_id FROM erasure_receipts"},
  };
  for (const auto& [table, sql] : queries)
    for (const auto& row : db.rows(sql)) out.push_back(std::string(table) + ": " + row);
  return out;
}

// The tables of the test's schema whose rows, as text, hold `text` (any case).
std::vector<std::string> tables_holding(const test::TestSchema& db, const std::string& text) {
  std::vector<std::string> out;
  for (const auto& table :
       db.rows("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
               " AND table_type = 'BASE TABLE'")) {
    const auto n = db.scalar("SELECT count(*) FROM \"" + table + "\" AS t WHERE strpos(lower(t::text), lower(" +
                             quoted(text) + ")) > 0");
    if (n != "0") out.push_back(table + " (" + n + " rows)");
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(events_naming_an_erased_person_after_the_erasure_arrive_without_them) {
  Stack s;
  auto& db = s.db;
  const auto f = leave_footprint(s);
  const auto request_id = erase(s, f);
  // The deleted rows left tombstones for their streams.
  BOOST_TEST(db.scalar("SELECT count(*) FROM erased_streams WHERE projection = 'shop' AND stream_id = 'cart-" +
                       f.open_cart + "'") == "1");
  BOOST_TEST(db.scalar("SELECT count(*) FROM erased_streams WHERE projection = 'billing' AND stream_id = "
                       "'billingprofile-" +
                       f.vera.id + "'") == "1");

  const auto late = append_late_events(s, f);
  settle(s);

  // The records exist, without her.
  BOOST_TEST(db.scalar("SELECT (user_id IS NULL)::text || '|' || amount FROM billing_transactions WHERE "
                       "transaction_id = '" +
                       late.charge + "'") == "true|700");
  BOOST_TEST(db.scalar("SELECT (author_id IS NULL AND author_deleted)::text || '|' || body FROM content_posts WHERE "
                       "post_id = '" +
                       late.post + "'") == "true|a post after the erasure");
  BOOST_TEST(db.scalar("SELECT (owner_id IS NULL)::text || '|' || name FROM files WHERE file_id = '" + late.file +
                       "'") == "true|late.pdf");
  BOOST_TEST(db.scalar("SELECT (requester_id IS NULL)::text || '|' || status FROM tickets WHERE ticket_id = '" +
                       f.own_ticket + "'") == "true|in_progress");
  BOOST_TEST(db.scalar("SELECT (user_id IS NULL)::text || '|' || status FROM shop_orders WHERE order_id = '" + f.order +
                       "'") == "true|fulfilled");
  BOOST_TEST(db.scalar("SELECT author_id IS NULL AND author_deleted FROM content_posts WHERE post_id = '" + f.post +
                       "'") == "t");
  BOOST_TEST(db.scalar("SELECT count(*) FROM content_comments WHERE post_id = '" + f.post + "'") == "2");
  // The line on her deleted cart was skipped, not applied, not refused.
  BOOST_TEST(db.scalar("SELECT count(*) FROM shop_carts WHERE cart_id = '" + f.open_cart + "'") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM shop_cart_lines WHERE cart_id = '" + f.open_cart + "'") == "0");
  expect_no_dead_letters(s);
  // Nothing holds her id; no second receipt came of the later events.
  BOOST_TEST(db.scalar("SELECT count(*) FROM billing_transactions WHERE user_id = '" + f.vera.id + "'") == "0");
  BOOST_TEST(receipt_counts(db, request_id) == once_each(), boost::test_tools::per_element());
  BOOST_TEST(gdpr_verify(s, f.vera.id, f.email, f.name) == 0);
}

BOOST_AUTO_TEST_CASE(a_replay_from_offset_zero_forgets_the_erased_person_again) {
  Stack s;
  auto& db = s.db;
  const auto f = leave_footprint(s);
  const auto request_id = erase(s, f);
  append_late_events(s, f);
  settle(s);
  const auto live = read_models(db);
  const auto events_before = db.scalar("SELECT count(*) FROM events");
  BOOST_REQUIRE(!live.empty());

  // Every read model emptied, every projection from offset zero.
  const auto started = std::chrono::steady_clock::now();
  settle(s, /*replay=*/true);
  BOOST_TEST_MESSAGE(
      "replay and settle: "
      << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count()
      << " ms");

  // The same read models as before the replay.
  BOOST_TEST(read_models(db) == live, boost::test_tools::per_element());
  // Spot checks of the data-handling table.
  const auto& v = f.vera.id;
  BOOST_TEST(db.scalar("SELECT email || '|' || name || '|' || (erased_at IS NOT NULL) FROM users WHERE user_id = '" +
                       v + "'") == "deleted-" + v + "@anonymous.invalid|Deleted user|true");
  BOOST_TEST(db.scalar("SELECT count(*) FROM billing_profiles WHERE user_id = '" + v + "'") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM user_oauth_identities WHERE user_id = '" + v + "'") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM user_notes WHERE user_id = '" + v + "'") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM ticket_internal_notes WHERE requester_id = '" + v + "'") == "0");
  BOOST_TEST(db.scalar("SELECT requester_id IS NULL AND anonymized_at IS NOT NULL FROM tickets WHERE ticket_id = '" +
                       f.own_ticket + "'") == "t");
  BOOST_TEST(db.scalar("SELECT user_id IS NULL FROM shop_orders WHERE order_id = '" + f.order + "'") == "t");
  BOOST_TEST(db.scalar("SELECT count(*) FROM shop_carts WHERE cart_id IN ('" + f.cart + "', '" + f.open_cart + "')") ==
             "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM billing_transactions WHERE user_id IS NULL") == "2");
  BOOST_TEST(db.scalar("SELECT recipient_id IS NULL AND subject IS NULL FROM email_logs") == "t");
  // What was handed over stays with Ada.
  BOOST_TEST(db.scalar("SELECT assignee_id FROM tickets WHERE ticket_id = '" + f.cleo_ticket + "'") == f.ada.id);
  BOOST_TEST(db.scalar("SELECT created_by FROM shop_products WHERE product_id = '" + f.product + "'") == f.ada.id);

  // The replay appended nothing: each projection's receipt is there once.
  BOOST_TEST(db.scalar("SELECT count(*) FROM events") == events_before);
  BOOST_TEST(receipt_counts(db, request_id) == once_each(), boost::test_tools::per_element());
  const auto request = test::until_erasure_applied(s.api, request_id, f.ada.token);
  BOOST_TEST(request.json["receipts"].Size() == test::all_projections().size(), request.body);
  expect_no_dead_letters(s);
  BOOST_TEST(gdpr_verify(s, v, f.email, f.name) == 0);
  BOOST_TEST(test::Process({"verify"}, s.env()).wait() == 0);
}

BOOST_AUTO_TEST_CASE(an_erased_person_is_in_clear_in_no_segment_file_and_no_table) {
  Stack s;
  auto& db = s.db;
  const auto f = leave_footprint(s);
  // Distinctive texts of hers: every one went into a personal field.
  const std::vector<std::string> secrets{f.old_email,      f.email,    "vqold" + f.run, "vquist" + f.run, f.name,
                                         "Quist " + f.run, f.password, f.oauth_subject, f.address,        f.tax_id};
  // The positive control of the table scan: before the erasure it finds her
  // id (not personal) in the tables. Her name and email are in none of them
  // in clear even now (the read models keep them sealed), yet a query opens
  // them.
  BOOST_TEST(!tables_holding(db, f.vera.id).empty());
  BOOST_TEST(tables_holding(db, f.name).empty());
  BOOST_TEST(tables_holding(db, f.email).empty());
  const auto shown = s.api.call("GET", "/users/" + f.vera.id, "", f.ada.token);
  BOOST_TEST(shown.str("name") == f.name, shown.body);
  BOOST_TEST(shown.str("email") == f.email, shown.body);
  // And of lethe's own proof: it finds her while she is there.
  BOOST_TEST(gdpr_verify(s, f.vera.id, f.email, f.name) == 1);

  const auto request_id = erase(s, f);
  settle(s);

  const auto segments = lower(test::kafka_segments(s.topics.prefix()));
  BOOST_REQUIRE_MESSAGE(!segments.empty(), "no segment files for " << s.topics.prefix());
  // The positive control: the search reads plaintext records, her id among
  // them (an id is not personal data), on every topic she touched.
  BOOST_TEST(segments.find("user-" + f.vera.id) != std::string::npos);
  BOOST_TEST(segments.find("billingprofile-" + f.vera.id) != std::string::npos);
  BOOST_TEST(segments.find("erasure-" + request_id) != std::string::npos);
  for (const std::string type : {"user.registered", "user.email_changed", "user.note_added", "user.oauth_linked",
                                 "billing.profile_set", "email.sent_logged", "ticket.internal_note_added",
                                 "user.erased", "erasure.applied", "erasure.ownership_handed_over"})
    BOOST_TEST(segments.find(type) != std::string::npos, "event type " << type << " in the segments");

  // The broker's own topics too (consumer offsets, cluster metadata).
  const auto internal = lower(test::kafka_segments("__"));
  for (const auto& secret : secrets) {
    BOOST_TEST(segments.find(lower(secret)) == std::string::npos, "in a segment file: " << secret);
    BOOST_TEST(internal.find(lower(secret)) == std::string::npos, "in an internal topic's segment: " << secret);
    const auto tables = tables_holding(db, secret);
    BOOST_TEST(tables.empty(), secret << " in tables: " << (tables.empty() ? "" : tables.front()));
  }
  // And by lethe's own proof, over every table and topic, both emails.
  BOOST_TEST(gdpr_verify(s, f.vera.id, f.email, f.name) == 0);
  BOOST_TEST(gdpr_verify(s, f.vera.id, f.old_email, "") == 0);
}
