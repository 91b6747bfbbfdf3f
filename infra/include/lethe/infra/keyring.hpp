#pragma once
// The keyring of per-person keys in PostgreSQL (table person_keys). Keys are
// 32 random bytes for XChaCha20-Poly1305, created at a person's first event
// and never sent anywhere. Optionally wrapped by a master key that the
// database does not hold: LETHE_MASTER_KEY_FILE (a file holding 64 hex
// digits) or LETHE_MASTER_KEY (64 hex digits). A wrong master key is one
// clear error (infra::Misconfigured), checked once per process.
//
// Where the keys live: with LETHE_KEYRING_PG set, in a database of its own
// (the scripts run it on a cluster of its own), so that the data's backups,
// dumps and replicas hold no key; the keyring then keeps tombstones of the
// keys it destroyed, which a restore of the data cannot bring back. Every
// function below still takes the data's transaction (tx): it reads the
// register of erased people there, and finds the keyring from the
// connection string tx's connection was opened with (its schema has a twin
// of the same name in the keyring: each test's schema does). Unset, the keys
// sit in the data database, in tx itself.
#include <array>
#include <functional>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace lethe::infra {

struct PersonKey {
  PersonKey() = default;
  PersonKey(int id, const std::array<unsigned char, 32>& bytes) : key_id(id), key(bytes) {}
  PersonKey(const PersonKey&) = default;
  PersonKey& operator=(const PersonKey&) = default;
  ~PersonKey();  // zeroes the key: no copy of a raw key outlives its holder
  int key_id = 1;
  std::array<unsigned char, 32> key{};
};

// Keys of the given people that exist, in one query, inside tx (a
// projection's batch transaction, or a read). People without a key are
// absent from the map: never had one, or erased.
std::map<std::string, PersonKey> load_person_keys(pqxx::transaction_base& tx, const std::vector<std::string>& subjects);

// The key of a person, created (in its own committed transaction) if they
// have none yet. Concurrent callers get the same key. Throws PersonErased
// for an erased person: their key is never made again.
PersonKey ensure_person_key(pqxx::connection& conn, const std::string& subject);
// The same inside tx, which commits it with whatever else it writes (a
// command's append): a command that fails leaves no key behind.
PersonKey ensure_person_key(pqxx::transaction_base& tx, const std::string& subject);

// The person is erased: their key was destroyed and is never made again.
class PersonErased : public std::runtime_error {
 public:
  explicit PersonErased(std::string subject)
      : std::runtime_error("person " + subject + " is erased"), subject_(std::move(subject)) {}
  const std::string& subject() const noexcept { return subject_; }

 private:
  std::string subject_;
};

// Destroys a person's key inside tx (the erasure's own transaction) and
// enters them in the register of erased people (erased_persons), so that
// ensure_person_key refuses them from then on. Apart, the keyring's
// transaction (key deleted, tombstone written) commits before tx does.
// The fingerprint names the destroyed key without revealing it (hex
// BLAKE2b-128 of the raw key under a fixed context); a person who never had
// a key gets "none". found_key: a key was there to destroy (not so when an
// earlier attempt, or the keyring apart, had destroyed it already: the
// fingerprint is then the tombstone's). Throws PersonErased when they are
// in the register already.
struct DestroyedKey {
  std::string fingerprint;
  bool found_key = false;
};
DestroyedKey destroy_person_key(pqxx::transaction_base& tx, const std::string& subject, const std::string& request_id,
                                const std::string& erased_by);

// The people among `subjects` who are erased, in one query.
std::vector<std::string> erased_among(pqxx::transaction_base& tx, const std::vector<std::string>& subjects);

// The keyring's own connection string for a data connection string:
// LETHE_KEYRING_PG with the data's schema first on its search_path;
// nullopt when LETHE_KEYRING_PG is unset (keys beside the data).
std::optional<std::string> keyring_conninfo_for(const std::string& data_conninfo);

// `lethe migrate`'s part for a keyring apart: creates its tables (in the
// schema of the same name as the data connection's), and moves into it what
// the data database holds of the keyring (keys, master key versions, a
// tombstone per erased person), leaving none there. Nothing to do when the
// keys live beside the data.
struct KeyringMigration {
  bool apart = false;
  int applied = 0;
  std::size_t moved_keys = 0;
};
KeyringMigration migrate_keyring(pqxx::connection& data);

// A 32-byte key from the environment: the file named by file_var (64 hex
// digits), else the hex value of value_var; nullopt when neither is set;
// infra::Misconfigured naming `what` when it is malformed.
std::optional<std::array<unsigned char, 32>> key_from_env(const char* file_var, const char* value_var,
                                                          std::string_view what);

// The long-running processes (serve, relay, project) call this first: without
// a master key the keyring would hold every person's key unwrapped, beside
// the data it protects, so they refuse to start (infra::Misconfigured)
// unless LETHE_DEV_NO_MASTER_KEY=1 says this is development, and then warn.
void require_master_key(std::string_view process);

// Wraps every key stored unwrapped (made before a master key was set, or
// under LETHE_DEV_NO_MASTER_KEY) under the master key, a thousand per
// transaction; `progress` hears the running count after each. Returns how
// many it wrapped. Throws Misconfigured without a master key.
std::size_t rewrap_person_keys(pqxx::connection& conn, const std::function<void(std::size_t)>& progress);

// Master key versions. LETHE_MASTER_KEY_FILE holds one line per version,
// "N:<64 hex digits>" (a bare line of hex digits is version 1); the highest
// is current: new keys are wrapped under it. rotate_master_key adds a new
// random version to the file, rewraps every key under it (a thousand per
// transaction; `progress` hears the running count), retires the older
// versions, and destroys those retired more than retention_days ago that
// no key uses any more: removed from the file, so that a backup whose keys
// are wrapped only under destroyed versions opens nothing. Processes that
// meet a version they do not know read the file again.
struct RotationReport {
  int version = 0;
  std::size_t rewrapped = 0;
  std::vector<int> retired, destroyed;
};
RotationReport rotate_master_key(pqxx::connection& conn, int retention_days,
                                 const std::function<void(std::size_t)>& progress);
// LETHE_MASTER_RETENTION_DAYS (default 30): how long a retired version is
// kept; LETHE_MASTER_ROTATION_DAYS (default 30): how often rotate-master is
// meant to run (from cron).
int master_retention_days();
int master_rotation_days();
// Until when a backup taken now could still open a key: the newest
// version is rotated out a rotation period after it was made (or now, when
// overdue), and destroyed by the first rotation after its retention window
// ends, at most one period later. RFC 3339 UTC; nullopt without a master
// key (keys unwrapped: no bound).
std::optional<std::string> readable_in_backups_until(pqxx::transaction_base& tx);

// Zeroes n bytes at p in a way the compiler keeps (libsodium): for raw keys
// that are dropped.
void wipe(void* p, std::size_t n);

// Fills buf with random bytes (libsodium), for nonces.
void random_bytes(unsigned char* buf, std::size_t n);

}  // namespace lethe::infra
