#include "verifier/authorizer.h"

#include <string>

#include "common/fake_clock.h"
#include "gtest/gtest.h"
#include "verifier/test_support.h"

namespace tokens {
namespace {

using testing_support::DeleteRevoking;
using testing_support::NewTokenValue;
using testing_support::Revoked;
using testing_support::Rotate;
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

TEST_F(AuthorizerTest, PreviousValueVerifiesDuringGraceThenIsRevoked) {
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
  // Revoked even without the feed's revoked list (an older TokenService):
  // the table knows whose previous value it was.
  Decision d = authorizer_.Check(value_, "dep-1", "deployment.get");
  EXPECT_EQ(d.reason, CheckReason::kRevokedToken);
  EXPECT_EQ(d.token_id, "tok_a");
  EXPECT_FALSE(d.expire_time.has_value());
  EXPECT_TRUE(
      authorizer_.Check(new_value, "dep-1", "deployment.get").allowed());
  // Past the retention it is forgotten.
  clock_.Set(grace_end + cache_.revoked_options().retention + absl::Seconds(1));
  cache_.RecordHeartbeat(clock_.Now());
  EXPECT_EQ(authorizer_.Check(value_, "dep-1", "deployment.get").reason,
            CheckReason::kUnknownToken);
}

// The revoked values of the feed, through a cache whose retention is a day.
class RevokedAuthorizerTest : public ::testing::Test {
 protected:
  static constexpr absl::Duration kRetention = absl::Hours(24);

  void Heartbeat() { cache_.RecordHeartbeat(clock_.Now()); }
  Decision Check(const std::string& value) {
    return authorizer_.Check(value, "dep-1", "deployment.get");
  }

  FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  TokenCache cache_{RevokedOptions{1000, kRetention}};
  Authorizer authorizer_{&cache_, &clock_, absl::Hours(1000)};
  const std::string old_value_ = NewTokenValue();
  const std::string new_value_ = NewTokenValue();
};

TEST_F(RevokedAuthorizerTest, RotatedAwayValueFromChangesIsRevokedThenUnknown) {
  const absl::Time t0 = clock_.Now();
  cache_.ReplaceAll(TokenTable(), 0);
  Heartbeat();
  cache_.ApplyChanges({Upsert(1, "tok_a", "dep-1", old_value_)}, 1);
  // Rotated with no grace period: the old value is revoked at once.
  cache_.ApplyChanges(
      {Rotate(2, "tok_a", "dep-1", new_value_, old_value_, t0, t0)}, 2);
  Decision d = Check(old_value_);
  EXPECT_EQ(d.reason, CheckReason::kRevokedToken);
  EXPECT_EQ(d.token_id, "tok_a");
  EXPECT_TRUE(Check(new_value_).allowed());

  clock_.Advance(kRetention);
  EXPECT_EQ(Check(old_value_).reason, CheckReason::kRevokedToken)
      << "exactly the retention";
  clock_.Advance(absl::Microseconds(1));
  d = Check(old_value_);
  EXPECT_EQ(d.reason, CheckReason::kUnknownToken);
  EXPECT_TRUE(d.token_id.empty());
}

TEST_F(RevokedAuthorizerTest, DeletedTokensValuesAreRevoked) {
  const absl::Time t0 = clock_.Now();
  const absl::Time grace_end = t0 + absl::Hours(1);
  cache_.ReplaceAll(TokenTable(), 0);
  Heartbeat();
  cache_.ApplyChanges(
      {Rotate(1, "tok_a", "dep-1", new_value_, old_value_, t0, grace_end)}, 1);
  EXPECT_TRUE(Check(old_value_).allowed()) << "in its grace period";
  // Deleted during the grace period: both values are revoked now.
  clock_.Advance(absl::Minutes(1));
  cache_.ApplyChanges(
      {DeleteRevoking(2, "tok_a", {new_value_, old_value_}, clock_.Now())}, 2);
  for (const std::string& value : {old_value_, new_value_}) {
    Decision d = Check(value);
    EXPECT_EQ(d.reason, CheckReason::kRevokedToken);
    EXPECT_EQ(d.token_id, "tok_a");
  }
}

TEST_F(RevokedAuthorizerTest, SnapshotRevokedValuesAreRecognised) {
  // A verifier that starts after the revocation learns of it from the
  // snapshot.
  RevokedSet revoked = cache_.NewRevokedSet();
  revoked.Insert(Revoked(old_value_, "tok_a", clock_.Now() - absl::Hours(2)));
  revoked.Insert(Revoked(new_value_, "tok_b",
                         clock_.Now() - kRetention - absl::Seconds(1)));
  TokenTable table;
  cache_.ReplaceAll(std::move(table), std::move(revoked), 9);
  Heartbeat();
  Decision d = Check(old_value_);
  EXPECT_EQ(d.reason, CheckReason::kRevokedToken);
  EXPECT_EQ(d.token_id, "tok_a");
  EXPECT_EQ(Check(new_value_).reason, CheckReason::kUnknownToken)
      << "revoked longer ago than the retention";
  EXPECT_EQ(Check(NewTokenValue()).reason, CheckReason::kUnknownToken)
      << "never issued";
}

TEST_F(RevokedAuthorizerTest, ARevokeTimeStillToComeIsNotYetRevoked) {
  // A grace period's end: until then the value is the token's previous one
  // and verifies from the table.
  const absl::Time grace_end = clock_.Now() + absl::Minutes(10);
  cache_.ReplaceAll(TokenTable(), 0);
  Heartbeat();
  cache_.ApplyChanges({Rotate(1, "tok_a", "dep-1", new_value_, old_value_,
                              clock_.Now(), grace_end)},
                      1);
  EXPECT_TRUE(Check(old_value_).allowed());
  // Were it only in the revoked set (say the table lost it), it would not be
  // revoked before its time either.
  const std::string lonely = NewTokenValue();
  RevokedSet revoked = cache_.NewRevokedSet();
  revoked.Insert(Revoked(lonely, "tok_c", grace_end));
  cache_.ReplaceAll(TokenTable(), std::move(revoked), 3);
  EXPECT_EQ(Check(lonely).reason, CheckReason::kUnknownToken);
  clock_.Set(grace_end);
  Heartbeat();
  EXPECT_EQ(Check(lonely).reason, CheckReason::kRevokedToken);
  EXPECT_EQ(Check(old_value_).reason, CheckReason::kUnknownToken)
      << "that snapshot did not carry it";
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
  EXPECT_EQ(CheckReasonName(CheckReason::kRevokedToken), "REVOKED_TOKEN");
  for (int i = 0; i < kCheckReasonCount; ++i) {
    EXPECT_NE(CheckReasonName(static_cast<CheckReason>(i)),
              "REASON_UNSPECIFIED")
        << i;
  }
}

}  // namespace
}  // namespace tokens
