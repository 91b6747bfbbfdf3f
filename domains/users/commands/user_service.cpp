#include "user_service.hpp"

#include <sodium.h>

#include <pqxx/pqxx>

#include "email.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/infra/access.hpp"
#include "lethe/infra/ids.hpp"
#include "lethe/infra/keyring.hpp"
#include "lethe/infra/pg.hpp"

namespace lethe::producers {

namespace users = domain::users;
using domain::DomainError;
using domain::ErrorCode;

namespace {

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};

#define LETHE_UTC(x) "to_char((" x ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

DomainError conflict(std::string field, std::string message) {
  return {ErrorCode::conflict, std::move(field), std::move(message)};
}

using AccountCache = StateCache<users::User>;

std::string user_stream(const std::string& id) {
  return domain::stream_of("user", id);
}

users::User load_in(CommandTx& tx, const std::string& user_id) {
  return fold<users::User>(tx.read(user_stream(user_id)), users::decode_payload, users::evolve);
}

// The lookup and, at most once a minute per credential, the "last used"
// stamp, in one statement: one round trip per request.
constexpr const char* kAuthenticate =
    "WITH hit AS ("
    "  SELECT c.token_hash, c.user_id, c.kind, c.credential_id, a.role, c.last_used_at"
    "  FROM credentials c JOIN accounts a USING (user_id)"
    "  WHERE c.token_hash = $1 AND a.active AND c.revoked_at IS NULL"
    "    AND (c.expires_at IS NULL OR c.expires_at > lethe_now())),"
    " touch AS (UPDATE credentials SET last_used_at = lethe_now() WHERE token_hash IN"
    "  (SELECT token_hash FROM hit WHERE last_used_at IS NULL OR last_used_at < lethe_now() - interval '1 minute'))"
    " SELECT user_id, kind, credential_id, role FROM hit";

pqxx::binarystring bytes(const std::string& raw) {
  return pqxx::binarystring(raw);
}

// An API key's name is what its person wrote: credentials keep the sealed
// text of the appended event's field (opened when keys are listed), so no
// name of theirs outlives an erasure in dead tuples or the WAL.
void keep_key_names_sealed(pqxx::transaction_base& tx, const std::vector<users::Event>& events,
                           const std::vector<domain::Envelope>& written) {
  // The command appended `events` last: the last envelopes written are theirs, in order.
  if (written.size() < events.size()) return;
  const auto first = written.size() - events.size();
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto* issued = std::get_if<users::ApiKeyIssued>(&events[i]);
    if (!issued) continue;
    const auto& env = written[first + i];
    if (const auto sealed = domain::sealed_text_in(env.payload, env.event_id, "name"))
      infra::exec_hot(tx, "UPDATE credentials SET name = $2 WHERE credential_id = $1", issued->key_id, *sealed);
  }
}

// What an event changes in the access tables, beside the append. A token's
// hash never travels in an event; it comes along here as `credential`: for a
// key issued or a session started, the new token's hash; for a password
// changed, the id of the session that changed it, which stays signed in.
std::optional<DomainError> apply_access(pqxx::transaction_base& tx, const users::Event& event,
                                        const std::string& credential = {}) {
  try {
    std::visit(
        overloaded{
            [&](const users::UserRegistered& e) {
              const auto index = infra::email_index(e.email);
              infra::exec_hot(tx, "INSERT INTO accounts (user_id, role, active, email_index) VALUES ($1, $2, true, $3)",
                              e.user_id, e.role, bytes(index));
              infra::exec_hot(tx, "INSERT INTO email_reservations (email_index, user_id) VALUES ($1, $2)", bytes(index),
                              e.user_id);
            },
            [&](const users::UserEmailChanged& e) {
              const auto index = infra::email_index(e.email);
              infra::exec_hot(tx, "DELETE FROM email_reservations WHERE user_id = $1", e.user_id);
              infra::exec_hot(tx, "INSERT INTO email_reservations (email_index, user_id) VALUES ($1, $2)", bytes(index),
                              e.user_id);
              infra::exec_hot(tx, "UPDATE accounts SET email_index = $2, updated_at = now() WHERE user_id = $1",
                              e.user_id, bytes(index));
            },
            [&](const users::UserRoleChanged& e) {
              infra::exec_hot(tx, "UPDATE accounts SET role = $2, updated_at = now() WHERE user_id = $1", e.user_id,
                              e.role);
            },
            [&](const users::UserDeactivated& e) {
              // Locked out at once: no login (the email is released), no session;
              // API keys fail authentication while the account is inactive.
              infra::exec_hot(tx, "UPDATE accounts SET active = false, updated_at = now() WHERE user_id = $1",
                              e.user_id);
              infra::exec_hot(tx, "DELETE FROM email_reservations WHERE user_id = $1", e.user_id);
              infra::exec_hot(tx,
                              "UPDATE credentials SET revoked_at = now() WHERE user_id = $1 AND kind = 'session'"
                              " AND revoked_at IS NULL AND credential_id <> $2",
                              e.user_id, credential);
            },
            [&](const users::UserRestored& e) {
              infra::exec_hot(
                  tx,
                  "INSERT INTO email_reservations (email_index, user_id) SELECT email_index, user_id FROM accounts"
                  " WHERE user_id = $1",
                  e.user_id);
              infra::exec_hot(tx, "UPDATE accounts SET active = true, updated_at = now() WHERE user_id = $1",
                              e.user_id);
            },
            [&](const users::UserPasswordChanged& e) {
              // A new password ends every session: whoever held an old one
              // (or guessed the old password) is signed out.
              infra::exec_hot(tx,
                              "UPDATE credentials SET revoked_at = now() WHERE user_id = $1 AND kind = 'session'"
                              " AND revoked_at IS NULL AND credential_id <> $2",
                              e.user_id, credential);
            },
            [&](const users::ApiKeyIssued& e) {
              infra::exec_hot(tx,
                              "INSERT INTO credentials (token_hash, kind, credential_id, user_id, prefix, expires_at)"
                              " VALUES ($1, 'api_key', $2, $3, $4, NULLIF($5, '')::timestamptz)",
                              bytes(credential), e.key_id, e.user_id, e.prefix,
                              e.expires_at);  // name: keep_key_names_sealed
            },
            [&](const users::ApiKeyRevoked& e) {
              infra::exec_hot(
                  tx, "UPDATE credentials SET revoked_at = now() WHERE credential_id = $1 AND revoked_at IS NULL",
                  e.key_id);
            },
            [&](const users::LoggedIn& e) {
              infra::exec_hot(tx,
                              "INSERT INTO credentials (token_hash, kind, credential_id, user_id, expires_at)"
                              " VALUES ($1, 'session', $2, $3, $4::timestamptz)",
                              bytes(credential), e.session_id, e.user_id, e.expires_at);
            },
            [&](const users::LoggedOut& e) {
              infra::exec_hot(
                  tx, "UPDATE credentials SET revoked_at = now() WHERE credential_id = $1 AND revoked_at IS NULL",
                  e.session_id);
            },
            [&](const users::OAuthLinked& e) {
              // An identity is a way in: it belongs to one account only.
              infra::exec_hot(tx, "INSERT INTO oauth_reservations (identity_index, user_id) VALUES ($1, $2)",
                              bytes(infra::oauth_index(e.provider, e.subject)), e.user_id);
            },
            [](const auto&) {},
        },
        event);
  } catch (const pqxx::unique_violation&) {
    // The unique keys a command can hit here: an email or an identity reserved.
    if (std::holds_alternative<users::OAuthLinked>(event))
      return conflict("subject", "this identity is linked to another account");
    return conflict("email", "an active account has this email already");
  }
  return std::nullopt;
}

// Decides an account command on the account's state (from the cache when
// this service wrote or read it last, else read in this transaction) and
// appends what it decided, with the access rows it changes.
std::optional<DomainError> decide_account(CommandTx& tx, const users::Command& command, AccountCache* cache,
                                          const std::string& credential = {}) {
  const auto user_id = std::visit([](const auto& c) { return c.user_id; }, command);
  if (user_id.empty()) return domain::invalid("user_id", "user_id must not be empty");
  if (user_id.size() > domain::kMaxStreamIdBytes - 5)
    return domain::invalid("user_id", "user_id must be at most 195 bytes");
  const auto stream = user_stream(user_id);
  const auto& expected = tx.context().expected_version;
  // A retry means the stream moved: its cached state is stale. With
  // If-Match the caller names a version: it is compared with the store's.
  if (cache && (tx.attempt() > 1 || expected)) cache->forget(stream);
  users::User state;
  const auto* hit = cache ? cache->find(stream) : nullptr;
  if (hit) {
    state = hit->state;
    tx.assume(stream, hit->version, hit->hash);
  } else {
    state = load_in(tx, user_id);
  }
  if (expected && *expected != state.version)
    return conflict("if-match",
                    "the stream is at version " + std::to_string(state.version) + ", not " + std::to_string(*expected));
  const auto actor = actor_in(tx.sql(), tx.context());
  auto decide = [&] {
    users::Facts facts;
    if (state.exists && state.role == users::Role::owner) facts.active_owners = active_owners(tx.sql());
    return users::decide(state, command, actor, facts);
  };
  auto decided = decide();
  if (!decided && hit) {
    // A stale state would show up as a conflict at the append; a refusal
    // never gets there, so it is decided again on the stream as stored.
    cache->forget(stream);
    state = load_in(tx, user_id);
    decided = decide();
  }
  if (!decided) return decided.error();
  const auto& written = tx.append(stream, state.version, drafts_of(decided.value()));
  for (const auto& ev : decided.value())
    if (auto err = apply_access(tx.sql(), ev, credential)) return err;
  keep_key_names_sealed(tx.sql(), decided.value(), written);
  if (cache) {
    AccountCache::Entry entry{state, written.back().stream_version, written.back().hash};
    for (const auto& ev : decided.value()) entry.state = users::evolve(std::move(entry.state), ev);
    entry.state.version = entry.version;
    tx.on_commit([cache, stream, entry = std::move(entry)]() mutable { cache->put(stream, std::move(entry)); });
  }
  return std::nullopt;
}

// "2026-11-25T08:00:00Z" for an RFC 3339 time in the future, or a refusal.
domain::Result<std::string> future_time(pqxx::dbtransaction& tx, const std::string& text) {
  if (text.empty()) return std::string();
  if (!domain::email::is_utc_timestamp(text))
    return domain::invalid("expires_at", "expires_at must be an RFC 3339 time in UTC such as 2027-01-31T12:00:00Z");
  // Well formed, and then a rule: the day must exist, the time be ahead.
  const auto refused = [](std::string message) {
    return domain::DomainError{domain::ErrorCode::rule_violated, "expires_at", std::move(message)};
  };
  try {
    pqxx::subtransaction sub(tx, "parse_time");
    const auto r = sub.exec_params("SELECT " LETHE_UTC("$1::timestamptz") ", $1::timestamptz > lethe_now()", text);
    sub.commit();
    if (!r[0][1].as<bool>()) return refused("expires_at must be in the future");
    return std::string(r[0][0].c_str());
  } catch (const pqxx::data_exception&) {
    return refused("expires_at names a day or time that does not exist");
  }
}

}  // namespace

UserService::UserService(EventStore& store, infra::PasswordPool& passwords, LoginPolicy policy)
    : store_(store), passwords_(passwords), policy_(policy), cache_(std::make_unique<StateCache<users::User>>()) {}

UserService::~UserService() = default;

users::User UserService::load(const std::string& user_id) {
  users::User out;
  store_.transact([&](EventStore::Transaction& t) {
    CommandContext ctx;
    CommandTx tx(t, ctx);
    out = load_in(tx, user_id);
    return false;
  });
  return out;
}

users::Actor UserService::actor(const std::string& id) {
  users::Actor out;
  store_.transact([&](EventStore::Transaction& t) {
    CommandContext ctx;
    ctx.actor = id;
    out = actor_in(t.sql(), ctx);
    return false;
  });
  return out;
}

domain::Result<Written> UserService::register_user(users::RegisterUser command, const std::string& password,
                                                   const CommandContext& ctx) {
  if (!password.empty()) {
    if (auto err = users::check_password("password", password)) return *err;
    command.password_hash = passwords_.hash(password);
  }
  return run_command(store_, ctx, [&](CommandTx& tx) { return decide_account(tx, command, cache_.get()); });
}

domain::Result<Written> UserService::handle(const users::Command& command, const CommandContext& ctx) {
  if (std::holds_alternative<users::RegisterUser>(command) || std::holds_alternative<users::ChangePassword>(command) ||
      std::holds_alternative<users::IssueApiKey>(command))
    return domain::invalid("", "register, passwords and API keys have their own calls");
  return run_command(store_, ctx, [&](CommandTx& tx) { return decide_account(tx, command, cache_.get()); });
}

namespace {

constexpr const char* kPruneLoginState =
    "WITH expired AS ("
    "  DELETE FROM login_failures WHERE ctid IN (SELECT ctid FROM login_failures"
    "   WHERE failed_at <= lethe_clock() - $2::interval LIMIT 100 FOR UPDATE SKIP LOCKED)"
    "  RETURNING email_index)"
    " DELETE FROM login_limits l WHERE l.email_index <> $1 AND l.email_index IN ("
    "  SELECT email_index FROM login_limits WHERE email_index IN (SELECT email_index FROM expired)"
    "   FOR UPDATE SKIP LOCKED)"
    " AND NOT EXISTS (SELECT 1 FROM login_failures f WHERE f.email_index = l.email_index"
    "  AND f.failed_at > lethe_clock() - $2::interval)"
    " AND NOT EXISTS (SELECT 1 FROM email_reservations r WHERE r.email_index = l.email_index)";

// Counts an attempt at an account's password (login, or the current
// password when changing it) as a failure of its email before the password
// is checked, under the email's lock row, so concurrent attempts on any
// server cannot race past the limit. Returns the seconds until the email
// may try again when it is over the limit (then nothing is counted).
std::optional<int> count_attempt(pqxx::dbtransaction& sql, const LoginPolicy& policy, const std::string& index,
                                 const std::string& attempt) {
  const auto window = std::to_string(policy.window.count()) + " seconds";
  sql.exec_params("INSERT INTO login_limits (email_index) VALUES ($1) ON CONFLICT DO NOTHING", bytes(index));
  sql.exec_params("SELECT 1 FROM login_limits WHERE email_index = $1 FOR UPDATE", bytes(index));
  const auto limited = sql.exec_params(
      "SELECT ceil(extract(epoch FROM failed_at + $2::interval - lethe_clock()))::int FROM login_failures"
      " WHERE email_index = $1 AND failed_at > lethe_clock() - $2::interval"
      " ORDER BY failed_at DESC OFFSET $3 LIMIT 1",
      bytes(index), window, policy.max_failures - 1);
  if (!limited.empty()) return std::max(1, limited[0][0].as<int>());
  // Failures that left the window count for nothing: gone, this email's
  // and, a bounded batch at a time, anyone's (with the lock rows of emails
  // left with no failure), so that state kept for emails nobody has stays
  // bounded. SKIP LOCKED: rows other attempts hold are theirs to prune.
  sql.exec_params("DELETE FROM login_failures WHERE email_index = $1 AND failed_at <= lethe_clock() - $2::interval",
                  bytes(index), window);
  sql.exec_params(kPruneLoginState, bytes(index), window);
  sql.exec_params("INSERT INTO login_failures (email_index, attempt_id) VALUES ($1, $2)", bytes(index), attempt);
  return std::nullopt;
}

}  // namespace

domain::Result<std::string> UserService::verify_own(const users::User& state, const std::string& password,
                                                    const std::string& field) {
  // Your own password is a guess like a login's: it counts against the
  // same limit of the account's email, or a stolen session could try
  // passwords without end.
  const auto index = infra::email_index(users::normalize_email(state.email));
  const auto attempt = infra::new_uuid();
  std::optional<int> wait;
  store_.transact([&](EventStore::Transaction& t) {
    wait = count_attempt(t.sql().db(), policy_, index, attempt);
    return !wait;
  });
  if (wait)
    return DomainError{ErrorCode::rate_limited, field, "too many wrong passwords for this account; try again later",
                       *wait};
  const auto forget_attempt = [&] {
    store_.autocommit([&](pqxx::transaction_base& tx) {
      tx.exec_params("DELETE FROM login_failures WHERE attempt_id = $1", attempt);
    });
  };
  const bool usable = !state.password_hash.empty() && !domain::is_erased(state.password_hash);
  bool matches = false;
  try {
    static const std::string decoy = passwords_.hash("lethe: this account has no password");
    matches = passwords_.verify(usable ? state.password_hash : decoy, password) && usable;
  } catch (const infra::Busy&) {
    forget_attempt();  // not checked: not held against the account
    throw;
  }
  if (!usable) return DomainError{ErrorCode::forbidden, field, "this account has no password to give"};
  if (!matches) return DomainError{ErrorCode::forbidden, field, "the password is wrong"};
  forget_attempt();
  return state.password_hash;
}

std::optional<DomainError> UserService::check_own_password(const std::string& user_id, const std::string& password,
                                                           const std::string& field) {
  const auto state = load(user_id);
  if (!state.exists) return DomainError{ErrorCode::not_found, field, "no such account"};
  auto verified = verify_own(state, password, field);
  if (!verified) return verified.error();
  return std::nullopt;
}

domain::Result<Written> UserService::change_password(const std::string& user_id,
                                                     const std::optional<std::string>& current,
                                                     const std::string& new_password, const CommandContext& ctx,
                                                     const std::string& keep_session) {
  if (auto err = users::check_password("new_password", new_password)) return *err;
  users::ChangePassword command{user_id, "", false};
  std::string verified_against;
  if (current) {
    // Checked outside the transaction (Argon2 is slow); the transaction then
    // makes sure the password it was checked against is still the one.
    const auto state = load(user_id);
    if (state.exists && ctx.actor == user_id) {
      auto verified = verify_own(state, *current, "current_password");
      if (!verified) return verified.error();
      command.current_password_verified = true;
      verified_against = std::move(verified).value();
    } else if (state.exists && passwords_.verify(state.password_hash, *current)) {
      command.current_password_verified = true;
      verified_against = state.password_hash;
    }
  }
  command.password_hash = passwords_.hash(new_password);
  return run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    if (command.current_password_verified && load_in(tx, user_id).password_hash != verified_against)
      return conflict("current_password", "the password changed meanwhile; try again");
    return decide_account(tx, command, cache_.get(), keep_session);
  });
}

domain::Result<IssuedKey> UserService::issue_api_key(const std::string& user_id, const std::string& name,
                                                     const std::string& expires_at, const CommandContext& ctx) {
  const auto token = infra::new_token("lk");
  IssuedKey out{{}, token.id, token.text, token.text.substr(0, 10), ""};
  auto written = run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    auto when = future_time(tx.sql().db(), expires_at);
    if (!when) return when.error();
    out.expires_at = when.value();
    return decide_account(tx, users::IssueApiKey{user_id, token.id, name, out.prefix, out.expires_at}, cache_.get(),
                          token.hash);
  });
  if (!written) return written.error();
  out.written = std::move(written).value();
  return out;
}

domain::Result<Written> UserService::add_note(const std::string& user_id, const std::string& text,
                                              const CommandContext& ctx) {
  return run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    const auto about = load_in(tx, user_id);
    auto note = users::decide_note(about, infra::new_uuid(), text, actor_in(tx.sql(), ctx));
    if (!note) return note.error();
    const auto stream = domain::stream_of("usernotes", user_id);
    const auto notes = tx.read(stream);
    tx.append(stream, notes.empty() ? 0 : notes.back().stream_version,
              drafts_of(std::vector<users::Event>{note.value()}));
    return std::nullopt;
  });
}

domain::Result<KeyRelease> UserService::release_key(const Authenticated& service, const std::string& person_id,
                                                    const std::string& topic, const CommandContext& ctx) {
  KeyRelease out;
  out.release_id = infra::new_uuid();
  auto written = run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    // Entitled first: a service that may not have the key learns nothing
    // of the person, not even whether they are erased.
    auto release = users::decide_key_release(load_in(tx, service.user_id), person_id, topic, 0);
    if (!release) return release.error();
    if (!infra::erased_among(tx.sql(), {person_id}).empty())
      return DomainError{domain::ErrorCode::gone, "user_id", "the person is erased: their key is destroyed"};
    // Only an account's key: never a key domain's secret ("~domain:..."),
    // which no account id can name (RegisterUser refuses '~').
    if (person_id.starts_with('~') ||
        infra::exec_hot(tx.sql(), "SELECT 1 FROM accounts WHERE user_id = $1", person_id).empty())
      return DomainError{domain::ErrorCode::not_found, "user_id", "no such person"};
    const auto keys = infra::load_person_keys(tx.sql(), {person_id});
    const auto key = keys.find(person_id);
    if (key == keys.end())
      return DomainError{domain::ErrorCode::not_found, "user_id", "no key: nothing of this person is sealed"};
    std::get<users::KeyReleased>(release.value()).key_id = key->second.key_id;
    tx.append(domain::stream_of("keyrelease", out.release_id), 0,
              drafts_of(std::vector<users::Event>{release.value()}));
    out.key_id = key->second.key_id;
    // A topic in a key domain (staff) gets the person's domain key, from
    // which their own key cannot be computed, nor theirs of another domain.
    auto released = key->second.key;
    const auto domain = domain::key_domain_of_topic(topic);
    if (!domain.empty()) {
      const auto secret = infra::ensure_person_key(tx.sql(), domain::key_domain_subject(domain));
      released = domain::domain_key(key->second.key.data(), domain, secret.key.data());
    }
    out.domain = domain;
    out.key_base64.assign(sodium_base64_ENCODED_LEN(released.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
    sodium_bin2base64(out.key_base64.data(), out.key_base64.size(), released.data(), released.size(),
                      sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(released.data(), released.size());
    out.key_base64.resize(out.key_base64.size() - 1);  // the terminating NUL
    return std::nullopt;
  });
  if (!written) {
    sodium_memzero(out.key_base64.data(), out.key_base64.size());
    return written.error();
  }
  out.written = std::move(written).value();
  out.user_id = person_id;
  out.topic = topic;
  return out;
}

LoginResult UserService::login(const std::string& email, const std::string& password, const CommandContext& ctx) {
  const auto index = infra::email_index(users::normalize_email(email));
  const auto attempt = infra::new_uuid();
  LoginResult out;
  std::string password_hash;
  bool known = false;
  // 1. Count and reserve, briefly: one row per email serialises this step
  // across every server process, and the attempt is counted as a failure
  // before the password is checked, so concurrent attempts cannot race past
  // the limit, and no lock is held while Argon2 runs.
  store_.transact([&](EventStore::Transaction& t) {
    pqxx::dbtransaction& sql = t.sql().db();
    if (const auto wait = count_attempt(sql, policy_, index, attempt)) {
      out.outcome = LoginResult::Outcome::limited;
      out.retry_after_seconds = *wait;
      return false;  // nothing appended, nothing counted
    }
    const auto who = sql.exec_params("SELECT user_id FROM email_reservations WHERE email_index = $1", bytes(index));
    if (!who.empty()) {
      known = true;
      out.user_id = who[0][0].c_str();
      CommandContext read_ctx;
      CommandTx tx(t, read_ctx);
      password_hash = load_in(tx, out.user_id).password_hash;
    }
    return true;
  });
  if (out.outcome == LoginResult::Outcome::limited) return out;

  // 2. The password, in the bounded pool, outside any transaction. Every
  // attempt costs one check (against a decoy when there is no password to
  // check), so timing does not tell which emails have accounts. An attempt
  // that could not be checked (the pool was busy) is not held against the
  // email.
  std::string reason;
  const bool usable = known && !password_hash.empty() && !domain::is_erased(password_hash);
  try {
    static const std::string decoy = passwords_.hash("lethe: no account has this email");
    const bool matches = passwords_.verify(usable ? password_hash : decoy, password);
    if (!known)
      reason = "unknown_email";
    else if (!usable)
      reason = "no_password";
    else if (!matches)
      reason = "wrong_password";
  } catch (const infra::Busy&) {
    store_.autocommit([&](pqxx::transaction_base& tx) {
      tx.exec_params("DELETE FROM login_failures WHERE attempt_id = $1", attempt);
    });
    throw;
  }

  // 3. The outcome, as an event for auditors: a failure stays counted; a
  // success clears the count and starts a session.
  auto written = run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    pqxx::dbtransaction& sql = tx.sql().db();
    if (reason.empty()) {
      // While the password was checked, the account may have been
      // deactivated or its password changed: then this login fails too.
      const auto now = load_in(tx, out.user_id);
      const auto account = sql.exec_params(
          "SELECT active, EXISTS (SELECT 1 FROM open_erasures WHERE user_id = $1 AND confirmed_at IS NOT NULL)"
          " FROM accounts WHERE user_id = $1",
          out.user_id);
      if (account.empty() || !account[0][0].as<bool>())
        reason = "deactivated";
      else if (account[0][1].as<bool>())
        reason = "erasure_pending";  // they confirmed their own erasure: no new session

      else if (now.password_hash != password_hash)
        reason = "wrong_password";
    }
    if (!reason.empty()) {
      // An email nobody has leaves no permanent trace (anyone can try any
      // number of them); its failure row counts against it until the
      // window ends, and then it is pruned.
      if (known)
        tx.append(domain::stream_of("login", attempt), 0,
                  drafts_of(std::vector<users::Event>{users::LoginFailed{out.user_id, reason}}));
      return std::nullopt;
    }
    const auto token = infra::new_token("ls");
    out.expires_at = sql.exec_params("SELECT " LETHE_UTC("lethe_now() + make_interval(secs => $1)"),
                                     static_cast<double>(policy_.session_ttl.count()))[0][0]
                         .c_str();
    const users::LoggedIn event{out.user_id, token.id, out.expires_at};
    tx.append(domain::stream_of("session", token.id), 0, drafts_of(std::vector<users::Event>{event}));
    if (auto err = apply_access(sql, event, token.hash)) return err;
    // A success clears the failures counted before this attempt (attempts
    // still in flight keep their reservation).
    sql.exec_params(
        "DELETE FROM login_failures WHERE email_index = $1 AND failed_at <= (SELECT failed_at FROM login_failures"
        " WHERE attempt_id = $2)",
        bytes(index), attempt);
    out.session_id = token.id;
    out.token = token.text;
    return std::nullopt;
  });
  if (!written) return out;  // (no refusal is possible above)
  out.written = std::move(written).value();
  if (reason.empty()) {
    out.outcome = LoginResult::Outcome::ok;
  } else {
    out.outcome = LoginResult::Outcome::refused;
    out.user_id.clear();
  }
  return out;
}

domain::Result<Written> UserService::logout(const Authenticated& who, const CommandContext& ctx) {
  if (who.kind != "session")
    return domain::DomainError{domain::ErrorCode::rule_violated, "authorization",
                               "logout ends a session; API keys are revoked instead"};
  return run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    const auto stream = domain::stream_of("session", who.credential_id);
    const auto events = tx.read(stream);
    if (events.size() != 1) return conflict("authorization", "the session has ended already");
    const users::LoggedOut event{who.user_id, who.credential_id};
    tx.append(stream, 1, drafts_of(std::vector<users::Event>{event}));
    return apply_access(tx.sql(), event);
  });
}

std::optional<Authenticated> UserService::authenticate(const std::string& token) {
  if (token.empty() || token.size() > 200) return std::nullopt;
  const auto hash = infra::token_hash(token);
  std::optional<Authenticated> out;
  store_.autocommit([&](pqxx::transaction_base& tx) {
    const auto r = infra::exec_hot(tx, kAuthenticate, bytes(hash));
    if (!r.empty())
      out = Authenticated{r[0]["user_id"].c_str(), users::parse_role(r[0]["role"].c_str()).value_or(users::Role::user),
                          r[0]["kind"].c_str(), r[0]["credential_id"].c_str()};
  });
  return out;
}

std::vector<ApiKeyInfo> UserService::api_keys(const std::string& user_id, std::int64_t limit, std::int64_t offset) {
  std::vector<ApiKeyInfo> out;
  store_.transact([&](EventStore::Transaction& t) {
    for (const auto& r : t.sql().driver().exec_params(
             "SELECT credential_id, name, prefix, " LETHE_UTC(
                 "created_at") " AS created_at, "
                               "COALESCE(" LETHE_UTC(
                                   "expires_at") ", '') AS expires_at, "
                                                 "COALESCE(" LETHE_UTC(
                                                     "last_used_at") ", '') AS last_used_at, "
                                                                     "COALESCE(" LETHE_UTC(
                                                                         "revoked_at") ", '') AS revoked_at "
                                                                                       "FROM credentials WHERE user_id "
                                                                                       "= $1 AND kind = 'api_key' "
                                                                                       "ORDER BY created_at, "
                                                                                       "credential_id LIMIT $2 OFFSET "
                                                                                       "$3",
             user_id, limit, offset))
      out.push_back({r["credential_id"].c_str(), r["name"].is_null() ? "" : r["name"].c_str(), r["prefix"].c_str(),
                     r["created_at"].c_str(), r["expires_at"].c_str(), r["last_used_at"].c_str(),
                     r["revoked_at"].c_str()});
    // The names are sealed under their person's key (in the users topic's
    // key domain): one key load, opened here and zeroed when dropped.
    std::vector<std::string> subjects{user_id};
    for (const auto& k : out)
      for (auto& subject : domain::sealed_text_subjects(k.name)) subjects.push_back(std::move(subject));
    auto keys = infra::load_person_keys(t.sql(), subjects);
    for (auto& k : out) {
      const auto opened = domain::open_sealed_text(k.name, domain::lookup_in(keys));
      k.name = opened ? opened.value().value_or("") : "";
    }
    for (auto& [subject, key] : keys) infra::wipe(key.key.data(), key.key.size());
    return false;
  });
  return out;
}

domain::Result<IssuedKey> UserService::bootstrap(const std::string& email, const std::string& name,
                                                 const CommandContext& ctx) {
  const auto user_id = infra::new_uuid();
  const auto token = infra::new_token("lk");
  IssuedKey out{{}, token.id, token.text, token.text.substr(0, 10), ""};
  auto written = run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    active_owners(tx.sql());  // takes the owners' lock: two bootstraps cannot both pass
    if (!tx.sql().driver().exec("SELECT 1 FROM accounts WHERE role = 'owner' LIMIT 1").empty())
      return conflict("", "an owner exists already: bootstrap runs once, on an empty system");
    const users::Actor system{ctx.actor, users::Role::owner};
    auto registered = users::decide({}, users::RegisterUser{user_id, email, name, "owner", ""}, system);
    if (!registered) return registered.error();
    const auto state = users::evolve({}, registered.value().at(0));
    auto issued = users::decide(state, users::IssueApiKey{user_id, token.id, "bootstrap", out.prefix, ""}, system);
    if (!issued) return issued.error();
    auto events = registered.value();
    events.push_back(issued.value().at(0));
    tx.append(user_stream(user_id), 0, drafts_of(events));
    for (const auto& ev : events)
      if (auto err = apply_access(tx.sql(), ev, token.hash)) return err;
    keep_key_names_sealed(tx.sql(), events, tx.written());
    return std::nullopt;
  });
  if (!written) return written.error();
  out.written = std::move(written).value();
  return out;
}

}  // namespace lethe::producers
