// AuthenticateCaller: who a TokenService RPC comes from, from its
// `authorization` metadata, in one place for every RPC (docs/design.md,
// "Callers"):
//
//   no header, not `Bearer <key>`, unknown key   UNAUTHENTICATED
//   a Deployment API token instead of a key      PERMISSION_DENIED
//   a caller of a role the RPC does not take     PERMISSION_DENIED
//
// Messages start with `authorization` and never echo the key. Thread-safe
// (reads the registry only).
#ifndef SERVICES_CALLER_AUTH_H_
#define SERVICES_CALLER_AUTH_H_

#include <string>

#include "absl/status/statusor.h"
#include "services/caller_registry.h"

namespace tokens {

// The roles an RPC accepts: one role converts to the set of it.
class RoleSet {
 public:
  RoleSet(CallerRole role) : bits_(Bit(role)) {}  // NOLINT: implicit on purpose
  RoleSet(CallerRole a, CallerRole b) : bits_(Bit(a) | Bit(b)) {}
  bool Has(CallerRole role) const { return (bits_ & Bit(role)) != 0; }
  // "admin", or "reporter or admin".
  std::string Names() const;

 private:
  static unsigned Bit(CallerRole role) { return 1u << static_cast<int>(role); }
  unsigned bits_;
};

// `authorization` is the metadata value, or null when there is none.
absl::StatusOr<Principal> AuthenticateCaller(const CallerRegistry& callers,
                                             const std::string* authorization,
                                             RoleSet roles);

// "admin", "verifier" or "reporter" (kCallerRoleNames).
const char* CallerRoleName(CallerRole role);

}  // namespace tokens

#endif  // SERVICES_CALLER_AUTH_H_
