#define BOOST_TEST_MODULE personal
// Sealing and opening personal fields: pure, no services.
#include "lethe/domain/personal.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "shop.hpp"
#include "support/fixtures.hpp"
#include "support/json_schema.hpp"
#include "users.hpp"

namespace fs = std::filesystem;
namespace d = lethe::domain;
namespace u = lethe::domain::users;
namespace sh = lethe::domain::shop;

namespace {

struct Keys {
  std::array<unsigned char, 32> ada{}, bob{}, domains{};
  Keys() {
    BOOST_REQUIRE(sodium_init() >= 0);
    randombytes_buf(ada.data(), ada.size());
    randombytes_buf(bob.data(), bob.size());
    randombytes_buf(domains.data(), domains.size());
  }
  d::KeyLookup lookup(bool with_ada = true) const {
    return [this, with_ada](std::string_view subject) -> std::optional<d::KeyRef> {
      if (subject == "ada" && with_ada) return d::KeyRef{1, ada.data()};
      if (subject == "bob") return d::KeyRef{1, bob.data()};
      if (subject.starts_with("~domain:")) return d::KeyRef{1, domains.data()};  // every key domain's secret
      return std::nullopt;
    };
  }
};

const d::RandomFill kRandom = [](unsigned char* b, std::size_t n) { randombytes_buf(b, n); };
const std::string kEventId = "4b14c0de-0000-4000-8000-000000000001";

std::string registered(const std::string& id, const std::string& email, const std::string& name) {
  return u::encode_payload(u::UserRegistered{id, email, name, "user", ""});
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// One event schema, read here independently of the build-time generator:
// its type and version (from the file name) and its parsed document.
struct SchemaFile {
  std::string file, type;
  int version = 0;
  rapidjson::Document doc;
};

std::vector<SchemaFile> schema_files() {
  std::vector<SchemaFile> out;
  for (const auto& path : lethe::test::event_schema_files()) {
    auto& s = out.emplace_back();
    s.file = path.filename().string();
    const auto v = s.file.rfind(".v");
    s.type = s.file.substr(0, v);
    s.version = std::stoi(s.file.substr(v + 2));
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    s.doc.Parse(text.str().c_str());
    BOOST_REQUIRE_MESSAGE(!s.doc.HasParseError(), s.file);
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(the_personal_field_table_is_what_the_schemas_declare) {
  // Read the schemas here, independently of the build-time generator.
  std::set<std::tuple<std::string, int, std::string, std::string>> declared, table;
  for (const auto& s : schema_files()) {
    for (const auto& p : s.doc["properties"].GetObject()) {
      BOOST_REQUIRE_MESSAGE(p.value.HasMember("x-personal"),
                            s.file << ": " << p.name.GetString() << " lacks x-personal");
      const auto& mark = p.value["x-personal"];
      if (mark.IsObject()) declared.emplace(s.type, s.version, p.name.GetString(), mark["subject"].GetString());
      // The properties of an array's items: "<array>[].<property>".
      if (p.value.HasMember("items") && p.value["items"].HasMember("properties"))
        for (const auto& item : p.value["items"]["properties"].GetObject()) {
          const std::string name = std::string(p.name.GetString()) + "[]." + item.name.GetString();
          BOOST_REQUIRE_MESSAGE(item.value.HasMember("x-personal"), s.file << ": " << name << " lacks x-personal");
          const auto& item_mark = item.value["x-personal"];
          if (item_mark.IsObject()) declared.emplace(s.type, s.version, name, item_mark["subject"].GetString());
        }
    }
  }
  for (const auto& f : d::all_personal_fields())
    table.emplace(std::string(f.type), f.schema_version, std::string(f.field), std::string(f.subject_field));
  BOOST_TEST(!declared.empty());
  BOOST_TEST((declared == table));
}

BOOST_AUTO_TEST_CASE(sealed_fields_hide_the_data_and_open_to_it_again) {
  Keys keys;
  const auto plain = registered("ada", "ada@example.org", "Ada Lovelace");
  const auto sealed = d::seal_personal("user.registered", 1, kEventId, plain, keys.lookup(), kRandom);
  BOOST_REQUIRE(sealed.ok());
  BOOST_TEST(!contains(sealed.value(), "ada@example.org"));
  BOOST_TEST(!contains(sealed.value(), "Lovelace"));
  BOOST_TEST(contains(sealed.value(), R"("user_id":"ada")"));  // not personal: stays in clear
  BOOST_TEST(contains(sealed.value(), R"("sealed":"xchacha20poly1305","sub":"ada","kid":1)"));
  // A random nonce: sealing twice gives different bytes.
  BOOST_TEST(sealed.value() != d::seal_personal("user.registered", 1, kEventId, plain, keys.lookup(), kRandom).value());
  const auto opened = d::open_personal("user.registered", 1, kEventId, sealed.value(), keys.lookup());
  BOOST_REQUIRE(opened.ok());
  BOOST_TEST(opened.value() == plain);
  // The subjects to load keys for come from the sealed values.
  BOOST_TEST(d::sealed_subjects("user.registered", 1, sealed.value()) ==
             (std::vector<std::string>{"ada", "~domain:users", "ada", "~domain:users"}));
  // Types without personal fields pass through untouched.
  const auto role = u::encode_payload(u::UserRoleChanged{"ada", "admin", "user"});
  BOOST_TEST(d::seal_personal("user.role_changed", 1, kEventId, role, keys.lookup(), kRandom).value() == role);
}

BOOST_AUTO_TEST_CASE(a_sealed_value_moved_to_another_event_or_field_does_not_open) {
  Keys keys;
  const auto sealed = d::seal_personal("user.registered", 1, kEventId, registered("ada", "a@example.org", "Ada"),
                                       keys.lookup(), kRandom)
                          .value();
  // Another event id: the associated data differs.
  const auto moved =
      d::open_personal("user.registered", 1, "4b14c0de-0000-4000-8000-000000000002", sealed, keys.lookup());
  BOOST_TEST(!moved.ok());
  BOOST_TEST(contains(moved.error().message, "does not authenticate"));
  // The email's sealed value put in the name field.
  rapidjson::Document doc;
  doc.Parse(sealed.c_str());
  rapidjson::Value email(doc["email"], doc.GetAllocator());
  doc["name"] = email;
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  doc.Accept(w);
  const auto swapped = d::open_personal("user.registered", 1, kEventId, buf.GetString(), keys.lookup());
  BOOST_TEST(!swapped.ok());
  BOOST_TEST(swapped.error().field == "name");
  // Another person's key.
  auto as_bob = sealed;
  as_bob.replace(as_bob.find(R"("sub":"ada")"), 11, R"("sub":"bob")");
  BOOST_TEST(!d::open_personal("user.registered", 1, kEventId, as_bob, keys.lookup()).ok());
}

BOOST_AUTO_TEST_CASE(without_its_key_a_sealed_field_opens_as_null_and_folds_as_erased) {
  Keys keys;
  const auto sealed = d::seal_personal("user.registered", 1, kEventId, registered("ada", "a@example.org", "Ada"),
                                       keys.lookup(), kRandom)
                          .value();
  const auto opened = d::open_personal("user.registered", 1, kEventId, sealed, keys.lookup(false));
  BOOST_REQUIRE(opened.ok());
  BOOST_TEST(contains(opened.value(), R"("email":null)"));
  BOOST_TEST(contains(opened.value(), R"("name":null)"));
  const auto ev = u::decode_payload("user.registered", 1, opened.value());
  BOOST_REQUIRE(ev.ok());
  const auto& e = std::get<u::UserRegistered>(ev.value());
  BOOST_TEST(d::is_erased(e.email));
  BOOST_TEST(d::is_erased(e.name));
  BOOST_TEST(e.user_id == "ada");
  const auto state = u::evolve({}, ev.value());
  BOOST_TEST(state.exists);
  // A non-personal field may not be null.
  BOOST_TEST(
      !u::decode_payload("user.registered", 1, R"({"user_id":null,"email":null,"name":null,"role":"user"})").ok());
}

BOOST_AUTO_TEST_CASE(a_json_value_in_the_items_of_an_array_is_sealed_bound_to_its_item) {
  Keys keys;
  const std::string plain =
      R"({"order_id":"o","cart_id":"c","user_id":"ada","lines":[)"
      R"({"line_id":"l1","product_id":"p","name":"Mug","quantity":1,"unit_price":900,"currency":"EUR","selected_specs":{"engraving":"For Ada L."}},)"
      R"({"line_id":"l2","product_id":"p","name":"Mug","quantity":1,"unit_price":900,"currency":"EUR","selected_specs":{"colour":"red"}}],)"
      R"("total":1800,"currency":"EUR"})";
  const auto sealed = d::seal_personal("shop.order_placed", 1, kEventId, plain, keys.lookup(), kRandom);
  BOOST_REQUIRE(sealed.ok());
  BOOST_TEST(!contains(sealed.value(), "engraving"));
  BOOST_TEST(!contains(sealed.value(), "red"));
  BOOST_TEST(contains(sealed.value(), R"("name":"Mug")"));  // not personal: stays in clear
  BOOST_TEST(contains(sealed.value(), R"("t":"json")"));
  BOOST_TEST(d::open_personal("shop.order_placed", 1, kEventId, sealed.value(), keys.lookup()).value() == plain);
  // The specs of one line moved to the other do not open.
  rapidjson::Document doc;
  doc.Parse(sealed.value().c_str());
  rapidjson::Value first(doc["lines"][0]["selected_specs"], doc.GetAllocator());
  doc["lines"][1]["selected_specs"] = first;
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  doc.Accept(w);
  const auto swapped = d::open_personal("shop.order_placed", 1, kEventId, buf.GetString(), keys.lookup());
  BOOST_TEST(!swapped.ok());
  BOOST_TEST(swapped.error().field == "lines[1].selected_specs");
  // Kept sealed (a read model's jsonb column), each stays a sealed object
  // bound to its event and item, and opens inside the larger value.
  const auto decoded = sh::decode_sealed({{"shop.order_placed", 1, kEventId, sealed.value()}}, d::kKeepSealed);
  BOOST_REQUIRE(decoded[0].ok());
  const auto kept = std::get<sh::OrderPlaced>(decoded[0].value()).lines.text;
  BOOST_TEST(contains(kept, R"("f":"lines[0].selected_specs")"));
  BOOST_TEST(!contains(kept, "engraving"));
  BOOST_TEST(d::sealed_text_subjects(kept) == (std::vector<std::string>{"ada", "~domain:shop", "ada", "~domain:shop"}));
  const auto lines = d::open_sealed_json(kept, keys.lookup());
  BOOST_REQUIRE(lines.ok());
  BOOST_TEST(contains(lines.value(), R"("selected_specs":{"engraving":"For Ada L."})"));
  BOOST_TEST(contains(lines.value(), R"("selected_specs":{"colour":"red"})"));
  // Once the key is gone, the specs are null and the rest stays.
  const auto erased = d::open_sealed_json(kept, keys.lookup(false));
  BOOST_REQUIRE(erased.ok());
  BOOST_TEST(
      contains(erased.value(), R"("name":"Mug","quantity":1,"unit_price":900,"currency":"EUR","selected_specs":null)"));
  BOOST_TEST(!contains(erased.value(), "engraving"));
}

// "x-refers": the generated table is what the schemas list, and each listed
// field is a person field the fence would otherwise check.
BOOST_AUTO_TEST_CASE(the_referring_fields_are_what_the_schemas_list_and_each_names_a_person) {
  std::set<std::tuple<std::string, int, std::string>> declared, table;
  for (const auto& s : schema_files())
    if (s.doc.HasMember("x-refers"))
      for (const auto& f : s.doc["x-refers"].GetArray()) declared.emplace(s.type, s.version, f.GetString());
  for (const auto& r : d::all_person_refs()) {
    table.emplace(std::string(r.type), r.schema_version, std::string(r.field));
    BOOST_TEST(std::find(std::begin(d::kPersonIdFields), std::end(d::kPersonIdFields), r.field) !=
                   std::end(d::kPersonIdFields),
               r.type << ": " << r.field);
    BOOST_TEST(d::refers(r.type, r.schema_version, r.field));
  }
  BOOST_TEST(declared.size() >= 10u);
  BOOST_TEST((declared == table));
  BOOST_TEST(d::refers("billing.refund_recorded", 1, "user_id"));
  BOOST_TEST(!d::refers("billing.charge_recorded", 1, "user_id"));
  BOOST_TEST(!d::refers("ticket.assigned", 1, "assignee_id"));
  BOOST_TEST(d::refers("ticket.assigned", 1, "previous_assignee_id"));
}

// The fence and the sticky policies see a person wherever a payload names
// them, in nested objects and arrays too.
BOOST_AUTO_TEST_CASE(named_people_finds_person_fields_at_any_depth) {
  std::vector<std::string> found;
  d::named_people(R"({"user_id":"u1","lines":[{"owner_id":"u2","x":{"author_id":"u3"}},{"owner_id":""}],)"
                  R"("note":{"user_id":5},"name":"user_id"})",
                  [&](std::string_view field, std::string_view id) {
                    found.push_back(std::string(field) + "=" + std::string(id));
                  });
  BOOST_TEST((found == std::vector<std::string>{"user_id=u1", "owner_id=u2", "author_id=u3"}));
  found.clear();
  d::named_people("not json", [&](std::string_view, std::string_view id) { found.emplace_back(id); });
  BOOST_TEST(found.empty());
}

// An erased person who is only referred to (KeyRef without a key): their
// personal fields are written as null, nothing sealed, nothing in clear.
BOOST_AUTO_TEST_CASE(a_field_of_an_erased_person_who_is_only_referred_to_is_written_as_null) {
  const auto r = d::seal_personal(
      "user.registered", 1, kEventId, registered("gone", "g@example.org", "Gone Person"),
      [](std::string_view) -> std::optional<d::KeyRef> { return d::KeyRef{}; }, kRandom);
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(!contains(r.value(), "g@example.org"));
  BOOST_TEST(!contains(r.value(), "Gone Person"));
  BOOST_TEST(contains(r.value(), R"("email":null)"));
  BOOST_TEST(contains(r.value(), R"("name":null)"));
}

BOOST_AUTO_TEST_CASE(sealing_without_a_key_for_the_person_fails) {
  Keys keys;
  const auto r = d::seal_personal("user.registered", 1, kEventId, registered("carol", "c@example.org", "C"),
                                  keys.lookup(), kRandom);
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.error().field == "user_id");
}

BOOST_AUTO_TEST_CASE(a_batch_is_opened_with_one_key_load_and_each_failure_stays_with_its_payload) {
  Keys keys;
  auto seal = [&](const std::string& id, const std::string& event_id) {
    return d::seal_personal("user.registered", 1, event_id, registered(id, id + "@example.org", "N " + id),
                            keys.lookup(), kRandom)
        .value();
  };
  const std::string e1 = kEventId, e2 = "4b14c0de-0000-4000-8000-000000000002",
                    e3 = "4b14c0de-0000-4000-8000-000000000003";
  const std::string ada = seal("ada", e1), bob = seal("bob", e2), moved = seal("bob", e2);
  const std::string role = u::encode_payload(u::UserRoleChanged{"ada", "admin", "user"});
  const std::vector<d::SealedPayload> items{{"user.registered", 1, e1, ada},
                                            {"user.registered", 1, e2, bob},
                                            {"user.registered", 1, e3, moved},  // sealed for e2, presented as e3
                                            {"user.role_changed", 1, e1, role}};
  int loads = 0;
  std::vector<std::string> asked;
  const auto loader = [&](const std::vector<std::string>& subjects) {
    ++loads;
    asked = subjects;
    return keys.lookup(false);  // ada's key is gone
  };
  const auto opened = d::open_personal_batch(items, loader);
  BOOST_TEST(loads == 1);
  BOOST_TEST(asked == (std::vector<std::string>{"ada", "bob", "~domain:users"}));  // sorted, once each
  BOOST_REQUIRE(opened.size() == 4u);
  BOOST_REQUIRE(opened[0].ok());
  BOOST_TEST(contains(opened[0].value(), R"("email":null)"));  // erased, not an error
  BOOST_REQUIRE(opened[1].ok());
  BOOST_TEST(contains(opened[1].value(), R"("email":"bob@example.org")"));
  BOOST_REQUIRE(!opened[2].ok());
  BOOST_TEST(contains(opened[2].error().message, "does not authenticate"));
  BOOST_REQUIRE(opened[3].ok());
  BOOST_TEST(opened[3].value() == role);  // nothing personal: as it was

  // The decoders take the same batch, each payload parsed once.
  loads = 0;
  const auto events = u::decode_sealed(items, loader);
  BOOST_TEST(loads == 1);
  BOOST_REQUIRE(events.size() == 4u);
  BOOST_REQUIRE(events[0].ok());
  BOOST_TEST(d::is_erased(std::get<u::UserRegistered>(events[0].value()).email));
  BOOST_REQUIRE(events[1].ok());
  BOOST_TEST(std::get<u::UserRegistered>(events[1].value()).email == "bob@example.org");
  BOOST_TEST(!events[2].ok());
  BOOST_REQUIRE(events[3].ok());
  BOOST_TEST(std::get<u::UserRoleChanged>(events[3].value()).role == "admin");
}

// What a read model stores of a sealed string: the compact text ("~s2:"),
// bound to its event and field as the object was, opening to the same
// plaintext, for one person and for two, with UUIDs and other ids; and the
// JSON form stored before it still opens.
BOOST_AUTO_TEST_CASE(a_read_model_keeps_a_sealed_string_as_compact_text_that_opens_bound_to_its_event_and_field) {
  const Keys keys;
  const std::string ada_uuid = "0a0b0c0d-1e1f-4a2b-8c3d-4e5f60718293";
  const auto lookup = [&](std::string_view subject) -> std::optional<d::KeyRef> {
    if (subject == ada_uuid) return d::KeyRef{300, keys.ada.data()};  // a kid over one LEB128 byte
    return keys.lookup()(subject);
  };
  const std::string payload = R"({"ticket_id":"t1","comment_id":"c1","author_id":"bob","requester_id":")" + ada_uuid +
                              R"(","body":"Dear Ada, your parcel"})";
  const auto sealed = d::seal_personal("ticket.commented", 1, kEventId, payload, lookup, kRandom);
  BOOST_REQUIRE(sealed.ok());
  rapidjson::Document doc;
  doc.Parse(sealed.value().c_str());
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  doc["body"].Accept(w);
  const std::string object = buf.GetString();

  const auto kept = d::sealed_text_of(object, kEventId, "body");
  BOOST_TEST(kept.starts_with("~s2:tickets:"));
  BOOST_TEST(d::is_sealed_text(kept));
  BOOST_TEST(!contains(kept, "parcel"));
  const auto long_form = object.substr(0, object.size() - 1) + R"(,"e":")" + kEventId + R"(","f":"body"})";
  BOOST_TEST(kept.size() * 4 < long_form.size() * 3, kept.size() << " bytes against " << long_form.size());
  BOOST_TEST(d::sealed_text_subjects(kept) == (std::vector<std::string>{"bob", ada_uuid, "~domain:tickets"}));
  BOOST_TEST(d::open_sealed_text(kept, lookup).value().value_or("?") == "Dear Ada, your parcel");
  // Either person's key gone: it opens as nothing.
  const auto without_ada = [&](std::string_view subject) -> std::optional<d::KeyRef> {
    if (subject == ada_uuid) return std::nullopt;
    return lookup(subject);
  };
  BOOST_TEST(!d::open_sealed_text(kept, without_ada).value().has_value());
  // Bound as the object was: the same sealed value kept for another field
  // or event does not open.
  const auto other_field = d::open_sealed_text(d::sealed_text_of(object, kEventId, "subject"), lookup);
  BOOST_REQUIRE(!other_field.ok());
  BOOST_TEST(other_field.error().message ==
             "sealed subject does not authenticate: tampered, or moved from another "
             "event or field");
  BOOST_TEST(
      !d::open_sealed_text(d::sealed_text_of(object, "4b14c0de-0000-4000-8000-000000000002", "body"), lookup).ok());
  // A byte of the ciphertext or of the binding changed: refused, never opened.
  auto tampered = kept;
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  BOOST_TEST(!d::open_sealed_text(tampered, lookup).ok());
  auto rebound = kept;
  rebound.replace(rebound.find(":body:"), 6, ":bodz:");
  BOOST_TEST(!d::open_sealed_text(rebound, lookup).ok());
  const auto cut = d::open_sealed_text(kept.substr(0, kept.rfind(':')), lookup);
  BOOST_REQUIRE(!cut.ok());
  BOOST_TEST(cut.error().message == "a sealed text is malformed");
  // Stored before the compact form: the object with its binding opens too.
  BOOST_TEST(d::is_sealed_text(long_form));
  BOOST_TEST(d::open_sealed_text(long_form, lookup).value().value_or("?") == "Dear Ada, your parcel");
  // An id the form cannot hold keeps the object.
  const std::string long_id = "urn:x:ada";
  const auto long_lookup = [&](std::string_view subject) -> std::optional<d::KeyRef> {
    if (subject == long_id) return d::KeyRef{1, keys.ada.data()};
    return keys.lookup()(subject);  // the key domain's secret
  };
  const auto reg = d::seal_personal("user.registered", 1, kEventId, registered(long_id, "a@example.org", "Ada"),
                                    long_lookup, kRandom);
  BOOST_REQUIRE(reg.ok());
  const auto text = d::sealed_text_in(reg.value(), kEventId, "name");
  BOOST_REQUIRE(text.has_value());
  BOOST_TEST(text->starts_with(R"({"sealed":)"));
  BOOST_TEST(d::open_sealed_text(*text, long_lookup).value().value_or("?") == "Ada");
  // Decoded for a projection (kKeepSealed): every sealed string compact.
  const auto decoded =
      u::decode_sealed({{"user.registered", 1, kEventId,
                         d::seal_personal("user.registered", 1, kEventId,
                                          registered("ada", "ada@example.org", "Ada L."), keys.lookup(), kRandom)
                             .value()}},
                       d::kKeepSealed);
  BOOST_REQUIRE(decoded[0].ok());
  const auto& r = std::get<u::UserRegistered>(decoded[0].value());
  BOOST_TEST(r.name.starts_with("~s2:users:"));
  BOOST_TEST(d::open_sealed_text(r.name, keys.lookup()).value().value_or("?") == "Ada L.");
}
