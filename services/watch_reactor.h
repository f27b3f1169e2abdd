// WatchReactor: one WatchTokens stream on the gRPC callback API. The ChangeFeed
// wakes it; it asks its FeedCursor for the next message and writes it, one
// write in flight at a time, so a slow verifier only delays itself. Deletes
// itself when the RPC is done.
#ifndef SERVICES_WATCH_REACTOR_H_
#define SERVICES_WATCH_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "services/change_feed.h"
#include "services/feed_cursor.h"

namespace tokens {

class WatchReactor : public grpc::ServerWriteReactor<v1::WatchTokensResponse>,
                     public FeedSubscriber {
 public:
  // Subscribes to `feed` and starts writing (the snapshot or the missed
  // changes).
  WatchReactor(ChangeFeed* feed, TokenStore* store, std::string principal,
               std::string peer, int64_t since_revision,
               std::string deployment_id);

  void Wake(bool heartbeat_due) override;
  void Close() override;

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // Starts the next write if none is in flight. Called without mu_ held.
  void Pump(bool heartbeat_due);
  void FinishOnce(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ChangeFeed* const feed_;
  const std::string principal_;
  const std::string peer_;
  const absl::Time start_;
  absl::Mutex mu_;
  FeedCursor cursor_ ABSL_GUARDED_BY(mu_);
  v1::WatchTokensResponse response_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> pending_finish_ ABSL_GUARDED_BY(mu_);
  bool heartbeat_due_ ABSL_GUARDED_BY(mu_) = false;
  int64_t messages_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tokens

#endif  // SERVICES_WATCH_REACTOR_H_
