#pragma once
// Rule violations are values, not exceptions: decide() returns a Result that
// holds either the new events or a DomainError naming the field at fault.
#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace lethe::domain {

enum class ErrorCode {
  invalid_argument,  // a field is malformed or out of range
  not_found,         // the aggregate does not exist
  already_exists,    // the aggregate exists already
  forbidden,         // the actor may not do this
  no_change,         // the command would change nothing
  conflict,          // the aggregate's state does not allow it now (deactivated, revoked, taken)
  rule_violated,     // a domain rule forbids it (the last owner stays an owner)
  gone,              // the person it names is erased: never again
  rate_limited,      // too many of these by this actor for now (retry_after_seconds)
};

std::string_view to_string(ErrorCode code) noexcept;

struct DomainError {
  ErrorCode code;
  std::string field;  // the offending field, empty when none applies
  std::string message;
  int retry_after_seconds = 0;  // rate_limited only
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT: implicit on purpose
  Result(DomainError error) : v_(std::move(error)) {}  // NOLINT: implicit on purpose

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  const DomainError& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, DomainError> v_;
};

// {"error":"invalid_argument","field":"email","message":"..."}, escaped.
std::string encode_error(const DomainError& e);

inline DomainError invalid(std::string field, std::string message) {
  return {ErrorCode::invalid_argument, std::move(field), std::move(message)};
}

}  // namespace lethe::domain
