// ExpirySweeper: the expiry warnings. Every `interval` of the clock, on its own
// thread, it asks the store to record the notices that are due
// (TokenStore::RecordExpiryNotices: token.expiring 30, 7 and 1 days before a
// token expires, token.expired when it does), each exactly once per token and
// threshold, across restarts and replicas (the store keeps which were
// recorded), and refreshes the gauges of tokens expiring within 7 and 30 days.
//
// Thread-safe; Stop (or the destructor) joins the thread. The store and clock
// must outlive it.
#ifndef SERVICES_EXPIRY_SWEEPER_H_
#define SERVICES_EXPIRY_SWEEPER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "storage/token_store.h"

namespace tokens {

struct ExpirySweeperOptions {
  // How often to sweep (> 0).
  absl::Duration interval = absl::Minutes(1);
  // Descending, ending with 0 (token.expired).
  std::vector<int32_t> thresholds_days = {30, 7, 1, 0};
  // Called after a sweep recorded notices (the notifier's wake-up); may be
  // empty.
  std::function<void()> audit_written;
};

struct ExpirySweeperStats {
  // Live tokens that expire within 7 / 30 days (not yet expired); -1 before
  // the first successful sweep.
  int64_t expiring_within_7d = -1;
  int64_t expiring_within_30d = -1;
  int64_t notices_total = 0;  // Recorded by this process.
  int64_t sweep_failures_total = 0;
};

class ExpirySweeper {
 public:
  // The audit principal of the notices.
  static constexpr char kPrincipal[] = "system:expiry-sweeper";

  ExpirySweeper(TokenStore* store, Clock* clock, ExpirySweeperOptions options);
  ~ExpirySweeper();  // Stops.
  ExpirySweeper(const ExpirySweeper&) = delete;
  ExpirySweeper& operator=(const ExpirySweeper&) = delete;

  // Sweeps at once, then every interval until Stop.
  void Start();
  void Stop();

  // One sweep at the clock's now: records due notices, refreshes the gauges.
  // Returns the notices it recorded, or the store's error (logged by the
  // thread, which tries again next interval).
  absl::StatusOr<std::vector<ExpiryNotice>> SweepOnce();

  ExpirySweeperStats stats() const;

 private:
  void Run();

  TokenStore* const store_;
  Clock* const clock_;
  const ExpirySweeperOptions options_;

  std::atomic<int64_t> expiring_within_7d_{-1};
  std::atomic<int64_t> expiring_within_30d_{-1};
  std::atomic<int64_t> notices_total_{0};
  std::atomic<int64_t> sweep_failures_total_{0};

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace tokens

#endif  // SERVICES_EXPIRY_SWEEPER_H_
