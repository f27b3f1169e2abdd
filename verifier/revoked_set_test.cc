#include "verifier/revoked_set.h"

#include <string>

#include "gtest/gtest.h"
#include "verifier/test_support.h"

namespace tokens {
namespace {

using testing_support::NewTokenValue;
using testing_support::Revoked;

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

TEST(RevokedSetTest, FindsWhatWasInsertedAndNothingElse) {
  RevokedSet set;
  const std::string value = NewTokenValue();
  set.Insert(Revoked(value, "tok_a", kT0));
  std::optional<RevokedEntry> found = set.Find(DigestOf(value));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->token_id, "tok_a");
  EXPECT_EQ(found->revoke_time, kT0);
  EXPECT_FALSE(set.Find(DigestOf(NewTokenValue())).has_value());
  EXPECT_EQ(set.size(), 1u);
}

TEST(RevokedSetTest, TheLaterWordOnADigestWins) {
  RevokedSet set;
  const std::string value = NewTokenValue();
  // A rotation with a grace period, then a delete before its end.
  set.Insert(Revoked(value, "tok_a", kT0 + absl::Hours(1)));
  set.Insert(Revoked(value, "tok_a", kT0));
  EXPECT_EQ(set.size(), 1u);
  EXPECT_EQ(set.Find(DigestOf(value))->revoke_time, kT0);
}

TEST(RevokedSetTest, LongIdsAndInfiniteTimesRoundTrip) {
  RevokedSet set;
  const std::string value = NewTokenValue();
  const std::string long_id(200, 'x');
  set.Insert(Revoked(value, long_id, absl::InfinitePast()));
  EXPECT_EQ(set.Find(DigestOf(value))->token_id, long_id);
  EXPECT_EQ(set.Find(DigestOf(value))->revoke_time, absl::InfinitePast());
  set.Insert(Revoked(value, "tok_short", kT0));
  EXPECT_EQ(set.Find(DigestOf(value))->token_id, "tok_short");
}

TEST(RevokedSetTest, TheBoundEvictsTheOldestRevocationFirst) {
  RevokedSet set(3);
  std::vector<std::string> values;
  // Inserted out of order: the age, not the arrival, decides.
  const int minutes[] = {30, 10, 20};
  for (int m : minutes) {
    values.push_back(NewTokenValue());
    set.Insert(Revoked(values.back(), "tok_" + std::to_string(m),
                       kT0 + absl::Minutes(m)));
  }
  const std::string newer = NewTokenValue();
  set.Insert(Revoked(newer, "tok_40", kT0 + absl::Minutes(40)));
  EXPECT_EQ(set.size(), 3u);
  EXPECT_EQ(set.evicted(), 1u);
  EXPECT_FALSE(set.Find(DigestOf(values[1])).has_value()) << "10 min: oldest";
  EXPECT_TRUE(set.Find(DigestOf(values[0])).has_value());
  EXPECT_TRUE(set.Find(DigestOf(values[2])).has_value());
  EXPECT_TRUE(set.Find(DigestOf(newer)).has_value());

  // One older than all of them is not kept at all.
  const std::string ancient = NewTokenValue();
  set.Insert(Revoked(ancient, "tok_0", kT0));
  EXPECT_FALSE(set.Find(DigestOf(ancient)).has_value());
  EXPECT_EQ(set.size(), 3u);
  EXPECT_EQ(set.evicted(), 2u);
}

TEST(RevokedSetTest, ZeroRemembersNothing) {
  RevokedSet set(0);
  const std::string value = NewTokenValue();
  set.Insert(Revoked(value, "tok_a", kT0));
  EXPECT_FALSE(set.Find(DigestOf(value)).has_value());
  EXPECT_EQ(set.size(), 0u);
}

TEST(RevokedSetTest, PruneForgetsWhatWasRevokedBeforeTheCutoff) {
  RevokedSet set;
  std::vector<std::string> values;
  for (int h = 0; h < 10; ++h) {
    values.push_back(NewTokenValue());
    set.Insert(Revoked(values.back(), "tok", kT0 + absl::Hours(h)));
  }
  EXPECT_EQ(set.PruneRevokedBefore(kT0 + absl::Hours(4)), 4u);
  EXPECT_EQ(set.size(), 6u);
  for (int h = 0; h < 10; ++h) {
    EXPECT_EQ(set.Find(DigestOf(values[h])).has_value(), h >= 4) << h;
  }
  EXPECT_EQ(set.PruneRevokedBefore(kT0 + absl::Hours(4)), 0u);
  EXPECT_EQ(set.evicted(), 0u) << "pruning is not eviction";
}

// Many inserts, updates and removals keep the heap and the index in step:
// every value held is found with its latest time, the oldest go first.
TEST(RevokedSetTest, HeapAndIndexStayConsistentUnderChurn) {
  constexpr int kMax = 200;
  RevokedSet set(kMax);
  std::vector<std::string> values;
  std::vector<absl::Time> times;
  uint64_t x = 12345;
  for (int i = 0; i < 2000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    if (!values.empty() && (x >> 60) == 0) {
      // Update a known value's time.
      const size_t k = (x >> 20) % values.size();
      times[k] = kT0 + absl::Seconds(static_cast<int64_t>((x >> 30) % 100000));
      set.Insert(Revoked(values[k], "tok", times[k]));
      continue;
    }
    values.push_back(NewTokenValue());
    times.push_back(kT0 +
                    absl::Seconds(static_cast<int64_t>((x >> 30) % 100000)));
    set.Insert(Revoked(values.back(), "tok", times.back()));
  }
  ASSERT_EQ(set.size(), static_cast<size_t>(kMax));
  // What is held carries its latest time.
  int held = 0;
  for (size_t k = 0; k < values.size(); ++k) {
    std::optional<RevokedEntry> found = set.Find(DigestOf(values[k]));
    if (found.has_value()) {
      ++held;
      EXPECT_EQ(found->revoke_time, times[k]);
    }
  }
  EXPECT_EQ(held, kMax);
  // Pruning in steps removes exactly what is older than each cutoff.
  for (int64_t s = 0; s <= 100000; s += 5000) {
    set.PruneRevokedBefore(kT0 + absl::Seconds(s));
    for (size_t k = 0; k < values.size(); ++k) {
      if (set.Find(DigestOf(values[k])).has_value()) {
        EXPECT_GE(times[k], kT0 + absl::Seconds(s));
      }
    }
  }
  EXPECT_EQ(set.size(), 0u);
}

}  // namespace
}  // namespace tokens
