// The failed-check throttle (common/peer_throttle) through VerifierCore.
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/peer_throttle.h"
#include "gtest/gtest.h"
#include "verifier/test_support.h"

namespace tokens {
namespace {

using testing_support::CoreFixture;
using testing_support::NewTokenValue;
using testing_support::Upsert;

PeerThrottleOptions Options(double burst, double rate, size_t max_peers) {
  PeerThrottleOptions options;
  options.burst = burst;
  options.refill_per_second = rate;
  options.max_peers = max_peers;
  return options;
}

// Through VerifierCore: a peer hammering bad tokens gets its bad tokens
// refused, while valid tokens (its own and another peer's) stay ALLOWED.
TEST(PeerThrottleCoreTest, HammeringPeerIsRefusedOthersStayAllowed) {
  CoreFixture f;
  const std::string value = NewTokenValue();
  f.Sync({Upsert(1, "tok-1", "dep-a", value)});
  PeerThrottle throttle(Options(20, 5, 10000), &f.clock);
  f.core.SetThrottle(&throttle, /*trusted=*/nullptr);

  int refused = 0;
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<Decision> d = f.core.CheckFromPeer(
        "ipv4:10.0.0.1:40000", NewTokenValue(), "dep-a", "deployment.get");
    if (!d.ok()) {
      EXPECT_EQ(d.status().code(), absl::StatusCode::kResourceExhausted);
      ++refused;
    } else {
      EXPECT_EQ(d->reason, CheckReason::kUnknownToken);
    }
  }
  EXPECT_EQ(refused, 80);
  // The throttled peer's valid tokens still pass (it may be an app relaying
  // many users); its bad ones stay refused.
  absl::StatusOr<Decision> valid = f.core.CheckFromPeer(
      "ipv4:10.0.0.1:40001", value, "dep-a", "deployment.get");
  ASSERT_TRUE(valid.ok());
  EXPECT_EQ(valid->reason, CheckReason::kAllowed);
  EXPECT_FALSE(f.core
                   .CheckFromPeer("ipv4:10.0.0.1:40001", NewTokenValue(),
                                  "dep-a", "deployment.get")
                   .ok());
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<Decision> d = f.core.CheckFromPeer(
        "ipv4:10.0.0.2:40000", value, "dep-a", "deployment.get");
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->reason, CheckReason::kAllowed);
  }
  // Denials other than bad tokens (wrong deployment) are not charged.
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<Decision> d = f.core.CheckFromPeer(
        "ipv4:10.0.0.3:40000", value, "dep-b", "deployment.get");
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->reason, CheckReason::kWrongDeployment);
  }
  // After a second of quiet the hammering peer has 5 failures again.
  f.clock.Advance(absl::Seconds(1));
  f.Sync({Upsert(1, "tok-1", "dep-a", value)});
  EXPECT_TRUE(f.core
                  .CheckFromPeer("ipv4:10.0.0.1:40002", value, "dep-a",
                                 "deployment.get")
                  .ok());
  EXPECT_EQ(throttle.throttled(), 81u);
  EXPECT_NE(f.core.RenderMetrics().find("token_verifier_throttled_total 81"),
            std::string::npos);
}

// Behind a trusted proxy the end client it names is charged, not the proxy:
// one client's bad tokens never slow another, and a trusted peer that names
// no one is not throttled at all.
TEST(PeerThrottleCoreTest, TrustedProxyChargesTheEndClientItNames) {
  CoreFixture f;
  const std::string value = NewTokenValue();
  f.Sync({Upsert(1, "tok-1", "dep-a", value)});
  PeerThrottle throttle(Options(20, 5, 10000), &f.clock);
  auto trusted = TrustedProxies::Parse(kDefaultTrustedProxies);
  ASSERT_TRUE(trusted.ok());
  f.core.SetThrottle(&throttle, &*trusted);
  auto check = [&](const std::string& forwarded, const std::string& token) {
    return f.core.CheckFrom({[] { return std::string("ipv4:127.0.0.1:4000"); },
                             [&] { return forwarded; }},
                            token, "dep-a", "deployment.get");
  };
  int refused = 0;
  for (int i = 0; i < 30; ++i) {
    if (!check("203.0.113.1", NewTokenValue()).ok()) ++refused;
  }
  EXPECT_EQ(refused, 10);
  // Another end client behind the same proxy still gets decisions.
  absl::StatusOr<Decision> other = check("203.0.113.2", NewTokenValue());
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->reason, CheckReason::kUnknownToken);
  // The hammering client's valid token passes.
  absl::StatusOr<Decision> valid = check("203.0.113.1", value);
  ASSERT_TRUE(valid.ok());
  EXPECT_EQ(valid->reason, CheckReason::kAllowed);
  // The proxy itself, naming no one, is never throttled.
  for (int i = 0; i < 50; ++i) {
    absl::StatusOr<Decision> d = check("", NewTokenValue());
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->reason, CheckReason::kUnknownToken);
  }
  EXPECT_EQ(throttle.throttled(), 10u);
}

}  // namespace
}  // namespace tokens
