// ChangeFeed: what TokenManager needs of the feed, one call after each commit
// so that watchers hear of it. WatchCache (services/watch_cache.h) is the one
// implementation: one reader of the store, a window of recent changes in
// memory, every WatchTokens stream served from it. Plain C++: TokenManager
// and its tests need nothing of gRPC to use it.
#ifndef SERVICES_CHANGE_FEED_H_
#define SERVICES_CHANGE_FEED_H_

namespace tokens {

class ChangeFeed {
 public:
  virtual ~ChangeFeed() = default;
  // A change committed: the feed reads it soon. Never blocks; thread-safe.
  virtual void Notify() = 0;
};

}  // namespace tokens

#endif  // SERVICES_CHANGE_FEED_H_
