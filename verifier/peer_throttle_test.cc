#include "verifier/peer_throttle.h"

#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
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

TEST(PeerHostTest, StripsSchemeAndPort) {
  EXPECT_EQ(PeerHost("ipv4:10.1.2.3:5678"), "10.1.2.3");
  EXPECT_EQ(PeerHost("ipv6:[::1]:5678"), "::1");
  EXPECT_EQ(PeerHost("ipv6:%5B::1%5D:5678"), "::1");
  EXPECT_EQ(PeerHost("10.1.2.3"), "10.1.2.3");
  EXPECT_EQ(PeerHost("::1"), "::1");
  EXPECT_EQ(PeerHost(""), "");
}

TEST(PeerThrottleTest, BurstOfFailuresThenThrottledThenRefills) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  PeerThrottle throttle(Options(3, 2, 100), &clock);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(throttle.Allow("a")) << i;
    throttle.ChargeFailure("a");
  }
  EXPECT_FALSE(throttle.Allow("a"));
  EXPECT_EQ(throttle.throttled(), 1u);
  clock.Advance(absl::Milliseconds(499));  // 0.998 failures earned back
  EXPECT_FALSE(throttle.Allow("a"));
  clock.Advance(absl::Milliseconds(1));
  EXPECT_TRUE(throttle.Allow("a"));
  throttle.ChargeFailure("a");
  EXPECT_FALSE(throttle.Allow("a"));
  // The bucket never holds more than the burst, however long the pause.
  clock.Advance(absl::Hours(1));
  for (int i = 0; i < 3; ++i) throttle.ChargeFailure("a");
  EXPECT_FALSE(throttle.Allow("a"));
  EXPECT_EQ(throttle.throttled(), 4u);
}

TEST(PeerThrottleTest, OnePeerFailingDoesNotSlowAnother) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  PeerThrottle throttle(Options(5, 1, 100), &clock);
  for (int i = 0; i < 50; ++i) throttle.ChargeFailure("10.0.0.1");
  EXPECT_FALSE(throttle.Allow("10.0.0.1"));
  EXPECT_TRUE(throttle.Allow("10.0.0.2"));
  EXPECT_TRUE(throttle.Allow("never-failed"));
  EXPECT_EQ(throttle.tracked_peers(), 1u);
}

TEST(PeerThrottleTest, TracksAtMostMaxPeersForgettingTheLeastRecent) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  PeerThrottle throttle(Options(1, 0.001, 160), &clock);
  throttle.ChargeFailure("first");
  EXPECT_FALSE(throttle.Allow("first"));
  for (int i = 0; i < 10000; ++i) {
    throttle.ChargeFailure("peer-" + std::to_string(i));
  }
  EXPECT_LE(throttle.tracked_peers(), 160u);
  // "first" was the least recently charged of its shard, so it was forgotten
  // and starts again with a full bucket.
  EXPECT_TRUE(throttle.Allow("first"));
  EXPECT_FALSE(throttle.Allow("peer-9999"));
}

TEST(PeerThrottleTest, ConcurrentChargesAreAllCounted) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  PeerThrottle throttle(Options(1000, 0.001, 100), &clock);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&throttle] {
      for (int i = 0; i < 250; ++i) {
        throttle.ChargeFailure("shared");
        throttle.Allow("other");
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_FALSE(throttle.Allow("shared"));
  EXPECT_TRUE(throttle.Allow("other"));
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
