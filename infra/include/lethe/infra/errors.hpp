#pragma once
// Infrastructure failures: one small hierarchy. is_retryable() says whether
// trying again later can help (a broker that is restarting) or not (a bad
// configuration). Messages carry a hint for the operator.
#include <stdexcept>
#include <string>

namespace lethe::infra {

class InfraError : public std::runtime_error {
 public:
  InfraError(const std::string& what, bool retryable) : std::runtime_error(what), retryable_(retryable) {}
  bool is_retryable() const noexcept { return retryable_; }

 private:
  bool retryable_;
};

// A service could not be reached or dropped the connection.
class Unavailable : public InfraError {
 public:
  explicit Unavailable(const std::string& what) : InfraError(what, true) {}
};

// Configuration or schema is wrong; retrying will not help.
class Misconfigured : public InfraError {
 public:
  explicit Misconfigured(const std::string& what) : InfraError(what, false) {}
};

// The outcome of a commit is unknown. Never retried blindly: the caller must
// re-read what was stored before it does anything else.
class CommitInDoubt : public InfraError {
 public:
  explicit CommitInDoubt(const std::string& what) : InfraError(what, false) {}
};

}  // namespace lethe::infra
