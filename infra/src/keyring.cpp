#include "lethe/infra/keyring.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <optional>

#include "lethe/infra/errors.hpp"
#include "lethe/infra/pg.hpp"

namespace lethe::infra {

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
  std::array<unsigned char, 32> key{};
  std::size_t n = 0;
  if (hex.size() != 64 || sodium_hex2bin(key.data(), key.size(), hex.data(), hex.size(), nullptr, &n, nullptr) != 0 ||
      n != key.size())
    throw Misconfigured(std::string(what) + ": expected 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`");
  return key;
}

namespace {

constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr std::string_view kCheckText = "lethe keyring check v1";

constexpr const char* kLoadSql =
    "SELECT DISTINCT ON (subject) subject, key_id, key_material, wrapped FROM person_keys"
    " WHERE subject = ANY($1::text[]) ORDER BY subject, key_id DESC";
// Never for an erased person: the register is read by the same statement,
// and the erasure deletes the key row and enters the register in one
// transaction, so a key made after it can only meet the register.
constexpr const char* kCreateSql =
    "INSERT INTO person_keys (subject, key_id, key_material, wrapped)"
    " SELECT $1, 1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM erased_persons WHERE subject = $1)"
    " ON CONFLICT (subject, key_id) DO NOTHING";
constexpr const char* kErasedSql = "SELECT subject FROM erased_persons WHERE subject = ANY($1::text[])";
constexpr const char* kLockKeysSql =
    "SELECT key_id, key_material, wrapped FROM person_keys WHERE subject = $1 ORDER BY key_id FOR UPDATE";
constexpr const char* kDeleteKeysSql = "DELETE FROM person_keys WHERE subject = $1";
constexpr const char* kRegisterSql =
    "INSERT INTO erased_persons (subject, request_id, key_fingerprint, erased_by) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (subject) DO NOTHING";
constexpr std::string_view kFingerprintContext = "lethe key fingerprint v1";
constexpr const char* kCheckSql = "SELECT sealed FROM keyring_check WHERE id = 1";
constexpr const char* kWrappedSql = "SELECT EXISTS (SELECT 1 FROM person_keys WHERE wrapped) AS any_wrapped";
constexpr const char* kCreateCheckSql = "INSERT INTO keyring_check (id, sealed) VALUES (1, $1) ON CONFLICT DO NOTHING";

void ensure_sodium() {
  static const int ready = sodium_init();
  if (ready < 0) throw std::runtime_error("libsodium failed to initialise");
}

// The master key from the environment, read once; nullopt when none is set.
const std::optional<std::array<unsigned char, 32>>& master_key() {
  static const auto master = key_from_env("LETHE_MASTER_KEY_FILE", "LETHE_MASTER_KEY", "master key");
  return master;
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

// Checks once per process that the master key (if any) opens this keyring,
// and that a keyring with wrapped keys is not used without one.
void check_master(pqxx::transaction_base& tx, bool may_write) {
  static std::atomic<bool> checked{false};
  if (checked.load()) return;
  const auto& master = master_key();
  const auto check = tx.exec(kCheckSql);
  if (!master) {
    if (!check.empty() || tx.exec(kWrappedSql)[0]["any_wrapped"].as<bool>())
      throw Misconfigured(
          "the keyring is wrapped by a master key; set LETHE_MASTER_KEY_FILE (or LETHE_MASTER_KEY) to it");
  } else if (check.empty()) {
    // Nothing to check against yet: the first key made under this master key
    // writes it. A reader goes on; each wrapped key still fails to open under
    // a wrong master key, with its own error.
    if (may_write) tx.exec_params(kCreateCheckSql, pqxx::binarystring(seal(*master, kCheckText, "keyring_check")));
  } else if (const auto opened = open(*master, bytes_of(check[0]["sealed"]), "keyring_check");
             !opened || *opened != kCheckText) {
    throw Misconfigured(
        "wrong master key: LETHE_MASTER_KEY_FILE / LETHE_MASTER_KEY does not open this keyring "
        "(it was created under another master key)");
  }
  checked.store(true);
}

PersonKey unwrap(const std::string& subject, int key_id, const std::string& material, bool wrapped) {
  PersonKey k;
  k.key_id = key_id;
  std::string raw = material;
  if (wrapped) {
    const auto& master = master_key();
    const auto opened = master ? open(*master, material, key_ad(subject, key_id)) : std::nullopt;
    if (!opened) throw Misconfigured("the key of " + subject + " does not open under the master key");
    raw = *opened;
  }
  if (raw.size() != k.key.size()) throw Misconfigured("the key of " + subject + " has the wrong length");
  std::copy(raw.begin(), raw.end(), k.key.begin());
  sodium_memzero(raw.data(), raw.size());
  return k;
}

}  // namespace

std::size_t rewrap_person_keys(pqxx::connection& conn, const std::function<void(std::size_t)>& progress) {
  ensure_sodium();
  const auto& master = master_key();
  if (!master)
    throw Misconfigured("keys rewrap: no master key; set LETHE_MASTER_KEY_FILE to the key to wrap them under");
  constexpr int kBatch = 1000;
  std::size_t done = 0;
  for (;;) {
    pqxx::work tx(conn);
    check_master(tx, true);
    const auto rows = tx.exec_params(
        "SELECT subject, key_id, key_material FROM person_keys WHERE NOT wrapped ORDER BY subject, key_id LIMIT $1"
        " FOR UPDATE SKIP LOCKED",
        kBatch);
    for (const auto& r : rows) {
      const std::string subject = r["subject"].c_str();
      const int key_id = r["key_id"].as<int>();
      auto raw = bytes_of(r["key_material"]);
      tx.exec_params("UPDATE person_keys SET key_material = $3, wrapped = true WHERE subject = $1 AND key_id = $2",
                     subject, key_id, pqxx::binarystring(seal(*master, raw, key_ad(subject, key_id))));
      sodium_memzero(raw.data(), raw.size());
    }
    tx.commit();
    done += rows.size();
    if (progress) progress(done);
    if (rows.size() < static_cast<std::size_t>(kBatch)) return done;
  }
}

void require_master_key(std::string_view process) {
  if (master_key()) return;
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

void wipe(void* p, std::size_t n) {
  sodium_memzero(p, n);
}

void random_bytes(unsigned char* buf, std::size_t n) {
  ensure_sodium();
  randombytes_buf(buf, n);
}

std::map<std::string, PersonKey> load_person_keys(pqxx::transaction_base& tx,
                                                  const std::vector<std::string>& subjects) {
  ensure_sodium();
  check_master(tx, false);
  std::map<std::string, PersonKey> out;
  if (subjects.empty()) return out;
  for (const auto& r : exec_hot(tx, kLoadSql, pg_text_array(subjects))) {
    const std::string subject = r["subject"].c_str();
    out[subject] = unwrap(subject, r["key_id"].as<int>(), bytes_of(r["key_material"]), r["wrapped"].as<bool>());
  }
  return out;
}

PersonKey ensure_person_key(pqxx::transaction_base& tx, const std::string& subject) {
  ensure_sodium();
  check_master(tx, true);
  if (auto found = load_person_keys(tx, {subject}); !found.empty()) return found.begin()->second;
  std::array<unsigned char, 32> key{};
  randombytes_buf(key.data(), key.size());
  const std::string raw(reinterpret_cast<const char*>(key.data()), key.size());
  const auto& master = master_key();
  const std::string material = master ? seal(*master, raw, key_ad(subject, 1)) : raw;
  tx.exec_params(kCreateSql, subject, pqxx::binarystring(material), master.has_value());
  sodium_memzero(key.data(), key.size());
  auto made = load_person_keys(tx, {subject});  // a concurrent creator's key wins
  if (made.empty()) throw PersonErased(subject);
  return made.begin()->second;
}

std::vector<std::string> erased_among(pqxx::transaction_base& tx, const std::vector<std::string>& subjects) {
  std::vector<std::string> out;
  if (subjects.empty()) return out;
  for (const auto& r : exec_hot(tx, kErasedSql, pg_text_array(subjects))) out.emplace_back(r[0].c_str());
  return out;
}

std::string destroy_person_key(pqxx::transaction_base& tx, const std::string& subject, const std::string& request_id,
                               const std::string& erased_by) {
  ensure_sodium();
  if (!erased_among(tx, {subject}).empty()) throw PersonErased(subject);
  // The fingerprint covers every key the person had (in key id order), so
  // it names exactly what was destroyed.
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, 16);
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(kFingerprintContext.data()),
                            kFingerprintContext.size());
  bool any = false;
  for (const auto& r : tx.exec_params(kLockKeysSql, subject)) {
    auto k = unwrap(subject, r["key_id"].as<int>(), bytes_of(r["key_material"]), r["wrapped"].as<bool>());
    crypto_generichash_update(&state, k.key.data(), k.key.size());
    sodium_memzero(k.key.data(), k.key.size());
    any = true;
  }
  std::array<unsigned char, 16> digest{};
  crypto_generichash_final(&state, digest.data(), digest.size());
  std::string fingerprint = "none";
  if (any) {
    std::array<char, 33> hex{};
    sodium_bin2hex(hex.data(), hex.size(), digest.data(), digest.size());
    fingerprint = hex.data();
  }
  tx.exec_params(kDeleteKeysSql, subject);
  tx.exec_params(kRegisterSql, subject, request_id, fingerprint, erased_by);
  return fingerprint;
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
