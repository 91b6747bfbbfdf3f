#pragma once
// The email log: a record that a mail went to a user (template, subject,
// when), written through the API by the service that sends mail. Pure: the
// id and the time come with the command.
//
// Stream: one logged email is email-<id>. The subject is the recipient's
// personal data (a subject line often names the person), sealed under
// recipient_id's key.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lethe/domain/event_fields.hpp"
#include "lethe/domain/personal.hpp"
#include "lethe/domain/registry.hpp"
#include "lethe/domain/result.hpp"
#include "users.hpp"

namespace lethe::domain::email {

inline constexpr std::size_t kMaxTemplate = 100;
inline constexpr std::size_t kMaxSubject = 500;

// Stream name.
std::string email_stream(std::string_view email_id);

// A system actor: "system" or "system:<name>" (the services and the CLI).
bool is_system_actor(std::string_view actor_id) noexcept;
// RFC 3339 in UTC: YYYY-MM-DDTHH:MM:SS, an optional fraction of 1 to 9
// digits, then Z; months, days, hours, minutes and seconds (up to a leap
// second 60) in range. The day is not checked against its month.
bool is_utc_timestamp(std::string_view s) noexcept;

// ---- Events (see lethe/domain/event_fields.hpp). ----
struct EmailSentLogged {
  LETHE_EVENT("email.sent_logged");
  std::string email_id, recipient_id, template_name, subject, sent_at;
  static constexpr auto fields() {
    using E = EmailSentLogged;
    return std::array<FieldSpec<E>, 5>{{{"email_id", &E::email_id},
                                        {"recipient_id", &E::recipient_id},
                                        {"template", &E::template_name},
                                        {"subject", &E::subject},
                                        {"sent_at", &E::sent_at}}};
  }
};

using Event = std::variant<EmailSentLogged>;

// The email domain as the registry knows it: its event on the email topic,
// read by the email projection.
const DomainSpec& spec();
std::vector<std::string_view> event_types();

// ---- Commands ----
struct LogEmailSent {
  std::string email_id, recipient_id, template_name, subject, sent_at;
};
using Command = std::variant<LogEmailSent>;

struct EmailLog {
  bool exists = false;
  std::string email_id, recipient_id, template_name, subject, sent_at;
  std::int64_t version = 0;  // number of events folded
};

// The rules: only a system actor (the mail service) or an admin or owner
// logs an email; auditors and anonymous callers change nothing. Template
// [a-z0-9_.-]{1,100}; subject 1..500 bytes; sent_at as is_utc_timestamp();
// an email id is logged once (already_exists).
Result<std::vector<Event>> decide(const EmailLog& state, const Command& command, const users::Actor& actor);
EmailLog evolve(EmailLog state, const Event& event);

LETHE_DECLARE_EVENT_CODEC();

}  // namespace lethe::domain::email
