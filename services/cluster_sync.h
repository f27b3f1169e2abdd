// ClusterSync: keeps one TokenService replica in step with what every replica
// on the same database shares (storage/cluster_state.h), and its health with
// the database's reachability.
//
// Every `interval` of the clock's monotonic time, on its own thread (so no
// gRPC thread ever waits for the database):
//   * until it has succeeded once, bootstraps: reads the page-token key (the
//     first replica stores a random one), and, on an empty database, creates
//     the admin and verifier callers. Only the replica whose callers were
//     inserted writes their keys to `data_dir` (admin.key, verifier.key, 0600):
//     they are written aside first and renamed into place once the database
//     took the digests, so a later replica never writes keys nobody accepts.
//   * reads the callers table into the CallerRegistry, so `token_service
//     callers add|remove` reaches every replica within one interval;
//   * reports serving (the database answered) or not through `set_serving`,
//     which TokenServer wires to gRPC health; transitions are logged
//     (`database.unreachable`, `database.reachable`).
// Thread-safe; Stop (or the destructor) joins the thread.
#ifndef SERVICES_CLUSTER_SYNC_H_
#define SERVICES_CLUSTER_SYNC_H_

#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "services/caller_registry.h"
#include "services/page_token.h"
#include "storage/cluster_state.h"

namespace tokens {

struct ClusterSyncOptions {
  // Where the first replica writes admin.key and verifier.key.
  std::string data_dir;
  absl::Duration interval = absl::Seconds(1);
};

class ClusterSync {
 public:
  // Nothing is owned; everything must outlive this object.
  ClusterSync(ClusterState* cluster, CallerRegistry* callers,
              PageTokenCodec* pages, std::function<void(bool)> set_serving,
              const Clock* clock, ClusterSyncOptions options);
  ~ClusterSync();
  ClusterSync(const ClusterSync&) = delete;
  ClusterSync& operator=(const ClusterSync&) = delete;

  // One round now (bootstrap if still needed, callers, health). Returns what
  // the database answered.
  absl::Status SyncOnce();
  // Runs SyncOnce every interval until Stop.
  void Start();
  void Stop();

 private:
  absl::Status Bootstrap();
  void Run();

  ClusterState* const cluster_;
  CallerRegistry* const callers_;
  PageTokenCodec* const pages_;
  const std::function<void(bool)> set_serving_;
  const Clock* const clock_;
  const ClusterSyncOptions options_;

  absl::Mutex sync_mu_;  // One round at a time.
  bool bootstrapped_ ABSL_GUARDED_BY(sync_mu_) = false;
  // Unknown before the first round, so its outcome is always logged.
  int reachable_ ABSL_GUARDED_BY(sync_mu_) = -1;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace tokens

#endif  // SERVICES_CLUSTER_SYNC_H_
