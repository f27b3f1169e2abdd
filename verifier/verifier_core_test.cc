// VerifierCore's check path: who a check is from, and what it tells the
// usage reporter and the throttle about revoked values.
#include "verifier/verifier_core.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "verifier/test_support.h"

namespace tokens {
namespace {

using testing_support::CoreFixture;
using testing_support::NewTokenValue;
using testing_support::Revoked;
using testing_support::Upsert;

// A CoreFixture's cache and clock behind a core with a usage reporter whose
// sender keeps what it is given, and the default trusted proxies.
class VerifierCoreTest : public ::testing::Test {
 protected:
  VerifierCoreTest() {
    auto trusted = TrustedProxies::Parse(kDefaultTrustedProxies);
    EXPECT_TRUE(trusted.ok());
    trusted_ = *std::move(trusted);
    core_.SetThrottle(nullptr, &trusted_);
  }

  // A check relayed by the local app for `forwarded`.
  absl::StatusOr<Decision> CheckVia(const std::string& forwarded,
                                    const std::string& token) {
    return core_.CheckFrom({[] { return std::string("ipv4:127.0.0.1:4000"); },
                            [&] { return forwarded; }},
                           token, "dep-1", "deployment.get");
  }

  CoreFixture f_;
  std::vector<UsageBatch> sent_;
  UsageReporter usage_{[this](const UsageBatch& batch) {
                         sent_.push_back(batch);
                         return absl::OkStatus();
                       },
                       absl::Hours(1), &f_.metrics, "verifier-a"};
  TrustedProxies trusted_;
  VerifierCore core_{&f_.cache, &f_.authorizer, &f_.metrics, &usage_,
                     &f_.clock};
  const std::string value_ = NewTokenValue();
};

TEST_F(VerifierCoreTest, ReuseOfARevokedValueIsReportedWithTheEndClient) {
  const absl::Time revoked_at = f_.clock.Now() - absl::Hours(1);
  f_.Sync({}, {Revoked(value_, "tok_gone", revoked_at)});
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<Decision> d = CheckVia("203.0.113.5", value_);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->reason, CheckReason::kRevokedToken);
    EXPECT_EQ(d->token_id, "tok_gone");
    f_.clock.Advance(absl::Seconds(1));
  }
  // A direct, untrusted peer is its own end client.
  ASSERT_TRUE(core_
                  .CheckFromPeer("ipv4:198.51.100.7:999", value_, "dep-1",
                                 "deployment.get")
                  .ok());
  // A never-issued value is no reuse.
  ASSERT_TRUE(CheckVia("203.0.113.5", NewTokenValue()).ok());
  ASSERT_TRUE(usage_.Flush().ok());
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].verifier_name, "verifier-a");
  ASSERT_EQ(sent_[0].sightings.size(), 2u);
  for (const ReuseEntry& s : sent_[0].sightings) {
    EXPECT_EQ(s.token_id, "tok_gone");
    if (s.client_address == "203.0.113.5") {
      EXPECT_EQ(s.count, 3);
      EXPECT_EQ(s.time, f_.clock.Now() - absl::Seconds(1));
    } else {
      EXPECT_EQ(s.client_address, "198.51.100.7");
      EXPECT_EQ(s.count, 1);
    }
  }
  EXPECT_EQ(f_.metrics.checks(CheckReason::kRevokedToken), 4u);
}

TEST_F(VerifierCoreTest, AllowedUsesCarryTheEndClient) {
  f_.Sync({Upsert(1, "tok_a", "dep-1", value_)});
  ASSERT_TRUE(CheckVia("203.0.113.1", value_)->allowed());
  f_.clock.Advance(absl::Seconds(1));
  ASSERT_TRUE(CheckVia("203.0.113.2, 127.0.0.1", value_)->allowed());
  ASSERT_TRUE(usage_.Flush().ok());
  ASSERT_EQ(sent_.size(), 1u);
  ASSERT_EQ(sent_[0].usages.size(), 1u);
  EXPECT_EQ(sent_[0].usages[0].client_address, "203.0.113.2");
  EXPECT_TRUE(sent_[0].sightings.empty());
}

TEST_F(VerifierCoreTest, RevokedValuesAreChargedAsBadTokens) {
  f_.Sync({}, {Revoked(value_, "tok_gone", f_.clock.Now())});
  PeerThrottleOptions options;
  options.burst = 3;
  options.refill_per_second = 0.001;
  PeerThrottle throttle(options, &f_.clock);
  core_.SetThrottle(&throttle, &trusted_);
  int refused = 0;
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<Decision> d = CheckVia("203.0.113.9", value_);
    if (!d.ok()) {
      EXPECT_EQ(d.status().code(), absl::StatusCode::kResourceExhausted);
      ++refused;
    }
  }
  EXPECT_EQ(refused, 2);
  // Throttled or not, every reuse is reported.
  ASSERT_TRUE(usage_.Flush().ok());
  ASSERT_EQ(sent_.size(), 1u);
  ASSERT_EQ(sent_[0].sightings.size(), 1u);
  EXPECT_EQ(sent_[0].sightings[0].count, 5);
}

TEST(HttpStatusForDecisionTest, RevokedIsUnauthorizedLikeUnknown) {
  EXPECT_EQ(HttpStatusForDecision(CheckReason::kRevokedToken), 401);
  EXPECT_EQ(HttpStatusForDecision(CheckReason::kUnknownToken), 401);
  for (int i = 0; i < kCheckReasonCount; ++i) {
    EXPECT_NE(HttpStatusForDecision(static_cast<CheckReason>(i)), 500) << i;
  }
}

}  // namespace
}  // namespace tokens
