// LoadEngine: drives asynchronous calls with a fixed number in flight, either
// closed loop (a slot issues its next call as soon as the previous one
// answers) or paced (calls are scheduled at a fixed rate, at most `inflight`
// outstanding; latency is measured from the scheduled time, so a stalled
// server is not hidden by coordinated omission).
//
// The caller supplies Issue(slot, done): start one call using the per-slot
// state it owns and invoke done(ok) exactly once when it completes (from any
// thread). Run() blocks until the warmup and measured window are over and
// every call has completed. Not reusable: one Run per engine.
#ifndef BENCH_LOAD_ENGINE_H_
#define BENCH_LOAD_ENGINE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/histogram.h"

namespace tokens::bench {

struct LoadOptions {
  int inflight = 32;
  absl::Duration warmup = absl::Milliseconds(500);
  absl::Duration duration = absl::Seconds(3);
  // Calls per second; 0 = closed loop.
  double rate = 0;
};

struct LoadResult {
  double qps = 0;
  uint64_t calls = 0;   // completed inside the measured window
  uint64_t errors = 0;  // done(false) inside the measured window
  double p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0;
};

// "qps=... p50_us=..." for the RESULT lines the scripts parse.
std::string FormatResult(const LoadResult& result);

class LoadEngine {
 public:
  using Done = std::function<void(bool ok)>;
  using Issue = std::function<void(int slot, Done done)>;

  LoadEngine(const LoadOptions& options, Issue issue);
  LoadResult Run();

 private:
  void Start(int slot, int64_t intended_ns);
  void Finish(int slot, int64_t intended_ns, bool ok);
  void RunClosed();
  void RunPaced();

  const LoadOptions options_;
  const Issue issue_;
  LatencyHistogram histogram_;
  std::atomic<bool> recording_{false};
  std::atomic<bool> stopping_{false};
  // Paced mode: calls scheduled at or after this are measured. Written before
  // the first call starts.
  std::atomic<int64_t> paced_window_start_{0};
  std::atomic<uint64_t> window_calls_{0};
  std::atomic<uint64_t> window_errors_{0};

  absl::Mutex mu_;
  int active_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<int> free_slots_ ABSL_GUARDED_BY(mu_);
};

int64_t MonotonicNanos();

}  // namespace tokens::bench

#endif  // BENCH_LOAD_ENGINE_H_
