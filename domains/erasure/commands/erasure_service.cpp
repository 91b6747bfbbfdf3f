#include "erasure_service.hpp"

#include <spdlog/spdlog.h>

#include <set>

#include "billing.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/infra/access.hpp"
#include "lethe/infra/ids.hpp"
#include "lethe/infra/keyring.hpp"
#include "lethe/infra/pg.hpp"
#include "shop.hpp"
#include "tickets.hpp"
#include "users.hpp"

namespace lethe::producers {

namespace erasure = domain::erasure;
namespace users = domain::users;
using domain::DomainError;
using domain::ErrorCode;

namespace {

// The streams of records the person owns now or owned once (a ticket
// assigned to them, a product or category they created or were handed),
// through the event store's own indexes (V010): never a read model. Each is
// read and folded; only what they still own is handed over.
constexpr const char* kOwnedSql =
    "SELECT stream_id FROM events WHERE type = 'ticket.assigned' AND payload ->> 'assignee_id' = $1"
    " UNION SELECT stream_id FROM events WHERE type IN ('shop.product_created', 'shop.category_created')"
    " AND payload ->> 'created_by' = $1"
    " UNION SELECT stream_id FROM events WHERE type IN ('shop.product_handed_over', 'shop.category_handed_over')"
    " AND payload ->> 'to_user_id' = $1"
    " ORDER BY 1";

// What the erasure ends for the person: their subscriptions (through the
// event store's index, V014) and their open carts (the write side's own
// table); each is read and folded, and only what is still active or open
// gets its event.
constexpr const char* kSubscriptionsSql =
    "SELECT stream_id FROM events WHERE type = 'billing.subscription_created' AND payload ->> 'user_id' = $1"
    " ORDER BY 1";
constexpr const char* kOpenCartsSql = "SELECT cart_id FROM open_carts WHERE user_id = $1 ORDER BY 1";
constexpr const char* kErasedReason = "the subscriber was erased";

// The rate limit per acting admin, counted under an advisory lock on them so
// that two erasures at once cannot both see room for one.
constexpr const char* kRecentSql =
    "SELECT count(*), coalesce(ceil(extract(epoch FROM min(erased_at) + interval '1 hour' - lethe_clock())), 0)"
    " FROM erasure_limits WHERE actor = $1 AND erased_at > lethe_clock() - interval '1 hour'";

// The write side's own rows of the person (see the comments in V007-V010):
// what identifies or admits them goes; the account row stays, anonymous.
constexpr const char* kForgetSql[] = {
    "DELETE FROM credentials WHERE user_id = $1",
    "DELETE FROM email_reservations WHERE user_id = $1",
    "DELETE FROM oauth_reservations WHERE user_id = $1",
    "DELETE FROM open_carts WHERE user_id = $1",
    "DELETE FROM open_erasures WHERE user_id = $1",
    "DELETE FROM erasure_limits WHERE actor = $1",
    "UPDATE accounts SET active = false, email_index = NULL, erased_at = now(), updated_at = now()"
    " WHERE user_id = $1",
};

// The blind index of every email the person ever had (their account
// stream, opened before the key goes: the registration and each change):
// the login limit's rows of a former email would otherwise outlive them.
std::set<std::string> email_indexes_ever(CommandTx& tx, const std::string& user_id) {
  std::set<std::string> indexes;
  for (const auto& env : tx.read(domain::stream_of("user", user_id))) {
    const auto ev = users::decode_payload(env.type, env.schema_version, env.payload);
    if (!ev) continue;
    std::string email;
    if (const auto* r = std::get_if<users::UserRegistered>(&ev.value())) email = r->email;
    if (const auto* c = std::get_if<users::UserEmailChanged>(&ev.value())) email = c->email;
    if (!email.empty() && !domain::is_erased(email)) indexes.insert(infra::email_index(users::normalize_email(email)));
  }
  return indexes;
}

// The write side's rows of the person and the login limits of every email
// they had (email_indexes_ever).
void forget_rows(pqxx::transaction_base& tx, const std::string& user_id, const std::set<std::string>& email_indexes) {
  for (const auto* sql : kForgetSql) infra::exec_hot(tx, sql, user_id);
  for (const auto& index : email_indexes)
    for (const auto* sql :
         {"DELETE FROM login_failures WHERE email_index = $1", "DELETE FROM login_limits WHERE email_index = $1"})
      infra::exec_hot(tx, sql, pqxx::binarystring(index));
}

// Everything that decides about one person's erasure (asking, confirming,
// carrying it out) is serialised per person, so that two of them at once
// cannot both pass the checks.
void lock_person(pqxx::transaction_base& tx, const std::string& user_id) {
  lock_stream(tx, "erasure-person:" + user_id);
}

std::string user_stream(const std::string& id) {
  return domain::stream_of("user", id);
}

erasure::Request load_request(CommandTx& tx, const std::string& stream) {
  return fold<erasure::Request>(tx.read(stream), erasure::decode_payload,
                                [](erasure::Request r, const erasure::Event& e) { return erasure::evolve(r, e); });
}

// What the rules need to know about the person, read in the transaction.
erasure::Target target_of(CommandTx& tx, const std::string& user_id) {
  const auto user = fold<users::User>(tx.read(user_stream(user_id)), users::decode_payload, users::evolve);
  erasure::Target t;
  t.user_id = user_id;
  t.exists = user.exists;
  t.erased = !infra::erased_among(tx.sql(), {user_id}).empty();
  t.role = user.role;
  t.active = active_role(tx.sql(), user_id).has_value();
  if (user.exists && user.role == users::Role::owner) t.active_owners = active_owners(tx.sql());
  return t;
}

std::optional<DomainError> check_rate(pqxx::transaction_base& tx, const std::string& actor, int per_hour) {
  lock_stream(tx, "erasure-limit:" + actor);
  const auto r = infra::exec_hot(tx, kRecentSql, actor);
  if (r[0][0].as<int>() < per_hour) return std::nullopt;
  DomainError err{ErrorCode::rate_limited, "user_id",
                  "at most " + std::to_string(per_hour) + " erasures per hour per admin; try again later"};
  err.retry_after_seconds = std::max(1, r[0][1].as<int>());
  return err;
}

// One record the person owns, and its hand-over event (already encoded).
struct HandOver {
  std::string stream, kind, id;
  std::int64_t version;
  Draft draft;
};

// Reads every record the person owned and decides which go to `to`.
std::vector<HandOver> owned_records(CommandTx& tx, const std::string& from, const std::string& to) {
  std::vector<HandOver> out;
  auto shop_evolve = [](auto s, const domain::shop::Event& e) { return domain::shop::evolve(std::move(s), e); };
  for (const auto& row : infra::exec_hot(tx.sql(), kOwnedSql, from)) {
    const std::string stream = row[0].c_str();
    const auto events = tx.read(stream);
    std::optional<Draft> draft;
    std::string kind;
    if (stream.starts_with("ticket-")) {
      kind = "ticket";
      const auto t = fold<domain::tickets::Ticket>(events, domain::tickets::decode_payload, domain::tickets::evolve);
      if (auto ev = domain::tickets::hand_over(t, from, to)) draft = drafts_of(std::vector{*ev}).front();
    } else if (stream.starts_with("product-")) {
      kind = "product";
      const auto p = fold<domain::shop::Product>(events, domain::shop::decode_payload, shop_evolve);
      if (auto ev = domain::shop::hand_over(p, from, to)) draft = drafts_of(std::vector{*ev}).front();
    } else if (stream.starts_with("category-")) {
      kind = "category";
      const auto c = fold<domain::shop::Category>(events, domain::shop::decode_payload, shop_evolve);
      if (auto ev = domain::shop::hand_over(c, from, to)) draft = drafts_of(std::vector{*ev}).front();
    }
    if (!draft) continue;
    out.push_back({stream, kind, stream.substr(kind.size() + 1), events.back().stream_version, std::move(*draft)});
  }
  return out;
}

// One stream the erasure appends to (besides its own), at the version read.
struct Ended {
  std::string stream;
  std::int64_t version;
  Draft draft;
};

// The person's active subscriptions, cancelled by the erasing admin (the
// billing right), and their open carts, closed (carts hold no stock).
std::vector<Ended> ended_by_erasure(CommandTx& tx, const std::string& user_id, const users::Actor& actor) {
  namespace billing = domain::billing;
  namespace shop = domain::shop;
  std::vector<Ended> out;
  for (const auto& row : infra::exec_hot(tx.sql(), kSubscriptionsSql, user_id)) {
    const std::string stream = row[0].c_str();
    const auto events = tx.read(stream);
    const auto sub = fold<billing::Subscription>(
        events, billing::decode_payload, [](auto s, const auto& e) { return billing::evolve(std::move(s), e); });
    if (!sub.exists || sub.cancelled || sub.user_id != user_id) continue;
    auto cancel = billing::decide(
        sub, billing::SubscriptionCommand{billing::CancelSubscription{sub.subscription_id, kErasedReason}}, actor);
    if (!cancel)
      throw std::logic_error("the erasure cannot cancel subscription " + sub.subscription_id + ": " +
                             cancel.error().message);
    out.push_back({stream, events.back().stream_version, drafts_of(cancel.value()).front()});
  }
  for (const auto& row : infra::exec_hot(tx.sql(), kOpenCartsSql, user_id)) {
    const auto stream = domain::stream_of("cart", row[0].c_str());
    const auto events = tx.read(stream);
    const auto cart = fold<shop::Cart>(events, shop::decode_payload,
                                       [](auto c, const auto& e) { return shop::evolve(std::move(c), e); });
    if (auto closed = shop::close_for_erasure(cart))
      out.push_back({stream, events.back().stream_version, drafts_of(std::vector{*closed}).front()});
  }
  return out;
}

// The actor's role as the write side holds it: an admin or an owner, else 403.
std::optional<DomainError> admins_only(CommandTx& tx, const std::string& act) {
  const auto actor = actor_in(tx.sql(), tx.context());
  if (actor.role == users::Role::admin || actor.role == users::Role::owner) return std::nullopt;
  return DomainError{ErrorCode::forbidden, "Authorization", "only an admin or an owner " + act};
}

domain::Json records_json(const std::vector<HandOver>& records) {
  std::vector<erasure::RecordRef> refs;
  for (const auto& r : records) refs.push_back({r.kind, r.id});
  return erasure::records_of(refs);
}

}  // namespace

std::optional<DomainError> ErasureService::carry_out(CommandTx& tx, const std::string& request_id,
                                                     const std::string& user_id, bool new_request,
                                                     bool confirmed_only) {
  tx.allow_erased();
  const auto stream = erasure::request_stream(request_id);
  lock_person(tx.sql(), user_id);
  lock_stream(tx.sql(), stream);
  // Every stream this appends to is read before anything is written.
  const auto request = load_request(tx, stream);
  if (!new_request) {
    if (request.status == erasure::Status::none)
      return DomainError{ErrorCode::not_found, "request_id", "no such erasure request"};
    if (request.status == erasure::Status::erased)
      return DomainError{ErrorCode::gone, "request_id", "the request is carried out already"};
    if (confirmed_only && request.status == erasure::Status::awaiting_confirmation)
      return DomainError{ErrorCode::rule_violated, "request_id",
                         "the person has not confirmed the request with its token yet"};
  }
  const auto actor = actor_in(tx.sql(), tx.context());
  const auto target = target_of(tx, user_id);
  if (auto err = erasure::may_erase(actor, target)) return err;
  if (!is_system_actor(actor.id))
    if (auto err = check_rate(tx.sql(), actor.id, settings_.per_hour)) return err;
  const auto records = owned_records(tx, user_id, actor.id);
  const auto ended = ended_by_erasure(tx, user_id, actor);
  const auto emails = email_indexes_ever(tx, user_id);

  // Reads done: now the writes, the key first.
  const auto fingerprint = infra::destroy_person_key(tx.sql(), user_id, request_id, actor.id).fingerprint;
  std::vector<erasure::Event> steps;
  if (new_request) steps.emplace_back(erasure::admin_request(request_id, user_id, settings_.tasks));
  steps.emplace_back(erasure::OwnershipHandedOver{request_id, user_id, actor.id, records_json(records)});
  steps.emplace_back(erasure::UserErased{request_id, user_id, fingerprint, erasure::string_array(settings_.projections),
                                         std::string(erasure::kBeyondReach),
                                         infra::readable_in_backups_until(tx.sql()).value_or("")});
  for (const auto& r : records) tx.append(r.stream, r.version, {r.draft});
  for (const auto& e : ended) tx.append(e.stream, e.version, {e.draft});
  tx.append(stream, request.version, drafts_of(steps));
  forget_rows(tx.sql(), user_id, emails);
  if (!is_system_actor(actor.id))
    infra::exec_hot(tx.sql(), "INSERT INTO erasure_limits (actor, request_id) VALUES ($1, $2)", actor.id, request_id);
  // Once committed, every cache of folded states in this process forgets
  // what it holds (StateCache): nothing of theirs stays in memory.
  tx.on_commit([] { erasures_committed().fetch_add(1, std::memory_order_release); });
  spdlog::info("erasure {}: user {} erased by {}, {} records handed over, {} subscriptions and carts ended, key {}",
               request_id, user_id, actor.id, records.size(), ended.size(), fingerprint);
  return std::nullopt;
}

domain::Result<ForgottenAgain> ErasureService::forget_again(const ErasedOnTopic& erased, const CommandContext& ctx) {
  ForgottenAgain out;
  auto written = run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    tx.allow_erased();
    out = {};
    lock_person(tx.sql(), erased.user_id);
    if (!infra::erased_among(tx.sql(), {erased.user_id}).empty()) return std::nullopt;  // registered already
    const auto emails = email_indexes_ever(tx, erased.user_id);
    const auto destroyed = infra::destroy_person_key(tx.sql(), erased.user_id, erased.request_id, erased.erased_by);
    infra::exec_hot(tx.sql(), "UPDATE erased_persons SET erased_at = $2::timestamptz WHERE subject = $1",
                    erased.user_id, erased.erased_at);
    forget_rows(tx.sql(), erased.user_id, emails);
    out.forgotten = true;
    out.restored_key = destroyed.found_key;
    out.fingerprint_matches = destroyed.fingerprint == erased.key_fingerprint;
    tx.on_commit([] { erasures_committed().fetch_add(1, std::memory_order_release); });
    return std::nullopt;
  });
  if (!written) return written.error();
  return out;
}

domain::Result<ErasureStarted> ErasureService::erase(const std::string& user_id, const CommandContext& ctx) {
  ErasureStarted out;
  auto written = run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    // A request the person made (awaiting their token, or confirmed) is the
    // one carried out, on the admin's own authority; else the admin's own.
    lock_person(tx.sql(), user_id);
    const auto open = infra::exec_hot(tx.sql(), "SELECT request_id FROM open_erasures WHERE user_id = $1", user_id);
    out.request_id = open.empty() ? infra::new_uuid() : std::string(open[0][0].c_str());
    return carry_out(tx, out.request_id, user_id, open.empty(), false);
  });
  if (!written) return written.error();
  out.written = std::move(written).value();
  return out;
}

domain::Result<Written> ErasureService::execute(const std::string& request_id, const CommandContext& ctx) {
  return run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    const auto open = infra::exec_hot(tx.sql(), "SELECT user_id FROM open_erasures WHERE request_id = $1", request_id);
    if (open.empty()) {
      const auto request = load_request(tx, erasure::request_stream(request_id));
      if (request.status == erasure::Status::erased)
        return DomainError{ErrorCode::gone, "request_id", "the request is carried out already"};
      return DomainError{ErrorCode::not_found, "request_id", "no such erasure request waits"};
    }
    return carry_out(tx, request_id, open[0][0].c_str(), false, true);
  });
}

domain::Result<ErasureStarted> ErasureService::request_own(const CommandContext& ctx) {
  ErasureStarted out;
  auto written = run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    const auto& user_id = ctx.actor;
    if (is_system_actor(user_id))
      return DomainError{ErrorCode::forbidden, "Authorization", "a person asks for their own erasure"};
    out.request_id = infra::new_uuid();
    const auto stream = erasure::request_stream(out.request_id);
    lock_person(tx.sql(), user_id);
    lock_stream(tx.sql(), stream);
    const auto request = load_request(tx, stream);
    const auto target = target_of(tx, user_id);
    if (auto err = erasure::may_request_own(target)) return err;
    // One request at a time; one whose token expired unconfirmed makes room.
    const auto open = infra::exec_hot(
        tx.sql(), "SELECT confirmed_at IS NOT NULL OR confirm_by > lethe_now() FROM open_erasures WHERE user_id = $1",
        user_id);
    if (!open.empty() && open[0][0].as<bool>())
      return DomainError{ErrorCode::conflict, "user_id", "an erasure request of yours is pending already"};
    const auto token = infra::new_token("le");
    out.token = token.text;
    out.confirm_by = infra::exec_hot(tx.sql(), "SELECT " LETHE_UTC_US("lethe_now() + make_interval(secs => $1)"),
                                     static_cast<double>(settings_.token_ttl.count()))[0][0]
                         .c_str();
    tx.append(stream, request.version,
              drafts_of(std::vector<erasure::Event>{
                  erasure::self_request(out.request_id, user_id, out.confirm_by, settings_.tasks)}));
    infra::exec_hot(tx.sql(), "DELETE FROM open_erasures WHERE user_id = $1", user_id);
    infra::exec_hot(tx.sql(),
                    "INSERT INTO open_erasures (user_id, request_id, token_hash, confirm_by)"
                    " VALUES ($1, $2, $3, $4::timestamptz)",
                    user_id, out.request_id, pqxx::binarystring(token.hash), out.confirm_by);
    return std::nullopt;
  });
  if (!written) return written.error();
  out.written = std::move(written).value();
  return out;
}

domain::Result<Written> ErasureService::confirm_own(const std::string& token, const CommandContext& ctx) {
  return run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    const auto& user_id = ctx.actor;
    lock_person(tx.sql(), user_id);
    const auto open =
        infra::exec_hot(tx.sql(),
                        "SELECT request_id, token_hash, confirm_by > lethe_now(), confirmed_at IS NOT NULL"
                        " FROM open_erasures WHERE user_id = $1",
                        user_id);
    if (open.empty())
      return DomainError{ErrorCode::not_found, "token", "no erasure request of yours awaits confirmation"};
    const std::string request_id = open[0][0].c_str();
    const auto stream = erasure::request_stream(request_id);
    lock_stream(tx.sql(), stream);
    const auto request = load_request(tx, stream);
    if (open[0][3].as<bool>() || request.status != erasure::Status::awaiting_confirmation)
      return DomainError{ErrorCode::conflict, "token", "the request is confirmed already"};
    const pqxx::binarystring stored(open[0][1]);
    if (infra::token_hash(token) != stored.str())
      return DomainError{ErrorCode::forbidden, "token", "the token does not match the request"};
    if (!open[0][2].as<bool>())
      return DomainError{ErrorCode::rule_violated, "token", "the token expired: ask for the erasure again"};
    // Signed out everywhere at once: their sessions go now, the rest with
    // the erasure.
    const auto ended = infra::exec_hot(tx.sql(),
                                       "DELETE FROM credentials WHERE user_id = $1 AND kind = 'session'"
                                       " RETURNING credential_id",
                                       user_id)
                           .size();
    tx.append(stream, request.version,
              drafts_of(std::vector<erasure::Event>{
                  erasure::ErasureConfirmed{request_id, user_id, static_cast<std::int64_t>(ended)}}));
    infra::exec_hot(
        tx.sql(), "UPDATE open_erasures SET token_hash = NULL, confirmed_at = lethe_now() WHERE user_id = $1", user_id);
    return std::nullopt;
  });
}

domain::Result<Written> ErasureService::cancel(const std::string& request_id, const CommandContext& ctx) {
  return run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    const bool own = request_id.empty();
    const auto open =
        own ? infra::exec_hot(tx.sql(), "SELECT request_id, user_id FROM open_erasures WHERE user_id = $1", ctx.actor)
            : infra::exec_hot(tx.sql(), "SELECT request_id, user_id FROM open_erasures WHERE request_id = $1",
                              request_id);
    if (own && open.empty())
      return DomainError{ErrorCode::not_found, "request_id", "no erasure request of yours is open"};
    const std::string id = open.empty() ? request_id : open[0][0].c_str();
    const auto stream = erasure::request_stream(id);
    if (!open.empty()) lock_person(tx.sql(), open[0][1].c_str());
    lock_stream(tx.sql(), stream);
    const auto request = load_request(tx, stream);
    if (!own)
      if (auto err = admins_only(tx, "cancels another's request")) return err;
    auto decided = erasure::decide_cancel(request);
    if (!decided) return decided.error();
    tx.append(stream, request.version, drafts_of(std::vector{decided.value()}));
    infra::exec_hot(tx.sql(), "DELETE FROM open_erasures WHERE request_id = $1", id);
    return std::nullopt;
  });
}

domain::Result<Written> ErasureService::confirm_task(const std::string& request_id, const std::string& task,
                                                     const CommandContext& ctx) {
  return run_command(store_, ctx, [&](CommandTx& tx) -> std::optional<DomainError> {
    tx.allow_erased();  // the request names the erased person
    const auto stream = erasure::request_stream(request_id);
    lock_stream(tx.sql(), stream);
    const auto request = load_request(tx, stream);
    if (auto err = admins_only(tx, "confirms external tasks")) return err;
    auto decided = erasure::decide_task(request, task);
    if (!decided) return decided.error();
    tx.append(stream, request.version, drafts_of(std::vector{decided.value()}));
    return std::nullopt;
  });
}

}  // namespace lethe::producers
