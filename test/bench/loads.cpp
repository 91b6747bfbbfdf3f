#include "loads.hpp"

#include <fmt/format.h>

#include <array>
#include <optional>
#include <vector>

#include "lethe/domain/personal.hpp"
#include "lethe/infra/ids.hpp"
#include "lethe/infra/keyring.hpp"
#include "lethe/infra/pg.hpp"
#include "support/events.hpp"
#include "users.hpp"

namespace lethe::bench {

std::string padded_name(const std::string& id, std::size_t payload_bytes) {
  const auto base = domain::users::encode_payload(
      domain::users::UserRegistered{id, "user-" + id + "@example.org", "User " + id, "user", ""});
  return "User " + id + std::string(payload_bytes > base.size() ? payload_bytes - base.size() : 0, 'x');
}

std::int64_t last_position(pqxx::work& tx) {
  return tx.exec("SELECT coalesce(max(global_position), 0) FROM events")[0][0].as<std::int64_t>();
}
void queue_loaded(pqxx::work& tx, const std::string& topic, std::int64_t after) {
  tx.exec_params(
      "INSERT INTO outbox (global_position, topic) SELECT global_position, $1 FROM events WHERE global_position > $2"
      " ORDER BY 1",
      topic, after);
}

void seal_under(producers::NewEvent& ne, const unsigned char* key, const infra::PersonKey* domain_secret) {
  ne.payload =
      domain::seal_personal(
          ne.type, ne.schema_version, ne.event_id, ne.payload,
          [key, domain_secret](std::string_view subject) {
            if (domain_secret && subject.starts_with(domain::key_domain_subject("")))
              return std::optional<domain::KeyRef>(domain::KeyRef{domain_secret->key_id, domain_secret->key.data()});
            return std::optional<domain::KeyRef>(domain::KeyRef{1, key});
          },
          [](unsigned char* b, std::size_t n) { infra::random_bytes(b, n); })
          .value();
}

std::size_t bulk_load(const test::TestSchema& db, std::int64_t events, std::size_t payload_bytes, bool sealed,
                      const std::string& prefix) {
  const std::int64_t users = events / 2;
  auto conn = infra::connect(db.conninfo());
  pqxx::work tx(*conn);
  const auto after = last_position(tx);
  std::vector<std::string> prev(static_cast<std::size_t>(users));
  std::size_t value_bytes = 0;
  // Every person gets a key, and the personal fields (email, name) are
  // sealed under it, as the write path does: the projection opens them.
  std::vector<std::array<unsigned char, domain::kPersonKeyBytes>> keys(static_cast<std::size_t>(users));
  // And under the users domain's secret, the keyring's own (lethe serve
  // opens what this seals).
  const auto secret = infra::ensure_person_key(tx, domain::key_domain_subject("users"));
  {
    // Into the keyring, apart or beside the data.
    auto keyring_conn = infra::connect(db.keyring().conninfo());
    pqxx::work keyring_tx(*keyring_conn);
    pqxx::stream_to copy(keyring_tx, "person_keys", std::vector<std::string>{"subject", "key_material", "wrapped"});
    for (std::int64_t i = 0; i < users; ++i) {
      auto& key = keys[static_cast<std::size_t>(i)];
      infra::random_bytes(key.data(), key.size());
      std::string hex = "\\x";  // bytea's hex input form
      for (const auto b : key) hex += fmt::format("{:02x}", b);
      copy << std::make_tuple(prefix + std::to_string(i), hex, false);
    }
    copy.complete();
    keyring_tx.commit();
  }
  {
    pqxx::stream_to copy(
        tx, "events",
        std::vector<std::string>{"event_id", "stream_id", "stream_version", "type", "schema_version", "occurred_at",
                                 "actor", "correlation_id", "causation_id", "payload", "prev_hash", "hash"});
    for (int version = 1; version <= 2; ++version) {
      for (std::int64_t i = 0; i < users; ++i) {
        const std::string id = prefix + std::to_string(i);
        const auto name = padded_name(id, payload_bytes);
        domain::users::Event ev = version == 1
                                      ? domain::users::Event{domain::users::UserRegistered{
                                            id, "user-" + id + "@example.org", name, "user", ""}}
                                      : domain::users::Event{domain::users::UserProfileChanged{id, name + "!"}};
        auto ne = test::new_event(ev, "bench");
        if (sealed) seal_under(ne, keys[static_cast<std::size_t>(i)].data(), &secret);
        domain::Envelope e{ne.event_id,
                           ne.type,
                           1,
                           "user-" + id,
                           version,
                           0,
                           ne.occurred_at,
                           ne.actor,
                           ne.correlation_id,
                           ne.causation_id,
                           ne.payload,
                           prev[static_cast<std::size_t>(i)],
                           ""};
        e.hash = domain::chain_hash(e);
        prev[static_cast<std::size_t>(i)] = e.hash;
        if (i == 0 && version == 1) value_bytes = domain::encode(e).size();
        copy << std::make_tuple(e.event_id, e.stream_id, e.stream_version, e.type, e.schema_version, e.occurred_at,
                                e.actor, e.correlation_id, e.causation_id, e.payload, e.prev_hash, e.hash);
      }
    }
    copy.complete();
  }
  queue_loaded(tx, "users", after);
  tx.commit();
  return value_bytes;
}

}  // namespace lethe::bench
