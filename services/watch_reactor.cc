#include "services/watch_reactor.h"

#include "common/grpc_status.h"
#include "common/json_log.h"

namespace tokens {

WatchReactor::WatchReactor(WatchCache* feed, std::string principal,
                           std::string peer, int64_t since_revision,
                           std::string deployment_id, bool resume)
    : principal_(std::move(principal)),
      peer_(std::move(peer)),
      clock_(feed->clock()),
      start_(clock_->Monotonic()),
      stream_(
          feed->Watch(this, since_revision, resume, std::move(deployment_id))) {
  // gRPC holds writes started before the reactor is bound to the call and
  // runs no reaction until then, so stream_ is set before any OnWriteDone.
  stream_->Start();
}

void WatchReactor::Write(const WireMessage* message) {
  // gRPC refs the message's slice (no copy); the stream keeps the message
  // alive until OnWriteDone.
  StartWrite(&message->bytes());
}

void WatchReactor::End(const absl::Status& status) {
  Finish(ToGrpcStatus(status));
}

void WatchReactor::OnWriteDone(bool ok) { stream_->WriteDone(ok); }

void WatchReactor::OnCancel() { stream_->Cancel(); }

void WatchReactor::OnDone() {
  stream_->Detach();
  JsonLog("rpc")
      .Str("method", "WatchTokens")
      .Str("principal", principal_)
      .Str("peer", peer_)
      .Int("messages", stream_->messages())
      .Int("revision", stream_->revision())
      .Double("duration_s",
              absl::ToDoubleSeconds(clock_->Monotonic() - start_));
  delete this;
}

}  // namespace tokens
