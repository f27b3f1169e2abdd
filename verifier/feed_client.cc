#include "verifier/feed_client.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "common/json_log.h"
#include "common/proto_time.h"
#include "common/token_value.h"

namespace tokens {

namespace {

// The stream's messages, read with the callback API and handed to the sync
// thread one at a time. A blocking ClientReader would make the sync thread one
// of gRPC's pollers, competing with the Check path for the server's core; with
// this the thread waits on a plain mutex, and gRPC's own threads do the I/O.
//
// Each message is handed off, and the next StartRead comes from the sync
// thread, outside any reaction. Without a hold, the call could complete in that
// gap: once OnReadDone(true) returns with the status already received, gRPC
// runs OnDone and frees the call, and the next StartRead would go to a dead
// call whose read never ends. So one hold, taken before StartCall, keeps the
// call open while reads may still be issued; it is released when a read fails,
// after which no read is started.
//
// One object per call; it must outlive OnDone, which Finish waits for.
class StreamReader final
    : public grpc::ClientReadReactor<v1::WatchTokensResponse> {
 public:
  StreamReader(v1::TokenService::Stub* stub, grpc::ClientContext* context,
               const v1::WatchTokensRequest& request) {
    stub->async()->WatchTokens(context, &request, this);
    AddHold();
    StartRead(&buffer_);
    StartCall();
  }

  // Waits for the next message. False when the stream has ended; then call
  // Finish, and Read no more.
  bool Read(v1::WatchTokensResponse* message) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(&read_done_));
      if (!read_ok_) return false;
      read_done_ = false;
      message->Swap(&buffer_);
    }
    // The hold keeps the call alive until this read is started.
    StartRead(&buffer_);
    return true;
  }

  // Waits for the end of the call and returns its status.
  grpc::Status Finish() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
    return status_;
  }

  void OnReadDone(bool ok) override {
    // No read follows a failed one: let the call finish. OnDone runs after
    // this reaction returns.
    if (!ok) RemoveHold();
    absl::MutexLock lock(&mu_);
    read_ok_ = ok;
    read_done_ = true;
  }
  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }

 private:
  // Written by gRPC between StartRead and OnReadDone, by the sync thread
  // (Swap) only in between.
  v1::WatchTokensResponse buffer_;
  absl::Mutex mu_;
  bool read_done_ ABSL_GUARDED_BY(mu_) = false;
  bool read_ok_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

namespace {

std::unique_ptr<TokenServiceTargets> OneTarget(
    std::shared_ptr<grpc::Channel> channel) {
  std::vector<TokenServiceTargets::Target> targets;
  targets.push_back({"channel", std::move(channel)});
  return std::make_unique<TokenServiceTargets>(std::move(targets));
}

}  // namespace

FeedClient::FeedClient(TokenServiceTargets* targets, FeedClientOptions options,
                       TokenCache* cache, Metrics* metrics, const Clock* clock,
                       const Clock* wait_clock)
    : options_(std::move(options)),
      targets_(targets),
      cache_(cache),
      metrics_(metrics),
      clock_(clock),
      wait_clock_(wait_clock) {}

FeedClient::FeedClient(std::shared_ptr<grpc::Channel> channel,
                       FeedClientOptions options, TokenCache* cache,
                       Metrics* metrics, const Clock* clock,
                       const Clock* wait_clock)
    : options_(std::move(options)),
      own_targets_(OneTarget(std::move(channel))),
      targets_(own_targets_.get()),
      cache_(cache),
      metrics_(metrics),
      clock_(clock),
      wait_clock_(wait_clock) {}

FeedClient::~FeedClient() { Stop(); }

void FeedClient::Start() {
  thread_ = std::thread([this] { Run(); });
  watchdog_ = std::thread([this] { Watchdog(); });
}

void FeedClient::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    if (call_ != nullptr) call_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
  if (watchdog_.joinable()) watchdog_.join();
}

void FeedClient::HandleMessage(const v1::WatchTokensResponse& message) {
  const absl::Time now = clock_->Now();
  cache_->RecordHeartbeat(now);
  // At least once a heartbeat interval; costs a look at the oldest value when
  // none is due.
  cache_->PruneRevoked(now);
  switch (message.kind()) {
    case v1::WatchTokensResponse::SNAPSHOT: {
      if (message.reset()) {
        pending_snapshot_ = std::make_unique<TokenTable>();
        pending_revoked_ =
            std::make_unique<RevokedSet>(cache_->NewRevokedSet());
      }
      if (pending_snapshot_ == nullptr) {
        // A chunk without its start: we cannot know what came before, so drop
        // it. The stream will be reopened with the current revision if the
        // snapshot never completes.
        JsonLog("sync.orphan_snapshot_chunk", "warn")
            .Int("revision", message.revision());
        return;
      }
      for (const v1::TokenChange& proto : message.changes()) {
        const TokenChange change = TokenChangeFromProto(proto);
        pending_snapshot_->Apply(change);
        for (const RevokedValue& value : change.revoked) {
          pending_revoked_->Insert(value);
        }
      }
      for (const v1::RevokedValue& proto : message.revoked()) {
        RevokedValue value;
        if (RevokedValueFromProto(proto, &value)) {
          pending_revoked_->Insert(value);
        }
      }
      if (message.snapshot_complete()) {
        const size_t tokens = pending_snapshot_->token_count();
        const size_t revoked = pending_revoked_->size();
        cache_->ReplaceAll(std::move(*pending_snapshot_),
                           std::move(*pending_revoked_), message.revision());
        pending_snapshot_.reset();
        pending_revoked_.reset();
        // What the snapshot held may already be past the retention.
        cache_->PruneRevoked(now);
        if (metrics_ != nullptr) metrics_->RecordSnapshot();
        JsonLog("sync.snapshot")
            .Int("revision", message.revision())
            .Int("tokens", static_cast<int64_t>(tokens))
            .Int("revoked_values", static_cast<int64_t>(revoked));
      }
      return;
    }
    case v1::WatchTokensResponse::CHANGES: {
      std::vector<TokenChange> changes;
      changes.reserve(message.changes_size());
      // Revisions are one gapless sequence on every replica, so an unfiltered
      // feed must deliver each one; a filtered feed skips other Deployments'.
      const CacheState before = cache_->state();
      int64_t previous = before.revision;
      for (const v1::TokenChange& change : message.changes()) {
        changes.push_back(TokenChangeFromProto(change));
        if (options_.deployment_id.empty() && before.synced &&
            change.revision() > previous + 1) {
          JsonLog("sync.revision_gap", "warn")
              .Int("after_revision", previous)
              .Int("revision", change.revision());
          if (metrics_ != nullptr) metrics_->RecordRevisionGap();
        }
        previous = std::max<int64_t>(previous, change.revision());
      }
      cache_->ApplyChanges(changes, message.revision());
      return;
    }
    default:
      // HEARTBEAT (or a kind this version does not know): proof of life only.
      return;
  }
}

grpc::Status FeedClient::RunStream(size_t target) {
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + options_.key);
  const CacheState state = cache_->state();
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return grpc::Status(grpc::StatusCode::CANCELLED, "stopping");
    call_ = &context;
    call_target_ = target;
    last_message_ = wait_clock_->Monotonic();
    // A resuming stream hears from the service at once (its changes, or a
    // heartbeat when it is current); one asking for a snapshot waits for it.
    silence_limit_ =
        state.synced ? HeartbeatLimit()
                     : std::max(options_.snapshot_timeout, HeartbeatLimit());
    rearm_watchdog_ = true;
  }
  v1::WatchTokensRequest request;
  // A synced cache resumes from its revision, 0 included; an unsynced one
  // asks for a snapshot (since_revision 0, no resume). A service older than
  // `resume` sends a snapshot for 0, which is still right.
  request.set_since_revision(state.synced ? state.revision : 0);
  request.set_resume(state.synced);
  request.set_deployment_id(options_.deployment_id);
  pending_snapshot_.reset();
  pending_revoked_.reset();

  StreamReader reader(targets_->stub(target), &context, request);
  v1::WatchTokensResponse message;
  bool first = true;
  while (reader.Read(&message)) {
    {
      absl::MutexLock lock(&mu_);
      last_message_ = wait_clock_->Monotonic();
      if (silence_limit_ != HeartbeatLimit()) {
        // The first message of a snapshot stream: from now on heartbeats.
        silence_limit_ = HeartbeatLimit();
        rearm_watchdog_ = true;
      }
    }
    if (first) {
      JsonLog("sync.connected")
          .Str("target", targets_->address(target))
          .Int("since_revision", request.since_revision())
          .Bool("resume", request.resume())
          .Str("deployment_id", options_.deployment_id);
      first = false;
    }
    HandleMessage(message);
  }
  grpc::Status status = reader.Finish();
  absl::MutexLock lock(&mu_);
  call_ = nullptr;
  return status;
}

void FeedClient::Run() {
  absl::BitGen rng;
  FailoverPolicy policy(targets_->size(), options_.min_backoff,
                        options_.max_backoff);
  targets_->MoveTo(policy.current());
  while (true) {
    const size_t target = policy.current();
    const int64_t revision_before = cache_->state().revision;
    const absl::Duration started = wait_clock_->Monotonic();
    grpc::Status status = RunStream(target);
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    // A stream that lived a while, or moved the cache on, was healthy: the
    // count of failures and the backoff start over.
    const bool healthy =
        wait_clock_->Monotonic() - started > options_.max_backoff ||
        cache_->state().revision != revision_before;
    if (metrics_ != nullptr) metrics_->RecordReconnect();
    // Jitter keeps many verifiers from reconnecting in step.
    const FailoverPolicy::Step next =
        policy.StreamEnded(healthy, absl::Uniform(rng, 0.0, 1.0));
    JsonLog("sync.disconnected", "warn")
        .Str("target", targets_->address(target))
        .Int("code", status.error_code())
        .Str("error", status.error_message())
        .Int("retry_ms", absl::ToInt64Milliseconds(next.wait));
    if (next.address != target) {
      targets_->MoveTo(next.address);
      JsonLog("feed.failover", "warn")
          .Str("from", targets_->address(target))
          .Str("to", targets_->address(next.address))
          .Int("failures_in_a_row",
               static_cast<int64_t>(policy.failures_in_a_row()))
          .Int("retry_ms", absl::ToInt64Milliseconds(next.wait));
    }
    if (next.wait <= absl::ZeroDuration()) continue;
    absl::MutexLock lock(&mu_);
    if (wait_clock_->AwaitWithTimeout(&mu_, absl::Condition(&stopping_),
                                      next.wait)) {
      return;
    }
  }
}

void FeedClient::Watchdog() {
  auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || rearm_watchdog_;
  };
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    rearm_watchdog_ = false;
    const absl::Duration now = wait_clock_->Monotonic();
    const absl::Duration idle = now - last_message_;
    if (call_ != nullptr && idle >= silence_limit_) {
      JsonLog("feed.heartbeat_overdue", "warn")
          .Str("target", targets_->address(call_target_))
          .Int("silent_ms", absl::ToInt64Milliseconds(idle));
      call_->TryCancel();
      last_message_ = now;  // one cancel per silence
      continue;
    }
    // Wakes when the current stream would have been silent for its limit (a
    // message meanwhile moves that on; it is checked again then), or when a
    // stream starts or its limit shrinks.
    const absl::Duration wait =
        call_ != nullptr ? silence_limit_ - idle : HeartbeatLimit();
    wait_clock_->AwaitWithTimeout(&mu_, absl::Condition(&wake), wait);
  }
}

}  // namespace tokens
