// PgCommitWatcher: the thread behind PostgresTokenStore::WatchExternalCommits.
//
// Holds one dedicated connection (not from the pool) that LISTENs on a
// channel, waits on its socket with poll() for up to `poll_interval`, and calls
// wake() after every batch of notifications, after every poll_interval without
// one (the fallback poll, which covers anything a notification could miss),
// and after every successful (re)connect. When the connection breaks it
// reconnects with exponential backoff (100 ms doubling to 5 s). The destructor
// stops the thread promptly, even in the middle of connecting, and joins it;
// wake() is never called after the destructor returns.
#ifndef STORAGE_POSTGRES_COMMIT_WATCHER_H_
#define STORAGE_POSTGRES_COMMIT_WATCHER_H_

#include <functional>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "storage/postgres_connection.h"

namespace tokens {

class PgCommitWatcher {
 public:
  // Starts the thread. `channel` is an SQL identifier (a constant).
  PgCommitWatcher(PgConnectOptions options, std::string channel,
                  absl::Duration poll_interval, std::function<void()> wake);
  ~PgCommitWatcher();
  PgCommitWatcher(const PgCommitWatcher&) = delete;
  PgCommitWatcher& operator=(const PgCommitWatcher&) = delete;

 private:
  void Loop();
  // Runs LISTEN; false when it failed or the watcher is stopping.
  bool Listen(PgConnection& conn);
  // Watches `conn` until it breaks (returns false) or the watcher stops (true).
  bool Watch(PgConnection& conn);
  // Waits up to `timeout`; true when the watcher is stopping.
  bool WaitForStop(absl::Duration timeout);

  const PgConnectOptions options_;
  const std::string channel_;
  const absl::Duration poll_interval_;
  const std::function<void()> wake_;
  int stop_fd_ = -1;  // An eventfd, readable once stopping.
  std::thread thread_;
};

}  // namespace tokens

#endif  // STORAGE_POSTGRES_COMMIT_WATCHER_H_
