#define BOOST_TEST_MODULE domain_projections
// The billing, content, files and email projections end to end: commands
// through their services, the relay to Kafka, `lethe project billing
// content files email` to the read models. Applied once however often the
// events arrive (a republish, a replay over the doubled topics); personal
// fields whose person's key is gone land as NULL; a version gap and an
// event on a foreign stream go to the dead letters.
#include <algorithm>
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <map>
#include <ostream>
#include <sstream>

#include "billing_service.hpp"
#include "content_service.hpp"
#include "email_log_service.hpp"
#include "file_service.hpp"
#include "lethe/infra/access.hpp"
#include "lethe/infra/ids.hpp"
#include "lethe/producers/event_store.hpp"
#include "lethe/projections/projection.hpp"
#include "support/events.hpp"
#include "support/fixtures.hpp"
#include "support/scenario.hpp"
#include "tickets.hpp"
#include "user_service.hpp"
#include "wiring.hpp"

using namespace lethe;
namespace b = domain::billing;
namespace c = domain::content;
namespace f = domain::files;
namespace m = domain::email;
using producers::CommandContext;

namespace {

infra::PasswordPool& passwords() {
  static infra::PasswordPool pool(2);
  return pool;
}

const std::string kSha = "sha256:" + std::string(64, 'b');

template <class R>
void ok(const R& r, const std::string& what) {
  BOOST_REQUIRE_MESSAGE(r.ok(), what << ": " << (r.ok() ? "" : r.error().message));
}

// Commands of every kind through the services; returns the number of
// events per topic (billing, content, files, email).
std::map<std::string, std::size_t> write_history(const test::TestSchema& db) {
  producers::EventStore store(db.conninfo());
  producers::UserService users(store, passwords());
  producers::BillingService billing(store);
  producers::ContentService content(store);
  producers::FileService files(store);
  producers::EmailLogService email(store);
  const CommandContext sys{"system:test"};
  for (const auto& [id, role] : std::vector<std::pair<std::string, std::string>>{
           {"adm", "admin"}, {"ann", "user"}, {"bob", "user"}, {"gone", "user"}})
    ok(users.register_user({id, id + "@example.org", "Name of " + id, role, ""}, "", sys), "register " + id);
  const auto as = [](const std::string& actor) { return CommandContext{actor}; };

  ok(billing.handle(b::SetProfile{"ann", "Ann Holder", "1 Main St", ""}, as("ann")), "ann's profile");
  ok(billing.handle(b::SetProfile{"ann", "Ann Holder", "1 Main St", "DE1"}, as("adm")), "ann's tax id");
  ok(billing.handle(b::SetProfile{"gone", "Gone Person", "9 Lost Rd", "TAX9"}, as("gone")), "gone's profile");
  ok(billing.handle(b::CreateSubscription{"s1", "ann", "pro"}, as("ann")), "s1");
  ok(billing.handle(b::CancelSubscription{"s1", "too expensive"}, as("ann")), "cancel s1");
  ok(billing.handle(b::CreateSubscription{"s2", "bob", "basic"}, as("adm")), "s2");
  ok(billing.handle(b::RecordCharge{"t1", "ann", 10000, "EUR", "Pro plan"}, as("adm")), "t1");
  ok(billing.handle(b::RecordRefund{"t1", "r1", 3000, "EUR", "partial"}, as("adm")), "r1");
  ok(billing.handle(b::RecordRefund{"t1", "r2", 2000, "EUR", "more"}, as("system:cli")), "r2");
  ok(billing.handle(b::IssueCreditNote{"t1", "c1", 1500, "EUR", "goodwill"}, as("adm")), "c1");
  ok(billing.handle(b::RecordCharge{"t2", "gone", 500, "USD", "Basic"}, as("adm")), "t2");

  ok(content.handle(c::PublishPost{"p1", "Hello", "First post"}, as("ann")), "p1");
  ok(content.handle(c::EditPost{"p1", "Moderated", "Edited by an admin"}, as("adm")), "edit p1");
  ok(content.handle(c::PublishPost{"p2", "Bye", "Soon gone"}, as("bob")), "p2");
  ok(content.handle(c::DeletePost{"p2"}, as("bob")), "delete p2");
  ok(content.handle(c::AddComment{"c1", "p1", "Nice"}, as("bob")), "c1");
  ok(content.handle(c::EditComment{"c1", "Nice, edited"}, as("bob")), "edit c1");
  ok(content.handle(c::AddComment{"c2", "p1", "Thanks"}, as("ann")), "c2");
  ok(content.handle(c::DeleteComment{"c2"}, as("adm")), "delete c2");

  ok(files.handle(f::RecordFile{"f1", "report.pdf", 12345, "application/pdf", kSha}, as("ann")), "f1");
  ok(files.handle(f::RecordFile{"f2", "b.png", 10, "image/png", kSha}, as("bob")), "f2");
  ok(files.handle(f::DeleteFile{"f2"}, as("bob")), "delete f2");

  ok(email.handle(m::LogEmailSent{"e1", "ann", "welcome", "Welcome, Ann", "2026-05-01T08:00:00Z"}, as("system:mailer")),
     "e1");
  ok(email.handle(m::LogEmailSent{"e2", "gone", "receipt", "Your receipt, Gone Person", "2026-05-01T09:30:00.25Z"},
                  as("system:mailer")),
     "e2");
  return {{"billing", 11}, {"content", 8}, {"files", 3}, {"email", 2}};
}

// Every read model of the four projections, as sorted text rows.
std::vector<std::string> read_models(const test::TestSchema& db) {
  std::vector<std::string> out;
  for (const auto* sql : {
           "SELECT 'profile', * FROM billing_profiles",
           "SELECT 'subscription', * FROM billing_subscriptions",
           "SELECT 'transaction', * FROM billing_transactions",
           "SELECT 'refund', * FROM billing_refunds",
           "SELECT 'credit note', * FROM billing_credit_notes",
           "SELECT 'post', * FROM content_posts",
           "SELECT 'comment', * FROM content_comments",
           "SELECT 'file', * FROM files",
           "SELECT 'email', * FROM email_logs",
       })
    for (auto& row : db.rows(sql)) out.push_back(std::move(row));
  std::sort(out.begin(), out.end());
  return out;
}

std::size_t offsets_of(const test::TestSchema& db, const std::string& projection) {
  return std::stoul(db.scalar("SELECT coalesce(sum(next_offset), 0) FROM projection_offsets WHERE projection = '" +
                              projection + "'"));
}

consumers::RunStats run_projection(const test::TestSchema& db, const test::TestTopics& topics, const std::string& name,
                                   int batch_size) {
  consumers::RunnerOptions o;
  o.receipts = app::event_store_receipts();
  o.conninfo = db.conninfo();
  o.brokers = infra::Config::from_env().brokers;
  o.topic_prefix = topics.prefix();
  o.group_prefix = topics.prefix();
  o.batch_size = batch_size;
  o.exit_when_idle = true;
  std::atomic<bool> stop{false};
  return consumers::ProjectionRunner(o, projections::make_projection(name)).run(stop);
}

producers::NewEvent new_event(const b::Event& e) {
  const auto corr = infra::new_uuid();
  return producers::NewEvent{infra::new_uuid(),
                             std::string(b::type_of(e)),
                             b::version_of(e),
                             b::encode_payload(e),
                             infra::utc_now(),
                             "system:test",
                             corr,
                             corr};
}

using Did = test::ProjectDid;

}  // namespace

BOOST_AUTO_TEST_CASE(commands_reach_the_read_models_once_however_often_their_events_are_delivered) {
  test::TestSchema db;
  test::TestTopics topics;
  const auto env = test::lethe_env(db, topics);
  const auto counts = write_history(db);
  test::relay_until_idle(db, topics);
  // gone's key is destroyed (the erasure issue does it with its own event;
  // here, directly) before anything is projected.
  db.keyring().exec("DELETE FROM person_keys WHERE subject = 'gone'");

  // What each projection says it did: every event applied once, none set aside.
  const auto project = [&] {
    const auto run = test::capture_env(env, test::lethe_bin() + " project billing content files email --until-idle");
    BOOST_REQUIRE_MESSAGE(run.rc == 0, run.output);
    std::istringstream lines(run.output);
    return test::project_summaries(lines);
  };
  for (const auto& [name, did] : project())
    BOOST_TEST(did == (Did{static_cast<std::int64_t>(counts.at(name)), 0, 0}), name << ": " << did);
  using Rows = std::vector<std::string>;
  // What a query answers (sealed columns opened); the tables themselves
  // hold no personal text in clear.
  BOOST_TEST(db.scalar("SELECT count(*) FROM billing_profiles WHERE holder_name LIKE '%Holder%' OR address LIKE "
                       "'%Main%'") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM billing_transactions WHERE description LIKE '%plan%'") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM content_posts WHERE body LIKE '%post%' OR title LIKE '%Hello%'") == "0");
  BOOST_TEST(db.scalar("SELECT count(*) FROM files WHERE name LIKE '%report%'") == "0");
  BOOST_TEST(db.opened_rows("SELECT user_id, holder_name, address, tax_id, version FROM billing_profiles") ==
                 (Rows{"ann|Ann Holder|1 Main St|DE1|2", "gone|NULL|NULL|NULL|1"}),
             boost::test_tools::per_element());
  BOOST_TEST(
      db.opened_rows("SELECT subscription_id, user_id, plan, status, cancel_reason, cancelled_at IS NOT NULL, version"
                     " FROM billing_subscriptions") ==
          (Rows{"s1|ann|pro|cancelled|too expensive|t|2", "s2|bob|basic|active|NULL|f|1"}),
      boost::test_tools::per_element());
  BOOST_TEST(db.opened_rows("SELECT transaction_id, user_id, amount, currency, description, refunded, credited, version"
                            " FROM billing_transactions") ==
                 (Rows{"t1|ann|10000|EUR|Pro plan|5000|1500|4", "t2|gone|500|USD|NULL|0|0|1"}),
             boost::test_tools::per_element());
  BOOST_TEST(
      db.opened_rows("SELECT refund_id, transaction_id, user_id, amount, currency, reason, stream_version"
                     " FROM billing_refunds") == (Rows{"r1|t1|ann|3000|EUR|partial|2", "r2|t1|ann|2000|EUR|more|3"}),
      boost::test_tools::per_element());
  BOOST_TEST(db.opened_rows("SELECT credit_note_id, transaction_id, user_id, amount, currency, reason, stream_version"
                            " FROM billing_credit_notes") == (Rows{"c1|t1|ann|1500|EUR|goodwill|4"}),
             boost::test_tools::per_element());
  BOOST_TEST(
      db.opened_rows("SELECT post_id, author_id, title, body, deleted, author_deleted, version FROM content_posts") ==
          (Rows{"p1|ann|Moderated|Edited by an admin|f|f|2", "p2|bob|Bye|Soon gone|t|f|2"}),
      boost::test_tools::per_element());
  BOOST_TEST(
      db.opened_rows("SELECT comment_id, post_id, author_id, body, deleted, author_deleted, version"
                     " FROM content_comments") == (Rows{"c1|p1|bob|Nice, edited|f|f|2", "c2|p1|ann|Thanks|t|f|2"}),
      boost::test_tools::per_element());
  BOOST_TEST(db.opened_rows("SELECT file_id, owner_id, name, size, content_type, checksum = '" + kSha +
                            "', deleted, version FROM files") ==
                 (Rows{"f1|ann|report.pdf|12345|application/pdf|t|f|1", "f2|bob|b.png|10|image/png|t|t|2"}),
             boost::test_tools::per_element());
  BOOST_TEST(db.opened_rows("SELECT email_id, recipient_id, template, subject, version FROM email_logs") ==
                 (Rows{"e1|ann|welcome|Welcome, Ann|1", "e2|gone|receipt|NULL|1"}),
             boost::test_tools::per_element());
  // Times come from the events: the envelope's, or the mail service's.
  BOOST_TEST(db.scalar("SELECT sent_at = '2026-05-01T09:30:00.25Z' FROM email_logs WHERE email_id = 'e2'") == "t");
  BOOST_TEST(db.scalar("SELECT count(*) FROM content_posts p JOIN events e ON e.stream_id = 'post-' || p.post_id"
                       " AND e.stream_version = 1 WHERE p.published_at = e.occurred_at::timestamptz") == "2");
  BOOST_TEST(db.scalar("SELECT count(*) FROM billing_subscriptions s JOIN events e"
                       " ON e.stream_id = 'subscription-' || s.subscription_id AND e.stream_version = 2"
                       " WHERE s.cancelled_at = e.occurred_at::timestamptz") == "1");
  BOOST_TEST(db.scalar("SELECT bool_and(updated_at >= created_at) FROM billing_transactions") == "t");
  BOOST_TEST(test::topic_end(topics.topic("dead-letters")) == 0);
  for (const auto& [topic, n] : counts) {
    BOOST_TEST(test::read_topic(topics.topic(topic)).size() == n, topic);
    BOOST_TEST(offsets_of(db, topic) == n, topic);  // projection and topic share a name
  }
  const auto first = read_models(db);

  // Every event published a second time: the projector reads them all and
  // applies none.
  BOOST_REQUIRE(test::Process({"republish"}, env).wait() == 0);
  for (const auto& [topic, n] : counts) BOOST_TEST(test::read_topic(topics.topic(topic)).size() == 2 * n, topic);
  const auto again = project();
  BOOST_TEST(again.size() == counts.size());
  for (const auto& [name, did] : again)
    BOOST_TEST(did == (Did{0, static_cast<std::int64_t>(counts.at(name)), 0}), name << ": " << did);
  for (const auto& [topic, n] : counts) BOOST_TEST(offsets_of(db, topic) == 2 * n, topic);
  BOOST_TEST(read_models(db) == first, boost::test_tools::per_element());

  // Rebuilt from offset zero in batches of 3, every event twice on its
  // topic: the same rows, and gone's fields still NULL.
  BOOST_REQUIRE(
      test::Process(
          {"project", "billing", "content", "files", "email", "--replay", "--until-idle", "--batch-size", "3"}, env)
          .wait() == 0);
  BOOST_TEST(read_models(db) == first, boost::test_tools::per_element());
  BOOST_TEST(db.opened_rows("SELECT holder_name, address, tax_id FROM billing_profiles WHERE user_id = 'gone'") ==
             std::vector<std::string>{"NULL|NULL|NULL"});
  BOOST_TEST(test::topic_end(topics.topic("dead-letters")) == 0);
}

BOOST_AUTO_TEST_CASE(a_version_gap_and_an_event_on_a_foreign_stream_go_to_dead_letters_and_the_rest_applies) {
  test::TestSchema db;
  test::TestTopics topics(1);  // one partition: the order below is the order read
  const auto topic = topics.topic("billing");
  const auto charge = new_event(b::ChargeRecorded{"t9", "ann", 1000, "EUR", "Charge"});
  const auto refund1 = new_event(b::RefundRecorded{"t9", "ann", "r1", 100, "EUR", "first"});
  const auto refund2 = new_event(b::RefundRecorded{"t9", "ann", "r2", 200, "EUR", "second"});
  const auto foreign = new_event(b::ChargeRecorded{"t8", "ann", 1000, "EUR", "Charge"});
  test::produce_raw(topic, "transaction-t9", test::envelope_json(charge, "transaction-t9", 1));
  test::produce_raw(topic, "transaction-t9", test::envelope_json(refund2, "transaction-t9", 3));  // v2 missing
  test::produce_raw(topic, "transaction-t7", test::envelope_json(foreign, "transaction-t7", 1));  // t8 on t7's stream
  // What a republish brings: the run again, in order.
  for (const auto* e : {&charge, &refund1, &refund2}) {
    const auto version = e == &charge ? 1 : e == &refund1 ? 2 : 3;
    test::produce_raw(topic, "transaction-t9", test::envelope_json(*e, "transaction-t9", version));
  }
  const auto stats = run_projection(db, topics, "billing", 2);
  BOOST_TEST(stats.applied == 3);
  BOOST_TEST(stats.skipped == 1);  // the charge, the second time
  BOOST_TEST(stats.dead_lettered == 2);
  BOOST_TEST(db.rows("SELECT transaction_id, amount, refunded, version FROM billing_transactions") ==
             std::vector<std::string>{"t9|1000|300|3"});
  BOOST_TEST(db.rows("SELECT refund_id, stream_version FROM billing_refunds") ==
             (std::vector<std::string>{"r1|2", "r2|3"}));
  const auto dead = test::read_topic(topics.topic("dead-letters"));
  BOOST_REQUIRE(dead.size() == 2u);
  BOOST_TEST(dead[0].headers.at("reason").find("version gap on transaction-t9") != std::string::npos,
             dead[0].headers.at("reason"));
  BOOST_TEST(dead[0].headers.at("source_offset") == "1");
  BOOST_TEST(dead[1].headers.at("reason").find("not transaction-t8") != std::string::npos,
             dead[1].headers.at("reason"));
  BOOST_TEST(dead[1].headers.at("projection") == "billing");
}

// The audit log reads a few types of busy topics. A message of a type it
// does not read is passed over by its type header, unparsed (a body that is
// no envelope costs it nothing and is no dead letter of its); one of a type
// it reads is parsed, and such a body is a dead letter. Without the header
// check both are dead letters.
BOOST_AUTO_TEST_CASE(the_audit_log_passes_over_the_types_it_does_not_read_unparsed) {
  test::TestSchema db;
  test::TestTopics topics(1);
  const auto topic = topics.topic("users");
  test::produce_raw(topic, "user-a", "{not an envelope", {{"type", "user.profile_changed"}});
  test::produce_raw(topic, "user-b", "{not an envelope either", {{"type", "user.role_changed"}});
  const auto stats = run_projection(db, topics, "audit", 10);
  BOOST_TEST(stats.applied == 0);
  BOOST_TEST(stats.skipped == 1);
  BOOST_TEST(stats.dead_lettered == 1);
  const auto dead = test::read_topic(topics.topic("dead-letters"));
  BOOST_REQUIRE(dead.size() == 1u);
  BOOST_TEST(dead[0].headers.at("source_offset") == "1");
  BOOST_TEST(dead[0].headers.at("projection") == "audit");
  BOOST_TEST(db.scalar("SELECT next_offset FROM projection_offsets WHERE projection = 'audit' AND topic = '" + topic +
                       "'") == "2");
}

// Upcasters: a log that mixes ticket.opened v1 (stored before tickets had
// a priority) with v2. The tickets projection reads both in today's shape:
// the v1 ticket is normal, the v2 one keeps its own; a replay of the same
// log writes the same rows. In the event store the v1 event keeps its
// stored bytes, so the hash chain verifies, and `lethe events` prints it
// lifted.
BOOST_AUTO_TEST_CASE(a_log_mixing_ticket_opened_v1_and_v2_projects_each_ticket_with_its_priority) {
  namespace tk = domain::tickets;
  test::TestSchema db;
  test::TestTopics topics(1);
  const auto topic = topics.topic("tickets");
  auto old = test::new_domain_event(tk::Event{tk::TicketOpened{"t1", "c1", "Old", "Before priorities", "normal"}});
  old.schema_version = 1;
  old.payload = R"({"ticket_id":"t1","requester_id":"c1","subject":"Old","body":"Before priorities"})";
  const auto today = test::new_domain_event(tk::Event{tk::TicketOpened{"t2", "c2", "New", "With one", "urgent"}});
  const auto moved = test::new_domain_event(tk::Event{tk::TicketStatusChanged{"t1", "in_progress", "open"}});
  test::produce_raw(topic, "ticket-t1", test::envelope_json(old, "ticket-t1", 1));
  test::produce_raw(topic, "ticket-t2", test::envelope_json(today, "ticket-t2", 1));
  test::produce_raw(topic, "ticket-t1", test::envelope_json(moved, "ticket-t1", 2));
  const std::vector<std::string> expected{"t1|normal|in_progress|2", "t2|urgent|open|1"};
  const auto sql = "SELECT ticket_id, priority, status, version FROM tickets";

  auto stats = run_projection(db, topics, "tickets", 100);
  BOOST_TEST(stats.applied == 3);
  BOOST_TEST(stats.dead_lettered == 0);
  BOOST_TEST(db.rows(sql) == expected, boost::test_tools::per_element());
  // Replayed from offset zero: the same rows.
  db.exec("TRUNCATE tickets, ticket_comments; DELETE FROM projection_offsets WHERE projection = 'tickets'");
  stats = run_projection(db, topics, "tickets", 1);
  BOOST_TEST(stats.applied == 3);
  BOOST_TEST(db.rows(sql) == expected, boost::test_tools::per_element());
  BOOST_TEST(test::topic_end(topics.topic("dead-letters")) == 0);

  // The event store: the v1 event's stored bytes are what its hash covers.
  {
    producers::EventStore store(db.conninfo());
    const std::vector<producers::NewEvent> first{old};
    store.append("ticket-t1", 0, first);
  }
  BOOST_TEST(db.scalar("SELECT schema_version FROM events WHERE stream_id = 'ticket-t1'") == "1");
  const auto env = test::lethe_env(db, topics);
  const auto shown = test::capture_env(env, test::lethe_bin() + " events ticket-t1 2>/dev/null");
  BOOST_TEST(shown.rc == 0, shown.output);
  BOOST_TEST(shown.output.find(R"("schema_version":2)") != std::string::npos, shown.output);
  BOOST_TEST(shown.output.find(R"("priority":"normal")") != std::string::npos, shown.output);
  const auto stored = test::capture_env(env, test::lethe_bin() + " events ticket-t1 --sealed 2>/dev/null");
  BOOST_TEST(stored.output.find(R"("schema_version":1)") != std::string::npos, stored.output);
  BOOST_TEST(stored.output.find("priority") == std::string::npos, stored.output);
  const auto verified = test::capture_env(env, test::lethe_bin() + " verify");
  BOOST_TEST(verified.rc == 0, verified.output);
}
