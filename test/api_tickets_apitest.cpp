#define BOOST_TEST_MODULE api_tickets
// The tickets routes over HTTP against a running `lethe serve`, with the
// relay and the projections running: a customer's ticket worked by staff,
// who sees what, bad input, and the internal-note leak test.
#include <boost/test/unit_test.hpp>
#include <pqxx/pqxx>

#include "lethe/domain/personal.hpp"
#include "lethe/infra/ids.hpp"
#include "lethe/infra/pg.hpp"
#include "support/api.hpp"
#include "support/fixtures.hpp"

using namespace lethe;
using test::Api;

namespace {

using test::Stack;

std::string pos(const test::Reply& r) {
  return std::to_string(r.num("position"));
}

std::string ids_of(const test::Reply& list) {
  std::string out;
  for (const auto& t : list.json["tickets"].GetArray()) out += std::string(t["id"].GetString()) + " ";
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_customer_opens_a_ticket_and_staff_work_it) {
  Stack s;
  auto& api = s.api;
  const auto ann = api.person("ann@example.org");
  const auto bob = api.person("bob@example.org");
  const auto sam = api.person("sam@example.org", "staff");
  const auto aud = api.person("audrey@example.org", "auditor");

  auto opened = api.call("POST", "/tickets", R"({"subject":"Printer on fire","body":"It smokes."})", ann.token);
  BOOST_REQUIRE_MESSAGE(opened.status == 201, opened.body);
  const auto id = opened.str("id");
  BOOST_TEST(opened.num("stream_version") == 1);

  // Read-your-writes on the ticket itself.
  auto seen = api.call("GET", "/tickets/" + id + "?min_version=1", "", ann.token);
  BOOST_REQUIRE_MESSAGE(seen.status == 200, seen.body);
  BOOST_TEST(seen.str("status") == "open");
  BOOST_TEST(seen.str("priority") == "normal");  // left out: normal
  BOOST_TEST(seen.str("requester_id") == ann.id);
  BOOST_TEST(seen.json["assignee_id"].IsNull());
  BOOST_TEST(seen.header("ETag") == "\"1\"");
  // Another customer is told it does not exist, with or without
  // ?min_version=, written or not: the very answer a missing ticket gets.
  // Ann learns that a version was never written. Staff and auditors see it.
  const auto missing = api.call("GET", "/tickets/" + lethe::infra::new_uuid() + "?min_version=1", "", bob.token);
  BOOST_TEST(missing.status == 404);
  BOOST_TEST(missing.str("field") == "id");
  for (const std::string query : {"", "?min_version=1", "?min_version=99", "?min_version=1&wait_ms=50"}) {
    const auto probe = api.call("GET", "/tickets/" + id + query, "", bob.token);
    BOOST_TEST(probe.status == 404, query);
    BOOST_TEST(probe.body == missing.body, query << ": " << probe.body);
  }
  const auto unwritten = api.call("GET", "/tickets/" + id + "?min_version=99", "", ann.token);
  BOOST_TEST(unwritten.status == 404);
  BOOST_TEST(unwritten.str("field") == "min_version", unwritten.body);
  BOOST_TEST(api.call("GET", "/tickets/" + id, "", sam.token).status == 200);
  BOOST_TEST(api.call("GET", "/tickets/" + id, "", aud.token).status == 200);

  // Assignment: to staff only.
  auto to_customer = api.call("POST", "/tickets/" + id + "/assign", "{\"assignee_id\":\"" + bob.id + "\"}", sam.token);
  BOOST_TEST(to_customer.status == 422);
  BOOST_TEST(to_customer.str("field") == "assignee_id");
  auto assigned = api.call("POST", "/tickets/" + id + "/assign", "{\"assignee_id\":\"" + sam.id + "\"}", sam.token);
  BOOST_REQUIRE_MESSAGE(assigned.status == 200, assigned.body);
  BOOST_TEST(api.call("POST", "/tickets/" + id + "/assign", "{\"assignee_id\":\"" + sam.id + "\"}", ann.token).status ==
             403);

  // The workflow: a wrong move names the allowed ones; a customer moves
  // only a resolved ticket of their own.
  auto skip = api.call("POST", "/tickets/" + id + "/status", R"({"status":"resolved"})", sam.token);
  BOOST_TEST(skip.status == 422);
  BOOST_TEST(skip.str("field") == "status");
  BOOST_TEST(skip.str("message").find("allowed: in_progress") != std::string::npos, skip.body);
  BOOST_TEST(api.call("POST", "/tickets/" + id + "/status", R"({"status":"in_progress"})", ann.token).status == 403);
  BOOST_TEST(api.call("POST", "/tickets/" + id + "/status", R"({"status":"in_progress"})", sam.token).status == 200);
  // If-Match: a stale version changes nothing.
  auto stale =
      api.call("POST", "/tickets/" + id + "/status", R"({"status":"resolved"})", sam.token, {{"If-Match", "\"1\""}});
  BOOST_TEST(stale.status == 409);
  BOOST_TEST(stale.str("field") == "if-match");
  BOOST_TEST(
      api.call("POST", "/tickets/" + id + "/status", R"({"status":"resolved"})", sam.token, {{"If-Match", "\"3\""}})
          .status == 200);
  auto reopened = api.call("POST", "/tickets/" + id + "/status", R"({"status":"open"})", ann.token);
  BOOST_REQUIRE_MESSAGE(reopened.status == 200, reopened.body);

  // Public comments by the requester and staff, not by another customer.
  BOOST_TEST(api.call("POST", "/tickets/" + id + "/comments", R"({"body":"Still smoking."})", ann.token).status == 201);
  auto reply = api.call("POST", "/tickets/" + id + "/comments", R"({"body":"Unplug it."})", sam.token);
  BOOST_REQUIRE_MESSAGE(reply.status == 201, reply.body);
  BOOST_TEST(api.call("POST", "/tickets/" + id + "/comments", R"({"body":"Me too"})", bob.token).status == 404);
  BOOST_TEST(api.call("POST", "/tickets/" + id + "/comments", R"({"body":"look"})", aud.token).status == 403);

  auto full = api.call("GET", "/tickets/" + id + "?min_position=" + pos(reply), "", ann.token);
  BOOST_REQUIRE_MESSAGE(full.status == 200, full.body);
  BOOST_TEST(full.str("status") == "open");
  BOOST_TEST(full.str("assignee_id") == sam.id);
  BOOST_REQUIRE(full.json["comments"].Size() == 2u);
  BOOST_TEST(std::string(full.json["comments"][0]["body"].GetString()) == "Still smoking.");
  BOOST_TEST(std::string(full.json["comments"][1]["author_id"].GetString()) == sam.id);
  BOOST_TEST(full.num("version") == 7);
  BOOST_TEST(full.json["comments_next_offset"].IsNull());  // one page holds them
  // The comments a page at a time.
  auto page1 = api.call("GET", "/tickets/" + id + "?limit=1", "", ann.token);
  BOOST_REQUIRE(page1.json["comments"].Size() == 1u);
  BOOST_TEST(std::string(page1.json["comments"][0]["body"].GetString()) == "Still smoking.");
  BOOST_TEST(page1.num("comments_next_offset") == 1);
  auto page2 = api.call("GET", "/tickets/" + id + "?limit=1&offset=1", "", ann.token);
  BOOST_REQUIRE(page2.json["comments"].Size() == 1u);
  BOOST_TEST(std::string(page2.json["comments"][0]["author_id"].GetString()) == sam.id);
  BOOST_TEST(api.call("GET", "/tickets/" + id + "?limit=501", "", ann.token).status == 400);

  // Lists: a customer sees only their own; staff filter; pages are stable.
  auto bobs = api.call("POST", "/tickets", R"({"subject":"Bob's","body":"Hello","priority":"urgent"})", bob.token);
  BOOST_REQUIRE(bobs.status == 201);
  BOOST_TEST(api.call("GET", "/tickets/" + bobs.str("id") + "?min_version=1", "", bob.token).str("priority") ==
             "urgent");
  auto ann_list = api.call("GET", "/tickets?min_position=" + pos(bobs), "", ann.token);
  BOOST_REQUIRE_MESSAGE(ann_list.status == 200, ann_list.body);
  BOOST_TEST(ids_of(ann_list) == id + " ");
  auto staff_list = api.call("GET", "/tickets", "", sam.token);
  BOOST_TEST(ids_of(staff_list) == bobs.str("id") + " " + id + " ");  // newest first
  BOOST_TEST(ids_of(api.call("GET", "/tickets?requester_id=" + bob.id, "", sam.token)) == bobs.str("id") + " ");
  BOOST_TEST(ids_of(api.call("GET", "/tickets?status=in_progress", "", sam.token)) == "");
  // A customer cannot widen their filter to somebody else.
  BOOST_TEST(ids_of(api.call("GET", "/tickets?requester_id=" + bob.id, "", ann.token)) == id + " ");
  auto first = api.call("GET", "/tickets?limit=1", "", sam.token);
  BOOST_TEST(ids_of(first) == bobs.str("id") + " ");
  BOOST_TEST(first.num("next_offset") == 1);
  auto second = api.call("GET", "/tickets?limit=1&offset=1", "", sam.token);
  BOOST_TEST(ids_of(second) == id + " ");
  auto third = api.call("GET", "/tickets?limit=1&offset=2", "", sam.token);
  BOOST_TEST(ids_of(third) == "");
  BOOST_TEST(third.json["next_offset"].IsNull());
}

BOOST_AUTO_TEST_CASE(bad_input_gets_a_clear_error_and_changes_nothing) {
  Stack s;
  auto& api = s.api;
  const auto ann = api.person("ann@example.org");
  const auto events = [&] { return s.db.scalar("SELECT count(*) FROM events"); };
  const auto before = events();
  struct Case {
    std::string path, body, field;
    int status;
  };
  const std::vector<Case> cases{
      {"/tickets", R"({"body":"no subject"})", "subject", 400},
      {"/tickets", R"({"subject":"","body":"x"})", "subject", 400},
      {"/tickets", R"({"subject":"x","body":"y","priority":1})", "priority", 400},
      {"/tickets", R"({"subject":"x","body":"y","priority":"whenever"})", "priority", 400},
      {"/tickets", R"({"subject":"x","body":5})", "body", 400},
      {"/tickets/nope/status", R"({"status":"done"})", "status", 400},
      {"/tickets/nope/status", R"({"status":"closed"})", "ticket_id", 404},
      {"/tickets/nope/comments", R"({"body":"hello"})", "ticket_id", 404},
  };
  for (const auto& c : cases) {
    auto r = api.call("POST", c.path, c.body, ann.token);
    BOOST_TEST(r.status == c.status, c.path << " " << c.body << ": " << r.status << " " << r.body);
    BOOST_TEST(r.str("field") == c.field, c.path << " " << c.body << ": " << r.body);
    BOOST_TEST(!r.str("message").empty());
  }
  BOOST_TEST(api.call("GET", "/tickets?status=done", "", ann.token).str("field") == "status");
  BOOST_TEST(api.call("GET", "/tickets?limit=0", "", ann.token).str("field") == "limit");
  BOOST_TEST(events() == before);
}

// A staff member writes an internal note with a unique marker; it must be
// nowhere a customer can look: not on a customer-visible topic (read raw),
// in no table in clear (the staff-only one keeps it sealed), not in any
// answer to the customer. Staff see it.
BOOST_AUTO_TEST_CASE(an_internal_note_never_reaches_the_customer) {
  Stack s;
  auto& api = s.api;
  const auto ann = api.person("ann@example.org");
  const auto sam = api.person("sam@example.org", "staff");
  const std::string marker = "MARKER-" + s.db.name() + "-internal";

  auto opened = api.call("POST", "/tickets", R"({"subject":"Refund?","body":"Please."})", ann.token);
  BOOST_REQUIRE(opened.status == 201);
  const auto id = opened.str("id");
  auto note = api.call("POST", "/tickets/" + id + "/internal-notes", "{\"text\":\"" + marker + "\"}", sam.token);
  BOOST_REQUIRE_MESSAGE(note.status == 201, note.body);
  const auto note_id = note.str("id");
  auto comment = api.call("POST", "/tickets/" + id + "/comments", R"({"body":"We are on it."})", sam.token);
  BOOST_REQUIRE(comment.status == 201);

  // Staff see the note once the projection has it.
  auto staff_view = api.call("GET", "/tickets/" + id + "/internal-notes?min_position=" + pos(note), "", sam.token);
  BOOST_REQUIRE_MESSAGE(staff_view.status == 200, staff_view.body);
  BOOST_TEST(staff_view.header("X-Lethe-Stale") == "");
  BOOST_REQUIRE(staff_view.json["notes"].Size() == 1u);
  BOOST_TEST(std::string(staff_view.json["notes"][0]["text"].GetString()) == marker);

  // Every answer the customer can get about it.
  std::vector<test::Reply> customer_answers;
  customer_answers.push_back(api.call("GET", "/tickets/" + id + "?min_position=" + pos(comment), "", ann.token));
  customer_answers.push_back(api.call("GET", "/tickets", "", ann.token));
  customer_answers.push_back(api.call("GET", "/tickets/" + id + "/internal-notes", "", ann.token));
  customer_answers.push_back(api.call("GET", "/me", "", ann.token));
  BOOST_TEST(customer_answers[0].status == 200);
  BOOST_TEST(customer_answers[0].json["comments"].Size() == 1u);  // the public comment, not the note
  BOOST_TEST(customer_answers[2].status == 403);
  for (const auto& r : customer_answers) {
    BOOST_TEST(r.body.find(marker) == std::string::npos, r.body);
    BOOST_TEST(r.body.find(note_id) == std::string::npos, r.body);
  }

  // Topics, raw: the note event is on the staff topic only (and sealed
  // there); no other topic carries it or its text.
  std::size_t on_staff = 0;
  for (const auto& topic : {"users", "tickets", "shop", "billing", "content", "files", "email", "staff"}) {
    for (const auto& m : test::read_topic(s.topics.topic(topic))) {
      BOOST_TEST(m.value.find(marker) == std::string::npos, topic << " holds the marker in clear");
      if (m.value.find(note_id) == std::string::npos) continue;
      BOOST_TEST(std::string(topic) == "staff", "the note is on " << topic);
      BOOST_TEST(m.value.find("ticket.internal_note_added") != std::string::npos);
      ++on_staff;
    }
  }
  BOOST_TEST(on_staff == 1u);

  // Tables: every text and JSON column of every table; none holds the
  // marker in clear (the staff-only notes keep it sealed, and the staff
  // answer above opened it), but the notes table holds the note.
  const auto holding = s.db.columns_holding(marker);
  auto conn = infra::connect(s.db.conninfo());
  pqxx::read_transaction tx(*conn);
  const auto stored = tx.exec_params("SELECT text FROM ticket_internal_notes WHERE note_id = $1", note_id);
  BOOST_REQUIRE(stored.size() == 1);
  BOOST_TEST(domain::is_sealed_text(stored[0][0].c_str()));
  // Sealed under Ann's key in the staff key domain: opening it takes the
  // domain's secret too, which no key released for a customer topic gives.
  BOOST_TEST(domain::sealed_text_subjects(stored[0][0].c_str()) ==
             (std::vector<std::string>{ann.id, domain::key_domain_subject(domain::kStaffKeyDomain)}));
  BOOST_TEST(
      holding.empty(), "found in: " << [&] {
        std::string out;
        for (const auto& h : holding) out += h + " ";
        return out;
      }());
}
