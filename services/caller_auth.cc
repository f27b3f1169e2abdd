#include "services/caller_auth.h"

#include "absl/strings/str_cat.h"
#include "common/bearer.h"
#include "common/token_value.h"

namespace tokens {

const char* CallerRoleName(CallerRole role) {
  return kCallerRoleNames[static_cast<int>(role)];
}

std::string RoleSet::Names() const {
  std::string names;
  // Listed as the RPC comments name them: the narrowest role first.
  for (CallerRole role :
       {CallerRole::kVerifier, CallerRole::kReporter, CallerRole::kAdmin}) {
    if (!Has(role)) continue;
    absl::StrAppend(&names, names.empty() ? "" : " or ", CallerRoleName(role));
  }
  return names;
}

absl::StatusOr<Principal> AuthenticateCaller(const CallerRegistry& callers,
                                             const std::string* authorization,
                                             RoleSet roles) {
  if (authorization == nullptr) {
    return absl::UnauthenticatedError(
        "authorization: missing `Bearer <key>` metadata");
  }
  const std::string key(BearerCredential(*authorization));
  if (key.empty()) {
    return absl::UnauthenticatedError("authorization: want `Bearer <key>`");
  }
  if (key.size() <= kMaxTokenLength && IsWellFormedTokenValue(key)) {
    return absl::PermissionDeniedError(
        "authorization: a Deployment API token cannot call TokenService; "
        "use an admin or verifier key");
  }
  absl::StatusOr<Principal> principal = callers.Authenticate(key);
  if (absl::IsUnavailable(principal.status())) return principal.status();
  if (!principal.ok()) {
    return absl::UnauthenticatedError("authorization: unknown caller key");
  }
  if (!roles.Has(principal->role)) {
    return absl::PermissionDeniedError(
        absl::StrCat("authorization: caller '", principal->name, "' has role ",
                     CallerRoleName(principal->role), "; this RPC needs role ",
                     roles.Names()));
  }
  return principal;
}

}  // namespace tokens
