// Authorizer: decides whether a Deployment API token may perform an operation
// on a Deployment, from the TokenCache and the OperationCatalog alone (no I/O,
// no gRPC types).
//
// Decision order, first match wins (docs/design.md, "Decision order"):
// clang-format off
//   NOT_READY                the cache has no complete snapshot, or its last
//                            heartbeat is older than max_staleness (fail
//                            closed)
//   MALFORMED_TOKEN          not the shape of a token value (length,
//                            alphabet, checksum); no lookup
//   REVOKED_TOKEN            a rotated-away value past its grace period,
//                            or a revoked value (rotated away, deleted)
//                            whose revoke_time has passed, within the
//                            cache's retention; token_id says whose
//   UNKNOWN_TOKEN            no cached digest matches (never issued, or
//                            revoked longer ago than the retention)
//   EXPIRED                  the current value's expire_time has passed
//   WRONG_DEPLOYMENT         the token belongs to another Deployment
//   UNKNOWN_OPERATION        the operation is not in the catalog
//   OPERATION_NOT_PERMITTED  a Deployment API token may not perform it
//   ALLOWED
// clang-format on
// Time comes from the injected Clock at the moment of each check; the
// retention of revoked values is the cache's (RevokedOptions).
//
// Thread-safe: Check and IsReady may be called from any number of threads. The
// cache and clock are not owned and must outlive the Authorizer.
#ifndef VERIFIER_AUTHORIZER_H_
#define VERIFIER_AUTHORIZER_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "common/clock.h"
#include "verifier/token_cache.h"

namespace tokens {

// Mirrors tokens.v1.Reason (same names), without depending on the generated
// code.
enum class CheckReason {
  kAllowed,
  kMalformedToken,
  kUnknownToken,
  kExpired,
  kWrongDeployment,
  kOperationNotPermitted,
  kUnknownOperation,
  kNotReady,
  kRevokedToken,
};
inline constexpr int kCheckReasonCount = 9;

// The proto enum name, such as `UNKNOWN_TOKEN`.
std::string_view CheckReasonName(CheckReason reason);

// True for the refusals of the token value itself: MALFORMED_TOKEN,
// UNKNOWN_TOKEN, REVOKED_TOKEN and EXPIRED (the ones the failed-check throttle
// charges and HTTP answers with 401), false for every other reason.
bool IsBadToken(CheckReason reason);

struct Decision {
  CheckReason reason = CheckReason::kNotReady;
  // The token's id when the digest was found (ALLOWED, EXPIRED,
  // WRONG_DEPLOYMENT, ...), or the id of the token a REVOKED_TOKEN value
  // belonged to.
  std::string token_id;
  // When the token expires, when it is known and expires.
  std::optional<absl::Time> expire_time;

  bool allowed() const { return reason == CheckReason::kAllowed; }
};

class Authorizer {
 public:
  Authorizer(const TokenCache* cache, const Clock* clock,
             absl::Duration max_staleness);

  Decision Check(std::string_view token, std::string_view deployment_id,
                 std::string_view operation) const;

  // True when the cache holds a complete snapshot and heard from the feed
  // within max_staleness.
  bool IsReady() const;

 private:
  bool IsReadyAt(const CacheState& state, absl::Time now) const;

  const TokenCache* const cache_;
  const Clock* const clock_;
  const absl::Duration max_staleness_;
};

}  // namespace tokens

#endif  // VERIFIER_AUTHORIZER_H_
