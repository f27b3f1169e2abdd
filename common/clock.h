// Clock: where every component gets the current time, so tests can fake it.
// RealClock is thread-safe; FakeClock is thread-safe and only moves when told
// to.
#ifndef COMMON_CLOCK_H_
#define COMMON_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tokens {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The wall clock. Never null, never deleted.
inline Clock* RealClock() {
  class Real : public Clock {
   public:
    absl::Time Now() const override { return absl::Now(); }
  };
  static Real* clock = new Real;
  return clock;
}

// A clock for tests: starts at `start` and moves only by Advance/Set.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start) : now_(start) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_;
};

}  // namespace tokens

#endif  // COMMON_CLOCK_H_
