// FailoverPolicy: which TokenService address the feed tries next after a
// stream ends, and how long it waits first.
//
// Addresses are taken in turn (round robin): every ended stream moves the feed
// to the next one, so a broken or silent replica is left at once. The first
// attempts after a stream that had worked go out promptly, one per address;
// once every address has failed in a row, each further round starts after a
// jittered exponential backoff (min_backoff doubling up to max_backoff, see
// JitteredBackoff), so that thousands of verifiers cut off together come back
// spread out. With one address that is the plain jittered backoff of a single
// server.
//
// Plain logic, no clock and no I/O: the feed client measures and waits. Not
// thread-safe (the feed's thread owns it).
#ifndef VERIFIER_FAILOVER_POLICY_H_
#define VERIFIER_FAILOVER_POLICY_H_

#include <cstddef>

#include "absl/time/time.h"

namespace tokens {

// How long to wait before reconnect attempt with exponential `backoff`:
// uniformly in [backoff/2, backoff] for `uniform` in [0, 1] ("equal jitter":
// spread out, yet never sooner than half the backoff).
absl::Duration JitteredBackoff(absl::Duration backoff, double uniform);

class FailoverPolicy {
 public:
  // `addresses` >= 1; starts on address 0.
  FailoverPolicy(size_t addresses, absl::Duration min_backoff,
                 absl::Duration max_backoff);

  // The address the next stream goes to.
  size_t current() const { return current_; }

  struct Step {
    size_t address = 0;   // the new current()
    absl::Duration wait;  // before opening the stream; zero = at once
  };
  // The stream on current() ended. `healthy`: it had worked (lived longer
  // than max_backoff or moved the cache's revision), which starts the count
  // of failures in a row and the backoff over. `uniform` in [0, 1] jitters
  // the wait.
  Step StreamEnded(bool healthy, double uniform);

  // Failed streams since the last healthy one (this one included).
  size_t failures_in_a_row() const { return failures_; }

 private:
  const size_t addresses_;
  const absl::Duration min_backoff_;
  const absl::Duration max_backoff_;
  size_t current_ = 0;
  size_t failures_ = 0;
  absl::Duration backoff_;
};

}  // namespace tokens

#endif  // VERIFIER_FAILOVER_POLICY_H_
