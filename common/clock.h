// Clock: where every component gets the time and waits for it to pass, so
// tests drive time instead of sleeping (docs/design.md, "Time").
//
// Two kinds of time:
//   Now()        wall time, for what is stored or shown (create_time, expiry).
//   Monotonic()  time since an arbitrary start that never goes back, for
//                intervals: heartbeats, backoff, staleness, timeouts.
// and one way to wait: AwaitWithTimeout, which waits on the caller's mutex
// until a condition holds or a monotonic timeout passes.
//
// RealClock is thread-safe and never deleted. Tests use FakeClock
// (common/fake_clock.h, test-only), which moves only when told to.
#ifndef COMMON_CLOCK_H_
#define COMMON_CLOCK_H_

#include <chrono>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tokens {

class Clock {
 public:
  virtual ~Clock() = default;

  // Wall time.
  virtual absl::Time Now() const = 0;

  // Monotonic time: only differences mean anything.
  virtual absl::Duration Monotonic() const = 0;

  // With `mu` held: returns when `condition` holds (true) or when `timeout`
  // of monotonic time has passed (false, unless the condition holds by then).
  // `mu` is held again on return. Other threads make `condition` true by
  // changing state under `mu`, as with absl::Mutex::Await.
  virtual bool AwaitWithTimeout(absl::Mutex* mu,
                                const absl::Condition& condition,
                                absl::Duration timeout) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) = 0;

  // Sleeps for `duration` of this clock's monotonic time.
  void SleepFor(absl::Duration duration) const {
    static constexpr bool kNever = false;
    absl::Mutex mu;
    absl::MutexLock lock(&mu);
    AwaitWithTimeout(&mu, absl::Condition(&kNever), duration);
  }
};

// The machine's clocks. Never null, never deleted.
inline Clock* RealClock() {
  class Real : public Clock {
   public:
    absl::Time Now() const override { return absl::Now(); }
    absl::Duration Monotonic() const override {
      return absl::FromChrono(
          std::chrono::steady_clock::now().time_since_epoch());
    }
    bool AwaitWithTimeout(absl::Mutex* mu, const absl::Condition& condition,
                          absl::Duration timeout) const override
        ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return mu->AwaitWithTimeout(condition, timeout);
    }
  };
  static Real* clock = new Real;
  return clock;
}

}  // namespace tokens

#endif  // COMMON_CLOCK_H_
