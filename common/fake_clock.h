// FakeClock: the Clock of tests (test-only, //common:fake_clock). Thread-safe;
// it moves only when told to, and Advance wakes every waiter whose timeout it
// passes. See common/clock.h for the two kinds of time.
#ifndef COMMON_FAKE_CLOCK_H_
#define COMMON_FAKE_CLOCK_H_

#include <algorithm>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace tokens {

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

#endif  // COMMON_FAKE_CLOCK_H_
