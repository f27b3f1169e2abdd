// UsageReporter: remembers when each token was last allowed and sends those
// times to TokenService.ReportUsage in batches, every `interval`, from its own
// thread.
//
// Record is called on the Check path: it never does I/O, and takes only the
// mutex of one of kShards shards (picked by the token id), so that concurrent
// Checks seldom contend. A batch that fails to send is merged back and retried
// at the next tick (keeping the later time per token). Thread-safe. The sender
// and metrics are owned by the caller and must outlive the reporter.
#ifndef VERIFIER_USAGE_REPORTER_H_
#define VERIFIER_USAGE_REPORTER_H_

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "verifier/metrics.h"
#include "verifier/token_service_targets.h"

namespace tokens {

struct UsageEntry {
  std::string token_id;
  absl::Time last_used_time;
};

// Sends one batch (at most kMaxBatch entries); returns the call's error, if
// any.
using UsageSender = std::function<absl::Status(const std::vector<UsageEntry>&)>;

// A sender calling TokenService.ReportUsage with `authorization: Bearer <key>`
// on whichever replica of `targets` takes it: the feed's current one first,
// then the others in list order after it, each with a 5 s deadline. The error
// of the last one when none does. `targets` is not owned and must outlive the
// sender.
UsageSender MakeGrpcUsageSender(const TokenServiceTargets* targets,
                                std::string key);

class UsageReporter {
 public:
  // ReportUsage accepts at most this many entries per call.
  static constexpr size_t kMaxBatch = 10000;

  UsageReporter(UsageSender sender, absl::Duration interval, Metrics* metrics);
  ~UsageReporter();  // Stops.
  UsageReporter(const UsageReporter&) = delete;
  UsageReporter& operator=(const UsageReporter&) = delete;

  // Notes that `token_id` was used at `when` (keeping the later time when it
  // is already pending).
  void Record(const std::string& token_id, absl::Time when);

  // Starts the reporting thread. Call at most once.
  void Start();
  // Stops the thread after one last attempt to send what is pending.
  // Idempotent.
  void Stop();

  // Sends what is pending now, on the calling thread. Returns the first send
  // error.
  absl::Status Flush();

 private:
  static constexpr size_t kShards = 16;
  using Pending = absl::flat_hash_map<std::string, absl::Time>;

  // Each on its own cache line, so that Checks on different shards do not
  // share one.
  struct alignas(64) Shard {
    absl::Mutex mu;
    Pending pending ABSL_GUARDED_BY(mu);
  };

  Shard& ShardOf(const std::string& token_id);
  void Run();

  const UsageSender sender_;
  const absl::Duration interval_;
  Metrics* const metrics_;

  std::array<Shard, kShards> shards_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex flush_mu_;  // one Flush at a time, so retries keep their order
  std::thread thread_;
};

}  // namespace tokens

#endif  // VERIFIER_USAGE_REPORTER_H_
