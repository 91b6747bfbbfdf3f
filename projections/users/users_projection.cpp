#include "users/users_projection.hpp"

#include <map>
#include <unordered_map>

#include "lethe/domain/erasure.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/domain/users.hpp"
#include "lethe/infra/keyring.hpp"
#include "lethe/infra/pg.hpp"

namespace lethe::projections {

namespace users = domain::users;

namespace {

constexpr const char* kLoadSql =
    "SELECT user_id, email, name, role, registered_at::text, version, active FROM users WHERE user_id = "
    "ANY($1::text[])";
constexpr const char* kStageSql = "CREATE TEMP TABLE IF NOT EXISTS users_stage (LIKE users) ON COMMIT DELETE ROWS";
// A row only moves forward: a stale or repeated version never overwrites.
constexpr const char* kMergeSql =
    "INSERT INTO users SELECT * FROM users_stage "
    "ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name, role = EXCLUDED.role,"
    " updated_at = EXCLUDED.updated_at, version = EXCLUDED.version, last_event_id = EXCLUDED.last_event_id,"
    " active = EXCLUDED.active"
    " WHERE users.version < EXCLUDED.version";

// Notes and identities are keyed by their own ids: applying one twice
// changes nothing.
constexpr const char* kNoteSql =
    "INSERT INTO user_notes (note_id, user_id, text, author, added_at) VALUES ($1, $2, $3, $4, $5)"
    " ON CONFLICT (note_id) DO NOTHING";
constexpr const char* kOAuthSql =
    "INSERT INTO user_oauth_identities (user_id, provider, subject, linked_at) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT DO NOTHING";

// What an erased person's fields read as in this read model.
constexpr std::string_view kAnonymousName = "Deleted user";
std::string anonymous_email(const std::string& user_id) {
  return "deleted-" + user_id + "@anonymous.invalid";
}

struct Row {
  std::string email, name, role, registered_at, updated_at, last_event_id;
  std::int64_t version = 0;
  bool active = true;
  bool exists = false;
  bool dirty = false;
};

}  // namespace

ApplyResult UsersProjection::apply(std::span<const Delivered> batch, pqxx::dbtransaction& tx) {
  ApplyResult result;
  // Personal fields arrive sealed: the batch is decoded with one key query
  // for all the people it names, each payload parsed once. A person without
  // a key was erased; their fields decode as erased() and are written
  // anonymized. A bad payload is rejected alone; the rest of the batch goes on.
  std::vector<domain::SealedPayload> sealed;
  std::vector<std::size_t> sealed_at;  // batch index of sealed[k]
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto& e = batch[i].envelope;
    // user.erased belongs to the erasure request's stream: the runtime
    // applies this projection's erasure policy for it (erasure_runtime.cpp).
    if (e.type.rfind("user.", 0) != 0 || e.type == domain::erasure::UserErased::kType) {
      ++result.skipped;
      continue;
    }
    sealed.push_back({e.type, e.schema_version, e.event_id, e.payload});
    sealed_at.push_back(i);
  }
  std::map<std::string, infra::PersonKey> keys;
  auto events = users::decode_sealed(sealed, [&](const std::vector<std::string>& subjects) {
    keys = infra::load_person_keys(tx, subjects);
    return domain::lookup_in(keys);
  });
  std::vector<std::pair<std::size_t, users::Event>> decoded;  // (batch index, event)
  std::vector<std::string> ids;                               // user id of decoded[k]
  for (std::size_t k = 0; k < events.size(); ++k) {
    const auto i = sealed_at[k];
    if (!events[k]) {
      result.rejected.push_back({i, "payload of " + batch[i].envelope.type + ": " + events[k].error().message});
      continue;
    }
    ids.push_back(users::user_id_of(events[k].value()));
    decoded.emplace_back(i, std::move(events[k]).value());
  }
  if (decoded.empty()) return result;

  // Collapse keys: load each user once, fold all its events in memory, write
  // each changed row once.
  std::unordered_map<std::string, Row> rows;
  for (const auto& r : tx.exec_params(kLoadSql, infra::pg_text_array(ids))) {
    rows[r[0].c_str()] = Row{r[1].c_str(),    r[2].c_str(), r[3].c_str(), r[4].c_str(), "", "", r[5].as<std::int64_t>(),
                             r[6].as<bool>(), true,         false};
  }
  for (std::size_t k = 0; k < decoded.size(); ++k) {
    const auto& [index, ev] = decoded[k];
    const auto& id = ids[k];
    const auto& env = batch[index].envelope;
    if (const auto* note = std::get_if<users::NoteAdded>(&ev)) {
      tx.exec_params(kNoteSql, note->note_id, id,
                     domain::is_erased(note->text) ? std::optional<std::string>() : std::optional(note->text),
                     env.actor, env.occurred_at);
      ++result.applied;
      continue;
    }
    // Sessions and login attempts have streams of their own; the account's
    // read model folds only the account's stream (user-<id>).
    if (env.stream_id != domain::stream_of("user", id)) {
      ++result.skipped;
      continue;
    }
    auto& row = rows[id];
    if (env.stream_version <= row.version) {
      ++result.skipped;  // applied before: a republished event
      continue;
    }
    const bool is_registration = std::holds_alternative<users::UserRegistered>(ev);
    if (!row.exists && !is_registration) {
      result.rejected.push_back({index, env.type + " for user " + id + " who is not registered"});
      continue;
    }
    if (env.stream_version != row.version + 1) {
      // Applying across a gap would later skip the missing versions as
      // "applied before". Refuse it: it goes to the dead letters, and a relay
      // that republishes brings the whole run again, in order.
      result.rejected.push_back({index, "version gap on " + env.stream_id + ": read model holds version " +
                                            std::to_string(row.version) + ", event has " +
                                            std::to_string(env.stream_version)});
      continue;
    }
    std::visit(
        [&](const auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, users::UserRegistered>) {
            row.email = domain::is_erased(e.email) ? anonymous_email(id) : e.email;
            row.name = domain::is_erased(e.name) ? std::string(kAnonymousName) : e.name;
            row.role = e.role;
            row.registered_at = env.occurred_at;
          } else if constexpr (std::is_same_v<T, users::UserProfileChanged>) {
            row.name = domain::is_erased(e.name) ? std::string(kAnonymousName) : e.name;
          } else if constexpr (std::is_same_v<T, users::UserEmailChanged>) {
            row.email = domain::is_erased(e.email) ? anonymous_email(id) : e.email;
          } else if constexpr (std::is_same_v<T, users::UserRoleChanged>) {
            row.role = e.role;
          } else if constexpr (std::is_same_v<T, users::UserDeactivated>) {
            row.active = false;
          } else if constexpr (std::is_same_v<T, users::UserRestored>) {
            row.active = true;
          } else if constexpr (std::is_same_v<T, users::OAuthLinked>) {
            tx.exec_params(kOAuthSql, id, e.provider,
                           domain::is_erased(e.subject) ? std::optional<std::string>() : std::optional(e.subject),
                           env.occurred_at);
          }
        },
        ev);
    row.exists = row.dirty = true;
    row.version = env.stream_version;
    row.updated_at = env.occurred_at;
    row.last_event_id = env.event_id;
    ++result.applied;
  }

  tx.exec(kStageSql);
  {
    pqxx::stream_to copy(tx, "users_stage");
    for (const auto& [id, r] : rows) {
      if (!r.dirty) continue;
      // erased_at is the erasure policy's to set; a merge never touches it.
      copy << std::make_tuple(id, r.email, r.name, r.role, r.registered_at, r.updated_at, r.version, r.last_event_id,
                              r.active, std::optional<std::string>());
    }
    copy.complete();
  }
  tx.exec(kMergeSql);
  return result;
}

// How this read model forgets a person (see ErasureRule); its migrations
// mark the columns it must cover.
const ErasurePolicy& UsersProjection::erasure_policy() const {
  static const ErasurePolicy policy{
      {"users",
       "user_id",
       Erase::anonymize,
       {{"email", "'deleted-' || user_id || '@anonymous.invalid'"},
        {"name", "'Deleted user'"},
        {"active", "false"},
        {"erased_at", "coalesce(erased_at, now())"}},
       {},
       "the account row stays under its id, which is never given again"},
      {"user_oauth_identities", "user_id", Erase::delete_row},
      {"user_notes", "user_id", Erase::delete_row, {}, {}, "staff notes about the person"},
      {"user_notes", "author", Erase::set_null, {}, {}, "notes they wrote about others stay, without their author"},
  };
  return policy;
}

}  // namespace lethe::projections
