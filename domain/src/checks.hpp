#pragma once
// The small checks that every domain shares: texts bounded in characters
// (Unicode code points of the UTF-8 text: what the API's and the events'
// schemas count with maxLength, so a text the API document allows is one
// the domain allows, and what it emits fits its event schema), ids bounded
// in bytes (they become stream names), the refusals as values, and who may
// change anything at all.
#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "lethe/domain/result.hpp"
#include "users.hpp"

namespace lethe::domain::checks {

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};

// Ids come with the command (made outside the domain); the schemas bound them.
inline constexpr std::size_t kMaxId = 200;

// Characters of UTF-8 text: every byte that does not continue a sequence.
inline std::size_t characters(std::string_view s) noexcept {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

inline std::optional<DomainError> text(std::string_view field, std::string_view value, std::size_t max) {
  if (value.empty()) return invalid(std::string(field), std::string(field) + " must not be empty");
  if (characters(value) > max)
    return invalid(std::string(field), std::string(field) + " must be at most " + std::to_string(max) + " characters");
  return std::nullopt;
}

// Like text(), but empty is allowed.
inline std::optional<DomainError> optional_text(std::string_view field, std::string_view value, std::size_t max) {
  if (value.empty()) return std::nullopt;
  return text(field, value, max);
}

inline std::optional<DomainError> id(std::string_view field, std::string_view value, std::size_t max = kMaxId) {
  if (value.empty()) return invalid(std::string(field), std::string(field) + " must not be empty");
  if (value.size() > max)
    return invalid(std::string(field), std::string(field) + " must be at most " + std::to_string(max) + " bytes");
  return std::nullopt;
}

inline DomainError forbidden(std::string field, std::string message) {
  return {ErrorCode::forbidden, std::move(field), std::move(message)};
}
inline DomainError conflict(std::string field, std::string message) {
  return {ErrorCode::conflict, std::move(field), std::move(message)};
}
inline DomainError rule(std::string field, std::string message) {
  return {ErrorCode::rule_violated, std::move(field), std::move(message)};
}
inline DomainError not_found(std::string field, std::string message) {
  return {ErrorCode::not_found, std::move(field), std::move(message)};
}
inline DomainError already_exists(std::string field, std::string message) {
  return {ErrorCode::already_exists, std::move(field), std::move(message)};
}
inline DomainError no_change(std::string field, std::string message) {
  return {ErrorCode::no_change, std::move(field), std::move(message)};
}

// Auditors read and change nothing; an anonymous caller (no role) changes
// nothing in these domains either.
inline std::optional<DomainError> may_change_anything(const users::Actor& a) {
  if (!a.role) return forbidden("", "sign in first");
  if (a.role == users::Role::auditor) return forbidden("", "an auditor changes nothing");
  return std::nullopt;
}

inline bool is_admin_or_owner(const users::Actor& a) {
  return a.role == users::Role::admin || a.role == users::Role::owner;
}

}  // namespace lethe::domain::checks
