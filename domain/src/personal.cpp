#include "lethe/domain/personal.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <charconv>

#include "json_util.hpp"
#include "lethe/domain/registry.hpp"
#include "personal_doc.hpp"

namespace lethe::domain {

namespace {

constexpr std::string_view kAlgorithm = "xchacha20poly1305";
constexpr std::size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;

// Binds a sealed value to its event and field: "<event id>\0<field>".
std::string associated_data(std::string_view event_id, std::string_view field) {
  std::string ad(event_id);
  ad.push_back('\0');
  ad.append(field);
  return ad;
}

std::string to_base64(const unsigned char* bytes, std::size_t n) {
  std::string out(sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes, n, sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

std::optional<std::string> from_base64(std::string_view text) {
  std::string out(text.size(), '\0');
  std::size_t n = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(), nullptr, &n,
                        nullptr, sodium_base64_VARIANT_ORIGINAL) != 0)
    return std::nullopt;
  out.resize(n);
  return out;
}

bool is_sealed(const rapidjson::Value& v) {
  if (!v.IsObject()) return false;
  const auto it = v.FindMember("sealed");
  return it != v.MemberEnd() && it->value.IsString() &&
         std::string_view(it->value.GetString(), it->value.GetStringLength()) == kAlgorithm;
}

std::string_view text_of(const rapidjson::Value& v, const char* member) {
  const auto it = v.FindMember(member);
  if (it == v.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

std::string write(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  json::Writer w(buf);
  v.Accept(w);
  return {buf.GetString(), buf.GetSize()};
}

rapidjson::Value::MemberIterator member(rapidjson::Value& doc, std::string_view name) {
  return doc.FindMember(rapidjson::Value(rapidjson::StringRef(name.data(), name.size())));
}

// Calls visit(value, bound) for each value a personal field names in a
// payload: the member itself ("body"), or that member of each item of an
// array ("lines[].selected_specs"), bound to its place ("lines[2].selected_specs")
// so that a sealed value cannot move from one item to another. Absent
// members are skipped.
template <class Visit>
void each_value(rapidjson::Value& doc, std::string_view field, Visit&& visit) {
  const auto items = field.find("[].");
  if (items == std::string_view::npos) {
    if (auto it = member(doc, field); it != doc.MemberEnd()) visit(it->value, std::string(field));
    return;
  }
  const auto array = member(doc, field.substr(0, items));
  if (array == doc.MemberEnd() || !array->value.IsArray()) return;
  const auto inner = field.substr(items + 3);
  rapidjson::SizeType i = 0;
  for (auto& item : array->value.GetArray()) {
    if (item.IsObject())
      if (auto it = member(item, inner); it != item.MemberEnd())
        visit(it->value, std::string(field.substr(0, items)) + "[" + std::to_string(i) + "]." + std::string(inner));
    ++i;
  }
}

}  // namespace

std::span<const PersonalField> personal_fields(std::string_view type, int schema_version) {
  const auto& all = all_personal_fields();
  const auto of = [&](const PersonalField& f) { return f.type == type && f.schema_version == schema_version; };
  const auto first = std::find_if(all.begin(), all.end(), of);
  return {first, std::find_if_not(first, all.end(), of)};
}

namespace {

void named_in(const rapidjson::Value& v, const std::function<void(std::string_view, std::string_view)>& found) {
  if (v.IsArray()) {
    for (const auto& item : v.GetArray()) named_in(item, found);
    return;
  }
  if (!v.IsObject()) return;
  for (const auto& m : v.GetObject()) {
    const std::string_view name(m.name.GetString(), m.name.GetStringLength());
    if (m.value.IsString()) {
      if (m.value.GetStringLength() > 0 &&
          std::find(std::begin(kPersonIdFields), std::end(kPersonIdFields), name) != std::end(kPersonIdFields))
        found(name, std::string_view(m.value.GetString(), m.value.GetStringLength()));
    } else {
      named_in(m.value, found);
    }
  }
}

}  // namespace

void named_people(std::string_view payload, const std::function<void(std::string_view, std::string_view)>& found) {
  rapidjson::Document doc;
  doc.Parse(payload.data(), payload.size());
  if (doc.HasParseError()) return;
  named_in(doc, found);
}

bool refers(std::string_view type, int schema_version, std::string_view field) {
  const auto& all = all_person_refs();
  return std::any_of(all.begin(), all.end(), [&](const PersonRef& r) {
    return r.type == type && r.schema_version == schema_version && r.field == field;
  });
}

const std::string& erased() {
  static const std::string value("\0erased", 7);
  return value;
}

std::string_view key_domain_of_topic(std::string_view topic) {
  // Every topic events go to is a key domain of its own, so that a key
  // released for one topic opens no other topic's values.
  for (const auto t : event_topics())
    if (t == topic) return t;
  return {};
}

std::string_view key_domain_of(std::string_view type, int schema_version) {
  // A registered type's topic is one events go to: its own key domain
  // (no scan of the topic list for every value sealed).
  const auto* spec = find_event_type(type, schema_version);
  return spec ? spec->topic : std::string_view();
}

std::string key_domain_subject(std::string_view domain) {
  return "~domain:" + std::string(domain);
}

std::array<unsigned char, kPersonKeyBytes> domain_key(const unsigned char* person_key, std::string_view domain,
                                                      const unsigned char* domain_secret) {
  std::array<unsigned char, kPersonKeyBytes> out{};
  crypto_generichash_state state;
  crypto_generichash_init(&state, person_key, kPersonKeyBytes, out.size());
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(domain.data()), domain.size());
  const unsigned char zero = 0;
  crypto_generichash_update(&state, &zero, 1);
  crypto_generichash_update(&state, domain_secret, kPersonKeyBytes);
  crypto_generichash_final(&state, out.data(), out.size());
  sodium_memzero(&state, sizeof state);
  return out;
}

namespace {

// The key a value is sealed under: its person's, or, for a text with two
// people (a staff reply on a customer's ticket), one derived from both
// (keyed BLAKE2b-256 of the second key under the first), so that erasing
// either makes it unreadable. `missing`: the person the lookup has no key
// for (empty when it has both); `erased`: a KeyRef without key, a person
// erased and only referred to. Either way there are no bytes.
struct ValueKey {
  std::array<unsigned char, kPersonKeyBytes> bytes{};
  int kid = 0, kid2 = 0;
  std::string_view missing;
  bool erased = false;
  bool usable() const noexcept { return missing.empty() && !erased; }
};

ValueKey key_for(const KeyLookup& keys, std::string_view subject, std::string_view subject2, std::string_view domain) {
  ValueKey out;
  // In a key domain, each person's key is their domain key; the domain's
  // secret is asked for once a person's key is there (an erased person's
  // value is null whatever the domain).
  const unsigned char* secret = nullptr;
  bool secret_asked = false;
  std::array<std::array<unsigned char, kPersonKeyBytes>, 2> in_domain{};
  struct WipeBoth {
    decltype(in_domain)& k;
    ~WipeBoth() { sodium_memzero(k.data(), sizeof k); }
  } wipe_both{in_domain};
  // One person's key: its bytes, or nothing with `missing` or `erased` set.
  auto take = [&](std::string_view who, int& kid, std::size_t slot) -> const unsigned char* {
    const auto k = keys(who);
    if (!k) {
      out.missing = who;
      return nullptr;
    }
    kid = k->key_id;
    if (k->key == nullptr) {
      out.erased = true;
      return nullptr;
    }
    if (domain.empty()) return k->key;
    if (!secret_asked) {
      secret_asked = true;
      if (const auto s = keys(key_domain_subject(domain)); s && s->key) secret = s->key;
    }
    if (secret == nullptr) {
      out.missing = who;  // no secret: nothing can be sealed or opened in this domain
      return nullptr;
    }
    in_domain[slot] = domain_key(k->key, domain, secret);
    return in_domain[slot].data();
  };
  const auto* a = take(subject, out.kid, 0);
  if (a == nullptr) return out;
  if (subject2.empty()) {
    std::copy(a, a + kPersonKeyBytes, out.bytes.begin());
    return out;
  }
  const auto* b = take(subject2, out.kid2, 1);
  if (b != nullptr) crypto_generichash(out.bytes.data(), out.bytes.size(), b, kPersonKeyBytes, a, kPersonKeyBytes);
  return out;
}

struct Wipe {
  ValueKey& k;
  ~Wipe() { sodium_memzero(k.bytes.data(), k.bytes.size()); }
};

std::string_view member_text(const rapidjson::Value& doc, std::string_view name) {
  if (name.empty()) return {};
  const auto it = doc.FindMember(rapidjson::Value(rapidjson::StringRef(name.data(), name.size())));
  if (it == doc.MemberEnd() || !it->value.IsString()) return {};
  return {it->value.GetString(), it->value.GetStringLength()};
}

// What a sealed value holds, whichever form it is stored in (the JSON
// object seal_personal writes, or the compact text a read model keeps):
// views into that form, the nonce and ciphertext still in base64.
struct SealedParts {
  std::string_view subject, subject2, domain;
  std::optional<int> kid, kid2;
  std::string_view nonce, sealed;
};

SealedParts parts_of(const rapidjson::Value& v) {
  SealedParts p;
  p.subject = text_of(v, "sub");
  p.subject2 = text_of(v, "sub2");
  p.domain = text_of(v, "dom");
  if (const auto kid = v.FindMember("kid"); kid != v.MemberEnd() && kid->value.IsInt()) p.kid = kid->value.GetInt();
  if (const auto kid = v.FindMember("kid2"); kid != v.MemberEnd() && kid->value.IsInt()) p.kid2 = kid->value.GetInt();
  p.nonce = text_of(v, "n");
  p.sealed = text_of(v, "c");
  return p;
}

// The keyring subjects whose keys open a sealed value: its person (or two),
// and its key domain's secret.
void add_subjects(const rapidjson::Value& v, std::vector<std::string>& out) {
  out.emplace_back(text_of(v, "sub"));
  if (const auto second = text_of(v, "sub2"); !second.empty()) out.emplace_back(second);
  if (const auto domain = text_of(v, "dom"); !domain.empty()) out.push_back(key_domain_subject(domain));
}

// Opens one sealed value bound to event_id and field: the plaintext,
// nullopt when a key is gone, or an error.
Result<std::optional<std::string>> open_parts(const SealedParts& p, std::string_view event_id, std::string_view field,
                                              const KeyLookup& keys) {
  auto key = key_for(keys, p.subject, p.subject2, p.domain);
  Wipe wipe{key};
  if (!key.usable()) return std::optional<std::string>{};  // erased: a key is gone
  const bool kids_match = p.kid == key.kid && (p.subject2.empty() || p.kid2 == key.kid2);
  const auto nonce = from_base64(p.nonce);
  const auto sealed = from_base64(p.sealed);
  if (!kids_match || !nonce || nonce->size() != kNonceBytes || !sealed || sealed->size() < kTagBytes)
    return invalid(std::string(field), "sealed " + std::string(field) + " is malformed or names another key");
  std::string plain(sealed->size() - kTagBytes, '\0');
  unsigned long long plain_len = 0;
  const auto ad = associated_data(event_id, field);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(plain.data()), &plain_len, nullptr,
                                                 reinterpret_cast<const unsigned char*>(sealed->data()), sealed->size(),
                                                 reinterpret_cast<const unsigned char*>(ad.data()), ad.size(),
                                                 reinterpret_cast<const unsigned char*>(nonce->data()),
                                                 key.bytes.data()) != 0)
    return invalid(std::string(field), "sealed " + std::string(field) +
                                           " does not authenticate: tampered, or moved from another event or field");
  plain.resize(plain_len);
  return std::optional<std::string>{std::move(plain)};
}

Result<std::optional<std::string>> open_value(const rapidjson::Value& v, std::string_view event_id,
                                              std::string_view field, const KeyLookup& keys) {
  return open_parts(parts_of(v), event_id, field, keys);
}

// The compact text a read model keeps of a sealed string: what the JSON
// object with its binding says, without its names and quotes, joined by ':'
//   ~s1:<person>:<kid>[:<second person>:<kid2>]:<event id>:<field>:<nonce>:<ciphertext>
// (nonce and ciphertext in base64, as in the object). Made by joining the
// object's texts, with no decoding; about 70 % of the object's bytes, which
// every projection writes and reads back and every query reads.
constexpr std::string_view kCompactPrefix = "~s1:";
// The same with the key domain first: ~s2:<domain>:<person>:...
constexpr std::string_view kCompactDomainPrefix = "~s2:";

// An id or field the compact text can hold: not empty, no ':'.
bool joinable(std::string_view s) {
  return !s.empty() && s.find(':') == std::string_view::npos;
}

// The compact text of a sealed string bound to its event and field; nullopt
// when a person id, the event id or the field holds a ':' (or something is
// missing), which then keeps the JSON object.
std::optional<std::string> compact_text(const SealedParts& p, std::string_view event_id, std::string_view field) {
  const bool two = !p.subject2.empty();
  if ((!p.domain.empty() && !joinable(p.domain)) || !joinable(p.subject) || !p.kid ||
      (two && (!joinable(p.subject2) || !p.kid2)) || !joinable(event_id) || !joinable(field) || p.nonce.empty() ||
      p.sealed.empty())
    return std::nullopt;
  std::string out;
  out.reserve(kCompactPrefix.size() + p.domain.size() + p.subject.size() + p.subject2.size() + event_id.size() +
              field.size() + p.nonce.size() + p.sealed.size() + 32);
  const auto part = [&](std::string_view s) {
    out += s;
    out += ':';
  };
  if (p.domain.empty()) {
    out += kCompactPrefix;
  } else {
    out += kCompactDomainPrefix;
    part(p.domain);
  }
  part(p.subject);
  part(std::to_string(*p.kid));
  if (two) {
    part(p.subject2);
    part(std::to_string(*p.kid2));
  }
  part(event_id);
  part(field);
  part(p.nonce);
  out += p.sealed;
  return out;
}

// A compact text's parts and binding (views into it); nullopt when it does
// not split into them.
struct CompactSealed {
  SealedParts parts;
  std::string_view event_id, field;
};
std::optional<CompactSealed> from_compact(std::string_view text) {
  const bool in_domain = text.starts_with(kCompactDomainPrefix);
  if (!in_domain && !text.starts_with(kCompactPrefix)) return std::nullopt;
  text.remove_prefix(kCompactPrefix.size());
  std::string_view domain;
  if (in_domain) {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    domain = text.substr(0, colon);
    text.remove_prefix(colon + 1);
  }
  std::vector<std::string_view> at;
  for (std::size_t from = 0;;) {
    const auto colon = text.find(':', from);
    at.push_back(text.substr(from, colon == std::string_view::npos ? colon : colon - from));
    if (colon == std::string_view::npos) break;
    from = colon + 1;
  }
  const auto number = [](std::string_view s) -> std::optional<int> {
    int v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return v;
  };
  if (at.size() != 6 && at.size() != 8) return std::nullopt;
  CompactSealed out;
  out.parts.domain = domain;
  std::size_t i = 0;
  out.parts.subject = at[i++];
  out.parts.kid = number(at[i++]);
  if (at.size() == 8) {
    out.parts.subject2 = at[i++];
    out.parts.kid2 = number(at[i++]);
  }
  out.event_id = at[i++];
  out.field = at[i++];
  out.parts.nonce = at[i++];
  out.parts.sealed = at[i];
  if (!out.parts.kid || (at.size() == 8 && !out.parts.kid2)) return std::nullopt;
  return out;
}

// The sealed object with its binding appended: {"sealed":...,"c":"...","e":"<event id>","f":"<field>"}.
std::string json_bound(std::string_view sealed_json, std::string_view event_id, std::string_view field) {
  std::string out(sealed_json.substr(0, sealed_json.size() - 1));
  out += R"(,"e":")";
  out += event_id;
  out += R"(","f":")";
  out += field;
  out += R"("})";
  return out;
}

// The sealed text a read model keeps of a sealed JSON string value: the
// compact form, or (when an id does not fit it) the object with "e" and "f".
std::string kept_text(const rapidjson::Value& sealed, std::string_view event_id, std::string_view field) {
  if (auto compact = compact_text(parts_of(sealed), event_id, field)) return std::move(*compact);
  return json_bound(write(sealed), event_id, field);
}

rapidjson::Value string_value(std::string_view s, rapidjson::Document::AllocatorType& alloc) {
  return rapidjson::Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), alloc);
}

}  // namespace

Result<std::string> seal_personal(std::string_view type, int schema_version, std::string_view event_id,
                                  std::string_view payload, const KeyLookup& keys, const RandomFill& random) {
  const auto fields = personal_fields(type, schema_version);
  if (fields.empty()) return std::string(payload);
  rapidjson::Document doc;
  std::string buffer;
  if (auto err = json::parse_object(doc, payload, buffer)) return *err;
  auto& alloc = doc.GetAllocator();
  const auto domain = key_domain_of(type, schema_version);
  for (const auto& f : fields) {
    std::optional<DomainError> error;
    each_value(doc, f.field, [&](rapidjson::Value& value, const std::string& bound) {
      // A value sealed already is left alone: a string field cannot hold
      // an object that passes for one (the schemas say string), and a JSON
      // one is refused by its domain when it does (canonical_specs).
      if (error || value.IsNull() || is_sealed(value)) return;
      const auto subject_it = member(doc, f.subject_field);
      if (subject_it == doc.MemberEnd() || !subject_it->value.IsString()) {
        error = invalid(std::string(f.subject_field), "personal field " + std::string(f.field) +
                                                          " needs its person in " + std::string(f.subject_field));
        return;
      }
      const std::string subject(subject_it->value.GetString(), subject_it->value.GetStringLength());
      // The second person, when the schema names one and it is someone else.
      std::string subject2(member_text(doc, f.also_field));
      if (subject2 == subject) subject2.clear();
      auto key = key_for(keys, subject, subject2, f.key_domain.empty() ? domain : f.key_domain);
      Wipe wipe{key};
      if (!key.missing.empty()) {
        error = DomainError{ErrorCode::not_found, std::string(key.missing == subject ? f.subject_field : f.also_field),
                            "no key for person " + std::string(key.missing)};
        return;
      }
      if (key.erased) {  // erased, and the field only refers to them: nothing of theirs is written
        value.SetNull();
        return;
      }
      // A string is sealed as its text; any other value (a cart line's
      // specs) as its compact JSON, marked "t":"json" to come back as a value.
      const bool json_value = !value.IsString();
      const std::string plain = json_value ? write(value) : std::string(value.GetString(), value.GetStringLength());
      std::array<unsigned char, kNonceBytes> nonce{};
      random(nonce.data(), nonce.size());
      std::string sealed(plain.size() + kTagBytes, '\0');
      unsigned long long sealed_len = 0;
      const auto ad = associated_data(event_id, bound);
      crypto_aead_xchacha20poly1305_ietf_encrypt(reinterpret_cast<unsigned char*>(sealed.data()), &sealed_len,
                                                 reinterpret_cast<const unsigned char*>(plain.data()), plain.size(),
                                                 reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr,
                                                 nonce.data(), key.bytes.data());
      rapidjson::Value v(rapidjson::kObjectType);
      v.AddMember("sealed", string_value(kAlgorithm, alloc), alloc);
      v.AddMember("sub", string_value(subject, alloc), alloc);
      v.AddMember("kid", key.kid, alloc);
      if (!subject2.empty()) {
        v.AddMember("sub2", string_value(subject2, alloc), alloc);
        v.AddMember("kid2", key.kid2, alloc);
      }
      if (const auto dom = f.key_domain.empty() ? domain : f.key_domain; !dom.empty())
        v.AddMember("dom", string_value(dom, alloc), alloc);
      if (json_value) v.AddMember("t", "json", alloc);
      const auto n = to_base64(nonce.data(), nonce.size());
      const auto c = to_base64(reinterpret_cast<const unsigned char*>(sealed.data()), sealed_len);
      v.AddMember("n", string_value(n, alloc), alloc);
      v.AddMember("c", string_value(c, alloc), alloc);
      value = std::move(v);
    });
    if (error) return *error;
  }
  return write(doc);
}

namespace {

bool is_json_value(const rapidjson::Value& sealed) {
  const auto t = sealed.FindMember("t");
  return t != sealed.MemberEnd() && t->value.IsString() && std::string_view(t->value.GetString()) == "json";
}

// Puts an opened value in place of its sealed one: null once a key is gone
// (erased), the JSON value of a "t":"json" value, else the string.
std::optional<DomainError> put_opened(rapidjson::Value& value, const std::optional<std::string>& plain,
                                      std::string_view bound, rapidjson::Document::AllocatorType& alloc) {
  if (!plain) {
    value.SetNull();
    return std::nullopt;
  }
  if (!is_json_value(value)) {
    value.SetString(plain->data(), static_cast<rapidjson::SizeType>(plain->size()), alloc);
    return std::nullopt;
  }
  rapidjson::Document parsed(&alloc);
  parsed.Parse(plain->data(), plain->size());
  if (parsed.HasParseError()) return invalid(std::string(bound), "sealed " + std::string(bound) + " holds no JSON");
  value.CopyFrom(parsed, alloc);
  return std::nullopt;
}

// Opens the sealed fields of a parsed payload in place; true in `changed`
// when any field was sealed. Without keys (kKeepSealed), each sealed field
// becomes its sealed text instead (see sealed_text_of): a string in place of
// a sealed string, and the sealed object bound with "e" and "f" in place of
// a sealed JSON value (it stays a JSON value, for a jsonb column).
std::optional<DomainError> open_doc(rapidjson::Document& doc, std::span<const PersonalField> fields,
                                    std::string_view event_id, const KeyLookup& keys, bool& changed) {
  auto& alloc = doc.GetAllocator();
  std::optional<DomainError> error;
  for (const auto& f : fields) {
    each_value(doc, f.field, [&](rapidjson::Value& value, const std::string& bound) {
      if (error || !is_sealed(value)) return;  // plaintext from before sealing
      changed = true;
      if (!keys) {
        if (is_json_value(value)) {
          value.AddMember("e", string_value(event_id, alloc), alloc);
          value.AddMember("f", string_value(bound, alloc), alloc);
        } else {
          const auto text = kept_text(value, event_id, bound);
          value.SetString(text.data(), static_cast<rapidjson::SizeType>(text.size()), alloc);
        }
        return;
      }
      auto opened = open_value(value, event_id, bound, keys);
      if (!opened)
        error = opened.error();
      else
        error = put_opened(value, opened.value(), bound, alloc);
    });
    if (error) return error;
  }
  return std::nullopt;
}

void collect_subjects(rapidjson::Document& doc, std::span<const PersonalField> fields, std::vector<std::string>& out) {
  for (const auto& f : fields)
    each_value(doc, f.field, [&](rapidjson::Value& value, const std::string&) {
      if (is_sealed(value)) add_subjects(value, out);
    });
}

}  // namespace

Result<std::string> open_personal(std::string_view type, int schema_version, std::string_view event_id,
                                  std::string_view payload, const KeyLookup& keys) {
  const auto fields = personal_fields(type, schema_version);
  if (fields.empty()) return std::string(payload);
  rapidjson::Document doc;
  std::string buffer;
  if (auto err = json::parse_object(doc, payload, buffer)) return *err;
  bool changed = false;
  if (auto err = open_doc(doc, fields, event_id, keys, changed)) return *err;
  if (!changed) return std::string(payload);
  return write(doc);
}

std::vector<std::string> sealed_subjects(std::string_view type, int schema_version, std::string_view payload) {
  std::vector<std::string> out;
  const auto fields = personal_fields(type, schema_version);
  if (fields.empty()) return out;
  rapidjson::Document doc;
  std::string buffer;
  if (json::parse_object(doc, payload, buffer)) return out;
  collect_subjects(doc, fields, out);
  return out;
}

std::vector<std::optional<DomainError>> open_documents(const std::vector<SealedPayload>& items, const KeyLoader& load,
                                                       const OpenedVisitor& visit, bool every_item) {
  std::vector<std::optional<DomainError>> errors(items.size());
  // One pool for every document of the batch: a document of its own would
  // take a 64 KiB chunk each, hundreds of MiB for a batch of thousands.
  rapidjson::MemoryPoolAllocator<> pool;
  struct Parsed {
    std::size_t index;
    std::span<const PersonalField> fields;
    rapidjson::Document doc;
    std::string buffer;
  };
  std::vector<Parsed> parsed;
  parsed.reserve(items.size());  // a document's strings point into its buffer: never move one once parsed
  std::vector<std::string> subjects;
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto fields = personal_fields(items[i].type, items[i].schema_version);
    if (fields.empty() && !every_item) continue;
    auto& p = parsed.emplace_back(Parsed{i, fields, rapidjson::Document(&pool), {}});
    if (auto err = json::parse_object(p.doc, items[i].payload, p.buffer)) {
      errors[i] = *err;
      parsed.pop_back();
      continue;
    }
    if (load) collect_subjects(p.doc, p.fields, subjects);  // kept sealed (no loader): no key asked for
  }
  if (parsed.empty()) return errors;
  std::sort(subjects.begin(), subjects.end());
  subjects.erase(std::unique(subjects.begin(), subjects.end()), subjects.end());
  const KeyLookup keys = load ? load(subjects) : KeyLookup{};
  for (auto& p : parsed) {
    bool changed = false;
    if (auto err = open_doc(p.doc, p.fields, items[p.index].event_id, keys, changed)) {
      errors[p.index] = *err;
      continue;
    }
    visit(p.index, p.doc, changed);
  }
  return errors;
}

std::vector<Result<std::string>> open_personal_batch(const std::vector<SealedPayload>& items, const KeyLoader& load) {
  std::vector<std::optional<std::string>> opened(items.size());
  const auto errors = open_documents(
      items, load,
      [&](std::size_t i, rapidjson::Document& doc, bool changed) {
        if (changed) opened[i] = write(doc);
      },
      false);
  std::vector<Result<std::string>> out;
  out.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (errors[i])
      out.push_back(*errors[i]);
    else
      out.push_back(opened[i] ? std::move(*opened[i]) : std::string(items[i].payload));
  }
  return out;
}

std::string sealed_text_of(std::string_view sealed_json, std::string_view event_id, std::string_view field) {
  rapidjson::Document doc;
  doc.Parse(sealed_json.data(), sealed_json.size());
  if (doc.HasParseError() || !is_sealed(doc)) return json_bound(sealed_json, event_id, field);
  return kept_text(doc, event_id, field);
}

bool is_sealed_text(std::string_view text) {
  return text.starts_with(kCompactPrefix) || text.starts_with(kCompactDomainPrefix) ||
         text.starts_with(R"({"sealed":)");
}

namespace {

bool parse_sealed_text(std::string_view text, rapidjson::Document& doc) {
  if (!text.starts_with(R"({"sealed":)")) return false;
  doc.Parse(text.data(), text.size());
  return !doc.HasParseError() && is_sealed(doc);
}

// Parses a JSON object or array (a jsonb column); false for anything else.
bool parse_json_value(std::string_view text, rapidjson::Document& doc) {
  if (text.empty() || (text.front() != '{' && text.front() != '[')) return false;
  doc.Parse(text.data(), text.size());
  return !doc.HasParseError();
}

// Calls visit(v) for each sealed value at any depth (not looking inside one).
template <class Visit>
void each_sealed(rapidjson::Value& v, Visit&& visit) {
  if (is_sealed(v)) {
    visit(v);
  } else if (v.IsArray()) {
    for (auto& item : v.GetArray()) each_sealed(item, visit);
  } else if (v.IsObject()) {
    for (auto& m : v.GetObject()) each_sealed(m.value, visit);
  }
}

}  // namespace

std::optional<std::string> sealed_text_in(std::string_view payload, std::string_view event_id, std::string_view field) {
  rapidjson::Document doc;
  std::string buffer;
  if (json::parse_object(doc, payload, buffer)) return std::nullopt;
  const auto it = member(doc, field);
  if (it == doc.MemberEnd() || !is_sealed(it->value)) return std::nullopt;
  return kept_text(it->value, event_id, field);
}

std::vector<std::string> sealed_text_subjects(std::string_view text) {
  std::vector<std::string> out;
  if (text.starts_with(kCompactPrefix) || text.starts_with(kCompactDomainPrefix)) {
    if (const auto compact = from_compact(text)) {
      out.emplace_back(compact->parts.subject);
      if (!compact->parts.subject2.empty()) out.emplace_back(compact->parts.subject2);
      if (!compact->parts.domain.empty()) out.push_back(key_domain_subject(compact->parts.domain));
    }
    return out;
  }
  rapidjson::Document doc;
  if (!parse_json_value(text, doc)) return out;
  each_sealed(doc, [&](rapidjson::Value& v) { add_subjects(v, out); });
  return out;
}

Result<std::optional<std::string>> open_sealed_text(std::string_view text, const KeyLookup& keys) {
  if (text.starts_with(kCompactPrefix) || text.starts_with(kCompactDomainPrefix)) {
    const auto compact = from_compact(text);
    if (!compact) return invalid("sealed", "a sealed text is malformed");
    return open_parts(compact->parts, compact->event_id, compact->field, keys);
  }
  rapidjson::Document doc;
  if (!parse_sealed_text(text, doc)) return std::optional<std::string>{std::string(text)};
  return open_value(doc, text_of(doc, "e"), text_of(doc, "f"), keys);
}

Result<std::string> open_sealed_json(std::string_view text, const KeyLookup& keys) {
  rapidjson::Document doc;
  if (!parse_json_value(text, doc)) return std::string(text);
  std::optional<DomainError> error;
  bool changed = false;
  each_sealed(doc, [&](rapidjson::Value& v) {
    if (error) return;
    changed = true;
    const std::string bound(text_of(v, "f"));
    auto opened = open_value(v, text_of(v, "e"), bound, keys);
    if (!opened)
      error = opened.error();
    else
      error = put_opened(v, opened.value(), bound, doc.GetAllocator());
  });
  if (error) return *error;
  return changed ? write(doc) : std::string(text);
}

}  // namespace lethe::domain
