// RevokedSet: the digests of token values that no longer verify (rotated away
// or deleted), each with the token id it belonged to and when it stopped
// verifying, so that a check of one answers REVOKED_TOKEN (and reports the
// reuse) instead of UNKNOWN_TOKEN. It never sees a token value.
//
// Bounded by count: once it holds max_values, inserting evicts the value with
// the oldest revoke_time (a value older than all of them is not kept).
// Retention is not its business beyond PruneRevokedBefore: the Authorizer
// applies --revoked-retention at the moment of each check, and the feed client
// prunes what is past it.
//
// Laid out like TokenTable: one fixed-size record per value (digest, revoke
// time as microseconds, its place in the age heap, the id inline when it
// fits, which a TokenService id does), an open-addressing set of 4-byte record
// references hashed by digest, and a min-heap of 4-byte references by revoke
// time. About 100 bytes per value (bench/decision_bench measures it). Times
// are kept to the microsecond, rounded down.
//
// Not thread-safe: TokenCache guards the live one with its own mutex, and the
// feed client builds a fresh one aside while a snapshot streams in.
#ifndef VERIFIER_REVOKED_SET_H_
#define VERIFIER_REVOKED_SET_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "common/token_change.h"
#include "common/token_value.h"

namespace tokens {

// What the verifier remembers of revoked values (the --revoked-* flags).
struct RevokedOptions {
  // Most values held at once; 0 remembers none (every revoked value is then
  // UNKNOWN_TOKEN).
  size_t max_values = 1000000;
  // How long after its revoke_time a value is still recognised.
  absl::Duration retention = absl::Hours(24 * 30);
};

// What a lookup finds for one revoked digest.
struct RevokedEntry {
  std::string token_id;
  // When it stopped verifying; may be in the future (a grace period's end).
  absl::Time revoke_time = absl::InfinitePast();
};

class RevokedSet {
 public:
  explicit RevokedSet(size_t max_values = RevokedOptions().max_values);
  ~RevokedSet();
  RevokedSet(RevokedSet&& other) noexcept;
  RevokedSet& operator=(RevokedSet&& other) noexcept;

  // Remembers `value` (its deployment_id is not kept). A digest already held
  // takes the new token id and revoke time: the feed's later word wins. When
  // full, the oldest revoke time leaves first.
  void Insert(const RevokedValue& value);

  // A copy of the entry for `digest`, if any.
  std::optional<RevokedEntry> Find(const Digest& digest) const;

  // Forgets every value revoked before `cutoff`. Returns how many.
  size_t PruneRevokedBefore(absl::Time cutoff);

  size_t size() const;
  size_t max_values() const { return max_values_; }
  // Values forgotten because the set was full (not by pruning), since it was
  // made.
  uint64_t evicted() const;

 private:
  struct Impl;

  size_t max_values_;
  std::unique_ptr<Impl> impl_;  // null only when moved from
};

}  // namespace tokens

#endif  // VERIFIER_REVOKED_SET_H_
