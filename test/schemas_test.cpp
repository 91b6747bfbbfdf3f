#define BOOST_TEST_MODULE schemas
#include <rapidjson/document.h>
#include <sodium.h>

#include <array>
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <valijson/adapters/rapidjson_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include "billing.hpp"
#include "content.hpp"
#include "email.hpp"
#include "erasure.hpp"
#include "files.hpp"
#include "lethe/domain/envelope.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/domain/registry.hpp"
#include "shop.hpp"
#include "support/fixtures.hpp"
#include "support/json_schema.hpp"
#include "tickets.hpp"
#include "users.hpp"

namespace fs = std::filesystem;
namespace u = lethe::domain::users;
namespace t = lethe::domain::tickets;
namespace b = lethe::domain::billing;
namespace c = lethe::domain::content;
namespace f = lethe::domain::files;
namespace m = lethe::domain::email;
namespace sh = lethe::domain::shop;
namespace er = lethe::domain::erasure;
namespace d = lethe::domain;

namespace {

using lethe::test::load_schema;
using lethe::test::schema_file;
using lethe::test::violations;

// Every event the users domain can produce, by running its commands.
std::vector<u::Event> every_user_event() {
  std::vector<u::Event> out;
  u::User s;
  const u::Actor system{"system", u::Role::owner}, self{"7", u::Role::staff};
  auto run = [&](const u::Command& c, const u::Actor& actor) {
    auto r = u::decide(s, c, actor, u::Facts{2});
    BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    for (auto& e : r.value()) {
      s = u::evolve(s, e);
      out.push_back(e);
    }
  };
  const std::string hash = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$aGFzaA";
  run(u::RegisterUser{"7", "zoe@example.org", "Zoë", "staff", hash}, system);
  run(u::ChangeProfile{"7", std::string("Zoë Q."), std::string("zoe.q@example.org")}, system);
  run(u::ChangePassword{"7", hash + "2", true}, self);
  run(u::ChangeRole{"7", "admin"}, system);
  run(u::IssueApiKey{"7", "key-1", "laptop", "lk_abcdefg", "2030-01-01T00:00:00Z"}, self);
  run(u::RevokeApiKey{"7", "key-1"}, self);
  run(u::LinkOAuth{"7", "github", "12345"}, self);
  run(u::Deactivate{"7"}, system);
  run(u::Restore{"7"}, system);
  auto note = u::decide_note(s, "note-1", "prefers email", system);
  BOOST_REQUIRE(note.ok());
  out.push_back(note.value());
  out.push_back(u::LoggedIn{"7", "session-1", "2026-11-25T20:00:00Z"});
  out.push_back(u::LoggedOut{"7", "session-1"});
  out.push_back(u::LoginFailed{"", "unknown_email"});
  return out;
}

// An event as it is appended: type, schema version, payload.
struct Sample {
  std::string type;
  int version;
  std::string payload;
};

template <class Event>
void add_samples(std::vector<Sample>& out, const std::vector<Event>& events) {
  for (const auto& e : events) out.push_back({std::string(type_of(e)), version_of(e), encode_payload(e)});
}

// Every event the tickets domain can produce, by running its commands.
std::vector<t::Event> every_ticket_event() {
  std::vector<t::Event> out;
  t::Ticket s;
  const u::Actor customer{"c1", u::Role::user}, staff{"s1", u::Role::staff};
  auto run = [&](const t::Command& c, const u::Actor& actor, t::Facts facts = {}) {
    auto r = t::decide(s, c, actor, facts);
    BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    for (auto& e : r.value()) {
      s = t::evolve(s, e);
      out.push_back(e);
    }
  };
  run(t::OpenTicket{"t1", "Printer on fire", "It smokes."}, customer);
  run(t::AssignTicket{"t1", "s1"}, staff, t::Facts{u::Role::staff});
  run(t::ChangeStatus{"t1", "in_progress"}, staff);
  run(t::Comment{"t1", "k1", "Unplug it, please."}, staff);
  run(t::AddInternalNote{"t1", "n1", "Customer sounded upset."}, staff);
  return out;
}

// Runs commands against a state, keeping the state and every event decided:
// each must be accepted.
template <class State, class Event>
struct Runner {
  State state{};
  std::vector<Event>* out;
  template <class Decision>
  void take(const Decision& r) {
    BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    for (const auto& e : r.value()) {
      state = evolve(state, e);
      out->push_back(e);
    }
  }
};

// Every event the billing domain can produce, by running its commands.
std::vector<b::Event> every_billing_event() {
  std::vector<b::Event> out;
  const u::Actor customer{"c1", u::Role::user}, admin{"a1", u::Role::admin};
  Runner<b::Profile, b::Event> profile{{}, &out};
  profile.take(
      b::decide(profile.state, b::SetProfile{"c1", "Zoë Q.", "1 Main St\nSpringfield", "DE123456789"}, customer));
  profile.take(b::decide(profile.state, b::SetProfile{"c1", "Zoë Q.", "1 Main St", ""}, admin));  // no tax id
  Runner<b::Subscription, b::Event> sub{{}, &out};
  sub.take(b::decide(sub.state, b::CreateSubscription{"s1", "c1", "pro_yearly"}, customer));
  sub.take(b::decide(sub.state, b::CancelSubscription{"s1", "too expensive"}, customer));
  Runner<b::Transaction, b::Event> tx{{}, &out};
  tx.take(b::decide(tx.state, b::RecordCharge{"t1", "c1", b::kMaxAmount, "EUR", "Pro plan, yearly"}, admin));
  tx.take(b::decide(tx.state, b::RecordRefund{"t1", "r1", 1, "EUR", "goodwill"}, admin));
  tx.take(b::decide(tx.state, b::IssueCreditNote{"t1", "cn1", b::kMaxAmount, "EUR", "price correction"}, admin));
  return out;
}

// Every event the content domain can produce, by running its commands.
std::vector<c::Event> every_content_event() {
  std::vector<c::Event> out;
  const u::Actor author{"c1", u::Role::user}, admin{"a1", u::Role::admin};
  Runner<c::Post, c::Event> post{{}, &out};
  post.take(c::decide(post.state, c::PublishPost{"p1", "Hello", "First post."}, author));
  post.take(c::decide(post.state, c::EditPost{"p1", "Hello again", "Edited."}, admin));
  Runner<c::Comment, c::Event> comment{{}, &out};
  comment.take(c::decide(comment.state, c::AddComment{"k1", "p1", "Nice."}, author, post.state));
  comment.take(c::decide(comment.state, c::EditComment{"k1", "Nicer."}, author, post.state));
  comment.take(c::decide(comment.state, c::DeleteComment{"k1"}, admin, post.state));
  post.take(c::decide(post.state, c::DeletePost{"p1"}, author));
  return out;
}

// Every event the files domain can produce, by running its commands.
std::vector<f::Event> every_file_event() {
  std::vector<f::Event> out;
  const u::Actor owner{"c1", u::Role::user};
  Runner<f::File, f::Event> file{{}, &out};
  file.take(f::decide(
      file.state,
      f::RecordFile{"f1", "résumé (final).pdf", f::kMaxSize, "application/pdf", "sha256:" + std::string(64, 'e')},
      owner));
  file.take(f::decide(file.state, f::DeleteFile{"f1"}, owner));
  return out;
}

// Every event the email domain can produce, by running its commands.
std::vector<m::Event> every_email_event() {
  std::vector<m::Event> out;
  Runner<m::EmailLog, m::Event> email{{}, &out};
  email.take(m::decide(email.state,
                       m::LogEmailSent{"e1", "c1", "billing.receipt", "Your receipt, Zoë", "2026-11-25T08:00:00.123Z"},
                       u::Actor{"system:mailer", u::Role::owner}));
  return out;
}

// Every event the shop domain can produce, by running its decisions: a
// catalogue, a cart filled, merged, edited and converted, an order
// cancelled (with its stock released) and one fulfilled.
std::vector<sh::Event> every_shop_event() {
  std::vector<sh::Event> out;
  const u::Actor customer{"c1", u::Role::user}, staff{"s1", u::Role::staff};
  auto take = [&]<class State>(State& state, d::Result<std::vector<sh::Event>> r) {
    BOOST_REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error().message));
    for (auto& e : r.value()) {
      state = sh::evolve(state, e);
      out.push_back(e);
    }
  };
  sh::Category category;
  take(category, sh::decide(category, sh::CreateCategory{"cat-1", "Shirts", "shirts"}, staff));
  sh::Product tee, mug;
  take(tee, sh::decide(tee, sh::CreateProduct{"p1", "Tee", 1999, "EUR", "cat-1", true}, category, staff));
  take(tee, sh::decide(tee, sh::UpdateProduct{"p1", "Tee", 2499, "EUR", "cat-1", true}, category, staff));
  take(tee, sh::decide(tee, sh::AdjustInventory{"p1", 10, "delivery"}, staff));
  take(mug, sh::decide(mug, sh::CreateProduct{"p2", "Mug", 0, "EUR", "cat-1", true}, category, staff));
  take(mug, sh::decide(mug, sh::AdjustInventory{"p2", 3, "delivery"}, staff));
  sh::Cart cart;
  take(cart, sh::decide(cart, sh::OpenCart{"cart-1"}, customer));
  take(cart, sh::decide(cart, sh::AddCartLine{"cart-1", "l1", "p1", 2, R"({"size":"M","w":1.50})"}, tee, customer));
  take(cart, sh::decide(cart, sh::AddCartLine{"cart-1", "l2", "p1", 1, R"({"w":1.50,"size":"M"})"}, tee, customer));
  take(cart, sh::decide(cart, sh::AddCartLine{"cart-1", "l3", "p1", 1, R"({"size":"L"})"}, tee, customer));
  take(cart, sh::decide(cart, sh::AddCartLine{"cart-1", "l4", "p2", 1, "{}"}, mug, customer));
  take(cart, sh::decide(cart, sh::ChangeCartLineQuantity{"cart-1", "l4", 2}, customer));
  take(cart, sh::decide(cart, sh::AddCartLine{"cart-1", "l5", "p2", 1, R"({"print":"cat"})"}, mug, customer));
  take(cart, sh::decide(cart, sh::RemoveCartLine{"cart-1", "l5"}, customer));
  const std::map<std::string, sh::Product> products{{"p1", tee}, {"p2", mug}};
  auto conversion = sh::decide_conversion(cart, products, "order-1", customer);
  BOOST_REQUIRE_MESSAGE(conversion.ok(), (conversion.ok() ? std::string() : conversion.error().message));
  for (auto* events : {&conversion.value().cart, &conversion.value().order})
    out.insert(out.end(), events->begin(), events->end());
  std::map<std::string, sh::Product> reserved;
  for (const auto& [id, events] : conversion.value().products) {
    auto p = products.at(id);
    for (const auto& e : events) {
      p = sh::evolve(p, e);
      out.push_back(e);
    }
    reserved[id] = p;
  }
  sh::Order order;
  for (const auto& e : conversion.value().order) order = sh::evolve(order, e);
  auto fulfilled = order;
  take(fulfilled, sh::decide(order, sh::FulfilOrder{"order-1"}, staff));
  auto release = sh::decide_release(order, reserved);
  BOOST_REQUIRE(release.ok());
  take(order, sh::decide(order, sh::CancelOrder{"order-1", "changed my mind"}, customer));
  for (const auto& [id, events] : release.value()) out.insert(out.end(), events.begin(), events.end());
  // An erasure hands the erased creator's records to the erasing admin.
  for (const auto& handed :
       {sh::hand_over(tee, tee.created_by, "admin-1"), sh::hand_over(category, category.created_by, "admin-1")}) {
    BOOST_REQUIRE(handed.has_value());
    out.push_back(*handed);
  }
  return out;
}

// The erasure request's stream, as the write side and the projections
// write it: requested (by an admin, and by the person), confirmed, handed
// over, erased, applied, task confirmed, and a request cancelled.
std::vector<er::Event> every_erasure_event() {
  const std::vector<std::string> tasks{"payment_provider", "newsletter"};
  std::vector<er::Event> out{
      er::admin_request("req-1", "user-1", tasks),
      er::self_request("req-2", "user-2", "2026-11-26T08:00:00Z", tasks),
      er::ErasureConfirmed{"req-2", "user-2", 2},
      er::OwnershipHandedOver{"req-1", "user-1", "admin-1", er::records_of({{"ticket", "t-1"}, {"product", "p-1"}})},
      er::UserErased{"req-1", "user-1", std::string(32, 'a'), er::string_array({"users", "shop"}),
                     std::string(er::kBeyondReach)},
      er::ErasureApplied{"req-1", "user-1", "users"},
  };
  er::Request r;
  for (const auto& e : out)
    if (std::visit([](const auto& ev) { return ev.request_id; }, e) == "req-1") r = er::evolve(r, e);
  auto task = er::decide_task(r, "newsletter");
  BOOST_REQUIRE(task.ok());
  out.push_back(task.value());
  auto cancelled =
      er::decide_cancel(er::evolve({}, er::self_request("req-3", "user-3", "2026-11-26T08:00:00Z", tasks)));
  BOOST_REQUIRE(cancelled.ok());
  out.push_back(cancelled.value());
  return out;
}

// Every event every domain can produce.
std::vector<Sample> every_event() {
  std::vector<Sample> out;
  add_samples(out, every_user_event());
  add_samples(out, every_ticket_event());
  add_samples(out, every_billing_event());
  add_samples(out, every_content_event());
  add_samples(out, every_file_event());
  add_samples(out, every_email_event());
  add_samples(out, every_shop_event());
  add_samples(out, every_erasure_event());
  return out;
}

std::vector<std::string_view> registered_types() {
  std::vector<std::string_view> out;
  for (const auto* domain : d::domains())
    for (const auto& e : domain->events) out.push_back(e.type);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_event_type_has_a_schema_and_every_schema_a_type) {
  std::set<std::string> files, types;
  for (const auto& path : lethe::test::event_schema_files()) files.insert(path.filename().string());
  for (const auto& e : every_event()) types.insert(schema_file(e.type, e.version).filename().string());
  const auto registered = registered_types();
  for (auto type : registered) BOOST_TEST(files.count(std::string(type) + ".v1.json") == 1u, std::string(type));
  for (const auto& type : types) BOOST_TEST(files.count(type) == 1u, type);
  BOOST_TEST(files.size() == registered.size());
}

BOOST_AUTO_TEST_CASE(every_produced_event_validates_against_its_schemas) {
  const auto envelope_schema = load_schema(lethe::test::envelope_schema_file());
  std::int64_t version = 0;
  std::string prev;
  std::set<std::string> seen;
  for (const auto& ev : every_event()) {
    seen.insert(ev.type);
    d::Envelope env{"3f1c0b6e-4a7d-4c55-9d1e-0a6b7f1e2c3d",
                    ev.type,
                    ev.version,
                    "stream-7",
                    ++version,
                    version,
                    "2026-11-25T08:00:00.000001Z",
                    "cli",
                    "c1",
                    "c1",
                    ev.payload,
                    prev,
                    ""};
    env.hash = d::chain_hash(env);
    prev = env.hash;
    const auto payload_schema = load_schema(schema_file(ev.type, ev.version));
    BOOST_TEST(violations(*payload_schema, env.payload) == "", env.type);
    BOOST_TEST(violations(*envelope_schema, d::encode(env)) == "", env.type);
  }
  // Every registered type was produced by some command above.
  for (auto type : registered_types()) BOOST_TEST(seen.count(std::string(type)) == 1u, std::string(type));
}

BOOST_AUTO_TEST_CASE(schemas_reject_what_the_domain_would_never_emit) {
  const auto schema = load_schema(schema_file("user.registered", 1));
  BOOST_TEST(violations(*schema, R"({"user_id":"1","name":"A","role":"user"})") != "");
  BOOST_TEST(violations(*schema, R"({"user_id":"1","email":"a@b.org","name":"A","role":"root"})") != "");
  BOOST_TEST(violations(*schema, R"({"user_id":"1","email":"a@b.org","name":"A","role":"user","x":1})") != "");
}

BOOST_AUTO_TEST_CASE(sealed_personal_fields_validate_against_their_schemas) {
  // As appended: every personal field sealed under its person's key.
  BOOST_REQUIRE(sodium_init() >= 0);
  std::array<unsigned char, d::kPersonKeyBytes> key{};
  randombytes_buf(key.data(), key.size());
  const auto keys = [&](std::string_view) -> std::optional<d::KeyRef> { return d::KeyRef{1, key.data()}; };
  const d::RandomFill random = [](unsigned char* p, std::size_t n) { randombytes_buf(p, n); };
  int sealed_fields = 0;
  for (const auto& ev : every_event()) {
    const auto sealed =
        d::seal_personal(ev.type, ev.version, "3f1c0b6e-4a7d-4c55-9d1e-0a6b7f1e2c3d", ev.payload, keys, random);
    BOOST_TEST_REQUIRE(sealed.ok(), ev.type);
    for (const auto& p : d::personal_fields(ev.type, ev.version))
      if (ev.payload.find('"' + std::string(p.field) + "\":") != std::string::npos) ++sealed_fields;
    BOOST_TEST(violations(*load_schema(schema_file(ev.type, ev.version)), sealed.value()) == "", ev.type);
  }
  BOOST_TEST(sealed_fields > 0);
}

BOOST_AUTO_TEST_CASE(money_files_and_email_schemas_reject_what_the_domains_would_never_emit) {
  const auto charge = load_schema(schema_file("billing.charge_recorded", 1));
  const auto with_amount = [](const std::string& amount, const std::string& currency = "EUR") {
    return R"({"transaction_id":"t","user_id":"u","amount":)" + amount + R"(,"currency":")" + currency +
           R"(","description":"d"})";
  };
  BOOST_TEST(violations(*charge, with_amount("1999")) == "");
  BOOST_TEST(violations(*charge, with_amount("1000000000000")) == "");
  for (const auto* bad : {"0", "-1", "19.99", "1000000000001", "\"1999\""})
    BOOST_TEST(violations(*charge, with_amount(bad)) != "", bad);
  for (const auto* bad : {"eur", "EURO", "E1"}) BOOST_TEST(violations(*charge, with_amount("1", bad)) != "", bad);
  const auto profile = load_schema(schema_file("billing.profile_set", 1));
  BOOST_TEST(violations(*profile, R"({"user_id":"u","holder_name":"A","address":"B"})") == "");
  BOOST_TEST(violations(*profile, R"({"user_id":"u","holder_name":"A"})") != "");
  BOOST_TEST(violations(*profile, R"({"user_id":"u","holder_name":"A","address":"B","tax_id":""})") != "");
  BOOST_TEST(violations(*profile, R"({"user_id":"u","holder_name":{"sealed":"rot13"},"address":"B"})") != "");
  const auto file = load_schema(schema_file("file.recorded", 1));
  const auto with = [](const std::string& name, const std::string& size, const std::string& type,
                       const std::string& sum) {
    return R"({"file_id":"f","owner_id":"o","name":")" + name + R"(","size":)" + size + R"(,"content_type":")" + type +
           R"(","checksum":")" + sum + "\"}";
  };
  const std::string sum = "sha256:" + std::string(64, 'a');
  BOOST_TEST(violations(*file, with("a.txt", "0", "text/plain", sum)) == "");
  BOOST_TEST(violations(*file, with("a/b", "1", "text/plain", sum)) != "");
  BOOST_TEST(violations(*file, with("a", "-1", "text/plain", sum)) != "");
  BOOST_TEST(violations(*file, with("a", "10000000000001", "text/plain", sum)) != "");
  BOOST_TEST(violations(*file, with("a", "1", "text", sum)) != "");
  BOOST_TEST(violations(*file, with("a", "1", "text/plain", "sha256:" + std::string(64, 'A'))) != "");
  const auto email = load_schema(schema_file("email.sent_logged", 1));
  const auto sent = [](const std::string& at) {
    return R"({"email_id":"e","recipient_id":"r","template":"t","subject":"s","sent_at":")" + at + "\"}";
  };
  BOOST_TEST(violations(*email, sent("2026-11-25T08:00:00Z")) == "");
  for (const auto* bad : {"2026-11-25T08:00:00", "2026-11-25T08:00:00+01:00", "2026-13-25T08:00:00Z", "yesterday"})
    BOOST_TEST(violations(*email, sent(bad)) != "", bad);
}

BOOST_AUTO_TEST_CASE(shop_schemas_reject_what_the_shop_would_never_emit) {
  const auto line = load_schema(schema_file("shop.cart_line_added", 1));
  const std::string ok = R"({"cart_id":"c","line_id":"l","product_id":"p","quantity":1,"selected_specs":{}})";
  BOOST_TEST(violations(*line, ok) == "");
  BOOST_TEST(violations(*line, R"({"cart_id":"c","line_id":"l","product_id":"p","quantity":0,"selected_specs":{}})") !=
             "");
  BOOST_TEST(
      violations(*line, R"({"cart_id":"c","line_id":"l","product_id":"p","quantity":1000,"selected_specs":{}})") != "");
  BOOST_TEST(
      violations(*line, R"({"cart_id":"c","line_id":"l","product_id":"p","quantity":1,"selected_specs":"{}"})") != "");
  BOOST_TEST(violations(*line, R"({"cart_id":"c","line_id":"l","product_id":"p","quantity":1})") != "");
  const auto product = load_schema(schema_file("shop.product_created", 1));
  const std::string fields = R"("product_id":"p","name":"Tee","category_id":"c","active":true,"created_by":"s1")";
  BOOST_TEST(violations(*product, "{" + fields + R"(,"price":0,"currency":"EUR"})") == "");
  BOOST_TEST(violations(*product, "{" + fields + R"(,"price":-1,"currency":"EUR"})") != "");
  BOOST_TEST(violations(*product, "{" + fields + R"(,"price":1.5,"currency":"EUR"})") != "");
  BOOST_TEST(violations(*product, "{" + fields + R"(,"price":1,"currency":"eur"})") != "");
  BOOST_TEST(violations(*product, "{" + fields + R"(,"price":1,"currency":"EUR","x":1})") != "");
  const auto adjusted = load_schema(schema_file("shop.inventory_adjusted", 1));
  BOOST_TEST(violations(*adjusted, R"({"product_id":"p","delta":-2,"reason":"r","stock_after":0})") == "");
  BOOST_TEST(violations(*adjusted, R"({"product_id":"p","delta":0,"reason":"r","stock_after":0})") != "");
  BOOST_TEST(violations(*adjusted, R"({"product_id":"p","delta":1,"reason":"r","stock_after":-1})") != "");
  const auto placed = load_schema(schema_file("shop.order_placed", 1));
  const std::string head = R"({"order_id":"o","cart_id":"c","user_id":"u","total":5,"currency":"EUR","lines":)";
  const std::string a_line =
      R"({"line_id":"l","product_id":"p","name":"Tee","quantity":1,"unit_price":5,"currency":"EUR","selected_specs":{}})";
  BOOST_TEST(violations(*placed, head + "[" + a_line + "]}") == "");
  BOOST_TEST(violations(*placed, head + "[]}") != "");
  BOOST_TEST(violations(*placed, head + R"([{"line_id":"l"}]})") != "");
  BOOST_TEST(violations(*placed, head + "[" + a_line.substr(0, a_line.size() - 1) + R"(,"x":1}]})") != "");
}
