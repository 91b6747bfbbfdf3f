#include "lethe/infra/keyring.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>

#include "lethe/infra/errors.hpp"
#include "lethe/infra/ids.hpp"
#include "lethe/infra/migrations.hpp"
#include "lethe/infra/pg.hpp"

namespace lethe::infra {

namespace {

constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr std::string_view kCheckText = "lethe keyring check v1";

constexpr const char* kLoadSql =
    "SELECT DISTINCT ON (subject) subject, key_id, key_material, wrapped, master_version FROM person_keys"
    " WHERE subject = ANY($1::text[]) ORDER BY subject, key_id DESC";
// A key is never made for an erased person: REGISTER is read by the same
// statement (erased_persons beside the data, where the erasure deletes the
// key row and enters the register in one transaction; key_tombstones
// apart). Nor under a retired master version (a process that has not read
// the file since a rotation): it reads the file again and wraps anew.
#define LETHE_CREATE_KEY_SQL(REGISTER)                                                                \
  "INSERT INTO person_keys (subject, key_id, key_material, wrapped, master_version)"                  \
  " SELECT $1, 1, $2, $3, NULLIF($4::int, 0) WHERE NOT EXISTS (SELECT 1 FROM " REGISTER               \
  " WHERE subject = $1)"                                                                              \
  " AND NOT EXISTS (SELECT 1 FROM master_key_versions WHERE version = $4 AND retired_at IS NOT NULL)" \
  " ON CONFLICT (subject, key_id) DO NOTHING"
constexpr const char* kCreateSql = LETHE_CREATE_KEY_SQL("erased_persons");
// Apart (LETHE_KEYRING_PG): the keyring keeps its own register of
// destroyed keys (key_tombstones), so a key is never made again for an
// erased person even when the data's register was restored from before
// their erasure. Creator and destroyer of one person's key serialise on a
// lock of their own in the keyring.
constexpr const char* kCreateApartSql = LETHE_CREATE_KEY_SQL("key_tombstones");
#undef LETHE_CREATE_KEY_SQL
constexpr const char* kSubjectLockSql = "SELECT pg_advisory_xact_lock(hashtextextended('lethe-key:' || $1, 0))";
constexpr const char* kTombstoneSql = "SELECT fingerprint FROM key_tombstones WHERE subject = $1";
constexpr const char* kBuryKeySql = "INSERT INTO key_tombstones (subject, fingerprint, request_id) VALUES ($1, $2, $3)";
constexpr const char* kErasedSql = "SELECT subject FROM erased_persons WHERE subject = ANY($1::text[])";
constexpr const char* kLockKeysSql =
    "SELECT key_id, key_material, wrapped, master_version FROM person_keys WHERE subject = $1 ORDER BY key_id"
    " FOR UPDATE";
constexpr const char* kDeleteKeysSql = "DELETE FROM person_keys WHERE subject = $1";
constexpr const char* kRegisterSql =
    "INSERT INTO erased_persons (subject, request_id, key_fingerprint, erased_by) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (subject) DO NOTHING";
constexpr std::string_view kFingerprintContext = "lethe key fingerprint v1";
constexpr const char* kChecksSql = "SELECT version, check_sealed FROM master_key_versions WHERE destroyed_at IS NULL";
constexpr const char* kWrappedSql = "SELECT EXISTS (SELECT 1 FROM person_keys WHERE wrapped) AS any_wrapped";
constexpr const char* kCreateCheckSql =
    "INSERT INTO master_key_versions (version, check_sealed) VALUES ($1, $2) ON CONFLICT DO NOTHING";
constexpr std::string_view kCheckAd = "keyring_check";

// The keyring apart is made by the same migrations that make it beside the
// data (its keys, then its master key versions), and one of its own: the
// tombstones of destroyed keys.
constexpr const char* kTombstonesSql = R"sql(
-- One row per erased person whose keys were destroyed here: no key is made
-- for them again, whatever a restored data database says, and a retried
-- erasure learns the fingerprint of what was destroyed.
CREATE TABLE key_tombstones (
  subject     text        PRIMARY KEY,
  fingerprint text        NOT NULL,
  request_id  text        NOT NULL,
  buried_at   timestamptz NOT NULL DEFAULT now()
);
)sql";

void ensure_sodium() {
  static const int ready = sodium_init();
  if (ready < 0) throw std::runtime_error("libsodium failed to initialise");
}

using Key32 = std::array<unsigned char, 32>;

Key32 key_of_hex(std::string_view hex, std::string_view what) {
  Key32 key{};
  std::size_t n = 0;
  if (hex.size() != 64 || sodium_hex2bin(key.data(), key.size(), hex.data(), hex.size(), nullptr, &n, nullptr) != 0 ||
      n != key.size())
    throw Misconfigured(std::string(what) + ": expected 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`");
  return key;
}

// The master key ring as the file or the variable gives it: one line per
// version, "N:<hex>", or a bare "<hex>" for version 1.
std::map<int, Key32> parse_ring(const std::string& text, std::string_view what) {
  std::map<int, Key32> ring;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    line = line.substr(first, line.find_last_not_of(" \t\r") - first + 1);
    int version = 1;
    std::string hex = line;
    if (const auto colon = line.find(':'); colon != std::string::npos) {
      try {
        version = std::stoi(line.substr(0, colon));
      } catch (const std::exception&) {
        version = 0;
      }
      if (version < 1) throw Misconfigured(std::string(what) + ": a line is \"<version>:<64 hex digits>\"");
      hex = line.substr(colon + 1);
    }
    if (!ring.emplace(version, key_of_hex(hex, what)).second)
      throw Misconfigured(std::string(what) + ": version " + std::to_string(version) + " is listed twice");
  }
  return ring;
}

std::optional<std::string> master_text() {
  if (const char* file = std::getenv("LETHE_MASTER_KEY_FILE"); file && *file) {
    std::ifstream in(file);
    if (!in) throw Misconfigured(std::string("LETHE_MASTER_KEY_FILE: cannot read ") + file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  if (const char* value = std::getenv("LETHE_MASTER_KEY"); value && *value) return std::string(value);
  return std::nullopt;
}

// The master key versions this process knows, read once and again when a
// key names a version it lacks (another process rotated); empty when no
// master key is set.
struct MasterRing {
  MasterRing() = default;
  MasterRing(const MasterRing&) = default;
  MasterRing& operator=(const MasterRing&) = delete;
  ~MasterRing() {
    for (auto& [version, key] : keys) sodium_memzero(key.data(), key.size());
  }
  std::map<int, Key32> keys;
  bool empty() const noexcept { return keys.empty(); }
  int current() const { return keys.rbegin()->first; }
  const Key32* find(int version) const {
    const auto it = keys.find(version);
    return it == keys.end() ? nullptr : &it->second;
  }
};

std::mutex& ring_mutex() {
  static std::mutex m;
  return m;
}
std::shared_ptr<const MasterRing>& ring_slot() {
  static std::shared_ptr<const MasterRing> ring;
  return ring;
}

std::shared_ptr<const MasterRing> load_ring() {
  auto ring = std::make_shared<MasterRing>();
  if (const auto text = master_text()) {
    ring->keys = parse_ring(*text, "master key");
    if (ring->keys.empty()) throw Misconfigured("master key: the file holds no key");
  }
  return ring;
}

// The ring, read on first use; reload: read again (after a rotation).
std::shared_ptr<const MasterRing> master_ring(bool reload = false) {
  std::lock_guard lock(ring_mutex());
  auto& slot = ring_slot();
  if (!slot || reload) slot = load_ring();
  return slot;
}

// The key of a version, reading the file again once if this process does
// not know it yet.
const Key32& master_version_key(std::shared_ptr<const MasterRing>& ring, int version, const std::string& whose) {
  if (const auto* k = ring->find(version)) return *k;
  ring = master_ring(true);
  if (const auto* k = ring->find(version)) return *k;
  throw Misconfigured("the key of " + whose + " is wrapped under master key version " + std::to_string(version) +
                      ", which the master key file does not hold (destroyed after its retention, or another file)");
}

std::string seal(const std::array<unsigned char, 32>& master, std::string_view plain, std::string_view ad) {
  std::string out(kNonce + plain.size() + kTag, '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(nonce, kNonce);
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + kNonce, &len, reinterpret_cast<const unsigned char*>(plain.data()),
                                             plain.size(), reinterpret_cast<const unsigned char*>(ad.data()), ad.size(),
                                             nullptr, nonce, master.data());
  return out;
}

std::optional<std::string> open(const std::array<unsigned char, 32>& master, std::string_view sealed,
                                std::string_view ad) {
  if (sealed.size() < kNonce + kTag) return std::nullopt;
  std::string out(sealed.size() - kNonce - kTag, '\0');
  unsigned long long len = 0;
  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data());
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(out.data()), &len, nullptr, nonce + kNonce, sealed.size() - kNonce,
          reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nonce, master.data()) != 0)
    return std::nullopt;
  out.resize(len);
  return out;
}

std::string key_ad(const std::string& subject, int key_id) {
  return subject + '\0' + std::to_string(key_id);
}

std::string bytes_of(const pqxx::field& f) {
  const pqxx::binarystring b(f);
  return b.str();
}

// Writes the ring to the master key file: a new file of a unique name in the
// same folder (mkstemp: never one that exists, never through a link), with
// the old file's owner and mode (owner-only when there was none), flushed,
// renamed over the file a link may point to, and the folder flushed, so that
// after a crash the file is the old one or the new one, never half of it.
void write_master_file(const std::string& file, const MasterRing& ring) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path path = fs::exists(file, ec) ? fs::canonical(file, ec) : fs::path(file);
  if (ec) throw Misconfigured("cannot resolve " + file + ": " + ec.message());
  std::string tmp = (path.parent_path() / (".lethe-master-XXXXXX")).string();
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) throw Misconfigured("cannot create a file beside " + path.string());
  std::string text;
  for (const auto& [version, key] : ring.keys) {
    std::array<char, 65> hex{};
    sodium_bin2hex(hex.data(), hex.size(), key.data(), key.size());
    text += std::to_string(version) + ":" + hex.data() + "\n";
    sodium_memzero(hex.data(), hex.size());
  }
  struct stat old {};
  const bool had = ::stat(path.c_str(), &old) == 0;
  bool ok =
      ::fchmod(fd, had ? (old.st_mode & 07777) : 0600) == 0 && (!had || ::fchown(fd, old.st_uid, old.st_gid) == 0);
  ok = ok && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  sodium_memzero(text.data(), text.size());
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw Misconfigured("cannot replace " + path.string());
  }
  if (const int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY); dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

// Checks once per process that the master key versions (if any) open this
// keyring, and that a keyring with wrapped keys is not used without them.
// The first key made under a new version records its check.
void check_master(pqxx::transaction_base& tx, bool may_write) {
  static std::atomic<bool> checked{false};
  if (checked.load()) return;
  auto ring = master_ring();
  const auto checks = tx.exec(kChecksSql);
  if (ring->empty()) {
    if (!checks.empty() || tx.exec(kWrappedSql)[0]["any_wrapped"].as<bool>())
      throw Misconfigured(
          "the keyring is wrapped by a master key; set LETHE_MASTER_KEY_FILE (or LETHE_MASTER_KEY) to it");
    checked.store(true);
    return;
  }
  bool current_checked = false;
  for (const auto& row : checks) {
    const int version = row["version"].as<int>();
    const auto* key = ring->find(version);
    if (!key && version > ring->current()) {
      ring = master_ring(true);  // rotated by another process since this one read the file
      key = ring->find(version);
    }
    if (!key && version > ring->current())
      throw Misconfigured("the master key file lacks version " + std::to_string(version) +
                          ", the newest this keyring knows: the master key was rotated with another copy of the "
                          "file; give this process the new one");
    if (!key) continue;  // retired, kept in the database's record, not in this file: keys under it fail alone
    const auto opened = open(*key, bytes_of(row["check_sealed"]), kCheckAd);
    if (!opened || *opened != kCheckText)
      throw Misconfigured("wrong master key: version " + std::to_string(version) +
                          " of LETHE_MASTER_KEY_FILE / LETHE_MASTER_KEY does not open this keyring (it was created "
                          "under another master key)");
    current_checked = current_checked || version == ring->current();
  }
  // Nothing to check the current version against yet: the first key made
  // under it writes its check. A reader goes on; each wrapped key still
  // fails to open under a wrong master key, with its own error.
  if (!current_checked && may_write)
    tx.exec_params(kCreateCheckSql, ring->current(),
                   pqxx::binarystring(seal(ring->keys.at(ring->current()), kCheckText, kCheckAd)));
  checked.store(true);
}

// A stored key opened: raw, or wrapped under master key `version` (NULL in
// the row: version 1, wrapped before versions were recorded).
PersonKey unwrap(const std::string& subject, int key_id, const std::string& material, bool wrapped,
                 std::optional<int> version) {
  PersonKey k;
  k.key_id = key_id;
  std::string raw = material;
  if (wrapped) {
    auto ring = master_ring();
    if (ring->empty()) throw Misconfigured("the key of " + subject + " is wrapped, and no master key is set");
    const auto& master = master_version_key(ring, version.value_or(1), subject);
    auto opened = open(master, material, key_ad(subject, key_id));
    if (!opened) throw Misconfigured("the key of " + subject + " does not open under the master key");
    raw = *opened;
    sodium_memzero(opened->data(), opened->size());
  }
  if (raw.size() != k.key.size()) throw Misconfigured("the key of " + subject + " has the wrong length");
  std::copy(raw.begin(), raw.end(), k.key.begin());
  sodium_memzero(raw.data(), raw.size());
  return k;
}

PersonKey unwrap_row(const std::string& subject, const pqxx::row& r) {
  auto material = bytes_of(r["key_material"]);
  auto k = unwrap(subject, r["key_id"].as<int>(), material, r["wrapped"].as<bool>(),
                  r["master_version"].is_null() ? std::nullopt : std::optional<int>(r["master_version"].as<int>()));
  sodium_memzero(material.data(), material.size());
  return k;
}

// This thread's connection to a keyring apart, one per connection string
// (a test process meets one schema per test; the oldest are closed past a
// handful).
struct KeyringConnections {
  std::map<std::string, std::unique_ptr<pqxx::connection>> open;
  std::vector<std::string> order;
};
KeyringConnections& keyring_connections() {
  thread_local KeyringConnections conns;
  return conns;
}

pqxx::connection& keyring_connection(const std::string& conninfo) {
  auto& conns = keyring_connections();
  auto& c = conns.open[conninfo];
  if (c && peer_closed(*c)) c.reset();  // the keyring's server restarted: connect again
  if (!c) {
    c = connect(conninfo, "lethe-keyring");
    if (std::find(conns.order.begin(), conns.order.end(), conninfo) == conns.order.end())
      conns.order.push_back(conninfo);
    constexpr std::size_t kKept = 8;
    while (conns.order.size() > kKept) {
      conns.open.erase(conns.order.front());
      conns.order.erase(conns.order.begin());
    }
  }
  return *conns.open.at(conninfo);
}

void drop_keyring_connection(const std::string& conninfo) {
  auto& conns = keyring_connections();
  conns.open.erase(conninfo);
  std::erase(conns.order, conninfo);
}

// Once per process, that the data database agrees with where this process
// looks for keys. Apart: keys left in the data database would be invisible,
// and people would get second keys. Beside: a database whose keyring moved
// apart (keyring_location, written by migrate_keyring) would get second
// keys of people whose keys live in the other database.
void check_location(pqxx::transaction_base& data_tx, bool apart) {
  static std::atomic<bool> checked{false};
  if (checked.load()) return;
  if (apart && data_tx.exec("SELECT EXISTS (SELECT 1 FROM person_keys)")[0][0].as<bool>())
    throw Misconfigured(
        "LETHE_KEYRING_PG names a keyring of its own, and this database still holds person keys; run `lethe "
        "migrate` to move them there");
  if (!apart && data_tx.exec("SELECT EXISTS (SELECT 1 FROM keyring_location WHERE apart)")[0][0].as<bool>())
    throw Misconfigured(
        "this database's keyring was moved to a database of its own (lethe migrate with LETHE_KEYRING_PG); set "
        "LETHE_KEYRING_PG to it");
  checked.store(true);
}

// Where a data connection string's keys live, remembered for the last one
// asked on this thread (each lookup would otherwise parse it again).
std::optional<std::string> keyring_of_conninfo(const std::string& data_conninfo) {
  thread_local std::string last_data, last_base;
  thread_local std::optional<std::string> last;
  const char* base = std::getenv("LETHE_KEYRING_PG");
  const std::string base_now = base ? base : "";
  if (data_conninfo != last_data || base_now != last_base || last_data.empty()) {
    last = keyring_conninfo_for(data_conninfo);
    last_data = data_conninfo;
    last_base = base_now;
  }
  return last;
}

// Runs fn(ktx, apart) on the keyring's side of data_tx: data_tx itself
// when the keys live beside the data, else a transaction of this thread's
// keyring connection, committed when fn returns (and rolled back when it
// throws).
// What only reads (read_only: no locks, no writes) runs without a
// transaction of its own on the keyring: its one statement is one round
// trip instead of three (BEGIN, it, COMMIT), and each statement has its own
// snapshot, as under READ COMMITTED before.
template <class Fn>
auto on_keyring(pqxx::transaction_base& data_tx, Fn&& fn, bool read_only = false) {
  const auto apart = keyring_of_conninfo(conninfo_of(data_tx.conn()));
  check_location(data_tx, apart.has_value());
  if (!apart) return fn(data_tx, false);
  try {
    if (read_only) {
      pqxx::nontransaction ktx(keyring_connection(*apart));
      return fn(static_cast<pqxx::transaction_base&>(ktx), true);
    }
    pqxx::work ktx(keyring_connection(*apart));
    auto out = fn(static_cast<pqxx::transaction_base&>(ktx), true);
    ktx.commit();
    return out;
  } catch (const pqxx::broken_connection&) {
    drop_keyring_connection(*apart);
    rethrow_pg("the keyring");
  } catch (const pqxx::in_doubt_error& e) {
    // The keyring's commit, not the data's: the data transaction has not
    // committed, so the command fails as a whole (and a retry finds the
    // keyring as it was left: a key made, or a tombstone written).
    drop_keyring_connection(*apart);
    throw Unavailable("the keyring's commit is in doubt (" + first_line(e.what()) + "); nothing was stored");
  } catch (const pqxx::undefined_table&) {
    rethrow_pg("the keyring");
  }
}

// The connection that holds conn's keys: conn itself, or this thread's
// keyring connection.
pqxx::connection& keyring_of(pqxx::connection& conn) {
  const auto apart = keyring_of_conninfo(conninfo_of(conn));
  {
    pqxx::read_transaction data_tx(conn);
    check_location(data_tx, apart.has_value());
  }
  return apart ? keyring_connection(*apart) : conn;
}

// The keys of the subjects found in the keyring's transaction ktx.
std::map<std::string, PersonKey> keys_in(pqxx::transaction_base& ktx, const std::vector<std::string>& subjects) {
  check_master(ktx, false);
  std::map<std::string, PersonKey> out;
  if (subjects.empty()) return out;
  for (const auto& r : exec_hot(ktx, kLoadSql, pg_text_array(subjects))) {
    const std::string subject = r["subject"].c_str();
    out[subject] = unwrap_row(subject, r);
  }
  return out;
}

// Rewraps, a thousand per transaction, every key the condition selects
// (SQL over person_keys) under the current master version.
std::size_t rewrap_where(pqxx::connection& conn, const std::string& condition,
                         const std::function<void(std::size_t)>& progress) {
  constexpr int kBatch = 1000;
  std::size_t done = 0;
  for (;;) {
    pqxx::work tx(conn);
    check_master(tx, true);
    auto ring = master_ring();
    const int current = ring->current();
    const auto rows =
        tx.exec_params("SELECT subject, key_id, key_material, wrapped, master_version FROM person_keys WHERE " +
                           condition + " ORDER BY subject, key_id LIMIT $1 FOR UPDATE SKIP LOCKED",
                       kBatch, current);
    for (const auto& r : rows) {
      const std::string subject = r["subject"].c_str();
      auto k = unwrap_row(subject, r);
      std::string raw(reinterpret_cast<const char*>(k.key.data()), k.key.size());
      tx.exec_params(
          "UPDATE person_keys SET key_material = $3, wrapped = true, master_version = $4"
          " WHERE subject = $1 AND key_id = $2",
          subject, k.key_id, pqxx::binarystring(seal(ring->keys.at(current), raw, key_ad(subject, k.key_id))), current);
      sodium_memzero(raw.data(), raw.size());
      sodium_memzero(k.key.data(), k.key.size());
    }
    tx.commit();
    done += rows.size();
    if (progress) progress(done);
    if (rows.size() < static_cast<std::size_t>(kBatch)) return done;
  }
}

int env_days(const char* var, int fallback) {
  const char* v = std::getenv(var);
  if (!v || !*v) return fallback;
  try {
    const int days = std::stoi(v);
    if (days >= 0) return days;
  } catch (const std::exception&) {
  }
  throw Misconfigured(std::string(var) + ": expected a number of days (0 or more)");
}

}  // namespace

std::optional<std::array<unsigned char, 32>> key_from_env(const char* file_var, const char* value_var,
                                                          std::string_view what) {
  std::string hex;
  if (const char* file = std::getenv(file_var); file && *file) {
    std::ifstream in(file);
    if (!in) throw Misconfigured(std::string(file_var) + ": cannot read " + file);
    in >> hex;
  } else if (const char* value = std::getenv(value_var); value && *value) {
    hex = value;
  } else {
    return std::nullopt;
  }
  return key_of_hex(hex, what);
}

std::size_t rewrap_person_keys(pqxx::connection& conn, const std::function<void(std::size_t)>& progress) {
  ensure_sodium();
  if (master_ring()->empty())
    throw Misconfigured("keys rewrap: no master key; set LETHE_MASTER_KEY_FILE to the key to wrap them under");
  // $2 (the current version) is not needed by this condition; it keeps one statement shape.
  return rewrap_where(keyring_of(conn), "NOT wrapped AND $2::int IS NOT NULL", progress);
}

int master_retention_days() {
  return env_days("LETHE_MASTER_RETENTION_DAYS", 30);
}
int master_rotation_days() {
  return env_days("LETHE_MASTER_ROTATION_DAYS", 30);
}

RotationReport rotate_master_key(pqxx::connection& data_conn, int retention_days,
                                 const std::function<void(std::size_t)>& progress) {
  ensure_sodium();
  pqxx::connection& conn = keyring_of(data_conn);
  const char* file = std::getenv("LETHE_MASTER_KEY_FILE");
  if (!file || !*file)
    throw Misconfigured(
        "keys rotate-master: LETHE_MASTER_KEY_FILE must name the master key file (a new version is added to it)");
  const std::string path = file;
  // One rotation at a time: a second waits for the first, then reads the
  // file it wrote (two at once would each write their own version N+1).
  struct RotationLock {
    pqxx::connection& conn;
    explicit RotationLock(pqxx::connection& c) : conn(c) {
      pqxx::nontransaction(conn).exec("SELECT pg_advisory_lock(hashtextextended('lethe-master-rotation', 0))");
    }
    ~RotationLock() {
      try {
        pqxx::nontransaction(conn).exec("SELECT pg_advisory_unlock(hashtextextended('lethe-master-rotation', 0))");
      } catch (const std::exception&) {
        // the session's end releases it
      }
    }
  } lock(conn);
  auto ring = load_ring();
  if (ring->empty()) throw Misconfigured("keys rotate-master: the master key file holds no key");
  // The new version, written to the file before any key is wrapped under it
  // (so every process that meets a key under it can read it), and above
  // every version the keyring has recorded.
  RotationReport report;
  {
    pqxx::read_transaction tx(conn);
    const int recorded = tx.exec("SELECT coalesce(max(version), 0) FROM master_key_versions")[0][0].as<int>();
    report.version = std::max(ring->current(), recorded) + 1;
  }
  Key32 fresh{};
  randombytes_buf(fresh.data(), fresh.size());
  auto next = std::make_shared<MasterRing>(*ring);
  next->keys.emplace(report.version, fresh);
  sodium_memzero(fresh.data(), fresh.size());
  write_master_file(path, *next);
  master_ring(true);
  {
    pqxx::work tx(conn);
    check_master(tx, true);
    tx.exec_params(kCreateCheckSql, report.version,
                   pqxx::binarystring(seal(next->keys.at(report.version), kCheckText, kCheckAd)));
    tx.commit();
  }
  report.rewrapped = rewrap_where(conn, "master_version IS DISTINCT FROM $2", progress);
  pqxx::work tx(conn);
  for (const auto& r :
       tx.exec_params("UPDATE master_key_versions SET retired_at = now() WHERE version < $1 AND retired_at IS NULL"
                      " RETURNING version",
                      report.version))
    report.retired.push_back(r[0].as<int>());
  // Destroyed: retired longer than the window, and no key still under it
  // (one wrapped meanwhile by a process that had not read the new version
  // keeps its version until the next rotation).
  for (const auto& r : tx.exec_params(
           "UPDATE master_key_versions v SET destroyed_at = now() WHERE destroyed_at IS NULL AND version < $1"
           " AND retired_at <= now() - make_interval(days => $2)"
           " AND NOT EXISTS (SELECT 1 FROM person_keys k WHERE k.wrapped AND coalesce(k.master_version, 1) = v.version)"
           " RETURNING version",
           report.version, retention_days))
    report.destroyed.push_back(r[0].as<int>());
  if (!report.destroyed.empty()) {
    auto kept = std::make_shared<MasterRing>(*next);
    for (const int v : report.destroyed) {
      sodium_memzero(kept->keys.at(v).data(), kept->keys.at(v).size());
      kept->keys.erase(v);
    }
    // The database says destroyed only once the file no longer holds it.
    write_master_file(path, *kept);
    master_ring(true);
  }
  tx.commit();
  return report;
}

std::optional<std::string> readable_in_backups_until(pqxx::transaction_base& tx) {
  if (master_ring()->empty()) return std::nullopt;
  // The newest version the keyring knows (this process may not have read
  // the file since a rotation): rotated out when due, then destroyed by the
  // first rotation after its retention window: one period more at most.
  return on_keyring(tx, [](pqxx::transaction_base& ktx, bool) {
    const auto r = ktx.exec_params(
        "SELECT to_char((greatest(coalesce((SELECT created_at FROM master_key_versions WHERE destroyed_at IS NULL"
        " ORDER BY version DESC LIMIT 1), now()) + make_interval(days => $1), now())"
        " + make_interval(days => $2 + $1)) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
        master_rotation_days(), master_retention_days());
    return std::optional<std::string>(r[0][0].c_str());
  });
}

void require_master_key(std::string_view process) {
  if (!master_ring()->empty()) return;
  const char* dev = std::getenv("LETHE_DEV_NO_MASTER_KEY");
  if (dev && std::string_view(dev) == "1") {
    spdlog::warn(
        "{}: no master key (LETHE_DEV_NO_MASTER_KEY=1): person keys are stored unwrapped, beside the data; for "
        "development only",
        process);
    return;
  }
  throw Misconfigured(std::string(process) +
                      ": no master key; set LETHE_MASTER_KEY_FILE to a file of 64 hex digits (e.g. from `openssl "
                      "rand -hex 32`), kept apart from the database and its backups, or LETHE_DEV_NO_MASTER_KEY=1 "
                      "for development (keys then stored unwrapped)");
}

PersonKey::~PersonKey() {
  sodium_memzero(key.data(), key.size());
}

void wipe(void* p, std::size_t n) {
  sodium_memzero(p, n);
}

void random_bytes(unsigned char* buf, std::size_t n) {
  ensure_sodium();
  randombytes_buf(buf, n);
}

std::optional<std::string> keyring_conninfo_for(const std::string& data_conninfo) {
  const char* base = std::getenv("LETHE_KEYRING_PG");
  if (!base || !*base) return std::nullopt;
  const auto schema = search_path_of(data_conninfo);
  return schema.empty() ? std::string(base) : with_search_path(base, schema);
}

std::map<std::string, PersonKey> load_person_keys(pqxx::transaction_base& tx,
                                                  const std::vector<std::string>& subjects) {
  ensure_sodium();
  if (subjects.empty()) return {};
  return on_keyring(
      tx, [&](pqxx::transaction_base& ktx, bool) { return keys_in(ktx, subjects); }, true);
}

PersonKey ensure_person_key(pqxx::transaction_base& tx, const std::string& subject) {
  ensure_sodium();
  return on_keyring(tx, [&](pqxx::transaction_base& ktx, bool apart) {
    check_master(ktx, true);
    if (apart) exec_hot(ktx, kSubjectLockSql, subject);
    if (auto found = keys_in(ktx, {subject}); !found.empty()) return found.begin()->second;
    // A key is to be made. Apart, the data's register is read first (the
    // keyring's tombstones, read by the insert, cover a register restored
    // from before an erasure); beside, the insert reads it.
    if (apart && !erased_among(tx, {subject}).empty()) throw PersonErased(subject);
    for (int attempt = 1;; ++attempt) {
      std::array<unsigned char, 32> key{};
      randombytes_buf(key.data(), key.size());
      std::string raw(reinterpret_cast<const char*>(key.data()), key.size());
      const auto ring = master_ring(attempt > 1);
      const std::optional<int> version = ring->empty() ? std::nullopt : std::optional<int>(ring->current());
      const std::string material = version ? seal(ring->keys.at(*version), raw, key_ad(subject, 1)) : raw;
      if (version && attempt > 1)  // a version this process just learnt: its check, if no key made it yet
        ktx.exec_params(kCreateCheckSql, *version,
                        pqxx::binarystring(seal(ring->keys.at(*version), kCheckText, kCheckAd)));
      // 0 for no version (unwrapped): an int, not an optional, for the driver.
      ktx.exec_params(apart ? kCreateApartSql : kCreateSql, subject, pqxx::binarystring(material), version.has_value(),
                      version.value_or(0));
      sodium_memzero(key.data(), key.size());
      sodium_memzero(raw.data(), raw.size());
      auto made = keys_in(ktx, {subject});  // a concurrent creator's key wins
      if (!made.empty()) return made.begin()->second;
      if (apart ? !ktx.exec_params(kTombstoneSql, subject).empty() : !erased_among(ktx, {subject}).empty())
        throw PersonErased(subject);
      if (attempt > 1)
        throw Misconfigured("master key version " + std::to_string(version.value_or(0)) +
                            " is retired and the master key file holds no newer one: give this process the file "
                            "`lethe keys rotate-master` wrote");
    }
  });
}

std::vector<std::string> erased_among(pqxx::transaction_base& tx, const std::vector<std::string>& subjects) {
  std::vector<std::string> out;
  if (subjects.empty()) return out;
  for (const auto& r : exec_hot(tx, kErasedSql, pg_text_array(subjects))) out.emplace_back(r[0].c_str());
  return out;
}

DestroyedKey destroy_person_key(pqxx::transaction_base& tx, const std::string& subject, const std::string& request_id,
                                const std::string& erased_by) {
  ensure_sodium();
  // "~domain:..." holds a key domain's secret, not a person's key: destroying
  // it would make every value of the domain unreadable for everyone.
  if (subject.starts_with('~')) throw std::invalid_argument("the keyring subject " + subject + " is nobody's to erase");
  if (!erased_among(tx, {subject}).empty()) throw PersonErased(subject);
  // Apart, the keyring commits first: the key is gone before the erasure
  // commits, and an erasure retried after a failed commit finds the
  // tombstone and the fingerprint of what was destroyed.
  auto destroyed = on_keyring(tx, [&](pqxx::transaction_base& ktx, bool apart) {
    DestroyedKey out;
    if (apart) {
      exec_hot(ktx, kSubjectLockSql, subject);
      if (const auto buried = ktx.exec_params(kTombstoneSql, subject); !buried.empty()) {
        out.fingerprint = buried[0][0].c_str();
        return out;
      }
    }
    // The fingerprint covers every key the person had (in key id order), so
    // it names exactly what was destroyed.
    crypto_generichash_state state;
    crypto_generichash_init(&state, nullptr, 0, 16);
    crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(kFingerprintContext.data()),
                              kFingerprintContext.size());
    bool unopenable = false;
    for (const auto& r : ktx.exec_params(kLockKeysSql, subject)) {
      out.found_key = true;
      try {
        auto k = unwrap_row(subject, r);
        crypto_generichash_update(&state, k.key.data(), k.key.size());
      } catch (const Misconfigured& e) {
        // Wrapped under a master version this process cannot open (destroyed
        // after its retention): the key goes all the same, and the
        // fingerprint says it could not be named.
        spdlog::warn("erasure of {}: a key does not open ({}); destroyed unopened", subject, e.what());
        unopenable = true;
      }
    }
    std::array<unsigned char, 16> digest{};
    crypto_generichash_final(&state, digest.data(), digest.size());
    out.fingerprint = unopenable ? "unopenable" : "none";
    if (out.found_key && !unopenable)
      out.fingerprint = hex({reinterpret_cast<const char*>(digest.data()), digest.size()});
    ktx.exec_params(kDeleteKeysSql, subject);
    if (apart) ktx.exec_params(kBuryKeySql, subject, out.fingerprint, request_id);
    return out;
  });
  tx.exec_params(kRegisterSql, subject, request_id, destroyed.fingerprint, erased_by);
  return destroyed;
}

PersonKey ensure_person_key(pqxx::connection& conn, const std::string& subject) {
  return translate_pg("person key of " + subject, [&] {
    pqxx::work tx(conn);
    auto key = ensure_person_key(tx, subject);
    tx.commit();
    return key;
  });
}

}  // namespace lethe::infra

namespace lethe::infra {

namespace {

// Copies rows of the data database into the keyring, a thousand at a time,
// as text arrays (bytea as hex): `select` reads them from the data side,
// `insert` takes one text[] parameter per column.
// Returns how many rows the insert's RETURNING named (a non-NULL first
// column): the conflicts it was written to report.
std::size_t copy_rows(pqxx::transaction_base& from, pqxx::transaction_base& to, const std::string& select,
                      const std::string& insert) {
  std::size_t reported = 0;
  const auto rows = from.exec(select);
  constexpr std::size_t kBatch = 1000;
  for (std::size_t start = 0; start < rows.size(); start += kBatch) {
    std::vector<std::vector<std::string>> columns(rows.columns());
    for (std::size_t i = start; i < std::min(rows.size(), start + kBatch); ++i)
      for (std::size_t c = 0; c < columns.size(); ++c)
        columns[c].emplace_back(rows[static_cast<pqxx::result::size_type>(i)][static_cast<int>(c)].c_str());
    std::vector<std::string> arrays;
    for (const auto& col : columns) arrays.push_back(pg_text_array(col));
    pqxx::result r;
    switch (arrays.size()) {
      case 3:
        r = to.exec_params(insert, arrays[0], arrays[1], arrays[2]);
        break;
      case 5:
        r = to.exec_params(insert, arrays[0], arrays[1], arrays[2], arrays[3], arrays[4]);
        break;
      case 6:
        r = to.exec_params(insert, arrays[0], arrays[1], arrays[2], arrays[3], arrays[4], arrays[5]);
        break;
      default:
        throw std::logic_error("copy_rows: unexpected column count");
    }
    for (const auto& row : r)
      if (!row[0].is_null()) ++reported;
  }
  return reported;
}

}  // namespace

namespace {

// What `lethe migrate` applies to a keyring apart: the data's migrations that
// make the keyring there (V006, V015), then the tombstones.
const std::vector<Migration>& keyring_migrations() {
  static const std::vector<Migration> set = [] {
    std::vector<Migration> out;
    for (const auto& m : migrations())
      if (m.name == "V006__keyring.sql" || m.name == "V015__master_key_versions.sql") out.push_back(m);
    if (out.size() != 2) throw std::logic_error("the keyring's migrations V006 and V015 are not in the build");
    out.push_back({"K001__key_tombstones", kTombstonesSql});
    return out;
  }();
  return set;
}

}  // namespace

KeyringMigration migrate_keyring(pqxx::connection& data) {
  KeyringMigration out;
  const auto apart = keyring_conninfo_for(conninfo_of(data));
  if (!apart) return out;
  out.apart = true;
  auto kconn = connect(*apart, "lethe-migrate");
  out.applied = migrate(*kconn, keyring_migrations());
  return translate_pg("migrate the keyring", [&] {
    pqxx::work ktx(*kconn);
    // What the data database holds of the keyring moves: keys, master key
    // versions, and a tombstone for everyone its register says is erased.
    // The keyring commits first; the data side is emptied after, so a crash
    // in between only copies again (nothing is overwritten).
    pqxx::work dtx(data);
    // Nothing in the data database changes its keyring meanwhile (a process
    // still running beside it): what is copied is what is deleted.
    dtx.exec("LOCK TABLE person_keys, master_key_versions, erased_persons IN EXCLUSIVE MODE");
    out.moved_keys = dtx.exec("SELECT count(*) FROM person_keys")[0][0].as<std::size_t>();
    // Times travel as seconds since the epoch (no DateStyle in between).
    copy_rows(
        dtx, ktx,
        "SELECT version::text, encode(check_sealed, 'hex'), extract(epoch FROM created_at)::text,"
        " coalesce(extract(epoch FROM retired_at)::text, ''), coalesce(extract(epoch FROM destroyed_at)::text, '')"
        " FROM master_key_versions",
        "INSERT INTO master_key_versions (version, check_sealed, created_at, retired_at, destroyed_at)"
        " SELECT v::int, decode(c, 'hex'), to_timestamp(a::float8), to_timestamp(NULLIF(r, '')::float8),"
        " to_timestamp(NULLIF(d, '')::float8)"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS t(v, c, a, r, d)"
        " ON CONFLICT DO NOTHING");
    // A key the keyring holds already under another material is reported,
    // neither overwritten nor dropped: the move stops.
    const auto differing =
        copy_rows(dtx, ktx,
                  "SELECT subject, key_id::text, encode(key_material, 'hex'), wrapped::text,"
                  " coalesce(master_version::text, ''), extract(epoch FROM created_at)::text FROM person_keys",
                  "INSERT INTO person_keys (subject, key_id, key_material, wrapped, master_version, created_at)"
                  " SELECT s, k::int, decode(m, 'hex'), w::boolean, NULLIF(v, '')::int, to_timestamp(a::float8)"
                  " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])"
                  " AS t(s, k, m, w, v, a) WHERE NOT EXISTS (SELECT 1 FROM key_tombstones b WHERE b.subject = t.s)"
                  " ON CONFLICT (subject, key_id) DO UPDATE SET subject = EXCLUDED.subject"
                  " WHERE person_keys.key_material <> EXCLUDED.key_material"
                  " RETURNING CASE WHEN xmax::text <> '0' THEN subject END");
    if (differing > 0)
      throw Misconfigured("migrate: " + std::to_string(differing) +
                          " people have a key in both databases, and the two differ; nothing was moved (is "
                          "LETHE_KEYRING_PG the keyring of another data database?)");
    copy_rows(dtx, ktx, "SELECT subject, key_fingerprint, request_id FROM erased_persons",
              "INSERT INTO key_tombstones (subject, fingerprint, request_id)"
              " SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING");
    // An erased person's key the data side still held (a restore) is not
    // carried over, and any copy of it already apart goes too.
    ktx.exec("DELETE FROM person_keys k USING key_tombstones b WHERE b.subject = k.subject");
    ktx.commit();
    dtx.exec("DELETE FROM person_keys");
    dtx.exec("DELETE FROM master_key_versions");
    // From now on a process that looks for keys in this database refuses.
    dtx.exec("UPDATE keyring_location SET apart = true, moved_at = coalesce(moved_at, now())");
    dtx.commit();
    if (out.moved_keys > 0)
      spdlog::info("migrate: {} person keys moved to the keyring apart; the data database holds none now",
                   out.moved_keys);
    return out;
  });
}

}  // namespace lethe::infra
