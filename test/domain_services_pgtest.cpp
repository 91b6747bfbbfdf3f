#define BOOST_TEST_MODULE domain_services
// The billing, content, files and email command services against
// PostgreSQL: each on the one command path, with the actor's role read from
// the write side (accounts registered through UserService), If-Match
// against the command's stream, personal fields sealed on the way in, and
// a refused command appending nothing.
#include <barrier>
#include <boost/test/unit_test.hpp>
#include <future>
#include <thread>

#include "billing_service.hpp"
#include "content_service.hpp"
#include "email_log_service.hpp"
#include "erasure_service.hpp"
#include "file_service.hpp"
#include "lethe/infra/access.hpp"
#include "lethe/infra/keyring.hpp"
#include "lethe/infra/pg.hpp"
#include "lethe/producers/event_store.hpp"
#include "support/fixtures.hpp"
#include "user_service.hpp"

using namespace lethe;
namespace b = domain::billing;
namespace c = domain::content;
namespace f = domain::files;
namespace m = domain::email;
using producers::CommandContext;
using producers::Written;

namespace {

infra::PasswordPool& passwords() {
  static infra::PasswordPool pool(2);
  return pool;
}

// A schema with an owner (boss), an admin (adm), two plain users (ann,
// bob) and an auditor (aud), registered through the users service so that
// actor_in finds their roles.
struct Services {
  test::TestSchema db;
  producers::EventStore store{db.conninfo()};
  producers::UserService users{store, passwords()};
  producers::BillingService billing{store};
  producers::ContentService content{store};
  producers::FileService files{store};
  producers::EmailLogService email{store};

  Services() {
    for (const auto& [id, role] : std::vector<std::pair<std::string, std::string>>{
             {"boss", "owner"}, {"adm", "admin"}, {"ann", "user"}, {"bob", "user"}, {"aud", "auditor"}}) {
      const auto r =
          users.register_user({id, id + "@example.org", "Name of " + id, role, ""}, "", CommandContext{"system:test"});
      BOOST_REQUIRE_MESSAGE(r.ok(), id << ": " << (r.ok() ? "" : r.error().message));
    }
  }

  long events() const { return std::stol(db.scalar("SELECT count(*) FROM events")); }
  // The stream's event types in version order, joined by spaces.
  std::string types(const std::string& stream) const {
    return db.scalar("SELECT string_agg(type, ' ' ORDER BY stream_version) FROM events WHERE stream_id = '" + stream +
                     "'");
  }
};

CommandContext as(const std::string& actor, std::optional<std::int64_t> if_match = std::nullopt) {
  return CommandContext{actor, if_match};
}

std::string outcome(const domain::Result<Written>& r) {
  return r.ok() ? "ok" : std::string(domain::to_string(r.error().code));
}

// The refusal's field, or "" when the command went through.
std::string field_of(const domain::Result<Written>& r) {
  return r.ok() ? "" : r.error().field;
}

// Runs a command that must be refused with `code`, and checks that it
// appended nothing.
template <class Fn>
void refused(Services& s, const std::string& code, Fn&& command, const std::string& field = "*") {
  const auto before = s.events();
  const auto r = command();
  BOOST_TEST(outcome(r) == code);
  if (field != "*") BOOST_TEST(field_of(r) == field);
  BOOST_TEST(s.events() == before, "a refused command appended events");
}

const std::string kSha = "sha256:" + std::string(64, 'a');

}  // namespace

BOOST_AUTO_TEST_CASE(a_billing_profile_is_set_by_its_person_or_the_billing_right_and_sealed_in_the_store) {
  Services s;
  const auto r =
      s.billing.handle(b::SetProfile{"ann", "Ann Holder", "1 Main St, Springfield", "DE123456789"}, as("ann"));
  BOOST_REQUIRE(r.ok());
  BOOST_REQUIRE(r.value().size() == 1u);
  BOOST_TEST(r.value()[0].type == "billing.profile_set");
  BOOST_TEST(r.value()[0].stream_id == "billingprofile-ann");
  BOOST_TEST(r.value()[0].actor == "ann");
  // The holder's name, address and tax id never reach the store in clear.
  const auto stored = s.db.scalar("SELECT payload::text FROM events WHERE stream_id = 'billingprofile-ann'");
  for (const auto* secret : {"Ann Holder", "Springfield", "DE123456789"})
    BOOST_TEST(stored.find(secret) == std::string::npos, secret << " is in the store: " << stored);

  refused(s, "forbidden", [&] { return s.billing.handle(b::SetProfile{"ann", "Bob", "Elsewhere", ""}, as("bob")); });
  refused(s, "forbidden", [&] { return s.billing.handle(b::SetProfile{"ann", "Aud", "Elsewhere", ""}, as("aud")); });
  refused(s, "forbidden", [&] {
    return s.billing.handle(b::SetProfile{"ann", "Anon", "Elsewhere", ""}, as("nobody"));
  });
  // The billing right sets anyone's; the CLI acts as an owner.
  BOOST_TEST(outcome(s.billing.handle(b::SetProfile{"ann", "Ann H.", "2 Main St", ""}, as("adm"))) == "ok");
  BOOST_TEST(outcome(s.billing.handle(b::SetProfile{"bob", "Bob B.", "3 Side St", ""}, as("system:cli"))) == "ok");
  refused(s, "no_change", [&] { return s.billing.handle(b::SetProfile{"ann", "Ann H.", "2 Main St", ""}, as("ann")); });
  // If-Match against the profile's stream.
  refused(
      s, "conflict",
      [&] {
        return s.billing.handle(b::SetProfile{"ann", "Ann 3", "4 Main St", ""}, as("ann", 1));
      },
      "if-match");
  BOOST_TEST(outcome(s.billing.handle(b::SetProfile{"ann", "Ann 3", "4 Main St", ""}, as("ann", 2))) == "ok");
  BOOST_TEST(s.types("billingprofile-ann") == "billing.profile_set billing.profile_set billing.profile_set");
  // An id too long for a stream is refused before anything is read.
  refused(
      s, "invalid_argument",
      [&] {
        return s.billing.handle(b::SetProfile{std::string(190, 'x'), "N", "A", ""}, as("adm"));
      },
      "user_id");
}

BOOST_AUTO_TEST_CASE(refunds_never_exceed_what_is_left_refundable_and_credit_notes_never_exceed_the_charge) {
  Services s;
  refused(s, "forbidden", [&] {
    return s.billing.handle(b::RecordCharge{"t1", "ann", 10000, "EUR", "Pro plan, May"}, as("ann"));
  });
  const auto charge = s.billing.handle(b::RecordCharge{"t1", "ann", 10000, "EUR", "Pro plan, May"}, as("adm"));
  BOOST_REQUIRE(charge.ok());
  BOOST_TEST(charge.value()[0].type == "billing.charge_recorded");
  refused(s, "already_exists", [&] {
    return s.billing.handle(b::RecordCharge{"t1", "ann", 500, "EUR", "again"}, as("adm"));
  });

  // Two partial refunds, then one above what is left: 10000 - 3000 - 5000 = 2000.
  BOOST_TEST(outcome(s.billing.handle(b::RecordRefund{"t1", "r1", 3000, "EUR", "partial"}, as("adm"))) == "ok");
  BOOST_TEST(outcome(s.billing.handle(b::RecordRefund{"t1", "r2", 5000, "EUR", "partial"}, as("boss"))) == "ok");
  refused(
      s, "rule_violated",
      [&] {
        return s.billing.handle(b::RecordRefund{"t1", "r3", 2001, "EUR", "too much"}, as("adm"));
      },
      "amount");
  refused(
      s, "rule_violated",
      [&] {
        return s.billing.handle(b::RecordRefund{"t1", "r3", 100, "USD", "currency"}, as("adm"));
      },
      "currency");
  refused(s, "already_exists", [&] {
    return s.billing.handle(b::RecordRefund{"t1", "r1", 100, "EUR", "id reused"}, as("adm"));
  });
  refused(s, "forbidden", [&] { return s.billing.handle(b::RecordRefund{"t1", "r3", 100, "EUR", "mine"}, as("ann")); });
  refused(s, "not_found", [&] {
    return s.billing.handle(b::RecordRefund{"nosuch", "r9", 100, "EUR", "no charge"}, as("adm"));
  });
  BOOST_TEST(outcome(s.billing.handle(b::RecordRefund{"t1", "r3", 2000, "EUR", "the rest"}, as("adm"))) == "ok");
  refused(s, "rule_violated", [&] {
    return s.billing.handle(b::RecordRefund{"t1", "r4", 1, "EUR", "nothing left"}, as("adm"));
  });

  // Credit notes are counted apart from refunds, up to the charge.
  BOOST_TEST(outcome(s.billing.handle(b::IssueCreditNote{"t1", "c1", 4000, "EUR", "goodwill"}, as("adm"))) == "ok");
  refused(
      s, "rule_violated",
      [&] {
        return s.billing.handle(b::IssueCreditNote{"t1", "c2", 6001, "EUR", "above"}, as("adm"));
      },
      "amount");
  refused(
      s, "rule_violated",
      [&] {
        return s.billing.handle(b::IssueCreditNote{"t1", "c2", 10, "GBP", "currency"}, as("adm"));
      },
      "currency");
  BOOST_TEST(outcome(s.billing.handle(b::IssueCreditNote{"t1", "c2", 6000, "EUR", "the rest"}, as("system:cli"))) ==
             "ok");

  // If-Match against the transaction's stream (charge, 3 refunds, 2 credit notes).
  refused(
      s, "conflict",
      [&] {
        return s.billing.handle(b::IssueCreditNote{"t1", "c3", 1, "EUR", "x"}, as("adm", 3));
      },
      "if-match");
  BOOST_TEST(s.types("transaction-t1") ==
             "billing.charge_recorded billing.refund_recorded billing.refund_recorded billing.refund_recorded "
             "billing.credit_note_issued billing.credit_note_issued");
  // The refund names the charge's person, and the actor who recorded it.
  BOOST_TEST(s.db.scalar("SELECT payload->>'user_id' || ' ' || actor FROM events WHERE stream_id = 'transaction-t1'"
                         " AND stream_version = 2") == "ann adm");
}

BOOST_AUTO_TEST_CASE(concurrent_refunds_of_one_charge_never_exceed_it) {
  Services s;
  BOOST_REQUIRE(s.billing.handle(b::RecordCharge{"t1", "ann", 10000, "EUR", "Pro plan"}, as("adm")).ok());
  constexpr int kRacers = 8;  // 2000 each: at most five fit
  std::barrier start(kRacers);
  std::vector<std::string> outcomes(kRacers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRacers; ++i)
    threads.emplace_back([&, i] {
      producers::EventStore store(s.db.conninfo());
      producers::BillingService svc(store);
      start.arrive_and_wait();
      try {
        outcomes[i] =
            outcome(svc.handle(b::RecordRefund{"t1", "r" + std::to_string(i), 2000, "EUR", "race"}, as("adm")));
      } catch (const producers::ConcurrencyConflict&) {
        outcomes[i] = "retries exhausted";  // the stream kept moving: nothing appended
      }
    });
  for (auto& t : threads) t.join();
  const auto ok = std::count(outcomes.begin(), outcomes.end(), "ok");
  BOOST_TEST(ok >= 1);
  BOOST_TEST(ok <= 5);
  for (const auto& o : outcomes) BOOST_TEST((o == "ok" || o == "rule_violated" || o == "retries exhausted"), o);
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events WHERE stream_id = 'transaction-t1'") == std::to_string(1 + ok));
  BOOST_TEST(s.db.scalar("SELECT coalesce(sum((payload->>'amount')::bigint), 0) FROM events"
                         " WHERE stream_id = 'transaction-t1' AND type = 'billing.refund_recorded'") ==
             std::to_string(2000 * ok));
}

BOOST_AUTO_TEST_CASE(a_subscription_is_cancelled_once) {
  Services s;
  const auto created = s.billing.handle(b::CreateSubscription{"s1", "ann", "pro"}, as("ann"));
  BOOST_REQUIRE(created.ok());
  BOOST_TEST(created.value()[0].type == "billing.subscription_created");
  refused(s, "forbidden", [&] { return s.billing.handle(b::CreateSubscription{"s2", "ann", "pro"}, as("bob")); });
  refused(s, "already_exists", [&] {
    return s.billing.handle(b::CreateSubscription{"s1", "ann", "basic"}, as("ann"));
  });
  refused(s, "forbidden", [&] { return s.billing.handle(b::CancelSubscription{"s1", "not mine"}, as("bob")); });
  const auto cancelled = s.billing.handle(b::CancelSubscription{"s1", "too expensive"}, as("ann", 1));
  BOOST_REQUIRE(cancelled.ok());
  BOOST_TEST(cancelled.value()[0].type == "billing.subscription_cancelled");
  BOOST_TEST(cancelled.value()[0].stream_version == 2);
  // A second cancel is a conflict (409), by the subscriber or the billing right.
  refused(s, "conflict", [&] { return s.billing.handle(b::CancelSubscription{"s1", "again"}, as("ann")); });
  refused(s, "conflict", [&] { return s.billing.handle(b::CancelSubscription{"s1", "again"}, as("adm")); });
  refused(s, "not_found", [&] { return s.billing.handle(b::CancelSubscription{"s9", "none"}, as("adm")); });
  BOOST_TEST(outcome(s.billing.handle(b::CreateSubscription{"s2", "bob", "basic"}, as("adm"))) == "ok");
  BOOST_TEST(s.types("subscription-s1") == "billing.subscription_created billing.subscription_cancelled");
}

BOOST_AUTO_TEST_CASE(posts_and_comments_are_changed_by_their_author_or_an_admin_and_a_deleted_post_takes_no_comment) {
  Services s;
  const auto published = s.content.handle(c::PublishPost{"p1", "Hello", "First post"}, as("ann"));
  BOOST_REQUIRE(published.ok());
  BOOST_TEST(published.value()[0].type == "content.post_published");
  BOOST_TEST(s.db.scalar("SELECT payload->>'author_id' FROM events WHERE stream_id = 'post-p1'") == "ann");
  refused(s, "forbidden", [&] { return s.content.handle(c::PublishPost{"p2", "T", "B"}, as("aud")); });
  refused(s, "already_exists", [&] { return s.content.handle(c::PublishPost{"p1", "T", "B"}, as("bob")); });

  // Another user may not edit or delete it; its author and an admin may.
  refused(
      s, "forbidden",
      [&] {
        return s.content.handle(c::EditPost{"p1", "Mine now", "B"}, as("bob"));
      },
      "post_id");
  refused(s, "forbidden", [&] { return s.content.handle(c::DeletePost{"p1"}, as("bob")); });
  BOOST_TEST(outcome(s.content.handle(c::EditPost{"p1", "Hello again", "First post, edited"}, as("ann"))) == "ok");
  BOOST_TEST(outcome(s.content.handle(c::EditPost{"p1", "Hello, moderated", "Edited by an admin"}, as("adm", 2))) ==
             "ok");
  refused(
      s, "conflict",
      [&] {
        return s.content.handle(c::EditPost{"p1", "Stale", "Stale"}, as("ann", 2));
      },
      "if-match");

  // Comments: anyone signed in, on a post that exists; changed by their author or an admin.
  BOOST_TEST(outcome(s.content.handle(c::AddComment{"c1", "p1", "Nice"}, as("bob"))) == "ok");
  BOOST_TEST(outcome(s.content.handle(c::AddComment{"c2", "p1", "Thanks"}, as("ann"))) == "ok");
  refused(
      s, "not_found",
      [&] {
        return s.content.handle(c::AddComment{"c3", "nosuch", "Hm"}, as("bob"));
      },
      "post_id");
  refused(s, "forbidden", [&] { return s.content.handle(c::AddComment{"c3", "p1", "Hm"}, as("nobody")); });
  refused(
      s, "forbidden",
      [&] {
        return s.content.handle(c::EditComment{"c1", "Not yours"}, as("ann"));
      },
      "comment_id");
  BOOST_TEST(outcome(s.content.handle(c::EditComment{"c1", "Very nice"}, as("bob", 1))) == "ok");
  BOOST_TEST(outcome(s.content.handle(c::DeleteComment{"c1"}, as("adm"))) == "ok");
  refused(s, "conflict", [&] { return s.content.handle(c::DeleteComment{"c1"}, as("bob")); });
  // A comment command appends to the comment's stream only.
  BOOST_TEST(s.types("post-p1") == "content.post_published content.post_edited content.post_edited");
  BOOST_TEST(s.types("comment-c1") == "content.comment_added content.comment_edited content.comment_deleted");

  // A deleted post takes no comment and no edit of one; deleting one is fine.
  BOOST_TEST(outcome(s.content.handle(c::DeletePost{"p1"}, as("ann"))) == "ok");
  refused(
      s, "conflict",
      [&] {
        return s.content.handle(c::AddComment{"c4", "p1", "Too late"}, as("bob"));
      },
      "post_id");
  refused(s, "conflict", [&] { return s.content.handle(c::EditComment{"c2", "Edited late"}, as("ann")); });
  refused(s, "conflict", [&] { return s.content.handle(c::EditPost{"p1", "Back", "Back"}, as("adm")); });
  BOOST_TEST(outcome(s.content.handle(c::DeleteComment{"c2"}, as("ann"))) == "ok");
  BOOST_TEST(s.types("comment-c4") == "");
}

BOOST_AUTO_TEST_CASE(a_file_is_recorded_by_its_owner_and_deleted_once) {
  Services s;
  const auto recorded = s.files.handle(f::RecordFile{"f1", "report.pdf", 12345, "application/pdf", kSha}, as("ann"));
  BOOST_REQUIRE(recorded.ok());
  BOOST_TEST(recorded.value()[0].type == "file.recorded");
  BOOST_TEST(s.db.scalar("SELECT payload->>'owner_id' || ' ' || (payload->>'size') FROM events WHERE stream_id = "
                         "'file-f1'") == "ann 12345");
  refused(s, "already_exists", [&] {
    return s.files.handle(f::RecordFile{"f1", "other.pdf", 1, "application/pdf", kSha}, as("bob"));
  });
  refused(
      s, "invalid_argument",
      [&] {
        return s.files.handle(f::RecordFile{"f2", "x.pdf", 1, "application/pdf", "md5:abc"}, as("bob"));
      },
      "checksum");
  refused(s, "forbidden", [&] {
    return s.files.handle(f::RecordFile{"f2", "x.pdf", 1, "application/pdf", kSha}, as("aud"));
  });
  refused(s, "forbidden", [&] { return s.files.handle(f::DeleteFile{"f1"}, as("bob")); });
  refused(
      s, "conflict", [&] { return s.files.handle(f::DeleteFile{"f1"}, as("ann", 0)); }, "if-match");
  BOOST_TEST(outcome(s.files.handle(f::DeleteFile{"f1"}, as("ann", 1))) == "ok");
  refused(s, "conflict", [&] { return s.files.handle(f::DeleteFile{"f1"}, as("adm")); });
  refused(s, "not_found", [&] { return s.files.handle(f::DeleteFile{"f9"}, as("adm")); });
  // An admin deletes anyone's.
  BOOST_REQUIRE(s.files.handle(f::RecordFile{"f3", "b.png", 0, "image/png", kSha}, as("bob")).ok());
  BOOST_TEST(outcome(s.files.handle(f::DeleteFile{"f3"}, as("adm"))) == "ok");
  BOOST_TEST(s.types("file-f1") == "file.recorded file.deleted");
}

BOOST_AUTO_TEST_CASE(an_email_is_logged_by_a_system_actor_or_an_admin_with_its_subject_sealed) {
  Services s;
  const auto logged = s.email.handle(
      m::LogEmailSent{"e1", "ann", "welcome", "Welcome, Ann Sample!", "2026-05-01T08:00:00Z"}, as("system:mailer"));
  BOOST_REQUIRE(logged.ok());
  BOOST_TEST(logged.value()[0].type == "email.sent_logged");
  BOOST_TEST(logged.value()[0].actor == "system:mailer");
  const auto stored = s.db.scalar("SELECT payload::text FROM events WHERE stream_id = 'email-e1'");
  BOOST_TEST(stored.find("Ann Sample") == std::string::npos, stored);
  BOOST_TEST(stored.find("welcome") != std::string::npos, stored);  // the template is not personal

  refused(s, "forbidden", [&] {
    return s.email.handle(m::LogEmailSent{"e2", "ann", "welcome", "Hi", "2026-05-01T08:00:00Z"}, as("bob"));
  });
  refused(s, "forbidden", [&] {
    return s.email.handle(m::LogEmailSent{"e2", "ann", "welcome", "Hi", "2026-05-01T08:00:00Z"}, as("ann"));
  });
  refused(s, "forbidden", [&] {
    return s.email.handle(m::LogEmailSent{"e2", "ann", "welcome", "Hi", "2026-05-01T08:00:00Z"}, as("aud"));
  });
  refused(s, "already_exists", [&] {
    return s.email.handle(m::LogEmailSent{"e1", "ann", "welcome", "Hi", "2026-05-01T08:00:00Z"}, as("system:mailer"));
  });
  refused(
      s, "invalid_argument",
      [&] {
        return s.email.handle(m::LogEmailSent{"e2", "ann", "welcome", "Hi", "2026-05-01 08:00"}, as("system:mailer"));
      },
      "sent_at");
  BOOST_TEST(outcome(s.email.handle(m::LogEmailSent{"e2", "bob", "reset", "Reset", "2026-05-01T08:00:01.5Z"},
                                    as("adm"))) == "ok");
  BOOST_TEST(s.db.scalar("SELECT count(*) FROM events WHERE type = 'email.sent_logged'") == "2");
}

// The fence under concurrency (V013): a command holds a shared lock on every
// person its events name until it commits, and the erasure of one of them
// takes it exclusively, so no event about a person commits after their
// erasure. Each half holds one side's transaction open and shows the other
// side waiting for it. Its negative control follows it: with the lock and
// the check taken out of lethe_fence, the erasure does not wait and the
// charge on ann commits after it.
namespace {

// Holds a transaction open in its own connection until `release`.
std::thread hold(const Services& s, std::function<void(producers::EventStore::Transaction&)> body,
                 std::promise<void>& ready, std::shared_future<void> release) {
  return std::thread([&s, body = std::move(body), &ready, release] {
    producers::EventStore store(s.db.conninfo());
    store.transact([&](producers::EventStore::Transaction& tx) {
      body(tx);
      ready.set_value();
      release.wait();
      return true;
    });
  });
}

// A charge on ann appended and held uncommitted while her erasure runs:
// whether the erasure waited for it, and whether the charge had committed
// by the time the erasure had (no event about her commits after).
struct ChargeBesideErasure {
  bool erasure_waited = false, charge_first = false;
};
ChargeBesideErasure charge_beside_erasure(const Services& s) {
  using namespace std::chrono_literals;
  const auto adm = as("adm");
  std::promise<void> appended, release;
  auto command = hold(
      s,
      [&](producers::EventStore::Transaction& tx) {
        producers::CommandTx c(tx, adm);
        c.append("transaction-t9", 0,
                 producers::drafts_of(std::vector<b::Event>{b::ChargeRecorded{"t9", "ann", 100, "EUR", "race"}}));
      },
      appended, release.get_future().share());
  appended.get_future().wait();
  auto erased = std::async(std::launch::async, [&] {
    producers::EventStore store(s.db.conninfo());
    producers::ErasureService svc(store, producers::ErasureSettings{});
    return svc.erase("ann", adm);
  });
  // Commit order, not log position: the charge took its position before
  // the erasure began either way. What counts is whether it had committed
  // by the time the erasure had.
  const auto charge_committed = [&] {
    return s.db.scalar("SELECT count(*) FROM events WHERE stream_id = 'transaction-t9'") == "1";
  };
  ChargeBesideErasure out;
  out.erasure_waited = erased.wait_for(700ms) == std::future_status::timeout;
  if (!out.erasure_waited) {
    BOOST_REQUIRE(erased.get().ok());
    out.charge_first = charge_committed();
  }
  release.set_value();
  command.join();
  if (out.erasure_waited) {
    BOOST_REQUIRE(erased.get().ok());
    out.charge_first = charge_committed();
  }
  BOOST_TEST(charge_committed());
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(an_erasure_and_the_commands_about_its_person_wait_for_each_other) {
  using namespace std::chrono_literals;
  Services s;
  const auto adm = as("adm");

  // A charge on ann, not yet committed: her erasure waits for it, so the
  // charge has committed by the time the erasure has.
  const auto race = charge_beside_erasure(s);
  BOOST_TEST(race.erasure_waited, "the erasure did not wait for the command");
  BOOST_TEST(race.charge_first, "the charge on ann committed after her erasure");

  // bob's erasure, not yet committed: a charge on him waits, then is refused.
  {
    std::promise<void> locked, release;
    auto eraser = hold(
        s,
        [&](producers::EventStore::Transaction& tx) {
          producers::lock_stream(tx.sql(), "erasure-person:bob");  // as the erasure's lock_person
          infra::destroy_person_key(tx.sql(), "bob", "request-1", "adm");
        },
        locked, release.get_future().share());
    locked.get_future().wait();
    auto charged = std::async(std::launch::async, [&] {
      producers::EventStore store(s.db.conninfo());
      producers::BillingService svc(store);
      return svc.handle(b::RecordCharge{"t10", "bob", 100, "EUR", "race"}, adm);
    });
    // Beside the data, the key is destroyed in the erasure's transaction,
    // and the command waits for it on the fence. Apart, the keyring has
    // committed the key's destruction already (before the erasure's own
    // commit): the command is refused at once, as it would be after.
    if (s.db.keyring_apart())
      BOOST_TEST((charged.wait_for(5s) == std::future_status::ready), "the command waited for the erasure");
    else
      BOOST_TEST((charged.wait_for(700ms) == std::future_status::timeout), "the command did not wait for the erasure");
    release.set_value();
    eraser.join();
    const auto r = charged.get();
    BOOST_TEST(outcome(r) == "gone");
    BOOST_TEST(field_of(r) == "user_id");
    BOOST_TEST(s.db.scalar("SELECT count(*) FROM events WHERE stream_id = 'transaction-t10'") == "0");
  }

  // An erased person cannot act: bob's own command is refused.
  refused(
      s, "gone",
      [&] {
        return s.content.handle(c::PublishPost{"p9", "Hi", "there"}, as("bob"));
      },
      "Authorization");
}

// The negative control of the case above, run with it: the same race with
// lethe_fence broken into one that takes no lock and checks nothing (as the
// append statement would be without V013). The erasure then does not wait,
// and the charge on ann commits after her erasure: both checks above fail.
BOOST_AUTO_TEST_CASE(a_fence_that_takes_no_lock_lets_a_charge_commit_after_the_erasure) {
  Services s;
  s.db.exec(
      "CREATE OR REPLACE FUNCTION lethe_fence(people text[], fenced text[]) RETURNS boolean"
      " LANGUAGE sql VOLATILE AS 'SELECT true'");
  const auto race = charge_beside_erasure(s);
  BOOST_TEST(!race.erasure_waited);
  BOOST_TEST(!race.charge_first);
}

// No folded state of anyone outlives an erasure in the process: every
// cache of folded states forgets what it holds once an erasure commits, and
// only then. (The caches hold no keys at all: StateCache::Entry has none.)
BOOST_AUTO_TEST_CASE(an_erasure_empties_the_caches_of_folded_states) {
  Services s;
  producers::StateCache<b::Subscription> cache;
  cache.put("subscription-s1", {b::Subscription{}, 1, "h"});
  BOOST_TEST(cache.find("subscription-s1") != nullptr);
  // A command that is not an erasure leaves it alone.
  BOOST_REQUIRE(s.billing.handle(b::RecordCharge{"t1", "ann", 100, "EUR", "Pro plan"}, as("adm")).ok());
  BOOST_TEST(cache.find("subscription-s1") != nullptr);
  // A refused erasure (the last owner) commits nothing and leaves it too.
  producers::ErasureService erasure(s.store, producers::ErasureSettings{});
  BOOST_TEST(!erasure.erase("boss", as("boss")).ok());
  BOOST_TEST(cache.find("subscription-s1") != nullptr);
  BOOST_REQUIRE(erasure.erase("bob", as("adm")).ok());
  BOOST_TEST(cache.find("subscription-s1") == nullptr);
  BOOST_TEST(cache.size() == 0u);
}
