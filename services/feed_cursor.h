// FeedCursor: what one watcher sends next. Starts with a snapshot
// (since_revision 0, or a revision the store no longer retains or has not
// reached), sent in chunks; then the changes after the last revision sent, in
// revision order; a heartbeat when asked and nothing else is due. Plain C++
// over a TokenStore. Not thread-safe: one per watcher, used under its lock.
#ifndef SERVICES_FEED_CURSOR_H_
#define SERVICES_FEED_CURSOR_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/token_store.h"

namespace tokens {

struct FeedMessage {
  enum class Kind { kSnapshot, kChanges, kHeartbeat };
  Kind kind = Kind::kHeartbeat;
  int64_t revision = 0;
  bool reset = false;              // kSnapshot: first chunk.
  bool snapshot_complete = false;  // kSnapshot: last chunk.
  std::vector<TokenChangeRecord> changes;
};

class FeedCursor {
 public:
  FeedCursor(TokenStore* store, int64_t since_revision,
             std::string deployment_id, int32_t chunk_size = 1000);

  // The next message, or nullopt when caught up and no heartbeat is due.
  // Errors are the store's (Unavailable, Internal).
  absl::StatusOr<std::optional<FeedMessage>> Next(bool heartbeat_due);

  int64_t revision() const { return revision_; }
  int snapshots_sent() const { return snapshots_sent_; }

 private:
  FeedMessage NextSnapshotChunk();

  TokenStore* const store_;
  const std::string deployment_id_;
  const int32_t chunk_size_;
  int64_t revision_;
  bool need_snapshot_;
  std::optional<Snapshot> snapshot_;
  size_t snapshot_position_ = 0;
  int snapshots_sent_ = 0;
};

}  // namespace tokens

#endif  // SERVICES_FEED_CURSOR_H_
