#pragma once
// Personal data in an immutable log: every payload field that the event
// schemas mark x-personal is sealed under its person's own key before the
// append (XChaCha20-Poly1305, a random nonce, the event id and field name as
// associated data, so a sealed value cannot be moved to another event or
// field), and opened on the way out. Destroying a person's key makes every
// copy of their data unreadable at once; such a field opens as JSON null,
// which decoders turn into the erased() value.
//
// A sealed value is self-describing, in place of the string:
//   {"sealed":"xchacha20poly1305","sub":"<person id>","kid":1,"n":"<nonce>","c":"<ciphertext+tag>"}
// (base64). A personal value that is not a string (a cart line's specs) is
// sealed as its compact JSON text, marked "t":"json", and opens as a value.
// A field of an array's items ("lines[].selected_specs") is bound to its
// item ("lines[2].selected_specs"). Pure: keys and randomness come in from
// the caller.
#include <array>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lethe/domain/result.hpp"

namespace lethe::domain {

// One personal field of one event type and schema version, and the payload
// field that holds the id of the person it belongs to. A text about two
// people (a staff reply on a customer's ticket) names the second in
// also_field ("x-personal": {"subject": ..., "also": ...}): it is sealed
// under a key derived from both people's keys, so that erasing either
// makes it unreadable; "" for one person (or when both are the same).
struct PersonalField {
  std::string_view type;
  int schema_version;
  std::string_view field;
  std::string_view subject_field;
  std::string_view also_field = {};
  // The field's own key domain ("x-personal": {..., "domain": "credentials"}),
  // whatever its event's topic: "" for the topic's (key_domain_of).
  std::string_view key_domain = {};
};

// Every personal field, generated at build time from schemas/events
// (cmake/embed_personal_fields.cmake): the schemas are the one declaration.
// The generated table lists each schema's fields together, so one type and
// version's fields are a contiguous run of it: no allocation per lookup.
const std::vector<PersonalField>& all_personal_fields();
std::span<const PersonalField> personal_fields(std::string_view type, int schema_version);

inline constexpr std::size_t kPersonKeyBytes = 32;

struct KeyRef {
  int key_id = 0;
  // kPersonKeyBytes; nullptr: the person is erased and may be named (see
  // PersonRef), so seal_personal writes their fields as null.
  const unsigned char* key = nullptr;
};
// The key of a person, or nullopt when they have none (erased).
using KeyLookup = std::function<std::optional<KeyRef>(std::string_view subject)>;
using RandomFill = std::function<void(unsigned char*, std::size_t)>;

// A lookup over a map from person id to a key record with key_id and key
// (kPersonKeyBytes bytes, .data()). The map must outlive the lookup.
template <class Map>
KeyLookup lookup_in(const Map& keys) {
  return [&keys](std::string_view subject) -> std::optional<KeyRef> {
    const auto it = keys.find(std::string(subject));
    if (it == keys.end()) return std::nullopt;
    return KeyRef{it->second.key_id, it->second.key.data()};
  };
}

// Seals the personal fields of a payload. Fails if a subject field is
// missing or a person has no key. Fields already sealed are left as they are.
Result<std::string> seal_personal(std::string_view type, int schema_version, std::string_view event_id,
                                  std::string_view payload, const KeyLookup& keys, const RandomFill& random);

// Opens the sealed fields: plaintext where the key is known, null where it
// is not (the person was erased). A sealed value that does not authenticate
// (tampered, or moved from another event or field) is an error.
Result<std::string> open_personal(std::string_view type, int schema_version, std::string_view event_id,
                                  std::string_view payload, const KeyLookup& keys);

// The people whose keys open_personal() will ask for, from the sealed values.
std::vector<std::string> sealed_subjects(std::string_view type, int schema_version, std::string_view payload);

// Opens many payloads with one key load: each payload is parsed once, the
// people their sealed values name are gathered, `load` is called once with
// them (sorted, unique) and returns the lookup, and every payload is opened.
// Returns, per item, the opened payload (as it was when nothing in it is
// sealed) or why it could not be opened.
struct SealedPayload {
  std::string_view type;
  int schema_version = 1;
  std::string_view event_id;
  std::string_view payload;
};
using KeyLoader = std::function<KeyLookup(const std::vector<std::string>& subjects)>;
std::vector<Result<std::string>> open_personal_batch(const std::vector<SealedPayload>& items, const KeyLoader& load);

// Read models keep personal values sealed (the PostgreSQL heap, WAL,
// backups and replicas hold ciphertext only) and open them when a query
// answers. A decoder given kKeepSealed as its KeyLoader opens nothing: each
// sealed string decodes to its sealed text, which a projection stores as it
// is: "~s1:" and the sealed object's parts with the event id and field it
// is bound to, joined by ':' (the object itself with "e":"<event id>",
// "f":"<field>" appended when an id or the field holds a ':'); see
// docs/sealed-format.md. Needs no key.
inline const KeyLoader kKeepSealed = nullptr;
// A sealed JSON value (a cart line's specs, "t":"json") stays an object in
// the decoded payload, bound with "e" and "f" members, so a jsonb column
// holds it, alone or inside a larger value (an order's lines).
std::string sealed_text_of(std::string_view sealed_json, std::string_view event_id, std::string_view field);
// Whether a text is a sealed text, in either form.
bool is_sealed_text(std::string_view text);
// The sealed text of one top-level field of a stored payload (as the event
// store holds it), for a table that keeps it beside the write side's rows
// (an API key's name); nullopt when the field is absent or not sealed.
std::optional<std::string> sealed_text_in(std::string_view payload, std::string_view event_id, std::string_view field);
// The people whose keys open_sealed_text() or open_sealed_json() needs: of
// every sealed value in the text, at any depth (none for a text that is not
// sealed).
std::vector<std::string> sealed_text_subjects(std::string_view text);
// The plaintext of a sealed text; nullopt once a person's key is gone
// (erased); a text that is not sealed (written before its field was
// personal) as it is; an error when it does not authenticate.
Result<std::optional<std::string>> open_sealed_text(std::string_view text, const KeyLookup& keys);
// A JSON text (a jsonb column) with every sealed value in it, at any depth,
// opened: a string as a string, a "t":"json" value as its value, either as
// null once its person's key is gone; a text with nothing sealed as it is.
Result<std::string> open_sealed_json(std::string_view text, const KeyLookup& keys);

// Key domains. Personal values of events on the restricted staff topic
// (internal notes) are sealed in the key domain "staff": in place of each
// person's key, their domain key, keyed BLAKE2b-256 of the domain's name,
// a zero byte and the domain's secret under the person's key. The secret is
// a key of the keyring under the reserved subject "~domain:staff", never a
// person's, never erased. A service given a person's key for the users
// topic cannot compute their staff key; erasing the person still destroys
// both. Such a sealed value names its domain ("dom":"staff"). See
// docs/sealed-format.md.
inline constexpr std::string_view kStaffKeyDomain = "staff";
// The key domain of secrets that are personal but never leave lethe (a
// password hash): no key release opens it.
inline constexpr std::string_view kCredentialsKeyDomain = "credentials";
// The key domain of an event type's values: "staff" for a type on the staff
// topic, "" (the person's own key) for every other.
std::string_view key_domain_of(std::string_view type, int schema_version);
// The key domain of a topic, as key_domain_of() decides it.
std::string_view key_domain_of_topic(std::string_view topic);
// The keyring subject that holds a key domain's secret.
std::string key_domain_subject(std::string_view domain);
// A person's key in a key domain (kPersonKeyBytes each).
std::array<unsigned char, kPersonKeyBytes> domain_key(const unsigned char* person_key, std::string_view domain,
                                                      const unsigned char* domain_secret);

// The payload fields that name a person by id, in every domain: a command
// that names an erased person is refused (unless the field only refers to
// them, below), and a projection that meets an event naming one applies its
// erasure policy for them (erasure is sticky).
inline constexpr std::string_view kPersonIdFields[] = {
    "user_id",  "requester_id", "assignee_id", "previous_assignee_id", "author_id",
    "owner_id", "recipient_id", "created_by",  "from_user_id",         "to_user_id",
};
// Calls found(field, id) for each person field (kPersonIdFields) of a
// payload that holds an id, at any depth (objects in arrays included); a
// payload that is not JSON names nobody.
void named_people(std::string_view payload, const std::function<void(std::string_view, std::string_view)>& found);

// A person field that refers to the person already on the record the event
// changes (a refund's user_id: the charge's; a deleted post's author_id),
// listed in the schema's "x-refers". It ties nobody to anything anew, so the
// erasure fence lets it name an erased person: the business goes on with
// their records. Personal fields sealed under such a person are written as
// null once they are erased (there is no key to seal them under, and new
// personal data of theirs is exactly what must not be written).
struct PersonRef {
  std::string_view type;
  int schema_version;
  std::string_view field;
};
// Generated at build time from the schemas' "x-refers", like
// all_personal_fields().
const std::vector<PersonRef>& all_person_refs();
bool refers(std::string_view type, int schema_version, std::string_view field);

// What a personal field decodes to once its person's key is gone. Holds a
// NUL, which no stored text may contain, so it never equals real data.
const std::string& erased();
inline bool is_erased(std::string_view s) {
  return s == erased();
}

}  // namespace lethe::domain
