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
// RealClock is thread-safe and never deleted. FakeClock is thread-safe and
// moves only when told to; Advance wakes every waiter whose timeout it passes.
#ifndef COMMON_CLOCK_H_
#define COMMON_CLOCK_H_

#include <algorithm>
#include <chrono>
#include <vector>

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

// A clock for tests: wall time starts at `start`, monotonic time at zero, and
// both move only by Advance (Set moves wall time alone, as a clock jump does).
//
// Advance wakes waiters by taking and releasing their mutex, so it must not
// race with destroying a component that is waiting on this clock: advance
// and destroy from the same (test) thread.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1767225600))
      : now_(start) {}

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  absl::Duration Monotonic() const override {
    absl::MutexLock lock(&mu_);
    return monotonic_;
  }

  bool AwaitWithTimeout(absl::Mutex* mu, const absl::Condition& condition,
                        absl::Duration timeout) const override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const absl::Duration deadline = Monotonic() + timeout;
    {
      absl::MutexLock lock(&mu_);
      waiters_.push_back(mu);
    }
    auto done = [&] { return condition.Eval() || Monotonic() >= deadline; };
    mu->Await(absl::Condition(&done));
    {
      absl::MutexLock lock(&mu_);
      waiters_.erase(std::find(waiters_.begin(), waiters_.end(), mu));
    }
    return condition.Eval();
  }

  // Moves both clocks forward and wakes the waiters so they see it.
  void Advance(absl::Duration d) {
    std::vector<absl::Mutex*> waiters;
    {
      absl::MutexLock lock(&mu_);
      now_ += d;
      monotonic_ += d;
      waiters = waiters_;
    }
    // Releasing a mutex makes absl re-evaluate the conditions waiting on it.
    for (absl::Mutex* waiter : waiters) {
      waiter->Lock();
      waiter->Unlock();
    }
  }

  // Moves wall time only (monotonic time never goes back or jumps).
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }

  // Blocks until at least `n` threads wait on this clock: a test calls it
  // before Advance so that the component has computed its deadline first.
  void AwaitWaiters(int n) const {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return static_cast<int>(waiters_.size()) >= n;
    };
    mu_.Await(absl::Condition(&enough));
  }

  int waiters() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(waiters_.size());
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  absl::Duration monotonic_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  mutable std::vector<absl::Mutex*> waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tokens

#endif  // COMMON_CLOCK_H_
