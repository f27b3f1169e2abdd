// FeedClient: keeps a TokenCache in sync with TokenService.WatchTokens.
//
// On its own thread it opens the stream (authorization: Bearer <verifier key>),
// assembles a snapshot aside (its tokens and its revoked values) and swaps it
// in only when complete, applies changes in revision order (with the values
// each revoked), and records a heartbeat for every message, at which it also
// prunes revoked values past the cache's retention.
//
// TokenService may run as several replicas on one database (one revision
// sequence), listed in TokenServiceTargets. When a stream ends, or its
// heartbeat is overdue (no message for heartbeat_interval + failover_after; the
// stream is cancelled), the client moves to the next address, round robin, and
// resumes there from the cache's revision with `resume` set (so a cache synced
// at revision 0, an empty store's, resumes too instead of asking for a
// snapshot again); the service answers with a fresh snapshot when that
// revision is no longer retained. The next address is tried at once; once
// every address has failed in a row, rounds are spaced by exponential backoff
// with jitter (FailoverPolicy: so that thousands of verifiers cut off at once
// by a TokenService restart come back spread out). With one address that is
// a reconnect to it after the backoff.
//
// Time: `clock` (wall time) stamps heartbeats for the staleness rule; the
// backoff and the heartbeat watchdog wait on `wait_clock`'s monotonic time,
// which tests replace with a FakeClock to drive them. The stream is read
// with gRPC's callback API, so the sync thread only waits for handed-off
// messages and never becomes one of gRPC's network pollers (which would
// compete with Check).
//
// Thread-safe: Start and Stop may be called from any thread; Stop cancels the
// call in flight and joins the thread. The targets, cache, metrics and clock
// are not owned and must outlive the client.
#ifndef VERIFIER_FEED_CLIENT_H_
#define VERIFIER_FEED_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/token_change_proto.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "verifier/failover_policy.h"
#include "verifier/metrics.h"
#include "verifier/token_cache.h"
#include "verifier/token_service_targets.h"

namespace tokens {

struct FeedClientOptions {
  // The verifier key sent as `authorization: Bearer <key>`.
  std::string key;
  // Only tokens of this Deployment; empty = all.
  std::string deployment_id;
  // The backoff between rounds of attempts (see FailoverPolicy).
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // The service sends a heartbeat every heartbeat_interval. One overdue by
  // more than failover_after means the replica or the path to it is dead even
  // if TCP has not noticed: the stream is cancelled and the feed moves on.
  absl::Duration heartbeat_interval = absl::Seconds(1);
  absl::Duration failover_after = absl::Seconds(3);
  // How long a stream that asks for a snapshot (the cache holds none yet) may
  // wait for its first message: the service reads and encodes the snapshot
  // before it sends anything, which on a large store takes longer than a
  // heartbeat. At least heartbeat_interval + failover_after.
  absl::Duration snapshot_timeout = absl::Seconds(10);
};

class FeedClient {
 public:
  // Follows the replicas of `targets` (not owned), starting on its current
  // one, and moves targets->current() when it fails over. Heartbeats are
  // stamped with `clock`'s wall time; the backoff and the watchdog wait on
  // `wait_clock`'s monotonic time. Two clocks because tests move `clock` by
  // hours to make the cache stale without wanting every wait to end; the
  // main passes RealClock() for both.
  FeedClient(TokenServiceTargets* targets, FeedClientOptions options,
             TokenCache* cache, Metrics* metrics, const Clock* clock,
             const Clock* wait_clock);
  // One TokenService over `channel`.
  FeedClient(std::shared_ptr<grpc::Channel> channel, FeedClientOptions options,
             TokenCache* cache, Metrics* metrics, const Clock* clock,
             const Clock* wait_clock);
  ~FeedClient();  // Stops.
  FeedClient(const FeedClient&) = delete;
  FeedClient& operator=(const FeedClient&) = delete;

  // Starts the sync thread. Call at most once.
  void Start();
  // Cancels the stream and joins the thread. Idempotent.
  void Stop();

  // Applies one feed message to the cache (or to the snapshot being assembled).
  // Called by the sync thread; public so tests can drive the protocol without a
  // server. Not thread-safe with respect to itself.
  void HandleMessage(const v1::WatchTokensResponse& message);

 private:
  void Run();
  // One stream to targets_->address(target), from open to end. Returns its
  // final status.
  grpc::Status RunStream(size_t target);
  void Watchdog();
  // The silence after which the watchdog cancels the stream.
  absl::Duration HeartbeatLimit() const {
    return options_.heartbeat_interval + options_.failover_after;
  }

  const FeedClientOptions options_;
  // Set by the channel constructor only.
  const std::unique_ptr<TokenServiceTargets> own_targets_;
  TokenServiceTargets* const targets_;
  TokenCache* const cache_;
  Metrics* const metrics_;
  const Clock* const clock_;
  const Clock* const wait_clock_;

  // The snapshot being assembled, between a `reset` chunk and the
  // `snapshot_complete` one.
  std::unique_ptr<TokenTable> pending_snapshot_;
  std::unique_ptr<RevokedSet> pending_revoked_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* call_ ABSL_GUARDED_BY(mu_) = nullptr;
  size_t call_target_ ABSL_GUARDED_BY(mu_) = 0;  // where call_ goes
  // wait_clock_'s monotonic time of the last message on the current stream
  // (or of its start), for the watchdog.
  absl::Duration last_message_ ABSL_GUARDED_BY(mu_);
  // How long the current stream may stay silent: HeartbeatLimit(), or
  // snapshot_timeout until the first message of a stream asking for a
  // snapshot.
  absl::Duration silence_limit_ ABSL_GUARDED_BY(mu_);
  // Tells the watchdog to compute its deadline again: a stream started, or
  // its limit shrank.
  bool rearm_watchdog_ ABSL_GUARDED_BY(mu_) = false;

  std::thread thread_;
  std::thread watchdog_;
};

}  // namespace tokens

#endif  // VERIFIER_FEED_CLIENT_H_
