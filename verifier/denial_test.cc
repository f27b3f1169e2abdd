// DenialFor and friends: the one table of statuses and headers that ext_authz
// and forward-auth answer with.
#include "verifier/denial.h"

#include "gtest/gtest.h"

namespace tokens {
namespace {

Decision With(CheckReason reason) {
  Decision decision;
  decision.reason = reason;
  return decision;
}

TEST(DenialTest, EveryReasonHasItsOwnRow) {
  for (int i = 0; i < kCheckReasonCount; ++i) {
    const Denial denial = DenialFor(With(static_cast<CheckReason>(i)));
    EXPECT_NE(denial.http_status, 500) << i;
    EXPECT_NE(denial.code, absl::StatusCode::kInternal) << i;
    EXPECT_EQ(denial.reason, CheckReasonName(static_cast<CheckReason>(i)));
    EXPECT_EQ(denial.http_status,
              HttpStatusForDecision(static_cast<CheckReason>(i)));
    EXPECT_TRUE(denial.retry_after.empty()) << i;
  }
}

TEST(DenialTest, BadTokensAreUnauthenticatedWithWwwAuthenticate) {
  for (CheckReason reason :
       {CheckReason::kMalformedToken, CheckReason::kUnknownToken,
        CheckReason::kRevokedToken, CheckReason::kExpired}) {
    const Denial denial = DenialFor(With(reason));
    EXPECT_EQ(denial.http_status, 401);
    EXPECT_EQ(static_cast<int>(denial.code), 16);  // google.rpc UNAUTHENTICATED
    EXPECT_EQ(denial.www_authenticate, "Bearer error=\"invalid_token\"");
  }
}

TEST(DenialTest, RefusedOperationsArePermissionDenied) {
  for (CheckReason reason :
       {CheckReason::kWrongDeployment, CheckReason::kOperationNotPermitted,
        CheckReason::kUnknownOperation}) {
    const Denial denial = DenialFor(With(reason));
    EXPECT_EQ(denial.http_status, 403);
    EXPECT_EQ(static_cast<int>(denial.code), 7);  // PERMISSION_DENIED
    EXPECT_TRUE(denial.www_authenticate.empty());
  }
}

TEST(DenialTest, AllowedAndNotReady) {
  const Denial allowed = DenialFor(With(CheckReason::kAllowed));
  EXPECT_EQ(allowed.http_status, 200);
  EXPECT_EQ(static_cast<int>(allowed.code), 0);
  EXPECT_EQ(allowed.reason, "ALLOWED");
  const Denial not_ready = DenialFor(With(CheckReason::kNotReady));
  EXPECT_EQ(not_ready.http_status, 503);
  EXPECT_EQ(static_cast<int>(not_ready.code), 14);  // UNAVAILABLE
  EXPECT_TRUE(not_ready.www_authenticate.empty());
}

TEST(DenialTest, ThrottledCarriesRetryAfterAndTheConfiguredStatus) {
  const Denial unauthorized = ThrottledDenial(401);
  EXPECT_EQ(unauthorized.http_status, 401);
  EXPECT_EQ(static_cast<int>(unauthorized.code), 16);
  EXPECT_EQ(unauthorized.reason, "THROTTLED");
  EXPECT_EQ(unauthorized.retry_after, "1");
  EXPECT_FALSE(unauthorized.www_authenticate.empty());
  const Denial too_many = ThrottledDenial(429);
  EXPECT_EQ(too_many.http_status, 429);
  EXPECT_EQ(static_cast<int>(too_many.code), 8);  // RESOURCE_EXHAUSTED
  EXPECT_EQ(too_many.retry_after, "1");
  EXPECT_TRUE(too_many.www_authenticate.empty());
}

TEST(DenialTest, InvalidRequestIsPermissionDenied) {
  const Denial denial = InvalidRequestDenial();
  EXPECT_EQ(denial.http_status, 403);
  EXPECT_EQ(static_cast<int>(denial.code), 7);
  EXPECT_EQ(denial.reason, "INVALID_REQUEST");
}

TEST(DenialTest, OnlyUnauthorizedAndTooManyRequestsMayAnswerAThrottle) {
  EXPECT_TRUE(ValidateThrottledHttpStatus("--throttled-status", 401).ok());
  EXPECT_TRUE(ValidateThrottledHttpStatus("--throttled-status", 429).ok());
  const absl::Status bad =
      ValidateThrottledHttpStatus("--throttled-status", 403);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message(), "--throttled-status: want 401 or 429, got 403");
}

}  // namespace
}  // namespace tokens
