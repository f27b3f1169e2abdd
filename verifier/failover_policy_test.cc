// FailoverPolicy: the order of addresses and the waits between attempts.
#include "verifier/failover_policy.h"

#include <vector>

#include "gtest/gtest.h"

namespace tokens {
namespace {

const absl::Duration kMin = absl::Milliseconds(100);
const absl::Duration kMax = absl::Milliseconds(800);

TEST(JitteredBackoffTest, SpreadsOverTheUpperHalfOfTheBackoff) {
  const absl::Duration backoff = absl::Milliseconds(800);
  EXPECT_EQ(JitteredBackoff(backoff, 0.0), absl::Milliseconds(400));
  EXPECT_EQ(JitteredBackoff(backoff, 0.5), absl::Milliseconds(600));
  EXPECT_EQ(JitteredBackoff(backoff, 1.0), backoff);
  EXPECT_EQ(JitteredBackoff(backoff, 7.0), backoff) << "clamped";
}

TEST(FailoverPolicyTest, OneAddressBacksOffExponentiallyAsBefore) {
  FailoverPolicy policy(1, kMin, kMax);
  std::vector<absl::Duration> waits;
  for (int i = 0; i < 6; ++i) {
    FailoverPolicy::Step step = policy.StreamEnded(false, 1.0);
    EXPECT_EQ(step.address, 0u);
    waits.push_back(step.wait);
  }
  EXPECT_EQ(waits, (std::vector<absl::Duration>{kMin, kMin * 2, kMin * 4, kMax,
                                                kMax, kMax}));
  // A healthy stream starts the backoff over.
  EXPECT_EQ(policy.StreamEnded(true, 1.0).wait, kMin);
  EXPECT_EQ(policy.StreamEnded(false, 0.0).wait, kMin) << "half of 2 x min";
}

TEST(FailoverPolicyTest, MovesToTheNextAddressAtOnceAfterAHealthyStream) {
  FailoverPolicy policy(3, kMin, kMax);
  EXPECT_EQ(policy.current(), 0u);
  FailoverPolicy::Step step = policy.StreamEnded(/*healthy=*/true, 1.0);
  EXPECT_EQ(step.address, 1u);
  EXPECT_EQ(step.wait, absl::ZeroDuration()) << "no backoff for a new address";
  EXPECT_EQ(policy.current(), 1u);
}

TEST(FailoverPolicyTest, BacksOffOnlyOnceEveryAddressFailedInARow) {
  FailoverPolicy policy(3, kMin, kMax);
  // Round 1: 0 and 1 fail, each followed by an attempt at once; when 2 fails
  // too, every address has, and the next round waits.
  std::vector<FailoverPolicy::Step> steps;
  for (int i = 0; i < 9; ++i) steps.push_back(policy.StreamEnded(false, 1.0));
  const std::vector<size_t> want_address = {1, 2, 0, 1, 2, 0, 1, 2, 0};
  const std::vector<absl::Duration> want_wait = {
      absl::ZeroDuration(), absl::ZeroDuration(), kMin,
      absl::ZeroDuration(), absl::ZeroDuration(), kMin * 2,
      absl::ZeroDuration(), absl::ZeroDuration(), kMin * 4};
  for (size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(steps[i].address, want_address[i]) << i;
    EXPECT_EQ(steps[i].wait, want_wait[i]) << i;
  }
  EXPECT_EQ(policy.failures_in_a_row(), 9u);
}

TEST(FailoverPolicyTest, AHealthyStreamStartsTheRoundAndBackoffOver) {
  FailoverPolicy policy(2, kMin, kMax);
  policy.StreamEnded(false, 1.0);                        // 0 failed: 1 at once
  EXPECT_EQ(policy.StreamEnded(false, 1.0).wait, kMin);  // 1 failed: wait
  EXPECT_EQ(policy.StreamEnded(false, 1.0).wait, absl::ZeroDuration());
  EXPECT_EQ(policy.StreamEnded(false, 1.0).wait, kMin * 2);
  // 0 comes back and serves a while, then breaks: 1 at once, then back off
  // from the start when 1 is down too.
  EXPECT_EQ(policy.current(), 0u);
  FailoverPolicy::Step step = policy.StreamEnded(true, 1.0);
  EXPECT_EQ(step.address, 1u);
  EXPECT_EQ(step.wait, absl::ZeroDuration());
  EXPECT_EQ(policy.failures_in_a_row(), 1u);
  step = policy.StreamEnded(false, 1.0);
  EXPECT_EQ(step.address, 0u);
  EXPECT_EQ(step.wait, kMin);
}

TEST(FailoverPolicyTest, JitterSpreadsTheWaits) {
  FailoverPolicy low(1, kMin, kMax);
  FailoverPolicy high(1, kMin, kMax);
  EXPECT_EQ(low.StreamEnded(false, 0.0).wait, kMin / 2);
  EXPECT_EQ(high.StreamEnded(false, 1.0).wait, kMin);
}

}  // namespace
}  // namespace tokens
