// WorkPool: a fixed set of threads for work that blocks, so gRPC's callback
// threads never do. TokenService runs each RPC's store work here: a write waits
// for its group commit (one fsync shared by every writer queued meanwhile), and
// only with many writers waiting at once does a batch grow past the two that
// gRPC's own threads could hold. Thread-safe.
#ifndef SERVICES_WORK_POOL_H_
#define SERVICES_WORK_POOL_H_

#include <functional>
#include <thread>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace tokens {

class WorkPool {
 public:
  // `threads` workers; at most `max_queued` items wait for one.
  WorkPool(int threads, size_t max_queued);
  // Runs what is already queued, then joins the workers.
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Queues `work`. Unavailable (and `work` is dropped) when the queue is full.
  absl::Status Schedule(std::function<void()> work);

 private:
  void Run();

  const size_t max_queued_;
  absl::Mutex mu_;
  absl::CondVar ready_;  // Work was queued, or stopping.
  std::vector<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  size_t head_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace tokens

#endif  // SERVICES_WORK_POOL_H_
