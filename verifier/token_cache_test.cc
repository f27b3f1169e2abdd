#include "verifier/token_cache.h"

#include <atomic>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "verifier/test_support.h"

namespace tokens {
namespace {

using testing_support::Delete;
using testing_support::DeleteRevoking;
using testing_support::NewTokenValue;
using testing_support::Revoked;
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
  TokenChange rotate = Upsert(2, "tok_a", "dep-1", new_value);
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
  TokenChange rotate = Upsert(1, "tok_a", "dep-1", new_value);
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
  ASSERT_TRUE(table.Find(DigestOf(value)).has_value());
  EXPECT_EQ(table.Find(DigestOf(value))->token_id, "tok_b");
  table.Apply(Delete(3, "tok_a"));
  EXPECT_TRUE(table.Find(DigestOf(value)).has_value());
  table.Apply(Delete(4, "tok_b"));
  EXPECT_FALSE(table.Find(DigestOf(value)).has_value());
  EXPECT_EQ(table.token_count(), 0u);
  EXPECT_EQ(table.digest_count(), 0u);
}

TokenChange UpsertDigest(int64_t revision, std::string token_id,
                         std::string deployment_id, const Digest& digest) {
  TokenChange change = Upsert(revision, std::move(token_id),
                              std::move(deployment_id), NewTokenValue());
  change.digest = digest;
  return change;
}

// Ids longer than the table keeps inline (TokenService's are 30 bytes) live
// apart; they must still be found, replaced and deleted by id.
TEST(TokenTableTest, IdsOfEveryLengthRoundTrip) {
  TokenTable table;
  std::vector<std::string> ids = {"", "t", "tok_abcdefghijklmnopqrstuvwxyz"};
  for (size_t n : {33, 34, 35, 36, 64, 300}) ids.push_back(std::string(n, 'x'));
  ids.push_back(std::string(35, 'x') + "y");  // shares a long prefix
  std::vector<std::string> values;
  int64_t revision = 0;
  for (const std::string& id : ids) {
    values.push_back(NewTokenValue());
    table.Apply(Upsert(++revision, id, "dep-1", values.back()));
  }
  ASSERT_EQ(table.token_count(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    auto found = table.Find(DigestOf(values[i]));
    ASSERT_TRUE(found.has_value()) << ids[i].size();
    EXPECT_EQ(found->token_id, ids[i]);
  }
  // Replace every other token, delete the rest.
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i % 2 == 0) {
      const std::string fresh = NewTokenValue();
      table.Apply(Upsert(++revision, ids[i], "dep-2", fresh));
      EXPECT_FALSE(table.Find(DigestOf(values[i])).has_value());
      ASSERT_TRUE(table.Find(DigestOf(fresh)).has_value());
      EXPECT_EQ(table.Find(DigestOf(fresh))->token_id, ids[i]);
      EXPECT_EQ(table.Find(DigestOf(fresh))->deployment_id, "dep-2");
    } else {
      table.Apply(Delete(++revision, ids[i]));
      EXPECT_FALSE(table.Find(DigestOf(values[i])).has_value());
    }
  }
  EXPECT_EQ(table.token_count(), (ids.size() + 1) / 2);
  EXPECT_EQ(table.digest_count(), (ids.size() + 1) / 2);
}

// Every id hashing alike must not confuse one token with another: the id index
// compares the ids themselves.
TEST(TokenTableTest, IdHashCollisionsKeepTokensApart) {
  TokenTable table([](std::string_view) -> size_t { return 42; });
  std::vector<std::string> values;
  for (int i = 0; i < 50; ++i) {
    values.push_back(NewTokenValue());
    const std::string id =
        i % 2 == 0 ? "tok_" + std::to_string(i)
                   : std::string(40, 'a' + i % 26) + std::to_string(i);
    table.Apply(Upsert(i + 1, id, "dep-1", values.back()));
  }
  EXPECT_EQ(table.token_count(), 50u);
  table.Apply(Delete(100, "tok_10"));
  table.Apply(Upsert(101, "tok_12", "dep-9", values[12]));
  EXPECT_FALSE(table.Find(DigestOf(values[10])).has_value());
  ASSERT_TRUE(table.Find(DigestOf(values[12])).has_value());
  EXPECT_EQ(table.Find(DigestOf(values[12]))->deployment_id, "dep-9");
  for (int i = 0; i < 50; ++i) {
    if (i == 10) continue;
    auto found = table.Find(DigestOf(values[i]));
    ASSERT_TRUE(found.has_value()) << i;
    EXPECT_EQ(found->token_id,
              i % 2 == 0 ? "tok_" + std::to_string(i)
                         : std::string(40, 'a' + i % 26) + std::to_string(i));
  }
  EXPECT_EQ(table.token_count(), 49u);
}

// The digest index hashes by the first 8 bytes only; digests that share them
// are still told apart.
TEST(TokenTableTest, DigestsSharingTheirHashBytesStayApart) {
  TokenTable table;
  std::vector<Digest> digests;
  for (int i = 0; i < 20; ++i) {
    Digest digest{};
    digest[31] = static_cast<uint8_t>(i + 1);
    digests.push_back(digest);
    table.Apply(
        UpsertDigest(i + 1, "tok_" + std::to_string(i), "dep-1", digest));
  }
  table.Apply(Delete(30, "tok_3"));
  for (int i = 0; i < 20; ++i) {
    auto found = table.Find(digests[i]);
    if (i == 3) {
      EXPECT_FALSE(found.has_value());
      continue;
    }
    ASSERT_TRUE(found.has_value()) << i;
    EXPECT_EQ(found->token_id, "tok_" + std::to_string(i));
  }
  EXPECT_EQ(table.digest_count(), 19u);
}

// Deployments are interned and counted: one whose last token goes is forgotten,
// and its slot reused by another without mixing them up.
TEST(TokenTableTest, DeploymentsAreSharedAndTheirSlotsReused) {
  TokenTable table;
  const std::string a1 = NewTokenValue(), a2 = NewTokenValue();
  const std::string b1 = NewTokenValue(), c1 = NewTokenValue();
  table.Apply(Upsert(1, "tok_a1", "dep-a", a1));
  table.Apply(Upsert(2, "tok_a2", "dep-a", a2));
  table.Apply(Upsert(3, "tok_b1", "dep-b", b1));
  table.Apply(Delete(4, "tok_a1"));
  EXPECT_EQ(table.Find(DigestOf(a2))->deployment_id, "dep-a");
  table.Apply(Delete(5, "tok_a2"));  // dep-a has no token left
  table.Apply(Upsert(6, "tok_c1", "dep-c", c1));
  EXPECT_EQ(table.Find(DigestOf(c1))->deployment_id, "dep-c");
  EXPECT_EQ(table.Find(DigestOf(b1))->deployment_id, "dep-b");
  // A token moving between Deployments.
  table.Apply(Upsert(7, "tok_b1", "dep-c", b1));
  EXPECT_EQ(table.Find(DigestOf(b1))->deployment_id, "dep-c");
  table.Apply(Upsert(8, "tok_a1", "dep-a", a1));
  EXPECT_EQ(table.Find(DigestOf(a1))->deployment_id, "dep-a");
  EXPECT_EQ(table.Find(DigestOf(c1))->deployment_id, "dep-c");
}

// A rotated token whose current digest moves to another token keeps its
// previous value (for its grace period) until that goes too.
TEST(TokenTableTest, TokenLeftWithOnlyItsPreviousDigest) {
  TokenTable table;
  const std::string old_value = NewTokenValue();
  const std::string new_value = NewTokenValue();
  TokenChange rotate = Upsert(1, "tok_a", "dep-1", new_value);
  rotate.previous_digest = DigestOf(old_value);
  rotate.previous_valid_until = absl::FromUnixSeconds(1700000000);
  table.Apply(rotate);
  table.Apply(Upsert(2, "tok_b", "dep-2", new_value));
  EXPECT_EQ(table.Find(DigestOf(new_value))->token_id, "tok_b");
  auto previous = table.Find(DigestOf(old_value));
  ASSERT_TRUE(previous.has_value());
  EXPECT_EQ(previous->token_id, "tok_a");
  EXPECT_TRUE(previous->is_previous);
  EXPECT_EQ(table.token_count(), 2u);
  // Its previous digest claimed as well: tok_a holds nothing and is gone.
  table.Apply(Upsert(3, "tok_c", "dep-3", old_value));
  EXPECT_EQ(table.token_count(), 2u);
  EXPECT_EQ(table.digest_count(), 2u);
  EXPECT_FALSE(table.Find(DigestOf(old_value))->is_previous);
  table.Apply(Delete(4, "tok_a"));  // nothing left to delete
  EXPECT_EQ(table.token_count(), 2u);
}

TEST(TokenTableTest, TimesKeepMicrosecondsAndInfinities) {
  TokenTable table;
  const std::string current = NewTokenValue();
  const std::string previous = NewTokenValue();
  const absl::Time expiry = absl::FromUnixMicros(1800000000123456);
  TokenChange rotate = Upsert(1, "tok_a", "dep-1", current, expiry);
  rotate.previous_digest = DigestOf(previous);
  rotate.previous_valid_until = absl::InfinitePast();
  table.Apply(rotate);
  EXPECT_EQ(table.Find(DigestOf(current))->expire_time, expiry);
  EXPECT_EQ(table.Find(DigestOf(previous))->valid_until, absl::InfinitePast());
  // Finer than a microsecond rounds down: never later than the feed said.
  table.Apply(
      Upsert(2, "tok_a", "dep-1", current, expiry + absl::Nanoseconds(999)));
  EXPECT_EQ(table.Find(DigestOf(current))->expire_time, expiry);
  table.Apply(Upsert(3, "tok_a", "dep-1", current));
  EXPECT_EQ(table.Find(DigestOf(current))->expire_time, absl::InfiniteFuture());
  EXPECT_EQ(table.Find(DigestOf(current))->valid_until, absl::InfiniteFuture());
}

TEST(TokenTableTest, MovedFromTableIsEmptyAndUsable) {
  TokenTable table;
  const std::string value = NewTokenValue();
  table.Apply(Upsert(1, "tok_a", "dep-1", value));
  TokenTable moved = std::move(table);
  EXPECT_TRUE(moved.Find(DigestOf(value)).has_value());
  // NOLINTNEXTLINE(bugprone-use-after-move): moved-from must stay usable.
  EXPECT_EQ(table.token_count(), 0u);
  EXPECT_FALSE(table.Find(DigestOf(value)).has_value());
  table.Apply(Upsert(2, "tok_b", "dep-1", value));
  EXPECT_EQ(table.Find(DigestOf(value))->token_id, "tok_b");
}

// Churn through many tokens and Deployments against a plain model.
TEST(TokenTableTest, RandomChurnMatchesASimpleModel) {
  TokenTable table;
  struct Model {
    std::string deployment;
    std::string value;
  };
  std::map<std::string, Model> model;
  std::mt19937 random(1);
  int64_t revision = 0;
  for (int step = 0; step < 3000; ++step) {
    const int n = static_cast<int>(random() % 200);
    const std::string id = n % 7 == 0 ? std::string(50, 'L') + std::to_string(n)
                                      : "tok_" + std::to_string(n);
    if (random() % 3 == 0) {
      table.Apply(Delete(++revision, id));
      model.erase(id);
    } else {
      Model m{"dep-" + std::to_string(random() % 13), NewTokenValue()};
      table.Apply(Upsert(++revision, id, m.deployment, m.value));
      model[id] = m;
    }
  }
  ASSERT_EQ(table.token_count(), model.size());
  ASSERT_EQ(table.digest_count(), model.size());
  for (const auto& [id, m] : model) {
    auto found = table.Find(DigestOf(m.value));
    ASSERT_TRUE(found.has_value()) << id;
    EXPECT_EQ(found->token_id, id);
    EXPECT_EQ(found->deployment_id, m.deployment);
  }
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
  std::atomic<int64_t> lookups{0};
  std::atomic<int> started{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&] {
      const Digest digest = DigestOf(stable);
      ++started;
      while (!done.load()) {
        auto entry = cache.Lookup(digest);
        if (!entry.has_value() || entry->token_id != "tok_stable") ++misses;
        cache.state();
        ++lookups;
      }
    });
  }
  // Every reader is looking before the writer starts.
  while (started.load() < 4) std::this_thread::yield();
  const int64_t lookups_before = lookups.load();
  int64_t revision = 1;
  for (int round = 0; round < 200; ++round) {
    std::vector<TokenChange> changes;
    for (size_t i = 0; i < churn.size(); ++i) {
      const std::string id = "tok_" + std::to_string(i);
      changes.push_back(round % 2 == 0
                            ? Upsert(++revision, id, "dep-1", churn[i])
                            : Delete(++revision, id));
    }
    cache.ApplyChanges(changes, revision);
    if (round == 100) {
      // Halfway, readers have looked up since the writer started: the rounds
      // really run concurrently with lookups (a condition, not a sleep).
      while (lookups.load() == lookups_before) std::this_thread::yield();
    }
    if (round % 50 == 0) {
      TokenTable table;
      table.Apply(Upsert(0, "tok_stable", "dep-1", stable));
      cache.ReplaceAll(std::move(table), revision);
    }
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(misses.load(), 0);
  EXPECT_GT(lookups.load(), lookups_before);
}

TEST(TokenCacheTest, ChangesFeedTheRevokedValuesAndLookupFallsBackToThem) {
  TokenCache cache;
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  const std::string value = NewTokenValue();
  cache.ApplyChanges({Upsert(1, "tok_a", "dep-1", value)}, 1);
  CacheLookup live = cache.LookupWithRevoked(DigestOf(value));
  ASSERT_TRUE(live.token.has_value());
  EXPECT_FALSE(live.revoked.has_value());

  cache.ApplyChanges({DeleteRevoking(2, "tok_a", {value}, t0)}, 2);
  EXPECT_FALSE(cache.Lookup(DigestOf(value)).has_value());
  CacheLookup gone = cache.LookupWithRevoked(DigestOf(value));
  EXPECT_FALSE(gone.token.has_value());
  ASSERT_TRUE(gone.revoked.has_value());
  EXPECT_EQ(gone.revoked->token_id, "tok_a");
  EXPECT_EQ(gone.revoked->revoke_time, t0);
  EXPECT_EQ(cache.state().revoked_count, 1u);

  // A change at or below the revision is ignored, its revoked values too.
  const std::string other = NewTokenValue();
  cache.ApplyChanges({DeleteRevoking(2, "tok_b", {other}, t0)}, 2);
  EXPECT_FALSE(cache.LookupWithRevoked(DigestOf(other)).revoked.has_value());

  const CacheLookup never = cache.LookupWithRevoked(DigestOf(NewTokenValue()));
  EXPECT_FALSE(never.token.has_value());
  EXPECT_FALSE(never.revoked.has_value());
}

TEST(TokenCacheTest, ASnapshotReplacesTheRevokedValues) {
  TokenCache cache;
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  const std::string before = NewTokenValue();
  const std::string after = NewTokenValue();
  cache.ApplyChanges({DeleteRevoking(1, "tok_a", {before}, t0)}, 1);
  RevokedSet revoked = cache.NewRevokedSet();
  revoked.Insert(Revoked(after, "tok_b", t0));
  cache.ReplaceAll(TokenTable(), std::move(revoked), 5);
  EXPECT_FALSE(cache.LookupWithRevoked(DigestOf(before)).revoked.has_value());
  EXPECT_TRUE(cache.LookupWithRevoked(DigestOf(after)).revoked.has_value());
  // A snapshot without revoked values (an older TokenService) empties them.
  cache.ReplaceAll(TokenTable(), 6);
  EXPECT_EQ(cache.state().revoked_count, 0u);
}

TEST(TokenCacheTest, PruneForgetsRevokedValuesPastTheRetention) {
  TokenCache cache(RevokedOptions{100, absl::Hours(24)});
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  const std::string old_value = NewTokenValue();
  const std::string new_value = NewTokenValue();
  cache.ApplyChanges(
      {DeleteRevoking(1, "tok_a", {old_value}, t0),
       DeleteRevoking(2, "tok_b", {new_value}, t0 + absl::Hours(2))},
      2);
  EXPECT_EQ(cache.PruneRevoked(t0 + absl::Hours(24)), 0u) << "just within";
  EXPECT_EQ(cache.PruneRevoked(t0 + absl::Hours(25)), 1u);
  EXPECT_FALSE(
      cache.LookupWithRevoked(DigestOf(old_value)).revoked.has_value());
  EXPECT_TRUE(cache.LookupWithRevoked(DigestOf(new_value)).revoked.has_value());
}

TEST(TokenCacheTest, EvictionsAreCountedAcrossSnapshots) {
  TokenCache cache(RevokedOptions{1, absl::Hours(24)});
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  cache.ApplyChanges(
      {DeleteRevoking(1, "tok_a", {NewTokenValue(), NewTokenValue()}, t0)}, 1);
  EXPECT_EQ(cache.state().revoked_count, 1u);
  EXPECT_EQ(cache.state().revoked_evicted, 1u);
  RevokedSet revoked = cache.NewRevokedSet();
  revoked.Insert(Revoked(NewTokenValue(), "tok_b", t0));
  revoked.Insert(Revoked(NewTokenValue(), "tok_b", t0 + absl::Seconds(1)));
  cache.ReplaceAll(TokenTable(), std::move(revoked), 2);
  EXPECT_EQ(cache.state().revoked_evicted, 2u) << "a counter never goes back";
}

}  // namespace
}  // namespace tokens
