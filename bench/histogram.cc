#include "bench/histogram.h"

namespace tokens::bench {

uint64_t LatencyHistogram::Count() const {
  uint64_t n = 0;
  for (const auto& c : counts_) n += c.load(std::memory_order_relaxed);
  return n;
}

uint64_t LatencyHistogram::UpperEdge(int index) {
  if (index < kSub) return static_cast<uint64_t>(index);
  const int shift = index / kSub - 1;
  const uint64_t sub = static_cast<uint64_t>(index % kSub) | kSub;
  return ((sub + 1) << shift) - 1;
}

uint64_t LatencyHistogram::Quantile(double q) const {
  const uint64_t total = Count();
  if (total == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(total));
  if (rank >= total) rank = total - 1;
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i].load(std::memory_order_relaxed);
    if (seen > rank) return UpperEdge(i);
  }
  return UpperEdge(kBuckets - 1);
}

}  // namespace tokens::bench
