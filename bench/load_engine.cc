#include "bench/load_engine.h"

#include <time.h>

#include <utility>

#include "absl/strings/str_format.h"

namespace tokens::bench {

int64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string FormatResult(const LoadResult& r) {
  return absl::StrFormat(
      "qps=%.1f calls=%d errors=%d p50_us=%.1f p90_us=%.1f p99_us=%.1f "
      "p999_us=%.1f",
      r.qps, r.calls, r.errors, r.p50_us, r.p90_us, r.p99_us, r.p999_us);
}

LoadEngine::LoadEngine(const LoadOptions& options, Issue issue)
    : options_(options), issue_(std::move(issue)) {}

void LoadEngine::Start(int slot, int64_t intended_ns) {
  issue_(slot,
         [this, slot, intended_ns](bool ok) { Finish(slot, intended_ns, ok); });
}

void LoadEngine::Finish(int slot, int64_t intended_ns, bool ok) {
  const int64_t now = MonotonicNanos();
  const bool in_window = options_.rate > 0
                             ? intended_ns >= paced_window_start_
                             : recording_.load(std::memory_order_relaxed);
  if (in_window) {
    histogram_.Record(static_cast<uint64_t>(now - intended_ns));
    window_calls_.fetch_add(1, std::memory_order_relaxed);
    if (!ok) window_errors_.fetch_add(1, std::memory_order_relaxed);
  }
  if (options_.rate <= 0 && !stopping_.load(std::memory_order_relaxed)) {
    Start(slot, now);
    return;
  }
  absl::MutexLock lock(&mu_);
  --active_;
  free_slots_.push_back(slot);
}

void LoadEngine::RunClosed() {
  {
    absl::MutexLock lock(&mu_);
    active_ = options_.inflight;
  }
  for (int i = 0; i < options_.inflight; ++i) Start(i, MonotonicNanos());
  absl::SleepFor(options_.warmup);
}

void LoadEngine::RunPaced() {
  {
    absl::MutexLock lock(&mu_);
    for (int i = options_.inflight - 1; i >= 0; --i) free_slots_.push_back(i);
  }
  const int64_t period_ns = static_cast<int64_t>(1e9 / options_.rate);
  const int64_t start = MonotonicNanos();
  const int64_t window_start =
      start + absl::ToInt64Nanoseconds(options_.warmup);
  const int64_t end =
      window_start + absl::ToInt64Nanoseconds(options_.duration);
  paced_window_start_ = window_start;
  for (int64_t i = 0;; ++i) {
    const int64_t intended = start + i * period_ns;
    if (intended >= end) break;
    const int64_t now = MonotonicNanos();
    if (intended > now + 20000) {
      absl::SleepFor(absl::Nanoseconds(intended - now));
    }
    int slot;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](std::vector<int>* v) { return !v->empty(); }, &free_slots_));
      slot = free_slots_.back();
      free_slots_.pop_back();
      ++active_;
    }
    Start(slot, intended);
  }
}

LoadResult LoadEngine::Run() {
  int64_t window_start = 0;
  if (options_.rate > 0) {
    RunPaced();
    // The window is the scheduled one; calls scheduled inside it are counted.
    window_start = 0;
  } else {
    RunClosed();
    window_start = MonotonicNanos();
    recording_ = true;
    absl::SleepFor(options_.duration);
    recording_ = false;
  }
  const int64_t window_end = MonotonicNanos();
  stopping_ = true;
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* active) { return *active == 0; }, &active_));
  }
  LoadResult result;
  result.calls = window_calls_.load();
  result.errors = window_errors_.load();
  const double seconds =
      options_.rate > 0 ? absl::ToDoubleSeconds(options_.duration)
                        : static_cast<double>(window_end - window_start) / 1e9;
  result.qps = static_cast<double>(result.calls) / seconds;
  result.p50_us = static_cast<double>(histogram_.Quantile(0.50)) / 1e3;
  result.p90_us = static_cast<double>(histogram_.Quantile(0.90)) / 1e3;
  result.p99_us = static_cast<double>(histogram_.Quantile(0.99)) / 1e3;
  result.p999_us = static_cast<double>(histogram_.Quantile(0.999)) / 1e3;
  return result;
}

}  // namespace tokens::bench
