// FeedClient: keeps a TokenCache in sync with TokenService.WatchTokens.
//
// On its own thread it opens the stream (authorization: Bearer <verifier key>),
// assembles a snapshot aside and swaps it in only when complete, applies
// changes in revision order, and records a heartbeat for every message. When
// the stream ends it reconnects with exponential backoff and jitter (so that
// thousands of verifiers cut off at once by a TokenService restart come back
// spread out), resuming from the cache's revision with `resume` set (so a
// cache synced at revision 0, an empty store's, resumes too instead of asking
// for a snapshot again); the service answers with a fresh snapshot when that
// revision is no longer retained. A stream silent for longer than
// idle_timeout is cancelled and reopened.
//
// Time: `clock` (wall time) stamps heartbeats for the staleness rule; the
// backoff and the idle watchdog wait on options.wait_clock's monotonic time,
// which tests replace with a FakeClock to drive them. The stream is read with
// gRPC's callback API, so the sync thread only waits for handed-off messages
// and never becomes one of gRPC's network pollers (which would compete with
// Check).
//
// Thread-safe: Start and Stop may be called from any thread; Stop cancels the
// call in flight and joins the thread. The cache, metrics and clock are not
// owned and must outlive the client.
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
#include "verifier/metrics.h"
#include "verifier/token_cache.h"

namespace tokens {

struct FeedClientOptions {
  // The verifier key sent as `authorization: Bearer <key>`.
  std::string key;
  // Only tokens of this Deployment; empty = all.
  std::string deployment_id;
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // The service sends a heartbeat every second; this long without any message
  // means the connection is dead even if TCP has not noticed.
  absl::Duration idle_timeout = absl::Seconds(10);
  // What the backoff and the watchdog wait on; null = RealClock(). Apart from
  // the constructor's clock, which tests move by hours to make the cache
  // stale without wanting every wait to end.
  const Clock* wait_clock = nullptr;
};

// How long to wait before reconnect attempt with exponential `backoff`:
// uniformly in [backoff/2, backoff] for `uniform` in [0, 1] ("equal jitter":
// spread out, yet never sooner than half the backoff).
absl::Duration JitteredBackoff(absl::Duration backoff, double uniform);

class FeedClient {
 public:
  FeedClient(std::shared_ptr<grpc::Channel> channel, FeedClientOptions options,
             TokenCache* cache, Metrics* metrics, const Clock* clock);
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
  // One stream, from open to end. Returns its final status.
  grpc::Status RunStream();
  void Watchdog();

  const FeedClientOptions options_;
  const std::unique_ptr<v1::TokenService::Stub> stub_;
  TokenCache* const cache_;
  Metrics* const metrics_;
  const Clock* const clock_;
  const Clock* const wait_clock_;

  // The snapshot being assembled, between a `reset` chunk and the
  // `snapshot_complete` one.
  std::unique_ptr<TokenTable> pending_snapshot_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* call_ ABSL_GUARDED_BY(mu_) = nullptr;
  // wait_clock_'s monotonic time of the last message on the current stream,
  // for the watchdog.
  absl::Duration last_message_ ABSL_GUARDED_BY(mu_);

  std::thread thread_;
  std::thread watchdog_;
};

}  // namespace tokens

#endif  // VERIFIER_FEED_CLIENT_H_
