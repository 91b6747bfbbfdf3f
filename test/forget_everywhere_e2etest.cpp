#define BOOST_TEST_MODULE forget_everywhere
// A realistic person, forgotten in every byte. Rosa registers and renames
// herself, opens a ticket whose subject and body give her name and email,
// comments on it and gets a staff reply and a staff-only note, writes a post
// and a comment, orders a mug engraved with her name (selected_specs), sets
// a billing profile, subscribes, is charged with a description naming her,
// names an API key, uploads "passport-....pdf", gets an email logged, a
// staff note and an OAuth identity. Every text of hers carries one marker.
// The owner erases her. Then the marker is found nowhere: not in any table
// (every column of every table, as text), not in pg_dump's output, not in
// any message of any topic read back decompressed, not in the raw bytes of
// the topics' segment files or of PostgreSQL's data directory after a
// CHECKPOINT; `gdpr verify` agrees; the same after every projection is
// replayed from offset zero; and staff go on with her records. Each absent
// check has its control: the same search finds a planted copy, or her id.
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <set>
#include <sstream>

#include "lethe/infra/pg.hpp"
#include "lethe/projections/projection.hpp"
#include "support/api.hpp"
#include "support/fixtures.hpp"

using namespace lethe;
using test::exactly;

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool holds(const std::string& bytes, const std::string& marker) {
  return lower(bytes).find(lower(marker)) != std::string::npos;
}

std::string pg_dump(const test::TestSchema& db) {
  const auto base = infra::Config::from_env().pg;
  const auto r = test::capture("/usr/lib/postgresql/15/bin/pg_dump --no-owner -n " + db.name() + " '" + base + "'");
  BOOST_REQUIRE_MESSAGE(r.rc == 0, r.output.substr(0, 2000));
  return r.output;
}

// Every message of every topic of the test, decompressed by the client.
std::string topics_text(const test::TestTopics& topics) {
  std::string all;
  for (const auto* topic :
       {"users", "tickets", "shop", "billing", "content", "files", "email", "staff", "erasure", "dead-letters"})
    for (const auto& m : test::read_topic(topics.topic(topic))) {
      all += m.key + "\n" + m.value + "\n";
      for (const auto& [k, v] : m.headers) all += k + "=" + v + "\n";
    }
  return all;
}

// Occurrences of the marker in bytes (any case): those followed by the
// control's suffix (a planted copy) and all others.
struct Occurrences {
  std::size_t control = 0, others = 0;
};
void count_in(const std::string& bytes, const std::string& marker, const std::string& control, Occurrences& out) {
  const auto text = lower(bytes);
  const auto m = lower(marker), c = lower(marker + control);
  for (auto at = text.find(m); at != std::string::npos; at = text.find(m, at + 1)) {
    if (text.compare(at, c.size(), c) == 0)
      ++out.control;
    else
      ++out.others;
  }
}

// Every file of PostgreSQL's data directory, after a CHECKPOINT, one at a time.
Occurrences in_pg_files(const test::TestSchema& db, const std::string& marker, const std::string& control) {
  namespace fs = std::filesystem;
  auto conn = infra::connect(db.conninfo());
  pqxx::nontransaction nt(*conn);
  nt.exec("CHECKPOINT");
  const fs::path dir = nt.exec("SELECT current_setting('data_directory')")[0][0].c_str();
  Occurrences out;
  std::error_code ec;
  std::size_t files = 0;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec), end;
       !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::ifstream in(it->path(), std::ios::binary);
    if (!in && fs::exists(it->path())) BOOST_TEST_REQUIRE(false, "cannot read " << it->path());
    ++files;
    std::stringstream ss;
    ss << in.rdbuf();
    count_in(ss.str(), marker, control, out);
  }
  BOOST_TEST_REQUIRE(!ec, "reading " << dir << ": " << ec.message());
  BOOST_TEST_REQUIRE(files > 100u);  // a cluster's data directory: not an empty walk
  return out;
}

// A person's key as the keyring stores it (wrapped: nonce, 32 bytes, tag),
// as raw bytes.
std::string wrapped_key_bytes(const test::TestSchema& db, const std::string& subject) {
  const auto key_hex =
      db.keyring().scalar("SELECT encode(key_material, 'hex') FROM person_keys WHERE subject = '" + subject + "'");
  BOOST_TEST_REQUIRE(key_hex.size() == 144u);
  std::string bytes;
  for (std::size_t i = 0; i < key_hex.size(); i += 2)
    bytes += static_cast<char>(std::stoi(key_hex.substr(i, 2), nullptr, 16));
  return bytes;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_realistic_person_erased_leaves_no_byte_of_theirs_anywhere) {
  test::Served s;
  auto& api = s.api;
  auto& db = s.db;
  const auto run = test::random_suffix();
  const std::string marker = "Zq" + run;  // in every text of hers, and nowhere else
  const std::string email = "rosa." + lower(marker) + "@example.org", name = "Rosa " + marker;
  const auto owner = api.owner_key();
  const auto ada = api.person("ada" + run + "@example.org", "admin");
  const auto sam = api.person("sam" + run + "@example.org", "staff");
  const auto rosa = api.person(email);
  const auto& tok = rosa.token;
  auto body = [](std::initializer_list<std::pair<std::string, std::string>> f) { return test::json_object(f); };

  exactly(api.call("PATCH", "/users/" + rosa.id, body({{"name", name}}), tok), 200, "rename");
  const auto ticket =
      exactly(api.call("POST", "/tickets",
                       body({{"subject", name + " cannot log in"}, {"body", "Write to " + email + ", " + name}}), tok),
              201, "ticket")
          .str("id");
  exactly(api.call("POST", "/tickets/" + ticket + "/comments", body({{"body", "Still stuck, " + marker}}), tok), 201,
          "her comment");
  exactly(api.call("POST", "/tickets/" + ticket + "/comments", body({{"body", "Dear " + name + ", on it"}}), sam.token),
          201, "staff reply");
  exactly(
      api.call("POST", "/tickets/" + ticket + "/internal-notes", body({{"text", name + " sounded upset"}}), sam.token),
      201, "internal note");
  const auto post =
      exactly(api.call("POST", "/posts", body({{"title", marker + " diary"}, {"body", "I am " + name}}), tok), 201,
              "post")
          .str("id");
  exactly(api.call("POST", "/posts/" + post + "/comments", body({{"body", "signed " + name}}), tok), 201, "comment");
  const auto category =
      exactly(api.call("POST", "/categories", body({{"name", "Mugs"}, {"slug", "mugs-" + run}}), sam.token), 201,
              "category")
          .str("id");
  const auto mug = exactly(api.call("POST", "/products",
                                    body({{"name", "Mug"},
                                          {"price", "1200"},
                                          {"currency", "EUR"},
                                          {"category_id", category},
                                          {"active", "true"}}),
                                    sam.token),
                           201, "product")
                       .str("id");
  exactly(api.call("POST", "/products/" + mug + "/inventory", body({{"delta", "5"}, {"reason", "stock"}}), sam.token),
          200, "stock");
  const auto cart = exactly(api.call("POST", "/carts", "", tok, {{"Content-Length", "0"}}), 201, "cart").str("id");
  exactly(
      api.call("POST", "/carts/" + cart + "/lines",
               R"({"product_id":")" + mug + R"(","quantity":1,"selected_specs":{"engraving":"For )" + name + R"("}})",
               tok),
      201, "engraved line");
  const auto order =
      exactly(api.call("POST", "/carts/" + cart + "/convert", "", tok, {{"Content-Length", "0"}}), 201, "convert")
          .str("id");
  exactly(
      api.call("PUT", "/users/" + rosa.id + "/billing-profile",
               body({{"holder_name", name}, {"address", "7 " + marker + " Street"}, {"tax_id", "TX" + marker}}), tok),
      200, "billing profile");
  const auto subscription =
      exactly(api.call("POST", "/subscriptions", body({{"plan", "pro"}}), tok), 201, "subscribe").str("id");
  const auto charge = exactly(api.call("POST", "/transactions",
                                       body({{"user_id", rosa.id},
                                             {"amount", "1200"},
                                             {"currency", "EUR"},
                                             {"description", "Mug engraved for " + name}}),
                                       ada.token),
                              201, "charge")
                          .str("id");
  exactly(api.call("POST", "/users/" + rosa.id + "/api-keys", body({{"name", marker + " laptop"}}), tok), 201,
          "api key");
  const auto file = exactly(api.call("POST", "/files",
                                     body({{"name", "passport-" + lower(marker) + ".pdf"},
                                           {"size", "2048"},
                                           {"content_type", "application/pdf"},
                                           {"checksum", "sha256:" + std::string(64, 'c')}}),
                                     tok),
                            201, "file")
                        .str("id");
  exactly(api.call("POST", "/email-logs",
                   body({{"recipient_id", rosa.id},
                         {"template", "receipt"},
                         {"subject", "Your mug, " + name},
                         {"sent_at", "2026-12-01T08:00:00Z"}}),
                   ada.token),
          201, "email log");
  exactly(api.call("POST", "/users/" + rosa.id + "/notes", body({{"text", "called " + name}}), sam.token), 201,
          "staff note");
  exactly(api.call("POST", "/users/" + rosa.id + "/oauth-identities",
                   body({{"provider", "github"}, {"subject", "gh-" + lower(marker)}}), tok),
          201, "oauth");
  BOOST_REQUIRE(test::eventually(
      [&] {
        return db.scalar("SELECT count(*) FROM email_logs WHERE recipient_id = '" + rosa.id + "'") == "1" &&
               db.scalar("SELECT count(*) FROM files WHERE file_id = '" + file + "'") == "1" &&
               db.scalar("SELECT count(*) FROM billing_transactions WHERE transaction_id = '" + charge + "'") == "1" &&
               db.scalar("SELECT count(*) FROM shop_orders WHERE order_id = '" + order + "'") == "1" &&
               db.scalar("SELECT count(*) FROM ticket_comments WHERE ticket_id = '" + ticket + "'") == "2";
      },
      std::chrono::seconds(30)));
  // Controls: what she wrote is there to be read, opened by the API...
  const auto before = exactly(api.call("GET", "/tickets/" + ticket, "", sam.token), 200, "ticket before");
  BOOST_TEST(before.str("subject") == name + " cannot log in");
  const auto placed = exactly(api.call("GET", "/orders/" + order, "", tok), 200, "order before");
  BOOST_TEST(test::json_text(placed.json["lines"][0]["selected_specs"]) == R"({"engraving":"For )" + name + R"("})");
  // ...while it is sealed everywhere lethe stores it, even before the erasure.
  const auto sealed_before = db.columns_holding(marker);
  BOOST_TEST(sealed_before.empty(), "before the erasure: " << sealed_before.size());
  for (const auto& where : sealed_before) BOOST_TEST_MESSAGE("before the erasure: " << where);
  // Her key, captured before the erasure, to be searched for after it.
  const auto her_key = wrapped_key_bytes(db, rosa.id);

  const auto request_id =
      exactly(api.call("POST", "/users/" + rosa.id + "/erasure", "", owner, {{"Content-Length", "0"}}), 202, "erase")
          .str("id");
  const auto applied = test::until_erasure_applied(api, request_id, owner);
  BOOST_REQUIRE_MESSAGE(applied.str("status") == "erased", applied.body);

  // Tables: no column of any table holds the marker; her id is still where
  // it is kept by design (the control that the scan reads these tables).
  const auto holding = db.columns_holding(marker);
  BOOST_TEST(holding.empty(), "tables holding the marker: " << holding.size());
  for (const auto& where : holding) BOOST_TEST_MESSAGE(where);
  BOOST_TEST(!db.columns_holding(rosa.id).empty());
  // In the read models, every column of every projection's tables searched
  // (whatever their comments say), her id stays only where it is kept on
  // purpose, as docs/erasure.md's table says: written down here, not taken
  // from the policies. Ids kept by design (the anonymous account, the event
  // log's and audit log's references, the erasure request), and the
  // columns that keep her text sealed: a sealed value names the person whose
  // key sealed it, and that key is destroyed.
  std::set<std::string> read_model_tables;
  for (const auto& p : projections::projection_names())
    for (const auto& t : projections::make_projection(p)->tables()) read_model_tables.insert(t);
  std::vector<std::string> id_in_read_models;
  for (const auto& where : db.columns_holding(rosa.id))
    if (read_model_tables.contains(where.substr(0, where.find('.')))) id_in_read_models.push_back(where);
  std::sort(id_in_read_models.begin(), id_in_read_models.end());
  std::vector<std::string> kept_on_purpose{
      // ids
      "audit_log.actor", "audit_log.stream_id", "audit_log.target_id", "erasure_requests.user_id", "event_log.actor",
      "event_log.stream_id", "users.email", "users.user_id",
      // sealed under her destroyed key
      "billing_subscriptions.cancel_reason", "billing_transactions.description", "content_comments.body",
      "content_posts.body", "content_posts.title", "files.name", "shop_orders.lines", "ticket_comments.body",
      "tickets.body", "tickets.subject"};
  std::sort(kept_on_purpose.begin(), kept_on_purpose.end());
  BOOST_TEST(id_in_read_models == kept_on_purpose, boost::test_tools::per_element());
  for (const auto& where : id_in_read_models) BOOST_TEST_MESSAGE("her id is kept in " << where);
  // The control of that search: a column no comment names (one a
  // projection might add and its policy forget) is searched like any
  // other, for her id and for her words.
  db.exec("ALTER TABLE tickets ADD COLUMN forgotten_copy text");
  // (The copy ends as the raw-file checks' control does, and counts as one.)
  db.exec("UPDATE tickets SET forgotten_copy = 'by " + rosa.id + ": " + marker + "-control' WHERE ticket_id = '" +
          ticket + "'");
  const auto copy_of_id = db.columns_holding(rosa.id);
  BOOST_TEST(std::count(copy_of_id.begin(), copy_of_id.end(), "tickets.forgotten_copy") == 1);
  BOOST_TEST(db.columns_holding(marker) == std::vector<std::string>{"tickets.forgotten_copy"},
             boost::test_tools::per_element());
  db.exec("ALTER TABLE tickets DROP COLUMN forgotten_copy");
  // pg_dump of the schema.
  const auto dump = pg_dump(db);
  BOOST_TEST(holds(dump, rosa.id));
  BOOST_TEST(!holds(dump, marker));
  // Every topic, decompressed.
  const auto messages = topics_text(s.topics);
  BOOST_TEST(holds(messages, rosa.id));
  BOOST_TEST(!holds(messages, marker));
  // Raw bytes of the topics' segment files: a planted copy is found there.
  test::produce_raw(s.topics.topic("dead-letters"), "control", "planted " + marker + "-control");
  Occurrences in_segments;
  count_in(test::kafka_segments(s.topics.prefix()), marker, "-control", in_segments);
  BOOST_TEST(in_segments.control == 1u);
  BOOST_TEST(in_segments.others == 0u);
  // Raw bytes of PostgreSQL's files: a planted copy is found there.
  db.exec("CREATE TABLE forget_control (t text)");
  db.exec("INSERT INTO forget_control VALUES ('planted " + marker + "-control')");
  const auto in_files = in_pg_files(db, marker, "-control");
  BOOST_TEST(in_files.control >= 1u);
  BOOST_TEST(in_files.others == 0u);
  db.exec("DROP TABLE forget_control");
  // The keys live apart (the scripts' way): neither the data cluster's files
  // nor its dump hold a byte of anyone's key; the keyring's files do (the
  // control that the scan would find one).
  if (db.keyring_apart()) {
    const auto key_bytes = wrapped_key_bytes(db, ada.id);
    const auto key_hex =
        db.keyring().scalar("SELECT encode(key_material, 'hex') FROM person_keys WHERE subject = '" + ada.id + "'");
    const auto in_data = in_pg_files(db, key_bytes, "-control");
    BOOST_TEST(in_data.control + in_data.others == 0u);
    BOOST_TEST(!holds(dump, key_hex));
    const auto in_keyring = in_pg_files(db.keyring(), key_bytes, "-control");
    BOOST_TEST(in_keyring.control + in_keyring.others >= 1u);
    // Her key, captured before the erasure, is in no byte of the data
    // cluster's files either.
    const auto hers_in_data = in_pg_files(db, her_key, "-control");
    BOOST_TEST(hers_in_data.control + hers_in_data.others == 0u);
  }
  // Her key is gone from the keyring, and no topic's segment files hold a
  // byte of it (a planted copy is found there).
  BOOST_TEST(db.keyring().scalar("SELECT count(*) FROM person_keys WHERE subject = '" + rosa.id + "'") == "0");
  test::produce_raw(s.topics.topic("dead-letters"), "key-control", "planted " + her_key + "-control");
  Occurrences key_in_segments;
  count_in(test::kafka_segments(s.topics.prefix()), her_key, "-control", key_in_segments);
  BOOST_TEST(key_in_segments.control == 1u);
  BOOST_TEST(key_in_segments.others == 0u);
  // lethe's own verifier agrees (tables, topics, data directory).
  const auto verify_args =
      test::lethe_bin() + " gdpr verify " + rosa.id + " --email '" + email + "' --name '" + name + "'";
  const auto verified = test::capture_env(s.env(), verify_args);
  BOOST_TEST(verified.rc == 0, verified.output);
  BOOST_TEST(verified.output.find("PostgreSQL's data directory among them") != std::string::npos, verified.output);

  // Every projection replayed from offset zero forgets her again.
  s.stop_projector();
  const auto replay = test::capture_env(s.env(), test::lethe_bin() + " project --replay --until-idle");
  BOOST_TEST(replay.rc == 0, replay.output.substr(0, 2000));
  BOOST_TEST(db.scalar("SELECT count(*) FROM shop_orders WHERE order_id = '" + order + "'") == "1");  // rebuilt
  const auto after_replay = db.columns_holding(marker);
  BOOST_TEST(after_replay.empty(), "after the replay: " << after_replay.size());
  for (const auto& where : after_replay) BOOST_TEST_MESSAGE(where);
  const auto verified_again = test::capture_env(s.env(), verify_args);
  BOOST_TEST(verified_again.rc == 0, verified_again.output);
  BOOST_TEST(verified_again.output.find("PostgreSQL's data directory among them") != std::string::npos);
  s.start_projector();

  // Staff go on with her records.
  exactly(api.call("POST", "/transactions/" + charge + "/refunds",
                   body({{"amount", "1200"}, {"currency", "EUR"}, {"reason", "goodwill"}}), ada.token),
          201, "refund");
  exactly(api.call("POST", "/orders/" + order + "/cancel", body({{"reason", "never shipped"}}), sam.token), 200,
          "cancel order");
  exactly(api.call("DELETE", "/posts/" + post, "", ada.token), 200, "delete post");
  exactly(api.call("DELETE", "/files/" + file, "", ada.token), 200, "delete file");
  exactly(api.call("POST", "/tickets/" + ticket + "/status", body({{"status", "in_progress"}}), sam.token), 200,
          "work on her ticket");
  exactly(api.call("POST", "/tickets/" + ticket + "/status", body({{"status", "resolved"}}), sam.token), 200,
          "resolve her ticket");
  BOOST_TEST(db.scalar("SELECT type FROM events WHERE stream_id = 'subscription-" + subscription +
                       "' ORDER BY stream_version DESC LIMIT 1") == "billing.subscription_cancelled");
}
