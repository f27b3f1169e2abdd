// PeerThrottle: slows down a peer (a client IP address, without port) that
// keeps presenting bad tokens, without slowing anyone else.
//
// Each peer has a token bucket of failures: it starts full (`burst`), every
// failed check (malformed, unknown or expired token) takes one, and it refills
// at `refill_per_second`. While a peer's bucket is empty its checks are refused
// before any decision (RESOURCE_EXHAUSTED on gRPC, 429 on HTTP). A peer that
// never fails is never tracked, so the common path is one shard lookup.
//
// Memory is bounded: at most `max_peers` peers are tracked; beyond that the
// one charged least recently is forgotten (it starts again with a full
// bucket, which errs on the side of serving). Time comes from the injected
// Clock.
//
// Thread-safe: peers are spread over shards, each with its own mutex. The
// clock is not owned and must outlive the throttle.
#ifndef COMMON_PEER_THROTTLE_H_
#define COMMON_PEER_THROTTLE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace tokens {

struct PeerThrottleOptions {
  // Failed checks a peer may make in a row before it is throttled.
  double burst = 20;
  // Failed checks per second a peer earns back.
  double refill_per_second = 5;
  // Most peers tracked at once.
  size_t max_peers = 10000;
};

// The host part of a peer address: "ipv4:10.1.2.3:5678" (gRPC) -> "10.1.2.3",
// "ipv6:[::1]:5678" or "ipv6:%5B::1%5D:5678" -> "::1", "10.1.2.3" -> itself.
// Anything else is returned unchanged.
std::string PeerHost(std::string_view peer);

class PeerThrottle {
 public:
  PeerThrottle(PeerThrottleOptions options, const Clock* clock);
  PeerThrottle(const PeerThrottle&) = delete;
  PeerThrottle& operator=(const PeerThrottle&) = delete;

  // Whether `peer` may be checked now. False (and counted in throttled())
  // while its bucket holds less than one failure. Does not charge.
  bool Allow(std::string_view peer);

  // Takes one failure from `peer`'s bucket (never below zero).
  void ChargeFailure(std::string_view peer);

  // Requests refused by Allow so far.
  uint64_t throttled() const {
    return throttled_.load(std::memory_order_relaxed);
  }
  // Peers tracked now (for tests of the memory bound).
  size_t tracked_peers() const;

 private:
  static constexpr size_t kShards = 16;

  struct Entry {
    double tokens;
    absl::Time updated;
    std::list<std::string>::iterator lru;  // position in Shard::order
  };
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, Entry> peers ABSL_GUARDED_BY(mu);
    // Most recently charged first.
    std::list<std::string> order ABSL_GUARDED_BY(mu);
  };

  Shard& ShardOf(std::string_view peer);
  // Refills `entry` up to now.
  void Refill(Entry& entry, absl::Time now) const;

  const PeerThrottleOptions options_;
  const size_t max_per_shard_;
  const Clock* const clock_;
  std::array<Shard, kShards> shards_;
  std::atomic<uint64_t> throttled_{0};
};

}  // namespace tokens

#endif  // COMMON_PEER_THROTTLE_H_
