#include "users_projection.hpp"

#include <map>

#include "erasure.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/infra/keyring.hpp"
#include "lethe/infra/pg.hpp"
#include "stream_batch.hpp"
#include "table.hpp"
#include "users.hpp"

namespace lethe::projections {

namespace users = domain::users;

namespace {

// erased_at is the erasure policy's to set; a merge never touches it.
const table::Spec kUsers{"users",
                         {"user_id", table::text, table::Mark::person_kept},
                         {{"email", table::text, table::Mark::sealed},
                          {"name", table::text, table::Mark::sealed},
                          {"role", table::text},
                          {"registered_at", table::timestamptz, table::kOnCreate},
                          {"updated_at", table::timestamptz},
                          {"version", table::bigint},
                          {"last_event_id", table::uuid},
                          {"active", table::boolean}}};
// Notes and identities are keyed by their own ids: applying one twice
// changes nothing.
const table::Spec kNotes{"user_notes",
                         {"note_id", table::uuid},
                         {{"user_id", table::text, table::Mark::person},
                          {"text", table::text, table::Mark::sealed},
                          {"author", table::text, table::Mark::person},
                          {"added_at", table::timestamptz}},
                         table::Moves::once};
const table::Spec kIdentities{
    "user_oauth_identities",
    {"user_id", table::text, table::Mark::person},
    {{"provider", table::text}, {"subject", table::text, table::Mark::sealed}, {"linked_at", table::timestamptz}},
    table::Moves::once};

// What an erased person's fields read as in this read model.
constexpr std::string_view kAnonymousName = "Deleted user";
std::string anonymous_email(const std::string& user_id) {
  return "deleted-" + user_id + "@anonymous.invalid";
}

}  // namespace

ApplyResult UsersProjection::apply(std::span<const Delivered> batch, infra::Tx tx) {
  ApplyResult result;
  // Personal fields arrive sealed and stay so in the tables (lethe:sealed),
  // opened only when a query answers: no key is read here. A field written
  // as null (its person was erased before) decodes as erased() and is
  // written anonymized. A bad payload is rejected alone; the rest of the
  // batch goes on.
  // user.erased belongs to the erasure request's stream: the runtime
  // applies this projection's erasure policy for it (erasure_runtime.cpp).
  const auto decoded = stream_batch::decode_if<users::Event>(
      batch,
      [](std::string_view type) { return type.starts_with("user.") && type != domain::erasure::UserErased::kType; },
      users::decode_sealed, nullptr, result);
  std::vector<std::string> ids;  // user id of decoded[k]
  ids.reserve(decoded.size());
  for (const auto& d : decoded) ids.push_back(users::user_id_of(d.event));
  if (decoded.empty()) return result;

  // Collapse keys: load each user once, fold all its events in memory, write
  // each changed row once.
  table::Rows rows(kUsers), notes(kNotes), identities(kIdentities);
  rows.load(tx, ids);
  for (std::size_t k = 0; k < decoded.size(); ++k) {
    const auto index = decoded[k].index;
    const auto& ev = decoded[k].event;
    const auto& id = ids[k];
    const auto& env = batch[index].envelope;
    if (const auto* note = std::get_if<users::NoteAdded>(&ev)) {
      notes.add(note->note_id)
          .set("user_id", id)
          .set("text", stream_batch::opened(note->text))
          .set("author", env.actor)
          .set("added_at", env.occurred_at);
      ++result.applied;
      continue;
    }
    // Sessions and login attempts have streams of their own; the account's
    // read model folds only the account's stream (user-<id>).
    if (env.stream_id != domain::stream_of("user", id)) {
      ++result.skipped;
      continue;
    }
    auto& row = rows.row(id);
    const bool is_registration = std::holds_alternative<users::UserRegistered>(ev);
    if (!stream_batch::is_next(batch[index], index, row.version(), row.exists(), is_registration, result)) continue;
    std::visit(
        [&](const auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, users::UserRegistered>) {
            row.set("email", domain::is_erased(e.email) ? anonymous_email(id) : e.email)
                .set("name", domain::is_erased(e.name) ? std::string(kAnonymousName) : e.name)
                .set("role", e.role)
                .set("registered_at", env.occurred_at)
                .set("active", true);
          } else if constexpr (std::is_same_v<T, users::UserProfileChanged>) {
            row.set("name", domain::is_erased(e.name) ? std::string(kAnonymousName) : e.name);
          } else if constexpr (std::is_same_v<T, users::UserEmailChanged>) {
            row.set("email", domain::is_erased(e.email) ? anonymous_email(id) : e.email);
          } else if constexpr (std::is_same_v<T, users::UserRoleChanged>) {
            row.set("role", e.role);
          } else if constexpr (std::is_same_v<T, users::UserDeactivated>) {
            row.set("active", false);
          } else if constexpr (std::is_same_v<T, users::UserRestored>) {
            row.set("active", true);
          } else if constexpr (std::is_same_v<T, users::OAuthLinked>) {
            identities.add(id)
                .set("provider", e.provider)
                .set("subject", stream_batch::opened(e.subject))
                .set("linked_at", env.occurred_at);
          }
        },
        ev);
    row.set("updated_at", env.occurred_at).set("last_event_id", env.event_id).applied(env.stream_version);
    ++result.applied;
  }
  rows.write(tx);
  notes.write(tx);
  identities.write(tx);
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

std::vector<DeclaredColumn> UsersProjection::declared_columns() const {
  return table::declared({&kUsers, &kNotes, &kIdentities});
}

std::vector<ReadModel> users_read_models() {
  return {{"users", []() -> std::unique_ptr<Projection> { return std::make_unique<UsersProjection>(); }}};
}

}  // namespace lethe::projections
