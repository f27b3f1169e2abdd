// ChangeFeed: wakes every connected watcher when a change commits, and once a
// second so they can send heartbeats. Watchers read the changes themselves from
// the store (FeedCursor), so a slow watcher never holds up a writer or another
// watcher: Notify only signals a condition.
//
// Thread-safe. Subscribers are called from the feed's own thread, one at a
// time; Unsubscribe waits until a call in progress returns, so a subscriber may
// be deleted right after it.
#ifndef SERVICES_CHANGE_FEED_H_
#define SERVICES_CHANGE_FEED_H_

#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace tokens {

class FeedSubscriber {
 public:
  virtual ~FeedSubscriber() = default;
  // Something may have changed; `heartbeat_due` when a heartbeat interval has
  // passed.
  virtual void Wake(bool heartbeat_due) = 0;
  // The service is shutting down: finish the stream.
  virtual void Close() = 0;
};

class ChangeFeed {
 public:
  explicit ChangeFeed(absl::Duration heartbeat_interval = absl::Seconds(1));
  ~ChangeFeed();  // Stops the thread.
  ChangeFeed(const ChangeFeed&) = delete;
  ChangeFeed& operator=(const ChangeFeed&) = delete;

  void Subscribe(FeedSubscriber* subscriber);
  void Unsubscribe(FeedSubscriber* subscriber);

  // A change committed: wake every subscriber soon.
  void Notify();

  // Closes every subscriber (used on shutdown) and refuses none afterwards; the
  // thread keeps running until destruction.
  void CloseAll();

  int subscriber_count() const;

 private:
  void Run();

  const absl::Duration heartbeat_interval_;
  mutable absl::Mutex mu_;
  // Held while subscribers are being called, so Unsubscribe waits for a call in
  // progress.
  absl::Mutex calling_mu_;
  absl::flat_hash_set<FeedSubscriber*> subscribers_ ABSL_GUARDED_BY(mu_);
  bool changed_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace tokens

#endif  // SERVICES_CHANGE_FEED_H_
