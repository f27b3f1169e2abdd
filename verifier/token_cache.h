// TokenCache: the verifier's in-memory view of every valid token, keyed by the
// SHA-256 digest of its value, fed by the TokenService change feed. It never
// sees a token value.
//
// TokenTable is the plain map (not thread-safe): the feed client builds a fresh
// one aside while a snapshot streams in. TokenCache wraps the live table, and
// the RevokedSet of values that no longer verify, for many concurrent readers
// and one writer: lookups take a reader lock, changes and the snapshot swap
// take the writer lock, and no lock is ever held across I/O. A partially
// received snapshot never serves: it is swapped in whole (table and revoked
// values) by ReplaceAll.
#ifndef VERIFIER_TOKEN_CACHE_H_
#define VERIFIER_TOKEN_CACHE_H_

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/token_change.h"
#include "common/token_value.h"
#include "verifier/record_layout.h"
#include "verifier/revoked_set.h"

namespace tokens {

// What a lookup finds for one digest.
struct CachedToken {
  std::string token_id;
  std::string deployment_id;
  // When the token's current value expires; InfiniteFuture = never.
  absl::Time expire_time = absl::InfiniteFuture();
  // True for a rotated-away value kept for its grace period.
  bool is_previous = false;
  // is_previous only: when the grace period ends. InfiniteFuture for a current
  // value.
  absl::Time valid_until = absl::InfiniteFuture();
};

// Hashes a token id (TokenTable's id index). Replaceable in tests, to force
// collisions.
using TokenIdHash = size_t (*)(std::string_view token_id);

// digest -> token, plus token id -> its token (for replacement and removal).
// Not thread-safe.
//
// Laid out for a million tokens in ~100 bytes each: one fixed-size record per
// token (the current digest, expiry as microseconds, an interned Deployment
// index and the id inline when it fits, which a TokenService id does), and two
// open-addressing sets of 4-byte record references, one hashed by digest and
// one by id, that compare against the records themselves. Rotated-away values
// kept for a grace period live in a small side map. Times are kept to the
// microsecond (TokenService stores no finer), rounded down.
class TokenTable {
 public:
  // `id_hash` null = the default (Abseil's hash of the id).
  explicit TokenTable(TokenIdHash id_hash = nullptr);
  ~TokenTable();
  TokenTable(TokenTable&& other) noexcept;
  TokenTable& operator=(TokenTable&& other) noexcept;

  // kUpsert replaces every digest held for the token id with the change's
  // digest (and its previous_digest, if set); kDelete removes every digest of
  // the token id. Ignores revisions.
  void Apply(const TokenChange& change);

  // A copy of the entry for `digest`, if any.
  std::optional<CachedToken> Find(const Digest& digest) const;

  size_t token_count() const;
  size_t digest_count() const;

 private:
  struct Impl;

  TokenIdHash id_hash_;
  std::unique_ptr<Impl> impl_;  // null only when moved from
};

// Where the cache stands relative to the feed.
struct CacheState {
  // True once a complete snapshot has been swapped in.
  bool synced = false;
  // The feed revision the cache reflects (resume from it).
  int64_t revision = 0;
  // When the last feed message (of any kind) arrived; InfinitePast before any.
  absl::Time last_heartbeat = absl::InfinitePast();
  size_t token_count = 0;
  // Revoked values remembered, and those forgotten because the set was full.
  size_t revoked_count = 0;
  uint64_t revoked_evicted = 0;
};

// What the cache knows of one digest: a live value (current, or previous in
// or past its grace period), else maybe a revoked one.
struct CacheLookup {
  std::optional<CachedToken> token;
  // Set only when `token` is not.
  std::optional<RevokedEntry> revoked;
};

// The live, thread-safe cache. All methods may be called from any thread.
class TokenCache {
 public:
  explicit TokenCache(RevokedOptions revoked = {});
  TokenCache(const TokenCache&) = delete;
  TokenCache& operator=(const TokenCache&) = delete;

  // Swaps in a complete snapshot at `revision`, with the revoked values it
  // carried (they replace the ones held); the cache is synced from then on.
  void ReplaceAll(TokenTable table, RevokedSet revoked, int64_t revision);
  // The same for a snapshot without revoked values.
  void ReplaceAll(TokenTable table, int64_t revision);

  // An empty RevokedSet bounded as this cache's, for a snapshot to fill.
  RevokedSet NewRevokedSet() const { return RevokedSet(options_.max_values); }
  const RevokedOptions& revoked_options() const { return options_; }

  // Applies, in order, the changes whose revision is above the current one
  // (their revoked values included), then moves the revision to
  // max(current, at_revision). Returns how many changes were applied.
  int ApplyChanges(absl::Span<const TokenChange> changes, int64_t at_revision);

  // Records that the feed showed a sign of life at `now`.
  void RecordHeartbeat(absl::Time now);

  // Forgets the revoked values whose revoke_time is more than the retention
  // before `now`. Returns how many. Cheap when there are none (a look at the
  // oldest), but takes the writer lock.
  size_t PruneRevoked(absl::Time now);

  // A copy of the live entry for `digest`, if any. Takes only a reader lock.
  std::optional<CachedToken> Lookup(const Digest& digest) const;

  // The live entry for `digest` or, only when there is none, the revoked one:
  // one hash lookup more than Lookup on a miss, under the same reader lock.
  CacheLookup LookupWithRevoked(const Digest& digest) const;

  CacheState state() const;

 private:
  const RevokedOptions options_;
  mutable absl::Mutex mu_;
  TokenTable table_ ABSL_GUARDED_BY(mu_);
  RevokedSet revoked_ ABSL_GUARDED_BY(mu_);
  uint64_t revoked_evicted_before_ ABSL_GUARDED_BY(mu_) = 0;
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_heartbeat_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace tokens

#endif  // VERIFIER_TOKEN_CACHE_H_
