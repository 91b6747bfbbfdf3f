#pragma once
// The small checks that the billing, content, files and email domains share:
// ids and texts bounded in bytes (so that what the domain emits always fits
// its schema's maxLength, which counts characters), the refusals as values,
// and who may change anything at all.
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "lethe/domain/result.hpp"
#include "lethe/domain/users.hpp"

namespace lethe::domain::checks {

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};

// Ids come with the command (made outside the domain); the schemas bound them.
inline constexpr std::size_t kMaxId = 200;

inline std::optional<DomainError> text(std::string_view field, std::string_view value, std::size_t max) {
  if (value.empty()) return invalid(std::string(field), std::string(field) + " must not be empty");
  if (value.size() > max)
    return invalid(std::string(field), std::string(field) + " must be at most " + std::to_string(max) + " bytes");
  return std::nullopt;
}

// Like text(), but empty is allowed.
inline std::optional<DomainError> optional_text(std::string_view field, std::string_view value, std::size_t max) {
  if (value.empty()) return std::nullopt;
  return text(field, value, max);
}

inline std::optional<DomainError> id(std::string_view field, std::string_view value) {
  return text(field, value, kMaxId);
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
