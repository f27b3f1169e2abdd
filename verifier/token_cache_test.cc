#include "verifier/token_cache.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "verifier/test_support.h"

namespace tokens {
namespace {

using testing_support::Delete;
using testing_support::NewTokenValue;
using testing_support::Upsert;

TEST(TokenCacheTest, StartsUnsyncedAndEmpty) {
  TokenCache cache;
  CacheState state = cache.state();
  EXPECT_FALSE(state.synced);
  EXPECT_EQ(state.revision, 0);
  EXPECT_EQ(state.last_heartbeat, absl::InfinitePast());
  EXPECT_FALSE(cache.Lookup(DigestOf(NewTokenValue())).has_value());
}

TEST(TokenCacheTest, UpsertThenLookupFindsTheToken) {
  TokenCache cache;
  const std::string value = NewTokenValue();
  const absl::Time expiry = absl::FromUnixSeconds(2000000000);
  cache.ApplyChanges({Upsert(1, "tok_a", "dep-1", value, expiry)}, 1);
  auto entry = cache.Lookup(DigestOf(value));
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->token_id, "tok_a");
  EXPECT_EQ(entry->deployment_id, "dep-1");
  EXPECT_EQ(entry->expire_time, expiry);
  EXPECT_FALSE(entry->is_previous);
  EXPECT_EQ(cache.state().revision, 1);
  EXPECT_EQ(cache.state().token_count, 1u);
}

TEST(TokenCacheTest, UpsertReplacesEveryDigestOfTheToken) {
  TokenCache cache;
  const std::string old_value = NewTokenValue();
  const std::string new_value = NewTokenValue();
  cache.ApplyChanges({Upsert(1, "tok_a", "dep-1", old_value)}, 1);
  cache.ApplyChanges({Upsert(2, "tok_a", "dep-1", new_value)}, 2);
  EXPECT_FALSE(cache.Lookup(DigestOf(old_value)).has_value());
  EXPECT_TRUE(cache.Lookup(DigestOf(new_value)).has_value());
  EXPECT_EQ(cache.state().token_count, 1u);
}

TEST(TokenCacheTest, RotationWithGraceKeepsThePreviousDigestMarked) {
  TokenCache cache;
  const std::string old_value = NewTokenValue();
  const std::string new_value = NewTokenValue();
  const absl::Time grace_end = absl::FromUnixSeconds(1700000000);
  cache.ApplyChanges({Upsert(1, "tok_a", "dep-1", old_value)}, 1);
  CacheChange rotate = Upsert(2, "tok_a", "dep-1", new_value);
  rotate.previous_digest = DigestOf(old_value);
  rotate.previous_valid_until = grace_end;
  cache.ApplyChanges({rotate}, 2);

  auto previous = cache.Lookup(DigestOf(old_value));
  ASSERT_TRUE(previous.has_value());
  EXPECT_TRUE(previous->is_previous);
  EXPECT_EQ(previous->valid_until, grace_end);
  EXPECT_EQ(previous->token_id, "tok_a");
  auto current = cache.Lookup(DigestOf(new_value));
  ASSERT_TRUE(current.has_value());
  EXPECT_FALSE(current->is_previous);

  // The next change of the token (here a rotation without grace) drops both.
  const std::string third_value = NewTokenValue();
  cache.ApplyChanges({Upsert(3, "tok_a", "dep-1", third_value)}, 3);
  EXPECT_FALSE(cache.Lookup(DigestOf(old_value)).has_value());
  EXPECT_FALSE(cache.Lookup(DigestOf(new_value)).has_value());
  EXPECT_TRUE(cache.Lookup(DigestOf(third_value)).has_value());
}

TEST(TokenCacheTest, DeleteRemovesCurrentAndPreviousDigests) {
  TokenCache cache;
  const std::string old_value = NewTokenValue();
  const std::string new_value = NewTokenValue();
  const std::string other_value = NewTokenValue();
  CacheChange rotate = Upsert(1, "tok_a", "dep-1", new_value);
  rotate.previous_digest = DigestOf(old_value);
  rotate.previous_valid_until = absl::InfiniteFuture();
  cache.ApplyChanges({rotate, Upsert(2, "tok_b", "dep-1", other_value)}, 2);
  cache.ApplyChanges({Delete(3, "tok_a")}, 3);
  EXPECT_FALSE(cache.Lookup(DigestOf(old_value)).has_value());
  EXPECT_FALSE(cache.Lookup(DigestOf(new_value)).has_value());
  EXPECT_TRUE(cache.Lookup(DigestOf(other_value)).has_value());
  EXPECT_EQ(cache.state().token_count, 1u);
}

TEST(TokenCacheTest, ChangesAtOrBelowTheCurrentRevisionAreIgnored) {
  TokenCache cache;
  const std::string value = NewTokenValue();
  cache.ApplyChanges({Upsert(5, "tok_a", "dep-1", value)}, 5);
  // A replayed delete (revision 5) and an older one (4) must not undo the
  // upsert.
  EXPECT_EQ(cache.ApplyChanges({Delete(4, "tok_a"), Delete(5, "tok_a")}, 5), 0);
  EXPECT_TRUE(cache.Lookup(DigestOf(value)).has_value());
  EXPECT_EQ(cache.ApplyChanges({Delete(6, "tok_a")}, 6), 1);
  EXPECT_FALSE(cache.Lookup(DigestOf(value)).has_value());
  EXPECT_EQ(cache.state().revision, 6);
}

TEST(TokenCacheTest, MessageRevisionAdvancesPastItsChanges) {
  TokenCache cache;
  cache.ApplyChanges({}, 9);
  EXPECT_EQ(cache.state().revision, 9);
  cache.ApplyChanges({}, 3);  // never backwards
  EXPECT_EQ(cache.state().revision, 9);
}

TEST(TokenCacheTest, ReplaceAllSwapsTheWholeTableAndMarksSynced) {
  TokenCache cache;
  const std::string stale = NewTokenValue();
  const std::string fresh = NewTokenValue();
  cache.ApplyChanges({Upsert(1, "tok_old", "dep-1", stale)}, 1);
  TokenTable table;
  table.Apply(Upsert(0, "tok_new", "dep-1", fresh));
  // Built aside: the live cache does not see it yet.
  EXPECT_FALSE(cache.Lookup(DigestOf(fresh)).has_value());
  cache.ReplaceAll(std::move(table), 42);
  EXPECT_TRUE(cache.Lookup(DigestOf(fresh)).has_value());
  EXPECT_FALSE(cache.Lookup(DigestOf(stale)).has_value());
  CacheState state = cache.state();
  EXPECT_TRUE(state.synced);
  EXPECT_EQ(state.revision, 42);
  EXPECT_EQ(state.token_count, 1u);
}

TEST(TokenCacheTest, HeartbeatOnlyMovesForward) {
  TokenCache cache;
  const absl::Time t = absl::FromUnixSeconds(1000);
  cache.RecordHeartbeat(t);
  cache.RecordHeartbeat(t - absl::Seconds(5));
  EXPECT_EQ(cache.state().last_heartbeat, t);
}

TEST(TokenTableTest, DigestMovedToAnotherTokenIsForgottenByTheFirst) {
  TokenTable table;
  const std::string value = NewTokenValue();
  table.Apply(Upsert(1, "tok_a", "dep-1", value));
  table.Apply(Upsert(2, "tok_b", "dep-1", value));
  ASSERT_NE(table.Find(DigestOf(value)), nullptr);
  EXPECT_EQ(table.Find(DigestOf(value))->token_id, "tok_b");
  table.Apply(Delete(3, "tok_a"));
  EXPECT_NE(table.Find(DigestOf(value)), nullptr);
  table.Apply(Delete(4, "tok_b"));
  EXPECT_EQ(table.Find(DigestOf(value)), nullptr);
  EXPECT_EQ(table.token_count(), 0u);
  EXPECT_EQ(table.digest_count(), 0u);
}

// Readers never see a half-applied change: a token that is always present stays
// found while a writer churns other tokens and swaps whole snapshots in.
TEST(TokenCacheTest, ConcurrentReadersWhileOneWriterApplies) {
  TokenCache cache;
  const std::string stable = NewTokenValue();
  TokenTable initial;
  initial.Apply(Upsert(0, "tok_stable", "dep-1", stable));
  cache.ReplaceAll(std::move(initial), 1);

  std::vector<std::string> churn;
  for (int i = 0; i < 16; ++i) churn.push_back(NewTokenValue());

  std::atomic<bool> done{false};
  std::atomic<int> misses{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&] {
      const Digest digest = DigestOf(stable);
      while (!done.load()) {
        auto entry = cache.Lookup(digest);
        if (!entry.has_value() || entry->token_id != "tok_stable") ++misses;
        cache.state();
      }
    });
  }
  int64_t revision = 1;
  for (int round = 0; round < 200; ++round) {
    std::vector<CacheChange> changes;
    for (size_t i = 0; i < churn.size(); ++i) {
      const std::string id = "tok_" + std::to_string(i);
      changes.push_back(round % 2 == 0
                            ? Upsert(++revision, id, "dep-1", churn[i])
                            : Delete(++revision, id));
    }
    cache.ApplyChanges(changes, revision);
    if (round % 50 == 0) {
      TokenTable table;
      table.Apply(Upsert(0, "tok_stable", "dep-1", stable));
      cache.ReplaceAll(std::move(table), revision);
    }
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(misses.load(), 0);
}

}  // namespace
}  // namespace tokens
