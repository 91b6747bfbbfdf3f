#include "email.hpp"

#include <algorithm>

#include "checks.hpp"
#include "codec.hpp"

namespace lethe::domain::email {

namespace {

using checks::overloaded;
using users::Actor;
using Decision = Result<std::vector<Event>>;

constexpr auto kEventTypes = codec::event_specs<Event>("email");
constexpr std::string_view kProjections[] = {"email"};
constexpr TopicSpec kTopics[] = {{"email", 3, "email logs"}};

bool is_template(std::string_view s) {
  return !s.empty() && s.size() <= kMaxTemplate && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  });
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// The number in s[at, at + n) if all of it is digits, within [lo, hi].
bool number_in(std::string_view s, std::size_t at, std::size_t n, int lo, int hi) {
  int v = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (!is_digit(s[i])) return false;
    v = v * 10 + (s[i] - '0');
  }
  return v >= lo && v <= hi;
}

}  // namespace

const DomainSpec& spec() {
  static const DomainSpec s{"email", kEventTypes, kProjections, kTopics};
  return s;
}

std::vector<std::string_view> event_types() {
  return type_names(spec());
}

std::string email_stream(std::string_view email_id) {
  return "email-" + std::string(email_id);
}

bool is_system_actor(std::string_view actor_id) noexcept {
  return actor_id == "system" || actor_id.starts_with("system:");
}

bool is_utc_timestamp(std::string_view s) noexcept {
  // 2026-11-25T08:00:00Z is 20 bytes; a fraction adds '.' and 1 to 9 digits.
  constexpr std::size_t kBase = 19;
  if (s.size() < kBase + 1 || s.back() != 'Z') return false;
  if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return false;
  if (!number_in(s, 0, 4, 0, 9999) || !number_in(s, 5, 2, 1, 12) || !number_in(s, 8, 2, 1, 31) ||
      !number_in(s, 11, 2, 0, 23) || !number_in(s, 14, 2, 0, 59) || !number_in(s, 17, 2, 0, 60))
    return false;
  const auto fraction = s.substr(kBase, s.size() - kBase - 1);
  if (fraction.empty()) return true;
  return fraction.size() >= 2 && fraction.size() <= 10 && fraction.front() == '.' &&
         std::all_of(fraction.begin() + 1, fraction.end(), is_digit);
}

Decision decide(const EmailLog& state, const Command& command, const Actor& actor) {
  if (auto err = checks::may_change_anything(actor)) return *err;
  return std::visit(
      overloaded{
          [&](const LogEmailSent& c) -> Decision {
            if (!is_system_actor(actor.id) && !checks::is_admin_or_owner(actor))
              return checks::forbidden("", "only the mail service (a system actor), an admin or an owner logs email");
            if (auto err = checks::id("email_id", c.email_id)) return *err;
            if (auto err = checks::id("recipient_id", c.recipient_id)) return *err;
            if (state.exists) return checks::already_exists("email_id", "this email is logged already");
            if (!is_template(c.template_name))
              return invalid("template",
                             "template must be 1 to " + std::to_string(kMaxTemplate) + " of a-z, 0-9, _, . and -");
            if (auto err = checks::text("subject", c.subject, kMaxSubject)) return *err;
            if (!is_utc_timestamp(c.sent_at))
              return invalid("sent_at", "sent_at must be an RFC 3339 time in UTC, such as 2026-11-25T08:00:00Z");
            return std::vector<Event>{
                EmailSentLogged{c.email_id, c.recipient_id, c.template_name, c.subject, c.sent_at}};
          },
      },
      command);
}

EmailLog evolve(EmailLog s, const Event& event) {
  if (const auto* e = std::get_if<EmailSentLogged>(&event)) {
    s.exists = true;
    s.email_id = e->email_id;
    s.recipient_id = e->recipient_id;
    s.template_name = e->template_name;
    s.subject = e->subject;
    s.sent_at = e->sent_at;
  }
  ++s.version;
  return s;
}

LETHE_DEFINE_EVENT_CODEC("email")

}  // namespace lethe::domain::email
