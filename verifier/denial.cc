#include "verifier/denial.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace tokens {
namespace {

constexpr std::string_view kInvalidToken = "Bearer error=\"invalid_token\"";
constexpr std::string_view kRetryAfterSeconds = "1";

Denial Make(int http_status, absl::StatusCode code, std::string_view reason) {
  Denial denial;
  denial.http_status = http_status;
  denial.code = code;
  denial.reason = reason;
  if (http_status == 401) denial.www_authenticate = kInvalidToken;
  return denial;
}

Denial ForReason(CheckReason reason) {
  const std::string_view name = CheckReasonName(reason);
  if (IsBadToken(reason)) {
    return Make(401, absl::StatusCode::kUnauthenticated, name);
  }
  switch (reason) {
    case CheckReason::kAllowed:
      return Make(200, absl::StatusCode::kOk, name);
    case CheckReason::kWrongDeployment:
    case CheckReason::kOperationNotPermitted:
    case CheckReason::kUnknownOperation:
      return Make(403, absl::StatusCode::kPermissionDenied, name);
    case CheckReason::kNotReady:
      return Make(503, absl::StatusCode::kUnavailable, name);
    default:  // the bad tokens, above
      break;
  }
  // Not a reason (HttpStatusForDecisionTest makes sure every one has its row).
  return Make(500, absl::StatusCode::kInternal, name);
}

}  // namespace

Denial DenialFor(const Decision& decision) {
  return ForReason(decision.reason);
}

int HttpStatusForDecision(CheckReason reason) {
  return ForReason(reason).http_status;
}

Denial ThrottledDenial(int http_status) {
  Denial denial = Make(http_status,
                       http_status == 429 ? absl::StatusCode::kResourceExhausted
                                          : absl::StatusCode::kUnauthenticated,
                       "THROTTLED");
  denial.retry_after = kRetryAfterSeconds;
  return denial;
}

Denial InvalidRequestDenial() {
  return Make(403, absl::StatusCode::kPermissionDenied, "INVALID_REQUEST");
}

absl::Status ValidateThrottledHttpStatus(std::string_view flag,
                                         int http_status) {
  if (http_status == 401 || http_status == 429) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(flag), ": want 401 or 429, got ", http_status));
}

}  // namespace tokens
