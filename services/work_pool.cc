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
  }
  for (std::thread& t : threads_) t.join();
}

absl::Status WorkPool::Schedule(std::function<void()> work) {
  absl::MutexLock lock(&mu_);
  if (queue_.size() - head_ >= max_queued_) {
    return absl::UnavailableError("server busy: too many requests queued");
  }
  queue_.push_back(std::move(work));
  return absl::OkStatus();
}

void WorkPool::Run() {
  for (;;) {
    std::function<void()> work;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return head_ < queue_.size() || stopping_;
      };
      mu_.Await(absl::Condition(&ready));
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
