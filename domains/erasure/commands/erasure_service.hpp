#pragma once
// The right to erasure on the write side. A request is a stream of its own
// (erasure-<request id>); carrying it out is ONE transaction of the event
// store that
//   1. reads the request, the person's account and every record they own
//      (tickets assigned to them, products and categories they created or
//      were handed, found through indexes on the event store itself);
//   2. decides by the rules (domain/erasure.hpp) and the rate limit;
//   3. destroys the person's key and enters them in the register of erased
//      people (infra::destroy_person_key), which makes every sealed field of
//      theirs unreadable in every copy of the log;
//   4. appends each record's hand-over to the erasing admin on the record's
//      own stream, then erasure.ownership_handed_over and user.erased on the
//      request's stream;
//   5. removes their rows from the write side's own tables: credentials,
//      reservations, the open cart, the login limit, the pending request;
//      their account row stays, anonymous, so their id is never given again.
// Either all of it happens or none. Projections then apply user.erased by
// their own policies and each appends its receipt (erasure.applied).
#include <chrono>
#include <string>
#include <vector>

#include "erasure.hpp"
#include "lethe/producers/command_path.hpp"
#include "lethe/producers/event_store.hpp"

namespace lethe::producers {

struct ErasureSettings {
  int per_hour = 10;                                                 // erasures an admin may carry out per hour
  std::chrono::seconds token_ttl{24 * 3600};                         // a self-service confirmation token's life
  std::vector<std::string> tasks{"payment_provider", "newsletter"};  // external systems to be told
  std::vector<std::string> projections;                              // every projection that must apply an erasure
};

// One erasure as the erasure topic keeps it (user.erased): the register of
// erased people outside PostgreSQL, retained forever.
struct ErasedOnTopic {
  std::string request_id, user_id, erased_by, erased_at, key_fingerprint;
};

// What forget_again did for one person: nothing (registered already), or
// their key destroyed again (`restored_key`: the key was back, and
// `fingerprint_matches` says whether it is the one the topic names).
struct ForgottenAgain {
  bool forgotten = false, restored_key = false, fingerprint_matches = false;
};

struct ErasureStarted {
  std::vector<domain::Envelope> written;
  std::string request_id;
  std::string token, confirm_by;  // self-service only: the token is shown once
};

class ErasureService {
 public:
  ErasureService(EventStore& store, ErasureSettings settings) : store_(store), settings_(std::move(settings)) {}

  // An admin (ctx.actor) erases another user now: their pending request, or
  // a new one, carried out in one transaction.
  domain::Result<ErasureStarted> erase(const std::string& user_id, const CommandContext& ctx);
  // The person (ctx.actor) asks for their own erasure and gets a token.
  domain::Result<ErasureStarted> request_own(const CommandContext& ctx);
  // The person confirms with the token: their sessions end at once and the
  // request waits for an admin.
  domain::Result<std::vector<domain::Envelope>> confirm_own(const std::string& token, const CommandContext& ctx);
  // An admin carries out a confirmed request.
  domain::Result<std::vector<domain::Envelope>> execute(const std::string& request_id, const CommandContext& ctx);
  // The person (their own open request) or an admin (any request by id)
  // withdraws a request that is not carried out yet. request_id empty: the
  // actor's own open request.
  domain::Result<std::vector<domain::Envelope>> cancel(const std::string& request_id, const CommandContext& ctx);
  // An admin confirms that an external system forgot the person.
  domain::Result<std::vector<domain::Envelope>> confirm_task(const std::string& request_id, const std::string& task,
                                                             const CommandContext& ctx);

  // After PostgreSQL is restored from a backup taken before an erasure, the
  // register lacks the person while the erasure topic holds their
  // user.erased: forgets them again on the write side, in one transaction
  // under the person's lock, as carry_out did (their key destroyed, the
  // register entry with the topic's request, admin and time, the rows that
  // identify or admit them, the login limits of every email they had).
  // Appends nothing: the erasure's events are on the topics already.
  domain::Result<ForgottenAgain> forget_again(const ErasedOnTopic& erased, const CommandContext& ctx);

  const ErasureSettings& settings() const noexcept { return settings_; }

 private:
  // new_request: the admin's own, appended first; confirmed_only: a
  // self-service request must have been confirmed with its token first.
  std::optional<domain::DomainError> carry_out(CommandTx& tx, const std::string& request_id, const std::string& user_id,
                                               bool new_request, bool confirmed_only);
  EventStore& store_;
  ErasureSettings settings_;
};

}  // namespace lethe::producers
