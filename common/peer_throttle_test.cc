#include "common/peer_throttle.h"

#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/fake_clock.h"
#include "gtest/gtest.h"

namespace tokens {
namespace {

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

}  // namespace
}  // namespace tokens
