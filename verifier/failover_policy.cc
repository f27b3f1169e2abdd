#include "verifier/failover_policy.h"

#include <algorithm>

namespace tokens {

absl::Duration JitteredBackoff(absl::Duration backoff, double uniform) {
  uniform = std::clamp(uniform, 0.0, 1.0);
  return backoff / 2 + uniform * (backoff / 2);
}

FailoverPolicy::FailoverPolicy(size_t addresses, absl::Duration min_backoff,
                               absl::Duration max_backoff)
    : addresses_(std::max<size_t>(addresses, 1)),
      min_backoff_(min_backoff),
      max_backoff_(max_backoff),
      backoff_(min_backoff) {}

FailoverPolicy::Step FailoverPolicy::StreamEnded(bool healthy, double uniform) {
  if (healthy) {
    failures_ = 0;
    backoff_ = min_backoff_;
  }
  ++failures_;
  current_ = (current_ + 1) % addresses_;
  Step step;
  step.address = current_;
  // Within a round (not every address has failed since the last full round)
  // the next address is tried at once.
  if (failures_ % addresses_ != 0) return step;
  step.wait = JitteredBackoff(backoff_, uniform);
  backoff_ = std::min(backoff_ * 2, max_backoff_);
  return step;
}

}  // namespace tokens
