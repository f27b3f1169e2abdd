// UsageReporter: remembers when each token was last allowed (and by which end
// client), and every reuse of a revoked value (REVOKED_TOKEN), and sends them
// to TokenService.ReportUsage in batches, every `interval`, from its own
// thread, with this verifier's name.
//
// Record and RecordReuse are called on the Check path: they never do I/O.
// Record takes only the mutex of one of kShards shards (picked by the token
// id), so that concurrent Checks seldom contend; RecordReuse (rare: a revoked
// value) takes one mutex of its own. Reuse sightings are aggregated per token
// id and client address (a count and the latest time), at most
// kMaxPendingSightings of them (a sighting of a new pair beyond that is
// dropped and counted in the metrics). A batch that fails to send is merged
// back and retried at the next tick (keeping the later time per token, adding
// the counts). Thread-safe. The sender and metrics are owned by the caller and
// must outlive the reporter.
#ifndef VERIFIER_USAGE_REPORTER_H_
#define VERIFIER_USAGE_REPORTER_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/validation.h"
#include "verifier/metrics.h"
#include "verifier/token_service_targets.h"

namespace tokens {

struct UsageEntry {
  std::string token_id;
  absl::Time last_used_time;
  // The end client of that use (as the throttle finds it); may be empty.
  std::string client_address;
};

// A revoked value of `token_id` presented `count` times since the last report
// by `client_address` (may be empty), the last time at `time`.
struct ReuseEntry {
  std::string token_id;
  std::string client_address;
  absl::Time time;
  int32_t count = 0;
};

// One ReportUsage call.
struct UsageBatch {
  std::string verifier_name;
  std::vector<UsageEntry> usages;     // at most kMaxBatch
  std::vector<ReuseEntry> sightings;  // at most kMaxBatch
};

// Sends one batch; returns the call's error, if any.
using UsageSender = std::function<absl::Status(const UsageBatch&)>;

// A sender calling TokenService.ReportUsage with `authorization: Bearer <key>`
// (the batch's verifier_name, usages and reuse_sightings)
// on whichever replica of `targets` takes it: the feed's current one first,
// then the others in list order after it, each with a 5 s deadline. The error
// of the last one when none does. `targets` is not owned and must outlive the
// sender.
UsageSender MakeGrpcUsageSender(const TokenServiceTargets* targets,
                                std::string key);

class UsageReporter {
 public:
  // ReportUsage accepts at most this many entries per call (of each kind).
  static constexpr size_t kMaxBatch = kMaxUsageReportEntries;
  // Distinct (token id, client address) pairs of reuse kept between reports.
  static constexpr size_t kMaxPendingSightings = kMaxBatch;

  // `verifier_name` goes with every batch (the verifier's --name).
  UsageReporter(UsageSender sender, absl::Duration interval, Metrics* metrics,
                std::string verifier_name = "");
  ~UsageReporter();  // Stops.
  UsageReporter(const UsageReporter&) = delete;
  UsageReporter& operator=(const UsageReporter&) = delete;

  // Notes that `token_id` was used at `when` by `client_address` (keeping the
  // later use when one is already pending).
  void Record(const std::string& token_id, absl::Time when,
              std::string_view client_address = {});

  // Notes that a revoked value of `token_id` was presented at `when` by
  // `client_address`.
  void RecordReuse(const std::string& token_id, absl::Time when,
                   std::string_view client_address);

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
  struct Use {
    absl::Time when;
    std::string client_address;
  };
  using Pending = absl::flat_hash_map<std::string, Use>;
  struct Reuse {
    absl::Time latest;
    int32_t count = 0;
  };
  // (token id, client address) -> their reuse.
  using PendingReuse =
      absl::flat_hash_map<std::pair<std::string, std::string>, Reuse>;

  // Each on its own cache line, so that Checks on different shards do not
  // share one.
  struct alignas(64) Shard {
    absl::Mutex mu;
    Pending pending ABSL_GUARDED_BY(mu);
  };

  Shard& ShardOf(const std::string& token_id);
  // Adds `count` sightings of (token_id, client_address), the latest at
  // `latest`.
  void AddReuse(const std::string& token_id, std::string_view client_address,
                absl::Time latest, int32_t count);
  void Run();

  const UsageSender sender_;
  const absl::Duration interval_;
  Metrics* const metrics_;
  const std::string verifier_name_;

  std::array<Shard, kShards> shards_;

  absl::Mutex reuse_mu_;
  PendingReuse reuse_ ABSL_GUARDED_BY(reuse_mu_);

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex flush_mu_;  // one Flush at a time, so retries keep their order
  std::thread thread_;
};

}  // namespace tokens

#endif  // VERIFIER_USAGE_REPORTER_H_
