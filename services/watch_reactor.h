// WatchReactor: one WatchTokens stream on the gRPC callback API, a thin
// adapter between gRPC and a WatchStream of the watch cache: the
// stream decides what to send and when; the reactor writes it (one write in
// flight at a time, so a slow verifier only delays itself) and reports back
// OnWriteDone, OnCancel and OnDone. Deletes itself when the RPC is done.
//
// WatchTokens is a raw method (grpc::ByteBuffer in and out, same name and
// wire format): the reactor writes the cache's pre-serialized bytes, shared
// by every stream, so gRPC neither serializes nor copies a message per
// stream.
#ifndef SERVICES_WATCH_REACTOR_H_
#define SERVICES_WATCH_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "services/watch_cache.h"

namespace tokens {

class WatchReactor : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                     public WatchSink {
 public:
  // Opens a stream on `feed` and starts it (the snapshot, the missed changes,
  // or a heartbeat when already current). `resume` as in
  // v1::WatchTokensRequest.
  WatchReactor(WatchCache* feed, std::string principal, std::string peer,
               int64_t since_revision, std::string deployment_id,
               bool resume = false);

  // WatchSink.
  void Write(const WireMessage* message) override;
  void End(const absl::Status& status) override;

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  const std::string principal_;
  const std::string peer_;
  Clock* const clock_;
  const absl::Duration start_;
  std::shared_ptr<WatchStream> stream_;
};

}  // namespace tokens

#endif  // SERVICES_WATCH_REACTOR_H_
