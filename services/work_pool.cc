#include "services/work_pool.h"

namespace tokens {

WorkPool::WorkPool(int threads, size_t max_queued) : max_queued_(max_queued) {
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

WorkPool::~WorkPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    ready_.SignalAll();
  }
  for (std::thread& t : threads_) t.join();
}

absl::Status WorkPool::Schedule(std::function<void()> work) {
  absl::MutexLock lock(&mu_);
  if (queue_.size() - head_ >= max_queued_) {
    return absl::UnavailableError("server busy: too many requests queued");
  }
  queue_.push_back(std::move(work));
  // Wake exactly one idle worker (a Condition would make every unlock re-check
  // all of them).
  ready_.Signal();
  return absl::OkStatus();
}

void WorkPool::Run() {
  for (;;) {
    std::function<void()> work;
    {
      absl::MutexLock lock(&mu_);
      while (head_ == queue_.size() && !stopping_) ready_.Wait(&mu_);
      if (head_ == queue_.size()) return;  // Stopping and drained.
      work = std::move(queue_[head_++]);
      if (head_ == queue_.size()) {
        queue_.clear();
        head_ = 0;
      }
    }
    work();
  }
}

}  // namespace tokens
