#pragma once
// The route table: every route, the roles allowed on it, its handler. The
// one place where authorization by role is declared; the README prints it
// and a test checks it as a matrix against the running server.
#include <functional>
#include <string>
#include <vector>

#include "http.hpp"

namespace lethe::api {

// Who may call a route. kSelf: a signed-in user on their own account (the
// route's first path parameter is their id), whatever their role.
enum Access : unsigned {
  kAnonymous = 1u << 0,
  kUser = 1u << 1,
  kStaff = 1u << 2,
  kAdmin = 1u << 3,
  kOwner = 1u << 4,
  kSelf = 1u << 5,
  kAuditor = 1u << 6,
  // A downstream system's account: only the routes that name it (key
  // releases, /me), never a customer's or staff's.
  kService = 1u << 7,
};
inline constexpr unsigned kSignedIn = kUser | kStaff | kAdmin | kOwner | kAuditor;
// Signed in and allowed to change things: everyone but an auditor.
inline constexpr unsigned kActors = kUser | kStaff | kAdmin | kOwner;
inline constexpr unsigned kStaffUp = kStaff | kAdmin | kOwner;
inline constexpr unsigned kAdminUp = kAdmin | kOwner;
inline constexpr unsigned kAnyone = kAnonymous | kSignedIn | kService;

using Handler = std::function<void(Call&)>;

struct Route {
  std::string method;
  std::string path;  // OpenAPI form: /users/{id}
  unsigned access;
  Handler handler;
  // Counted against the limits on requests without a sign-in
  // (--anonymous-per-address-per-minute, --anonymous-per-minute) when the
  // caller is anonymous: the routes anyone can call that cost the server
  // (a registration, a password check).
  bool limited_when_anonymous = false;
};

const std::vector<Route>& routes();
std::string describe_access(unsigned access);

}  // namespace lethe::api
