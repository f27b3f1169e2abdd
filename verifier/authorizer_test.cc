#include "verifier/authorizer.h"

#include <string>

#include "gtest/gtest.h"
#include "verifier/test_support.h"

namespace tokens {
namespace {

using testing_support::NewTokenValue;
using testing_support::Upsert;

constexpr absl::Duration kMaxStaleness = absl::Seconds(30);

class AuthorizerTest : public ::testing::Test {
 protected:
  AuthorizerTest()
      : clock_(absl::FromUnixSeconds(1700000000)),
        authorizer_(&cache_, &clock_, kMaxStaleness) {}

  // Swaps in a snapshot holding `changes` and records a heartbeat now.
  void Sync(std::initializer_list<TokenChange> changes) {
    TokenTable table;
    for (const TokenChange& change : changes) table.Apply(change);
    cache_.ReplaceAll(std::move(table), 1);
    cache_.RecordHeartbeat(clock_.Now());
  }

  FakeClock clock_;
  TokenCache cache_;
  Authorizer authorizer_;
  const std::string value_ = NewTokenValue();
};

TEST_F(AuthorizerTest, AllowsADeploymentOperationOnItsOwnDeployment) {
  const absl::Time expiry = clock_.Now() + absl::Hours(24);
  Sync({Upsert(1, "tok_a", "dep-1", value_, expiry)});
  Decision d = authorizer_.Check(value_, "dep-1", "deployment.envVars.create");
  EXPECT_EQ(d.reason, CheckReason::kAllowed);
  EXPECT_TRUE(d.allowed());
  EXPECT_EQ(d.token_id, "tok_a");
  ASSERT_TRUE(d.expire_time.has_value());
  EXPECT_EQ(*d.expire_time, expiry);
}

TEST_F(AuthorizerTest, NeverExpiringTokenHasNoExpireTime) {
  Sync({Upsert(1, "tok_a", "dep-1", value_)});
  Decision d = authorizer_.Check(value_, "dep-1", "deployment.get");
  EXPECT_TRUE(d.allowed());
  EXPECT_FALSE(d.expire_time.has_value());
}

TEST_F(AuthorizerTest, NotReadyBeforeTheFirstSnapshot) {
  cache_.RecordHeartbeat(clock_.Now());
  cache_.ApplyChanges({Upsert(1, "tok_a", "dep-1", value_)}, 1);
  EXPECT_FALSE(authorizer_.IsReady());
  EXPECT_EQ(authorizer_.Check(value_, "dep-1", "deployment.get").reason,
            CheckReason::kNotReady);
}

TEST_F(AuthorizerTest, NotReadyWhenTheLastHeartbeatIsTooOld) {
  Sync({Upsert(1, "tok_a", "dep-1", value_)});
  clock_.Advance(kMaxStaleness);
  EXPECT_TRUE(authorizer_.IsReady());
  EXPECT_TRUE(authorizer_.Check(value_, "dep-1", "deployment.get").allowed());
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_FALSE(authorizer_.IsReady());
  EXPECT_EQ(authorizer_.Check(value_, "dep-1", "deployment.get").reason,
            CheckReason::kNotReady);
  cache_.RecordHeartbeat(clock_.Now());
  EXPECT_TRUE(authorizer_.Check(value_, "dep-1", "deployment.get").allowed());
}

TEST_F(AuthorizerTest, MalformedValuesAreRejectedWithoutLookup) {
  Sync({Upsert(1, "tok_a", "dep-1", value_)});
  std::string bad_checksum = value_;
  bad_checksum.back() = bad_checksum.back() == 'a' ? 'b' : 'a';
  std::string non_ascii = value_;
  non_ascii[10] = '\xc3';
  for (const std::string& token :
       {std::string(), std::string("dpt_short"), bad_checksum, non_ascii,
        std::string(65, 'a'), value_ + "x", std::string(1 << 16, 'x'),
        "xyz_" + value_.substr(4)}) {
    Decision d = authorizer_.Check(token, "dep-1", "deployment.get");
    EXPECT_EQ(d.reason, CheckReason::kMalformedToken) << token.size();
    EXPECT_TRUE(d.token_id.empty());
  }
}

TEST_F(AuthorizerTest, UnknownWellFormedTokenIsUnknown) {
  Sync({Upsert(1, "tok_a", "dep-1", value_)});
  Decision d = authorizer_.Check(NewTokenValue(), "dep-1", "deployment.get");
  EXPECT_EQ(d.reason, CheckReason::kUnknownToken);
  EXPECT_TRUE(d.token_id.empty());
}

TEST_F(AuthorizerTest, ExpiredAtExactlyTheExpireTime) {
  const absl::Time expiry = clock_.Now() + absl::Hours(1);
  Sync({Upsert(1, "tok_a", "dep-1", value_, expiry)});
  clock_.Set(expiry - absl::Nanoseconds(1));
  cache_.RecordHeartbeat(clock_.Now());
  EXPECT_TRUE(authorizer_.Check(value_, "dep-1", "deployment.get").allowed());
  clock_.Set(expiry);
  Decision d = authorizer_.Check(value_, "dep-1", "deployment.get");
  EXPECT_EQ(d.reason, CheckReason::kExpired);
  EXPECT_EQ(d.token_id, "tok_a");
  EXPECT_EQ(d.expire_time, expiry);
}

TEST_F(AuthorizerTest, PreviousValueVerifiesDuringGraceThenIsUnknown) {
  const std::string new_value = NewTokenValue();
  const absl::Time grace_end = clock_.Now() + absl::Minutes(5);
  TokenChange rotate = Upsert(2, "tok_a", "dep-1", new_value);
  rotate.previous_digest = DigestOf(value_);
  rotate.previous_valid_until = grace_end;
  Sync({rotate});
  EXPECT_TRUE(authorizer_.Check(value_, "dep-1", "deployment.get").allowed());
  EXPECT_TRUE(
      authorizer_.Check(new_value, "dep-1", "deployment.get").allowed());
  clock_.Set(grace_end);
  cache_.RecordHeartbeat(clock_.Now());
  Decision d = authorizer_.Check(value_, "dep-1", "deployment.get");
  EXPECT_EQ(d.reason, CheckReason::kUnknownToken);
  EXPECT_TRUE(d.token_id.empty());
  EXPECT_TRUE(
      authorizer_.Check(new_value, "dep-1", "deployment.get").allowed());
}

TEST_F(AuthorizerTest, WrongDeployment) {
  Sync({Upsert(1, "tok_a", "dep-1", value_)});
  Decision d = authorizer_.Check(value_, "dep-2", "deployment.get");
  EXPECT_EQ(d.reason, CheckReason::kWrongDeployment);
  EXPECT_EQ(d.token_id, "tok_a");
  EXPECT_FALSE(d.allowed());
}

TEST_F(AuthorizerTest, UnknownOperation) {
  Sync({Upsert(1, "tok_a", "dep-1", value_)});
  EXPECT_EQ(authorizer_.Check(value_, "dep-1", "deployment.launch").reason,
            CheckReason::kUnknownOperation);
}

TEST_F(AuthorizerTest, OperationNotPermitted) {
  Sync({Upsert(1, "tok_a", "dep-1", value_)});
  for (const char* op :
       {"workspace.alerts.create", "deployment.create",
        "deployment.apiTokens.rotate", "organization.update"}) {
    EXPECT_EQ(authorizer_.Check(value_, "dep-1", op).reason,
              CheckReason::kOperationNotPermitted)
        << op;
  }
}

TEST_F(AuthorizerTest,
       DecisionOrderExpiredBeforeWrongDeploymentBeforeOperation) {
  const absl::Time expiry = clock_.Now() + absl::Hours(1);
  Sync({Upsert(1, "tok_a", "dep-1", value_, expiry)});
  EXPECT_EQ(authorizer_.Check(value_, "dep-2", "nope").reason,
            CheckReason::kWrongDeployment);
  clock_.Set(expiry);
  cache_.RecordHeartbeat(clock_.Now());
  EXPECT_EQ(authorizer_.Check(value_, "dep-2", "nope").reason,
            CheckReason::kExpired);
}

TEST(CheckReasonNameTest, MatchesTheProtoEnumNames) {
  EXPECT_EQ(CheckReasonName(CheckReason::kAllowed), "ALLOWED");
  EXPECT_EQ(CheckReasonName(CheckReason::kOperationNotPermitted),
            "OPERATION_NOT_PERMITTED");
  EXPECT_EQ(CheckReasonName(CheckReason::kNotReady), "NOT_READY");
}

}  // namespace
}  // namespace tokens
