#include "services/feed_cursor.h"

#include <algorithm>

namespace tokens {

FeedCursor::FeedCursor(TokenStore* store, int64_t since_revision,
                       std::string deployment_id, int32_t chunk_size)
    : store_(store),
      deployment_id_(std::move(deployment_id)),
      chunk_size_(chunk_size),
      revision_(since_revision),
      need_snapshot_(since_revision == 0) {}

FeedMessage FeedCursor::NextSnapshotChunk() {
  FeedMessage message;
  message.kind = FeedMessage::Kind::kSnapshot;
  message.revision = snapshot_->revision;
  message.reset = snapshot_position_ == 0;
  const size_t end =
      std::min(snapshot_->tokens.size(), snapshot_position_ + chunk_size_);
  message.changes.assign(
      std::make_move_iterator(snapshot_->tokens.begin() + snapshot_position_),
      std::make_move_iterator(snapshot_->tokens.begin() + end));
  snapshot_position_ = end;
  if (snapshot_position_ == snapshot_->tokens.size()) {
    message.snapshot_complete = true;
    revision_ = snapshot_->revision;
    snapshot_.reset();
    ++snapshots_sent_;
  }
  return message;
}

absl::StatusOr<std::optional<FeedMessage>> FeedCursor::Next(
    bool heartbeat_due) {
  if (snapshot_) return NextSnapshotChunk();
  if (!need_snapshot_) {
    auto batch = store_->ReadChanges(revision_, deployment_id_, chunk_size_);
    if (!batch.ok()) return batch.status();
    if (!batch->complete) {
      need_snapshot_ = true;
    } else {
      revision_ = std::max(revision_, batch->up_to_revision);
      if (!batch->changes.empty()) {
        FeedMessage message;
        message.kind = FeedMessage::Kind::kChanges;
        message.revision = revision_;
        message.changes = std::move(batch->changes);
        return message;
      }
    }
  }
  if (need_snapshot_) {
    auto snapshot = store_->ReadSnapshot(deployment_id_);
    if (!snapshot.ok()) return snapshot.status();
    snapshot_ = *std::move(snapshot);
    snapshot_position_ = 0;
    need_snapshot_ = false;
    return NextSnapshotChunk();
  }
  if (heartbeat_due) {
    FeedMessage message;
    message.kind = FeedMessage::Kind::kHeartbeat;
    message.revision = revision_;
    return message;
  }
  return std::optional<FeedMessage>();
}

}  // namespace tokens
