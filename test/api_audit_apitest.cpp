#define BOOST_TEST_MODULE api_audit
// The audit log and the event log over HTTP: staff and admin actions across
// the domains land in the audit log with actor, action, target, time and
// correlation id; an auditor queries by target, actor and time range, page
// by page, and changes nothing.
#include <boost/test/unit_test.hpp>

#include "support/api.hpp"
#include "support/fixtures.hpp"

using namespace lethe;
using test::Api;

namespace {

using test::Stack;

std::vector<std::string> actions(const test::Reply& r) {
  std::vector<std::string> out;
  for (const auto& e : r.json["entries"].GetArray()) out.emplace_back(e["action"].GetString());
  return out;
}

// The audit projection reads several topics (and partitions), which it may
// apply in any order: a query waits until what it asks for has arrived.
test::Reply until(Api& api, const std::string& path, const std::string& token, std::size_t entries,
                  const char* array = "entries") {
  return test::poll(api, path, token, [&](const test::Reply& r) {
    return r.status == 200 && r.json.IsObject() && r.json.HasMember(array) && r.json[array].Size() >= entries;
  });
}

}  // namespace

BOOST_AUTO_TEST_CASE(staff_actions_reach_the_audit_log_and_an_auditor_reads_it) {
  Stack s;
  auto& api = s.api;
  const auto ann = api.person("ann@example.org");
  const auto sam = api.person("sam@example.org", "staff");
  const auto aud = api.person("audrey@example.org", "auditor");
  const std::string marker = "MARKER-" + s.db.name();

  auto promoted = api.call("PUT", "/users/" + ann.id + "/role", R"({"role":"staff"})", api.owner_key(),
                           {{"X-Correlation-Id", "corr-promote-ann"}});
  BOOST_REQUIRE_MESSAGE(promoted.status == 200, promoted.body);
  auto ticket = api.call("POST", "/tickets", R"({"subject":"Help","body":"Please"})", ann.token);
  BOOST_REQUIRE(ticket.status == 201);
  const auto ticket_id = ticket.str("id");
  BOOST_REQUIRE(
      api.call("POST", "/tickets/" + ticket_id + "/assign", "{\"assignee_id\":\"" + sam.id + "\"}", sam.token).status ==
      200);
  auto note = api.call("POST", "/tickets/" + ticket_id + "/internal-notes", "{\"text\":\"" + marker + "\"}", sam.token);
  BOOST_REQUIRE(note.status == 201);

  // By target: the ticket's staff actions, oldest first.
  // Read-your-writes on the audit log: the note's own entry is there at once.
  auto waited =
      api.call("GET", "/audit-log?target_id=" + ticket_id + "&min_position=" + std::to_string(note.num("position")), "",
               aud.token);
  BOOST_REQUIRE_MESSAGE(waited.status == 200, waited.body);
  BOOST_TEST(waited.header("X-Lethe-Stale") == "");
  BOOST_TEST(waited.body.find("ticket.internal_note_added") != std::string::npos, waited.body);
  auto about_ticket = until(api, "/audit-log?target_id=" + ticket_id, aud.token, 2);
  BOOST_REQUIRE(actions(about_ticket) == (std::vector<std::string>{"ticket.assigned", "ticket.internal_note_added"}));
  const auto& first = about_ticket.json["entries"][0];
  BOOST_TEST(std::string(first["actor"].GetString()) == sam.id);
  BOOST_TEST(std::string(first["target_kind"].GetString()) == "ticket");
  BOOST_TEST(std::string(first["occurred_at"].GetString()).size() > 0u);
  // No personal text in the audit log: the note's text is not there.
  BOOST_TEST(about_ticket.body.find(marker) == std::string::npos);

  // By target user: the role change with its correlation id, and the logins.
  auto about_ann = until(api, "/audit-log?target_id=" + ann.id, aud.token, 2);
  const auto ann_actions = actions(about_ann);
  BOOST_TEST(std::count(ann_actions.begin(), ann_actions.end(), "user.role_changed") == 1);
  BOOST_TEST(std::count(ann_actions.begin(), ann_actions.end(), "user.logged_in") == 1);
  for (const auto& e : about_ann.json["entries"].GetArray())
    if (std::string(e["action"].GetString()) == "user.role_changed") {
      BOOST_TEST(std::string(e["actor"].GetString()) == api.owner_id());
      BOOST_TEST(std::string(e["correlation_id"].GetString()) == "corr-promote-ann");
    }

  // By actor, and pages that cover it all once.
  auto by_sam = api.call("GET", "/audit-log?actor=" + sam.id, "", aud.token);
  BOOST_TEST(actions(by_sam) == (std::vector<std::string>{"ticket.assigned", "ticket.internal_note_added"}));
  auto page1 = api.call("GET", "/audit-log?limit=1&actor=" + sam.id, "", aud.token);
  auto page2 = api.call("GET", "/audit-log?limit=1&offset=1&actor=" + sam.id, "", aud.token);
  BOOST_TEST(actions(page1) == std::vector<std::string>{"ticket.assigned"});
  BOOST_TEST(actions(page2) == std::vector<std::string>{"ticket.internal_note_added"});
  BOOST_TEST(page1.num("next_offset") == 1);

  // A time range: nothing before 2000, everything after it.
  BOOST_TEST(
      actions(api.call("GET", "/audit-log?actor=" + sam.id + "&to=2000-01-01T00:00:00Z", "", aud.token)).empty());
  BOOST_TEST(
      actions(api.call("GET", "/audit-log?actor=" + sam.id + "&from=2000-01-01T00:00:00Z", "", aud.token)).size() ==
      2u);
  auto bad = api.call("GET", "/audit-log?from=yesterday", "", aud.token);
  BOOST_TEST(bad.status == 400);
  BOOST_TEST(bad.str("field") == "from");

  // The event log: the ticket's stream as delivered, without payloads.
  auto events = until(api, "/event-log?stream_id=ticket-" + ticket_id, aud.token, 2, "events");
  BOOST_REQUIRE_MESSAGE(events.status == 200, events.body);
  BOOST_TEST(events.json["events"].Size() == 2u);
  BOOST_TEST(events.body.find("Please") == std::string::npos);

  // The auditor changes nothing, and customers do not read the audit log.
  const auto before = s.db.scalar("SELECT count(*) FROM events");
  BOOST_TEST(api.call("POST", "/tickets", R"({"subject":"x","body":"y"})", aud.token).status == 403);
  BOOST_TEST(api.call("PUT", "/users/" + ann.id + "/role", R"({"role":"user"})", aud.token).status == 403);
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events") == before);
  BOOST_TEST(api.call("GET", "/audit-log", "", sam.token).status == 403);
}
