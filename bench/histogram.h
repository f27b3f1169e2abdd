// LatencyHistogram: an HDR-style log-linear histogram of nanosecond values.
// Each power of two is split into 64 linear sub-buckets, so a recorded value is
// reported within 1/64 (1.6 %) of its true value from 1 ns to ~1100 s.
//
// Thread-safe: Record may be called from any number of threads at once
// (relaxed atomic counters); read the results once recording has stopped.
#ifndef BENCH_HISTOGRAM_H_
#define BENCH_HISTOGRAM_H_

#include <array>
#include <atomic>
#include <cstdint>

namespace tokens::bench {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 6;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = (64 - kSubBits + 1) * kSub;

  LatencyHistogram() {
    for (auto& c : counts_) c.store(0, std::memory_order_relaxed);
  }

  void Record(uint64_t nanos) {
    counts_[Index(nanos)].fetch_add(1, std::memory_order_relaxed);
  }

  uint64_t Count() const;
  // The value at quantile q in [0, 1] (upper edge of its bucket), 0 if empty.
  uint64_t Quantile(double q) const;

  static int Index(uint64_t v) {
    if (v < kSub) return static_cast<int>(v);
    const int exp = 63 - __builtin_clzll(v);  // >= kSubBits
    const int shift = exp - kSubBits;
    return (shift + 1) * kSub + static_cast<int>((v >> shift) & (kSub - 1));
  }
  // The largest value that maps to bucket `index`.
  static uint64_t UpperEdge(int index);

 private:
  std::array<std::atomic<uint64_t>, kBuckets> counts_;
};

}  // namespace tokens::bench

#endif  // BENCH_HISTOGRAM_H_
