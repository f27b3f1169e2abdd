#include "services/watch_reactor.h"

#include "common/json_log.h"
#include "common/grpc_status.h"
#include "services/proto_convert.h"

namespace tokens {
namespace {

v1::WatchTokensResponse::Kind KindOf(FeedMessage::Kind kind) {
  switch (kind) {
    case FeedMessage::Kind::kSnapshot:
      return v1::WatchTokensResponse::SNAPSHOT;
    case FeedMessage::Kind::kChanges:
      return v1::WatchTokensResponse::CHANGES;
    case FeedMessage::Kind::kHeartbeat:
      return v1::WatchTokensResponse::HEARTBEAT;
  }
  return v1::WatchTokensResponse::KIND_UNSPECIFIED;
}

}  // namespace

WatchReactor::WatchReactor(ChangeFeed* feed, TokenStore* store,
                           std::string principal, std::string peer,
                           int64_t since_revision, std::string deployment_id)
    : feed_(feed),
      principal_(std::move(principal)),
      peer_(std::move(peer)),
      start_(absl::Now()),
      cursor_(store, since_revision, std::move(deployment_id)) {
  feed_->Subscribe(this);
  Pump(/*heartbeat_due=*/true);
}

void WatchReactor::Wake(bool heartbeat_due) { Pump(heartbeat_due); }

void WatchReactor::Pump(bool heartbeat_due) {
  {
    absl::MutexLock lock(&mu_);
    heartbeat_due_ = heartbeat_due_ || heartbeat_due;
    if (writing_ || finished_) return;
    auto next = cursor_.Next(heartbeat_due_);
    if (!next.ok()) {
      FinishOnce(ToGrpcStatus(absl::UnavailableError(
          "change feed: store unavailable; reconnect and resume")));
      return;
    }
    if (!next->has_value()) return;
    FeedMessage& message = **next;
    heartbeat_due_ = false;
    response_.Clear();
    response_.set_kind(KindOf(message.kind));
    response_.set_revision(message.revision);
    response_.set_reset(message.reset);
    response_.set_snapshot_complete(message.snapshot_complete);
    for (const TokenChangeRecord& change : message.changes) {
      ToProto(change, response_.add_changes());
    }
    writing_ = true;
    ++messages_;
  }
  // Only one write is in flight (writing_), and response_ is not touched until
  // OnWriteDone.
  StartWrite(&response_);
}

void WatchReactor::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (pending_finish_) {
      Finish(*pending_finish_);
      pending_finish_.reset();
      return;
    }
    if (!ok) {
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
      return;
    }
    if (finished_) return;
  }
  // Drain what is left (snapshot chunks, a backlog) without waiting for the
  // next wake.
  Pump(/*heartbeat_due=*/false);
}

void WatchReactor::Close() {
  absl::MutexLock lock(&mu_);
  FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "TokenService is shutting down; reconnect"));
}

void WatchReactor::OnCancel() {
  absl::MutexLock lock(&mu_);
  FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
}

void WatchReactor::FinishOnce(const grpc::Status& status) {
  if (finished_) return;
  finished_ = true;
  // Finish only with no write in flight; OnWriteDone sends a deferred one.
  if (writing_) {
    pending_finish_ = status;
  } else {
    Finish(status);
  }
}

void WatchReactor::OnDone() {
  feed_->Unsubscribe(this);
  {
    absl::MutexLock lock(&mu_);
    JsonLog("rpc")
        .Str("method", "WatchTokens")
        .Str("principal", principal_)
        .Str("peer", peer_)
        .Int("messages", messages_)
        .Int("revision", cursor_.revision())
        .Double("duration_s", absl::ToDoubleSeconds(absl::Now() - start_));
  }
  delete this;
}

}  // namespace tokens
