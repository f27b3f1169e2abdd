#include "verifier/authorizer.h"

#include <utility>

#include "common/token_value.h"
#include "verifier/operation_catalog.h"

namespace tokens {

std::string_view CheckReasonName(CheckReason reason) {
  switch (reason) {
    case CheckReason::kAllowed:
      return "ALLOWED";
    case CheckReason::kMalformedToken:
      return "MALFORMED_TOKEN";
    case CheckReason::kUnknownToken:
      return "UNKNOWN_TOKEN";
    case CheckReason::kExpired:
      return "EXPIRED";
    case CheckReason::kWrongDeployment:
      return "WRONG_DEPLOYMENT";
    case CheckReason::kOperationNotPermitted:
      return "OPERATION_NOT_PERMITTED";
    case CheckReason::kUnknownOperation:
      return "UNKNOWN_OPERATION";
    case CheckReason::kNotReady:
      return "NOT_READY";
    case CheckReason::kRevokedToken:
      return "REVOKED_TOKEN";
  }
  return "REASON_UNSPECIFIED";
}

bool IsBadToken(CheckReason reason) {
  switch (reason) {
    case CheckReason::kMalformedToken:
    case CheckReason::kUnknownToken:
    case CheckReason::kRevokedToken:
    case CheckReason::kExpired:
      return true;
    case CheckReason::kAllowed:
    case CheckReason::kWrongDeployment:
    case CheckReason::kOperationNotPermitted:
    case CheckReason::kUnknownOperation:
    case CheckReason::kNotReady:
      return false;
  }
  return false;
}

Authorizer::Authorizer(const TokenCache* cache, const Clock* clock,
                       absl::Duration max_staleness)
    : cache_(cache), clock_(clock), max_staleness_(max_staleness) {}

bool Authorizer::IsReadyAt(const CacheState& state, absl::Time now) const {
  return state.synced && now - state.last_heartbeat <= max_staleness_;
}

bool Authorizer::IsReady() const {
  return IsReadyAt(cache_->state(), clock_->Now());
}

Decision Authorizer::Check(std::string_view token,
                           std::string_view deployment_id,
                           std::string_view operation) const {
  Decision decision;
  const absl::Time now = clock_->Now();
  if (!IsReadyAt(cache_->state(), now)) {
    decision.reason = CheckReason::kNotReady;
    return decision;
  }
  // The length test comes first so that an attacker-sized value costs nothing
  // more.
  if (token.size() > kMaxTokenLength || !IsWellFormedTokenValue(token)) {
    decision.reason = CheckReason::kMalformedToken;
    return decision;
  }
  CacheLookup found = cache_->LookupWithRevoked(DigestOf(token));
  const absl::Duration retention = cache_->revoked_options().retention;
  // Revoked when it stopped verifying at `revoke_time`, not more than the
  // retention ago; a revoke_time still to come is a grace period's end.
  auto revoked = [&](absl::Time revoke_time, const std::string& token_id) {
    if (revoke_time > now || now - revoke_time > retention) {
      decision.reason = CheckReason::kUnknownToken;
    } else {
      decision.reason = CheckReason::kRevokedToken;
      decision.token_id = token_id;
    }
    return decision;
  };
  if (!found.token.has_value()) {
    if (found.revoked.has_value()) {
      return revoked(found.revoked->revoke_time, found.revoked->token_id);
    }
    decision.reason = CheckReason::kUnknownToken;
    return decision;
  }
  CachedToken* entry = &*found.token;
  // A rotated-away value past its grace period is revoked, whether or not the
  // feed also listed it as revoked: the table keeps it until the token's next
  // change or snapshot, and it must already answer as the feed would.
  if (entry->is_previous && now >= entry->valid_until) {
    return revoked(entry->valid_until, entry->token_id);
  }
  // The lookup's copy is ours: moved, not copied again.
  decision.token_id = std::move(entry->token_id);
  if (entry->expire_time != absl::InfiniteFuture()) {
    decision.expire_time = entry->expire_time;
  }
  if (now >= entry->expire_time) {
    decision.reason = CheckReason::kExpired;
    return decision;
  }
  if (deployment_id != entry->deployment_id) {
    decision.reason = CheckReason::kWrongDeployment;
    return decision;
  }
  const OperationInfo* op = FindOperation(operation);
  if (op == nullptr) {
    decision.reason = CheckReason::kUnknownOperation;
    return decision;
  }
  decision.reason = DeploymentTokenMayPerform(*op)
                        ? CheckReason::kAllowed
                        : CheckReason::kOperationNotPermitted;
  return decision;
}

}  // namespace tokens
