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
#include "support/samples.hpp"
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
  for (const auto& e : lethe::test::all_event_samples())
    types.insert(schema_file(e.type, e.version).filename().string());
  // Each registered type at the version it is emitted in has its file.
  std::set<std::string> current;
  for (const auto* domain : d::domains())
    for (const auto& e : domain->events)
      current.insert(std::string(e.type) + ".v" + std::to_string(e.schema_version) + ".json");
  BOOST_TEST(current.size() == registered_types().size());
  for (const auto& file : current) BOOST_TEST(files.count(file) == 1u, file);
  for (const auto& type : types) BOOST_TEST(files.count(type) == 1u, type);
  // Every other file is an older version of a registered type, which its
  // domain's upcasters lift to today's: events stored in it still decode.
  for (const auto& file : files) {
    if (current.contains(file)) continue;
    const auto at = file.rfind(".v");
    const auto type = file.substr(0, at);
    const int version = std::stoi(file.substr(at + 2));
    const auto* today = d::find_event_type(type);
    BOOST_TEST(today != nullptr, file << ": no such event type today");
    if (today) BOOST_TEST(version < today->schema_version, file);
    BOOST_TEST(d::upcast_payload(type, version, "{}").has_value(), file << ": no upcaster lifts it");
  }
}

BOOST_AUTO_TEST_CASE(every_produced_event_validates_against_its_schemas) {
  const auto envelope_schema = load_schema(lethe::test::envelope_schema_file());
  std::int64_t version = 0;
  std::string prev;
  std::set<std::string> seen;
  for (const auto& ev : lethe::test::all_event_samples()) {
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
  for (const auto& ev : lethe::test::all_event_samples()) {
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
