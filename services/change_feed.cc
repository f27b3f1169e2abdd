#include "services/change_feed.h"

#include <vector>

#include "absl/time/clock.h"

namespace tokens {

ChangeFeed::ChangeFeed(absl::Duration heartbeat_interval)
    : heartbeat_interval_(heartbeat_interval), thread_([this] { Run(); }) {}

ChangeFeed::~ChangeFeed() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void ChangeFeed::Subscribe(FeedSubscriber* subscriber) {
  absl::MutexLock lock(&mu_);
  subscribers_.insert(subscriber);
}

void ChangeFeed::Unsubscribe(FeedSubscriber* subscriber) {
  absl::MutexLock calling(&calling_mu_);
  absl::MutexLock lock(&mu_);
  subscribers_.erase(subscriber);
}

void ChangeFeed::Notify() {
  absl::MutexLock lock(&mu_);
  changed_ = true;
}

int ChangeFeed::subscriber_count() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(subscribers_.size());
}

void ChangeFeed::CloseAll() {
  absl::MutexLock calling(&calling_mu_);
  std::vector<FeedSubscriber*> all;
  {
    absl::MutexLock lock(&mu_);
    all.assign(subscribers_.begin(), subscribers_.end());
  }
  for (FeedSubscriber* subscriber : all) subscriber->Close();
}

void ChangeFeed::Run() {
  absl::Time next_heartbeat = absl::Now() + heartbeat_interval_;
  for (;;) {
    bool heartbeat_due = false;
    {
      absl::MutexLock lock(&mu_);
      auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return changed_ || stopping_;
      };
      mu_.AwaitWithDeadline(absl::Condition(&woken), next_heartbeat);
      if (stopping_) return;
      changed_ = false;
      if (absl::Now() >= next_heartbeat) {
        heartbeat_due = true;
        next_heartbeat = absl::Now() + heartbeat_interval_;
      }
    }
    absl::MutexLock calling(&calling_mu_);
    std::vector<FeedSubscriber*> all;
    {
      absl::MutexLock lock(&mu_);
      all.assign(subscribers_.begin(), subscribers_.end());
    }
    for (FeedSubscriber* subscriber : all) subscriber->Wake(heartbeat_due);
  }
}

}  // namespace tokens
