#define BOOST_TEST_MODULE sealed_vectors
// Test vectors of the sealed-value format (docs/sealed-format.md), made by
// lethe's own seal_personal with fixed keys and a fixed nonce source:
//  - they equal the vectors kept in test/contract/sealed_vectors.json, so
//    the format cannot change without the file (and the spec) changing
//    (LETHE_WRITE_SEALED_VECTORS=1 writes the file anew);
//  - an independent implementation written from the spec alone, in Python
//    with PyNaCl (test/contract/open_sealed.py), opens every one of them,
//    and refuses each moved to another event or field (the control).
#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <array>
#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>

#include "lethe/domain/personal.hpp"
#include "support/fixtures.hpp"

using namespace lethe;

namespace {

struct PersonKey {
  int key_id;
  std::array<unsigned char, domain::kPersonKeyBytes> key;
};

// Key bytes i, i+1, ... (mod 256): fixed, and different per person.
PersonKey key_from(int key_id, unsigned char first) {
  PersonKey k{key_id, {}};
  for (std::size_t i = 0; i < k.key.size(); ++i) k.key[i] = static_cast<unsigned char>(first + i);
  return k;
}

std::string hex(const unsigned char* bytes, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += fmt::format("{:02x}", bytes[i]);
  return out;
}

struct Case {
  std::string name, type;
  int version;
  std::string event_id, payload;
};

// The cases: one person's strings, a text under two people's derived key,
// a JSON value bound to its array item, and a staff note in the staff key
// domain.
const std::vector<Case>& cases() {
  static const std::vector<Case> all{
      {"one person, strings", "user.registered", 1, "0b7a4f5e-0000-4000-8000-000000000001",
       R"({"user_id":"u-ada","email":"ada@example.org","name":"Ada Lovelace","role":"user"})"},
      {"two people, a derived key", "ticket.commented", 1, "0b7a4f5e-0000-4000-8000-000000000002",
       R"({"ticket_id":"t-1","comment_id":"c-1","author_id":"u-sam","requester_id":"u-ada","body":"Dear Ada, your order ships Monday."})"},
      {"a JSON value in an array item", "shop.order_placed", 1, "0b7a4f5e-0000-4000-8000-000000000003",
       R"({"order_id":"o-1","user_id":"u-ada","lines":[{"product_id":"p-1","selected_specs":{"colour":"red"}},{"product_id":"p-2","selected_specs":{"engraving":"For Ada","size":"M"}}]})"},
      {"the staff key domain", "user.note_added", 1, "0b7a4f5e-0000-4000-8000-000000000004",
       R"({"user_id":"u-ada","note_id":"n-1","text":"Ada asked us to call back after six."})"},
  };
  return all;
}

std::string vectors_json() {
  const std::map<std::string, PersonKey> keys{{"u-ada", key_from(3, 0x10)},
                                              {"u-sam", key_from(1, 0x80)},
                                              {domain::key_domain_subject("users"), key_from(1, 0x40)},
                                              {domain::key_domain_subject("tickets"), key_from(1, 0x60)},
                                              {domain::key_domain_subject("shop"), key_from(1, 0xa0)},
                                              {domain::key_domain_subject(domain::kStaffKeyDomain), key_from(1, 0xc0)}};
  rapidjson::Document out(rapidjson::kObjectType);
  auto& a = out.GetAllocator();
  // People's keys, and the key domains' secrets (by domain name).
  rapidjson::Value people(rapidjson::kObjectType), domains(rapidjson::kObjectType);
  const auto domain_prefix = domain::key_domain_subject("");
  for (const auto& [who, k] : keys) {
    rapidjson::Value p(rapidjson::kObjectType);
    p.AddMember("kid", k.key_id, a);
    p.AddMember("key_hex", rapidjson::Value(hex(k.key.data(), k.key.size()).c_str(), a), a);
    if (who.starts_with(domain_prefix))
      domains.AddMember(rapidjson::Value(who.substr(domain_prefix.size()).c_str(), a), p["key_hex"], a);
    else
      people.AddMember(rapidjson::Value(who.c_str(), a), p, a);
  }
  out.AddMember("people", people, a);
  out.AddMember("domain_secrets", domains, a);
  rapidjson::Value list(rapidjson::kArrayType);
  for (const auto& c : cases()) {
    // Nonce bytes: a counter, starting where the case's number says.
    unsigned char next = static_cast<unsigned char>(0xa0 + 0x20 * (&c - cases().data()));
    const domain::RandomFill random = [&](unsigned char* bytes, std::size_t n) {
      for (std::size_t i = 0; i < n; ++i) bytes[i] = next++;
    };
    const auto sealed =
        domain::seal_personal(c.type, c.version, c.event_id, c.payload, domain::lookup_in(keys), random);
    BOOST_TEST_REQUIRE(static_cast<bool>(sealed), c.name);
    rapidjson::Document plain, done;
    plain.Parse(c.payload.c_str());
    done.Parse(sealed.value().c_str());
    rapidjson::Value v(rapidjson::kObjectType);
    v.AddMember("case", rapidjson::Value(c.name.c_str(), a), a);
    v.AddMember("type", rapidjson::Value(c.type.c_str(), a), a);
    v.AddMember("schema_version", c.version, a);
    v.AddMember("event_id", rapidjson::Value(c.event_id.c_str(), a), a);
    v.AddMember("payload", rapidjson::Value(plain, a), a);
    v.AddMember("sealed_payload", rapidjson::Value(done, a), a);
    list.PushBack(v, a);
  }
  out.AddMember("vectors", list, a);
  rapidjson::StringBuffer buf;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
  w.SetIndent(' ', 2);
  out.Accept(w);
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

std::string file() {
  return test::source_dir() + "/test/contract/sealed_vectors.json";
}

}  // namespace

BOOST_AUTO_TEST_CASE(lethe_makes_the_vectors_kept_in_the_repository) {
  const auto made = vectors_json();
  if (std::getenv("LETHE_WRITE_SEALED_VECTORS")) std::ofstream(file()) << made;
  std::ifstream in(file());
  const std::string kept{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  BOOST_TEST(made == kept, "the vectors differ from " << file()
                                                      << "; if the format changed on purpose, write them "
                                                         "again with LETHE_WRITE_SEALED_VECTORS=1 and update the spec");
  // Every personal field of the cases is sealed: none is left in clear in
  // the sealed payloads (the clear ones beside them hold every one).
  rapidjson::Document doc;
  doc.Parse(made.c_str());
  std::string sealed_payloads;
  for (const auto& v : doc["vectors"].GetArray()) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    v["sealed_payload"].Accept(w);
    sealed_payloads += buf.GetString();
  }
  for (const auto* clear : {"ada@example.org", "Ada Lovelace", "your order ships", "red", "For Ada", "call back"}) {
    BOOST_TEST(made.find(clear) != std::string::npos, clear);
    BOOST_TEST(sealed_payloads.find(clear) == std::string::npos, clear);
  }
}

BOOST_AUTO_TEST_CASE(an_implementation_from_the_spec_alone_opens_every_vector_and_refuses_moved_ones) {
  // Debian's Python, which has Debian's PyNaCl (scripts/setup installs
  // python3-nacl), whatever python3 comes first on the PATH.
  const auto r =
      test::capture("/usr/bin/python3 " + test::source_dir() + "/test/contract/open_sealed.py " + file() + " 2>&1");
  BOOST_TEST(r.rc == 0, r.output);
  // Every sealed value: 2 strings, 1 text of two people, 2 JSON values, 1
  // staff note.
  BOOST_TEST(
      r.output.find("opened 6 sealed values, each equal to the payload's; refused 6 moved ones") != std::string::npos,
      r.output);
}
