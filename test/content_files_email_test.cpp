#define BOOST_TEST_MODULE content_files_email
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "content.hpp"
#include "email.hpp"
#include "files.hpp"
#include "lethe/domain/envelope.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/domain/registry.hpp"

// Every rule and every refusal of the content, files and email domains (pure
// decide/evolve and the payload codec). A refusal is checked as
// "<code>:<field>", so that the ErrorCode and the field it names are
// asserted at once.

namespace d = lethe::domain;
namespace c = lethe::domain::content;
namespace f = lethe::domain::files;
namespace m = lethe::domain::email;
namespace u = lethe::domain::users;
using d::ErrorCode;

namespace {

const u::Actor kOwner{"owner-1", u::Role::owner}, kAdmin{"admin-1", u::Role::admin}, kStaff{"staff-1", u::Role::staff},
    kAuthor{"ann", u::Role::user}, kOther{"bob", u::Role::user}, kAuditor{"aud-1", u::Role::auditor},
    kAnonymous{"", std::nullopt};

std::string str(std::string_view s) {
  return std::string(s);
}

template <class T>
std::string outcome(const d::Result<T>& r) {
  if (r.ok()) return "ok";
  return str(d::to_string(r.error().code)) + ":" + r.error().field;
}
std::string refused(ErrorCode code, const std::string& field) {
  return str(d::to_string(code)) + ":" + field;
}
const std::string kForbidden = refused(ErrorCode::forbidden, "");

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The one event of an accepted decision, of type E.
template <class E, class Event>
E only(const d::Result<std::vector<Event>>& r) {
  BOOST_REQUIRE_MESSAGE(r.ok(), "refused: " << outcome(r) << " (" << (r.ok() ? "" : r.error().message) << ")");
  BOOST_REQUIRE_EQUAL(r.value().size(), 1U);
  const auto* e = std::get_if<E>(&r.value()[0]);
  BOOST_REQUIRE_MESSAGE(e, "expected " << str(E::kType));
  return *e;
}

// Requires the decision accepted and folds its events into s.
template <class State, class Event>
State folded(State s, const d::Result<std::vector<Event>>& r) {
  BOOST_REQUIRE_MESSAGE(r.ok(), "refused: " << outcome(r) << " (" << (r.ok() ? "" : r.error().message) << ")");
  for (const auto& e : r.value()) s = evolve(std::move(s), e);
  return s;
}

template <class Variant, class F>
void for_each_alternative(F&& fn) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (fn(std::in_place_type<std::variant_alternative_t<I, Variant>>), ...);
  }
  (std::make_index_sequence<std::variant_size_v<Variant>>{});
}

// An event of type E with every field set: strings to a value that needs
// escaping, integers to distinct values beyond 32 bits.
template <class E>
E filled() {
  E ev{};
  std::int64_t n = 4'000'000'000'001;
  for (const auto& field : E::fields())
    std::visit(
        [&](auto member) {
          using T = std::decay_t<decltype(ev.*member)>;
          if constexpr (std::is_same_v<T, std::string>)
            ev.*member = std::string(field.name) + " \"q\" \xc3\xa9 \\ / \t\n<" + str(E::kType) + ">";
          else if constexpr (std::is_same_v<T, std::int64_t>)
            ev.*member = n++;
        },
        field.member);
  return ev;
}

template <class E>
std::string differing_fields(const E& a, const E& b) {
  std::string out;
  for (const auto& field : E::fields())
    std::visit(
        [&](auto member) {
          if (!(a.*member == b.*member)) out += std::string(field.name) + " ";
        },
        field.member);
  return out;
}

// A JSON object of the fields of E (strings "v", integers 7), leaving `skip`
// out; `null_field` written as null, `wrong_field` with a value of the wrong
// type (42 for a string, "v" for an integer).
template <class E>
std::string payload_of(std::string_view skip, std::string_view null_field = {}, std::string_view wrong_field = {}) {
  std::string json = "{";
  for (const auto& field : E::fields()) {
    if (field.name == skip) continue;
    const bool integer = std::holds_alternative<std::int64_t E::*>(field.member);
    if (json.size() > 1) json += ',';
    json += '"' + std::string(field.name) + "\":";
    if (field.name == null_field)
      json += "null";
    else if (field.name == wrong_field)
      json += integer ? "\"v\"" : "42";
    else
      json += integer ? "7" : "\"v\"";
  }
  return json + "}";
}

// The codec checks every domain shares: a round trip of every event type with
// every field set and with every field blank; an unknown type or version
// naming "type"; a missing or mistyped field named.
template <class Event, class Encode, class Decode>
void check_codec(Encode encode, Decode decode) {
  int checked = 0;
  for_each_alternative<Event>([&]<class E>(std::in_place_type_t<E>) {
    BOOST_TEST_CONTEXT(str(E::kType)) {
      BOOST_TEST(E::kVersion == 1);
      const E ev = filled<E>();
      const auto json = encode(Event{ev});
      for (const auto& field : E::fields()) BOOST_TEST(contains(json, '"' + std::string(field.name) + "\":"));
      const d::Result<Event> back = decode(E::kType, E::kVersion, json);
      BOOST_TEST_REQUIRE(outcome(back) == "ok");
      BOOST_TEST_REQUIRE(std::holds_alternative<E>(back.value()));
      BOOST_TEST(differing_fields(std::get<E>(back.value()), ev) == "");
      BOOST_TEST(encode(back.value()) == json);
      const E blank{};
      const d::Result<Event> blank_back = decode(E::kType, E::kVersion, encode(Event{blank}));
      BOOST_TEST_REQUIRE(outcome(blank_back) == "ok");
      BOOST_TEST(differing_fields(std::get<E>(blank_back.value()), blank) == "");

      const auto full = payload_of<E>("");
      BOOST_TEST(outcome(decode(E::kType, E::kVersion, full)) == "ok");
      for (const int v : {0, 2, -1})
        BOOST_TEST(outcome(decode(E::kType, v, full)) == refused(ErrorCode::invalid_argument, "type"));
      for (const auto& field : E::fields()) {
        BOOST_TEST_CONTEXT(field.name) {
          BOOST_TEST(outcome(decode(E::kType, E::kVersion, payload_of<E>(field.name))) ==
                     refused(ErrorCode::invalid_argument, field.name));
          BOOST_TEST(outcome(decode(E::kType, E::kVersion, payload_of<E>("", {}, field.name))) ==
                     refused(ErrorCode::invalid_argument, field.name));
        }
      }
      ++checked;
    }
  });
  BOOST_TEST(checked == static_cast<int>(std::variant_size_v<Event>));
  BOOST_TEST(outcome(decode("nothing.here", 1, "{}")) == refused(ErrorCode::invalid_argument, "type"));
  BOOST_TEST(outcome(decode("user.registered", 1, "{}")) == refused(ErrorCode::invalid_argument, "type"));
  BOOST_TEST(outcome(decode("", 1, "{}")) == refused(ErrorCode::invalid_argument, "type"));
}

// Every event type of a domain is registered once, on its topic.
template <class Event>
void check_registered(const d::DomainSpec& spec, std::vector<std::string_view> types, const std::string& topic) {
  BOOST_TEST(str(spec.name) == topic);
  BOOST_TEST((std::vector<std::string_view>(spec.projections.begin(), spec.projections.end()) ==
              std::vector<std::string_view>{topic}));
  BOOST_TEST((std::find(d::domains().begin(), d::domains().end(), &spec) != d::domains().end()));
  BOOST_TEST(types.size() == std::variant_size_v<Event>);
  for_each_alternative<Event>([&]<class E>(std::in_place_type_t<E>) {
    BOOST_TEST(std::count(types.begin(), types.end(), E::kType) == 1, str(E::kType));
    const auto* registered = d::find_event_type(E::kType, E::kVersion);
    BOOST_TEST_REQUIRE(registered, str(E::kType));
    BOOST_TEST(str(registered->topic) == topic, str(E::kType));
    BOOST_TEST(d::topic_of(E::kType) == topic, str(E::kType));
  });
}

// ---- content ----

c::Post post(const u::Actor& author = kAuthor) {
  return folded(c::Post{}, c::decide(c::Post{}, c::PublishPost{"p1", "Hello", "First post."}, author));
}
c::Post deleted_post() {
  return folded(post(), c::decide(post(), c::DeletePost{"p1"}, kAuthor));
}
c::Comment comment(const c::Post& on = post()) {
  return folded(c::Comment{}, c::decide(c::Comment{}, c::AddComment{"k1", "p1", "Nice."}, kAuthor, on));
}

// ---- files ----

const std::string kSum = "sha256:" + std::string(64, 'a');
f::RecordFile record(std::string name = "report.pdf", std::int64_t size = 1024,
                     std::string content_type = "application/pdf", std::string checksum = kSum) {
  return f::RecordFile{"f1", std::move(name), size, std::move(content_type), std::move(checksum)};
}
f::File file() {
  return folded(f::File{}, f::decide(f::File{}, record(), kAuthor));
}

// ---- email ----

m::LogEmailSent log_entry(std::string template_name = "welcome", std::string subject = "Welcome, Ann!",
                          std::string sent_at = "2026-11-25T08:00:00Z") {
  return m::LogEmailSent{"e1", "ann", std::move(template_name), std::move(subject), std::move(sent_at)};
}

}  // namespace

// ================================ content ================================

BOOST_AUTO_TEST_CASE(any_signed_in_user_publishes_and_becomes_the_author) {
  for (const auto& actor : {kAuthor, kStaff, kAdmin, kOwner}) {
    const auto e = only<c::PostPublished>(c::decide(c::Post{}, c::PublishPost{"p1", "Hello", "Body"}, actor));
    BOOST_TEST(e.author_id == actor.id);
    BOOST_TEST(e.post_id == "p1");
    BOOST_TEST(e.title == "Hello");
    BOOST_TEST(e.body == "Body");
  }
  for (const auto& actor : {kAuditor, kAnonymous})
    BOOST_TEST(outcome(c::decide(c::Post{}, c::PublishPost{"p1", "Hello", "Body"}, actor)) == kForbidden);
  const auto s = post();
  BOOST_TEST(s.exists);
  BOOST_TEST(!s.deleted);
  BOOST_TEST(s.author_id == "ann");
  BOOST_TEST(s.version == 1);
  BOOST_TEST(outcome(c::decide(s, c::PublishPost{"p1", "Again", "Body"}, kAuthor)) ==
             refused(ErrorCode::already_exists, "post_id"));
}

BOOST_AUTO_TEST_CASE(post_titles_and_bodies_are_bounded) {
  const auto publish = [](const std::string& id, const std::string& title, const std::string& body) {
    return outcome(c::decide(c::Post{}, c::PublishPost{id, title, body}, kAuthor));
  };
  BOOST_TEST(publish("", "t", "b") == refused(ErrorCode::invalid_argument, "post_id"));
  BOOST_TEST(publish("p", "", "b") == refused(ErrorCode::invalid_argument, "title"));
  BOOST_TEST(publish("p", std::string(300, 't'), "b") == "ok");
  BOOST_TEST(publish("p", std::string(301, 't'), "b") == refused(ErrorCode::invalid_argument, "title"));
  BOOST_TEST(publish("p", "t", "") == refused(ErrorCode::invalid_argument, "body"));
  BOOST_TEST(publish("p", "t", std::string(100000, 'b')) == "ok");
  BOOST_TEST(publish("p", "t", std::string(100001, 'b')) == refused(ErrorCode::invalid_argument, "body"));
  // The same bounds for an edit.
  BOOST_TEST(outcome(c::decide(post(), c::EditPost{"p1", std::string(301, 't'), "b"}, kAuthor)) ==
             refused(ErrorCode::invalid_argument, "title"));
  BOOST_TEST(outcome(c::decide(post(), c::EditPost{"p1", "t", std::string(100001, 'b')}, kAuthor)) ==
             refused(ErrorCode::invalid_argument, "body"));
  BOOST_TEST(outcome(c::decide(post(), c::EditPost{"p1", "t", ""}, kAuthor)) ==
             refused(ErrorCode::invalid_argument, "body"));
}

BOOST_AUTO_TEST_CASE(the_author_or_an_admin_or_owner_edits_and_deletes_a_post) {
  const auto s = post();
  for (const auto& actor : {kAuthor, kAdmin, kOwner}) {
    BOOST_TEST_CONTEXT(actor.id) {
      const auto e = only<c::PostEdited>(c::decide(s, c::EditPost{"p1", "Hello again", "Edited."}, actor));
      BOOST_TEST(e.author_id == "ann");  // the post's author, whoever edits
      BOOST_TEST(e.title == "Hello again");
      const auto del = only<c::PostDeleted>(c::decide(s, c::DeletePost{"p1"}, actor));
      BOOST_TEST(del.author_id == "ann");
    }
  }
  for (const auto& actor : {kOther, kStaff}) {
    BOOST_TEST(outcome(c::decide(s, c::EditPost{"p1", "x", "y"}, actor)) == refused(ErrorCode::forbidden, "post_id"));
    BOOST_TEST(outcome(c::decide(s, c::DeletePost{"p1"}, actor)) == refused(ErrorCode::forbidden, "post_id"));
  }
  for (const auto& actor : {kAuditor, kAnonymous}) {
    BOOST_TEST(outcome(c::decide(s, c::EditPost{"p1", "x", "y"}, actor)) == kForbidden);
    BOOST_TEST(outcome(c::decide(s, c::DeletePost{"p1"}, actor)) == kForbidden);
  }
  const auto edited = folded(s, c::decide(s, c::EditPost{"p1", "Hello again", "Edited."}, kAdmin));
  BOOST_TEST(edited.title == "Hello again");
  BOOST_TEST(edited.body == "Edited.");
  BOOST_TEST(edited.author_id == "ann");
  BOOST_TEST(edited.version == 2);
  BOOST_TEST(outcome(c::decide(edited, c::EditPost{"p1", "Hello again", "Edited."}, kAuthor)) ==
             refused(ErrorCode::no_change, ""));
}

BOOST_AUTO_TEST_CASE(a_missing_or_deleted_post_is_neither_edited_nor_deleted) {
  BOOST_TEST(outcome(c::decide(c::Post{}, c::EditPost{"p1", "t", "b"}, kAdmin)) ==
             refused(ErrorCode::not_found, "post_id"));
  BOOST_TEST(outcome(c::decide(c::Post{}, c::DeletePost{"p1"}, kAdmin)) == refused(ErrorCode::not_found, "post_id"));
  const auto gone = deleted_post();
  BOOST_TEST(gone.deleted);
  BOOST_TEST(gone.version == 2);
  for (const auto& actor : {kAuthor, kAdmin}) {
    const auto edit = c::decide(gone, c::EditPost{"p1", "t", "b"}, actor);
    BOOST_TEST_REQUIRE(outcome(edit) == refused(ErrorCode::conflict, "post_id"));
    BOOST_TEST(contains(edit.error().message, "deleted"));
    BOOST_TEST(outcome(c::decide(gone, c::DeletePost{"p1"}, actor)) == refused(ErrorCode::conflict, "post_id"));
  }
  // A deleted post's id is not free for a new post.
  BOOST_TEST(outcome(c::decide(gone, c::PublishPost{"p1", "t", "b"}, kAuthor)) ==
             refused(ErrorCode::already_exists, "post_id"));
  BOOST_TEST(outcome(c::decide(post(), c::DeletePost{"p2"}, kAuthor)) ==
             refused(ErrorCode::invalid_argument, "post_id"));
}

BOOST_AUTO_TEST_CASE(comments_need_a_post_that_exists_and_is_not_deleted) {
  const auto add = [](const c::Post& on, const u::Actor& actor, const std::string& body = "Nice.") {
    return c::decide(c::Comment{}, c::AddComment{"k1", "p1", body}, actor, on);
  };
  const auto e = only<c::CommentAdded>(add(post(), kOther));
  BOOST_TEST(e.author_id == "bob");
  BOOST_TEST(e.post_id == "p1");
  BOOST_TEST(e.comment_id == "k1");
  BOOST_TEST(outcome(add(c::Post{}, kOther)) == refused(ErrorCode::not_found, "post_id"));
  BOOST_TEST(outcome(add(deleted_post(), kOther)) == refused(ErrorCode::conflict, "post_id"));
  for (const auto& actor : {kAuditor, kAnonymous}) BOOST_TEST(outcome(add(post(), actor)) == kForbidden);
  BOOST_TEST(outcome(add(post(), kOther, "")) == refused(ErrorCode::invalid_argument, "body"));
  BOOST_TEST(outcome(add(post(), kOther, std::string(10000, 'b'))) == "ok");
  BOOST_TEST(outcome(add(post(), kOther, std::string(10001, 'b'))) == refused(ErrorCode::invalid_argument, "body"));
  BOOST_TEST(outcome(c::decide(c::Comment{}, c::AddComment{"", "p1", "b"}, kOther, post())) ==
             refused(ErrorCode::invalid_argument, "comment_id"));
  // The post given must be the one the comment names.
  BOOST_TEST(outcome(c::decide(c::Comment{}, c::AddComment{"k1", "p2", "b"}, kOther, post())) ==
             refused(ErrorCode::invalid_argument, "post_id"));
  const auto s = comment();
  BOOST_TEST(s.exists);
  BOOST_TEST(s.post_id == "p1");
  BOOST_TEST(s.author_id == "ann");
  BOOST_TEST(outcome(c::decide(s, c::AddComment{"k1", "p1", "again"}, kAuthor, post())) ==
             refused(ErrorCode::already_exists, "comment_id"));
}

BOOST_AUTO_TEST_CASE(the_author_or_an_admin_or_owner_edits_and_deletes_a_comment) {
  const auto s = comment();
  const auto on = post(kOther);  // the post's author has no say over a comment
  for (const auto& actor : {kAuthor, kAdmin, kOwner}) {
    BOOST_TEST_CONTEXT(actor.id) {
      const auto e = only<c::CommentEdited>(c::decide(s, c::EditComment{"k1", "Nicer."}, actor, on));
      BOOST_TEST(e.author_id == "ann");
      BOOST_TEST(e.post_id == "p1");
      BOOST_TEST(e.body == "Nicer.");
      const auto del = only<c::CommentDeleted>(c::decide(s, c::DeleteComment{"k1"}, actor, on));
      BOOST_TEST(del.author_id == "ann");
      BOOST_TEST(del.post_id == "p1");
    }
  }
  for (const auto& actor : {kOther, kStaff}) {
    BOOST_TEST(outcome(c::decide(s, c::EditComment{"k1", "x"}, actor, on)) ==
               refused(ErrorCode::forbidden, "comment_id"));
    BOOST_TEST(outcome(c::decide(s, c::DeleteComment{"k1"}, actor, on)) == refused(ErrorCode::forbidden, "comment_id"));
  }
  for (const auto& actor : {kAuditor, kAnonymous}) {
    BOOST_TEST(outcome(c::decide(s, c::EditComment{"k1", "x"}, actor, on)) == kForbidden);
    BOOST_TEST(outcome(c::decide(s, c::DeleteComment{"k1"}, actor, on)) == kForbidden);
  }
  BOOST_TEST(outcome(c::decide(s, c::EditComment{"k1", "Nice."}, kAuthor, on)) ==
             refused(ErrorCode::no_change, "body"));
  BOOST_TEST(outcome(c::decide(s, c::EditComment{"k1", ""}, kAuthor, on)) ==
             refused(ErrorCode::invalid_argument, "body"));
  BOOST_TEST(outcome(c::decide(s, c::EditComment{"k1", std::string(10001, 'b')}, kAuthor, on)) ==
             refused(ErrorCode::invalid_argument, "body"));
  const auto edited = folded(s, c::decide(s, c::EditComment{"k1", "Nicer."}, kAuthor, on));
  BOOST_TEST(edited.body == "Nicer.");
  BOOST_TEST(edited.version == 2);
}

BOOST_AUTO_TEST_CASE(a_missing_or_deleted_comment_is_neither_edited_nor_deleted) {
  BOOST_TEST(outcome(c::decide(c::Comment{}, c::EditComment{"k1", "x"}, kAdmin, post())) ==
             refused(ErrorCode::not_found, "comment_id"));
  BOOST_TEST(outcome(c::decide(c::Comment{}, c::DeleteComment{"k1"}, kAdmin, post())) ==
             refused(ErrorCode::not_found, "comment_id"));
  const auto gone = folded(comment(), c::decide(comment(), c::DeleteComment{"k1"}, kAuthor, post()));
  BOOST_TEST(gone.deleted);
  for (const auto& actor : {kAuthor, kAdmin}) {
    BOOST_TEST(outcome(c::decide(gone, c::EditComment{"k1", "x"}, actor, post())) ==
               refused(ErrorCode::conflict, "comment_id"));
    BOOST_TEST(outcome(c::decide(gone, c::DeleteComment{"k1"}, actor, post())) ==
               refused(ErrorCode::conflict, "comment_id"));
  }
  // Under a deleted post: no edit, but deleting the comment is still allowed.
  BOOST_TEST(outcome(c::decide(comment(), c::EditComment{"k1", "x"}, kAuthor, deleted_post())) ==
             refused(ErrorCode::conflict, "post_id"));
  BOOST_TEST(outcome(c::decide(comment(), c::DeleteComment{"k1"}, kAuthor, deleted_post())) == "ok");
  BOOST_TEST(outcome(c::decide(comment(), c::EditComment{"k2", "x"}, kAuthor, post())) ==
             refused(ErrorCode::invalid_argument, "comment_id"));
}

BOOST_AUTO_TEST_CASE(post_and_comment_states_fold_only_their_own_streams) {
  const std::vector<c::Event> all{c::PostPublished{"p1", "ann", "t", "b"}, c::CommentAdded{"k1", "p1", "bob", "c"},
                                  c::PostEdited{"p1", "ann", "t2", "b2"}, c::CommentEdited{"k1", "p1", "bob", "c2"},
                                  c::CommentDeleted{"k1", "p1", "bob"}};
  c::Post p;
  c::Comment k;
  for (const auto& e : all) {
    p = c::evolve(p, e);
    k = c::evolve(k, e);
  }
  BOOST_TEST(p.title == "t2");
  BOOST_TEST(!p.deleted);
  BOOST_TEST(p.version == 5);
  BOOST_TEST(k.body == "c2");
  BOOST_TEST(k.author_id == "bob");
  BOOST_TEST(k.deleted);
  BOOST_TEST(k.version == 5);
  BOOST_TEST(!c::evolve(c::Post{}, all[1]).exists);
  BOOST_TEST(!c::evolve(c::Comment{}, all[0]).exists);
}

BOOST_AUTO_TEST_CASE(content_payloads_round_trip_and_bad_ones_are_named) {
  check_codec<c::Event>(
      [](const c::Event& e) { return c::encode_payload(e); },
      [](std::string_view type, int v, std::string_view json) { return c::decode_payload(type, v, json); });
  // What people write is their author's: titles and bodies are sealed under
  // the author's key, and a body whose key is gone decodes as erased.
  std::vector<std::string> fields;
  for (const auto type : c::event_types())
    for (const auto& f : d::personal_fields(type, 1))
      fields.push_back(std::string(type) + "." + std::string(f.field) + ":" + std::string(f.subject_field));
  std::sort(fields.begin(), fields.end());
  BOOST_TEST(
      (fields ==
       std::vector<std::string>{"content.comment_added.body:author_id", "content.comment_edited.body:author_id",
                                "content.post_edited.body:author_id", "content.post_edited.title:author_id",
                                "content.post_published.body:author_id", "content.post_published.title:author_id"}),
      boost::test_tools::per_element());
  const auto post = c::decode_payload("content.post_published", 1, payload_of<c::PostPublished>("", "body"));
  BOOST_TEST_REQUIRE(outcome(post) == "ok");
  BOOST_TEST(d::is_erased(std::get<c::PostPublished>(post.value()).body));
  BOOST_TEST(outcome(c::decode_payload("content.post_published", 1, payload_of<c::PostPublished>("", "post_id"))) ==
             refused(ErrorCode::invalid_argument, "post_id"));
}

BOOST_AUTO_TEST_CASE(every_content_event_is_registered_on_the_content_topic) {
  check_registered<c::Event>(c::spec(), c::event_types(), "content");
  BOOST_TEST(c::post_stream("p1") == "post-p1");
  BOOST_TEST(c::comment_stream("k1") == "comment-k1");
}

// ================================= files =================================

BOOST_AUTO_TEST_CASE(a_signed_in_user_records_a_file_and_owns_it) {
  const auto e = only<f::FileRecorded>(f::decide(f::File{}, record(), kAuthor));
  BOOST_TEST(e.file_id == "f1");
  BOOST_TEST(e.owner_id == "ann");
  BOOST_TEST(e.name == "report.pdf");
  BOOST_TEST(e.size == 1024);
  BOOST_TEST(e.content_type == "application/pdf");
  BOOST_TEST(e.checksum == kSum);
  for (const auto& actor : {kAuditor, kAnonymous})
    BOOST_TEST(outcome(f::decide(f::File{}, record(), actor)) == kForbidden);
  const auto s = file();
  BOOST_TEST(s.exists);
  BOOST_TEST(s.owner_id == "ann");
  BOOST_TEST(s.size == 1024);
  BOOST_TEST(outcome(f::decide(s, record(), kAuthor)) == refused(ErrorCode::already_exists, "file_id"));
}

BOOST_AUTO_TEST_CASE(file_metadata_is_checked) {
  const auto rec = [](const f::RecordFile& r) { return outcome(f::decide(f::File{}, r, kAuthor)); };
  // Names: 1..255 bytes, no '/' and no NUL.
  BOOST_TEST(rec(record(std::string(255, 'n'))) == "ok");
  BOOST_TEST(rec(record("r\xc3\xa9sum\xc3\xa9 (final).pdf")) == "ok");
  for (const auto& bad :
       {std::string(), std::string(256, 'n'), std::string("a/b"), std::string("/etc"), std::string("a\0b", 3)})
    BOOST_TEST(rec(record(bad)) == refused(ErrorCode::invalid_argument, "name"), bad.size());
  // Sizes: 0..1e13 bytes.
  BOOST_TEST(rec(record("n", 0)) == "ok");
  BOOST_TEST(rec(record("n", f::kMaxSize)) == "ok");
  BOOST_TEST(f::kMaxSize == 10'000'000'000'000);
  for (const std::int64_t bad : {std::int64_t{-1}, f::kMaxSize + 1})
    BOOST_TEST(rec(record("n", bad)) == refused(ErrorCode::invalid_argument, "size"), bad);
  // Content types: type/subtype.
  for (const auto* ok :
       {"image/png", "application/vnd.ms-excel", "application/ld+json", "text/x-c++src", "TEXT/Plain"}) {
    BOOST_TEST(f::is_content_type(ok), ok);
    BOOST_TEST(rec(record("n", 1, ok)) == "ok", ok);
  }
  for (const auto* bad :
       {"", "image", "image/", "/png", "image/png/x", "text/plain; charset=utf-8", "image /png", ".x/y", "a/-b"}) {
    BOOST_TEST(!f::is_content_type(bad), bad);
    BOOST_TEST(rec(record("n", 1, bad)) == refused(ErrorCode::invalid_argument, "content_type"), bad);
  }
  BOOST_TEST(f::is_content_type(std::string(127, 'a') + "/" + std::string(127, 'b')));
  BOOST_TEST(!f::is_content_type(std::string(128, 'a') + "/b"));
  // Checksums: sha256: and 64 lowercase hex digits.
  BOOST_TEST(f::is_checksum("sha256:" + std::string(32, '0') + std::string(32, 'f')));
  for (const auto& bad :
       {std::string(), std::string(64, 'a'), "sha256:" + std::string(63, 'a'), "sha256:" + std::string(65, 'a'),
        "sha256:" + std::string(64, 'A'), "sha256:" + std::string(63, 'a') + "g", "SHA256:" + std::string(64, 'a'),
        "md5:" + std::string(32, 'a')}) {
    BOOST_TEST(!f::is_checksum(bad), bad);
    BOOST_TEST(rec(record("n", 1, "text/plain", bad)) == refused(ErrorCode::invalid_argument, "checksum"), bad);
  }
  BOOST_TEST(rec(f::RecordFile{"", "n", 1, "text/plain", kSum}) == refused(ErrorCode::invalid_argument, "file_id"));
}

BOOST_AUTO_TEST_CASE(the_owner_or_an_admin_or_owner_deletes_a_file_once) {
  BOOST_TEST(outcome(f::decide(f::File{}, f::DeleteFile{"f1"}, kAdmin)) == refused(ErrorCode::not_found, "file_id"));
  const auto s = file();
  for (const auto& actor : {kAuthor, kAdmin, kOwner}) {
    const auto e = only<f::FileDeleted>(f::decide(s, f::DeleteFile{"f1"}, actor));
    BOOST_TEST(e.owner_id == "ann", actor.id);  // the file's owner, whoever deletes
    BOOST_TEST(e.file_id == "f1");
  }
  for (const auto& actor : {kOther, kStaff})
    BOOST_TEST(outcome(f::decide(s, f::DeleteFile{"f1"}, actor)) == refused(ErrorCode::forbidden, "file_id"));
  for (const auto& actor : {kAuditor, kAnonymous})
    BOOST_TEST(outcome(f::decide(s, f::DeleteFile{"f1"}, actor)) == kForbidden);
  BOOST_TEST(outcome(f::decide(s, f::DeleteFile{"f2"}, kAuthor)) == refused(ErrorCode::invalid_argument, "file_id"));
  const auto gone = folded(s, f::decide(s, f::DeleteFile{"f1"}, kAuthor));
  BOOST_TEST(gone.deleted);
  BOOST_TEST(gone.version == 2);
  for (const auto& actor : {kAuthor, kAdmin})
    BOOST_TEST(outcome(f::decide(gone, f::DeleteFile{"f1"}, actor)) == refused(ErrorCode::conflict, "file_id"));
  BOOST_TEST(outcome(f::decide(gone, record(), kAuthor)) == refused(ErrorCode::already_exists, "file_id"));
}

BOOST_AUTO_TEST_CASE(file_payloads_round_trip_and_bad_ones_are_named) {
  check_codec<f::Event>(
      [](const f::Event& e) { return f::encode_payload(e); },
      [](std::string_view type, int v, std::string_view json) { return f::decode_payload(type, v, json); });
  BOOST_TEST(f::encode_payload(f::FileRecorded{"f1", "ann", "a.txt", 12, "text/plain", kSum}) ==
             R"({"file_id":"f1","owner_id":"ann","name":"a.txt","size":12,"content_type":"text/plain","checksum":")" +
                 kSum + "\"}");
  // The name is its owner's ("passport-....pdf"): sealed, and erased once
  // their key is gone.
  const auto personal = d::personal_fields("file.recorded", 1);
  BOOST_REQUIRE(personal.size() == 1u);
  BOOST_TEST(str(personal[0].field) == "name");
  BOOST_TEST(str(personal[0].subject_field) == "owner_id");
  BOOST_TEST(d::personal_fields("file.deleted", 1).empty());
  const auto named = f::decode_payload("file.recorded", 1, payload_of<f::FileRecorded>("", "name"));
  BOOST_TEST_REQUIRE(outcome(named) == "ok");
  BOOST_TEST(d::is_erased(std::get<f::FileRecorded>(named.value()).name));
  BOOST_TEST(outcome(f::decode_payload(
                 "file.recorded", 1,
                 R"({"file_id":"f","owner_id":"o","name":"n","size":1.5,"content_type":"a/b","checksum":"c"})")) ==
             refused(ErrorCode::invalid_argument, "size"));
}

BOOST_AUTO_TEST_CASE(every_file_event_is_registered_on_the_files_topic) {
  check_registered<f::Event>(f::spec(), f::event_types(), "files");
  BOOST_TEST(f::file_stream("f1") == "file-f1");
}

// ================================= email =================================

BOOST_AUTO_TEST_CASE(a_system_actor_or_an_admin_or_owner_logs_an_email) {
  const std::vector<u::Actor> may{
      {"system", u::Role::owner}, {"system:mailer", u::Role::owner}, {"system:mailer", u::Role::user}, kAdmin, kOwner};
  for (const auto& actor : may) {
    const auto e = only<m::EmailSentLogged>(m::decide(m::EmailLog{}, log_entry(), actor));
    BOOST_TEST(e.email_id == "e1", actor.id);
    BOOST_TEST(e.recipient_id == "ann");
    BOOST_TEST(e.template_name == "welcome");
    BOOST_TEST(e.subject == "Welcome, Ann!");
    BOOST_TEST(e.sent_at == "2026-11-25T08:00:00Z");
  }
  // Not staff, not the recipient, not a look-alike of a system id; an
  // auditor or anonymous caller never, whatever the id.
  const std::vector<u::Actor> may_not{
      kStaff, kAuthor, {"systemd", u::Role::user}, {"sys:mailer", u::Role::staff}, {"mailer:system", u::Role::user}};
  for (const auto& actor : may_not)
    BOOST_TEST(outcome(m::decide(m::EmailLog{}, log_entry(), actor)) == kForbidden, actor.id);
  for (const auto& actor :
       {kAuditor, kAnonymous, u::Actor{"system", std::nullopt}, u::Actor{"system", u::Role::auditor}})
    BOOST_TEST(outcome(m::decide(m::EmailLog{}, log_entry(), actor)) == kForbidden, actor.id);
  BOOST_TEST(m::is_system_actor("system"));
  BOOST_TEST(m::is_system_actor("system:cli"));
  BOOST_TEST(!m::is_system_actor("systems"));
  BOOST_TEST(!m::is_system_actor(""));
}

BOOST_AUTO_TEST_CASE(an_email_is_logged_once) {
  const auto s = folded(m::EmailLog{}, m::decide(m::EmailLog{}, log_entry(), kAdmin));
  BOOST_TEST(s.exists);
  BOOST_TEST(s.recipient_id == "ann");
  BOOST_TEST(s.template_name == "welcome");
  BOOST_TEST(s.version == 1);
  BOOST_TEST(outcome(m::decide(s, log_entry(), kAdmin)) == refused(ErrorCode::already_exists, "email_id"));
  BOOST_TEST(outcome(m::decide(s, log_entry("other"), u::Actor{"system", u::Role::owner})) ==
             refused(ErrorCode::already_exists, "email_id"));
}

BOOST_AUTO_TEST_CASE(email_log_fields_are_checked) {
  const auto logs = [](const m::LogEmailSent& c) { return outcome(m::decide(m::EmailLog{}, c, kAdmin)); };
  BOOST_TEST(logs(m::LogEmailSent{"", "ann", "t", "s", "2026-11-25T08:00:00Z"}) ==
             refused(ErrorCode::invalid_argument, "email_id"));
  BOOST_TEST(logs(m::LogEmailSent{"e1", "", "t", "s", "2026-11-25T08:00:00Z"}) ==
             refused(ErrorCode::invalid_argument, "recipient_id"));
  for (const auto& ok : {std::string("welcome"), std::string("billing.receipt_v2-en"), std::string(100, 't')})
    BOOST_TEST(logs(log_entry(ok)) == "ok", ok);
  for (const auto& bad : {std::string(), std::string(101, 't'), std::string("Welcome"), std::string("a b"),
                          std::string("a/b"), std::string("\xc3\xa9")})
    BOOST_TEST(logs(log_entry(bad)) == refused(ErrorCode::invalid_argument, "template"), bad);
  BOOST_TEST(logs(log_entry("t", "")) == refused(ErrorCode::invalid_argument, "subject"));
  BOOST_TEST(logs(log_entry("t", std::string(500, 's'))) == "ok");
  BOOST_TEST(logs(log_entry("t", std::string(501, 's'))) == refused(ErrorCode::invalid_argument, "subject"));
  for (const auto* ok : {"2026-11-25T08:00:00Z", "2026-11-25T08:00:00.1Z", "2026-11-25T08:00:00.123456789Z",
                         "2026-12-31T23:59:60Z", "0001-01-01T00:00:00Z"}) {
    BOOST_TEST(m::is_utc_timestamp(ok), ok);
    BOOST_TEST(logs(log_entry("t", "s", ok)) == "ok", ok);
  }
  for (const auto* bad :
       {"", "2026-11-25", "2026-11-25 08:00:00Z", "2026-11-25T08:00:00", "2026-11-25T08:00:00+01:00",
        "2026-11-25T08:00:00.Z", "2026-11-25T08:00:00.1234567890Z", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z",
        "2026-01-32T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z",
        "2026-01-01T00:00:61Z", "2026-01-01t00:00:00z", "26-01-01T00:00:00Z", "2026-1-01T00:00:00Z",
        "2026-01-01T00:00:0xZ"}) {
    BOOST_TEST(!m::is_utc_timestamp(bad), bad);
    BOOST_TEST(logs(log_entry("t", "s", bad)) == refused(ErrorCode::invalid_argument, "sent_at"), bad);
  }
}

BOOST_AUTO_TEST_CASE(email_payloads_round_trip_and_bad_ones_are_named) {
  check_codec<m::Event>(
      [](const m::Event& e) { return m::encode_payload(e); },
      [](std::string_view type, int v, std::string_view json) { return m::decode_payload(type, v, json); });
  // "template" on the wire, template_name in C++ (a keyword).
  BOOST_TEST(
      m::encode_payload(m::EmailSentLogged{"e1", "ann", "welcome", "Hi", "2026-11-25T08:00:00Z"}) ==
      R"({"email_id":"e1","recipient_id":"ann","template":"welcome","subject":"Hi","sent_at":"2026-11-25T08:00:00Z"})");
}

BOOST_AUTO_TEST_CASE(the_subject_is_the_recipients_and_an_erased_one_decodes_to_erased) {
  const auto personal = d::personal_fields("email.sent_logged", 1);
  BOOST_TEST_REQUIRE(personal.size() == 1U);
  BOOST_TEST(str(personal[0].field) == "subject");
  BOOST_TEST(str(personal[0].subject_field) == "recipient_id");
  const auto r = m::decode_payload("email.sent_logged", 1, payload_of<m::EmailSentLogged>("", "subject"));
  BOOST_TEST_REQUIRE(outcome(r) == "ok");
  const auto& e = std::get<m::EmailSentLogged>(r.value());
  BOOST_TEST(d::is_erased(e.subject));
  BOOST_TEST(e.recipient_id == "v");
  BOOST_TEST(e.template_name == "v");
  // Not personal: a null is refused.
  for (const auto* field : {"template", "recipient_id", "sent_at"})
    BOOST_TEST(outcome(m::decode_payload("email.sent_logged", 1, payload_of<m::EmailSentLogged>("", field))) ==
                   refused(ErrorCode::invalid_argument, field),
               field);
}

BOOST_AUTO_TEST_CASE(every_email_event_is_registered_on_the_email_topic) {
  check_registered<m::Event>(m::spec(), m::event_types(), "email");
  BOOST_TEST(m::email_stream("e1") == "email-e1");
}
