// AuthenticateCaller: who a TokenService RPC comes from, from its
// `authorization` metadata, in one place for every RPC (docs/design.md,
// "Callers"):
//
//   no header, not `Bearer <key>`, unknown key   UNAUTHENTICATED
//   a Deployment API token instead of a key      PERMISSION_DENIED
//   a caller of the other role                   PERMISSION_DENIED
//
// Messages start with `authorization` and never echo the key. Thread-safe
// (reads the registry only).
#ifndef SERVICES_CALLER_AUTH_H_
#define SERVICES_CALLER_AUTH_H_

#include <string>

#include "absl/status/statusor.h"
#include "services/caller_registry.h"

namespace tokens {

// `authorization` is the metadata value, or null when there is none.
absl::StatusOr<Principal> AuthenticateCaller(const CallerRegistry& callers,
                                             const std::string* authorization,
                                             CallerRole role);

// "admin" or "verifier".
const char* CallerRoleName(CallerRole role);

}  // namespace tokens

#endif  // SERVICES_CALLER_AUTH_H_
