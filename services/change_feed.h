// ChangeFeed: the name TokenManager (which calls Notify after each commit),
// TokenService (which opens a stream per WatchTokens call) and TokenServer
// (which closes them on shutdown) know the feed by. It is the watch cache:
// one reader of the store, a window of recent changes in memory, every stream
// served from it. See services/watch_cache.h.
#ifndef SERVICES_CHANGE_FEED_H_
#define SERVICES_CHANGE_FEED_H_

#include "services/watch_cache.h"

namespace tokens {

using ChangeFeed = WatchCache;

}  // namespace tokens

#endif  // SERVICES_CHANGE_FEED_H_
