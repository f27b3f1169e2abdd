#include "services/watch_cache.h"

#include <grpc/slice.h>
#include <grpcpp/support/slice.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "common/json_log.h"
#include "services/proto_convert.h"

namespace tokens {
namespace {

// Fewer streams than this per extra thread are woken from the reader alone.
constexpr size_t kStreamsPerShard = 256;

absl::Status ResumeLater(absl::string_view why, int64_t revision) {
  return absl::UnavailableError(
      absl::StrCat(why, "; reconnect and resume from revision ", revision));
}

FeedMessage EncodeChange(const TokenChange& change) {
  v1::WatchTokensResponse message;
  message.set_kind(v1::WatchTokensResponse::CHANGES);
  message.set_revision(change.revision);
  ToProto(change, message.add_changes());
  return std::make_shared<const WireMessage>(message);
}

}  // namespace

// ---------------------------------------------------------------- WireMessage

WireMessage::WireMessage(const v1::WatchTokensResponse& message) {
  const size_t size = message.ByteSizeLong();
  // One slice of exactly the message (inline in the slice itself when tiny).
  grpc::Slice slice(grpc_slice_malloc(size), grpc::Slice::STEAL_REF);
  message.SerializeWithCachedSizesToArray(const_cast<uint8_t*>(slice.begin()));
  bytes_ = grpc::ByteBuffer(&slice, 1);
  size_ = static_cast<int64_t>(size);
}

int64_t WireMessage::memory_bytes() const {
  // The slice's bytes and refcount header, the byte buffer, this object.
  constexpr int64_t kOverhead = 64 + sizeof(WireMessage);
  return size_ + kOverhead;
}

bool WireMessage::Parse(v1::WatchTokensResponse* message) const {
  std::vector<grpc::Slice> slices;
  if (!bytes_.Dump(&slices).ok()) return false;
  std::string all;
  for (const grpc::Slice& slice : slices) {
    all.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return message->ParseFromString(all);
}

// ---------------------------------------------------------------- WatchStream

WatchStream::WatchStream(Private, WatchCache* cache, WatchSink* sink,
                         int64_t position, std::string deployment_id,
                         Phase phase)
    : cache_(cache),
      deployment_id_(std::move(deployment_id)),
      sink_(sink),
      phase_(phase),
      position_(position) {}

int64_t WatchStream::revision() const {
  absl::MutexLock lock(&mu_);
  return position_;
}

int64_t WatchStream::messages() const {
  absl::MutexLock lock(&mu_);
  return messages_;
}

void WatchStream::Start() {
  std::optional<absl::Status> end;
  WatchSink* sink = nullptr;
  {
    absl::MutexLock lock(&mu_);
    started_ = true;
    // A stream that is already current says so at once (a heartbeat), so a
    // verifier knows it is fresh without waiting for the next tick; not while
    // the store fails, since the window may be behind it.
    heartbeat_due_ = cache_->store_ok_.load();
    sink = sink_;
    end = TakeEndLocked();
  }
  if (end) {
    sink->End(*end);
    return;
  }
  Pump();
}

std::optional<absl::Status> WatchStream::EndLocked(absl::Status status) {
  if (ended_) return std::nullopt;
  ended_ = true;
  phase_ = Phase::kDone;
  snapshot_.reset();
  catch_up_.reset();
  pending_end_ = std::move(status);
  return TakeEndLocked();
}

std::optional<absl::Status> WatchStream::TakeEndLocked() {
  if (!pending_end_ || !started_ || writing_ || job_pending_ ||
      sink_ == nullptr) {
    return std::nullopt;
  }
  std::optional<absl::Status> end = std::move(pending_end_);
  pending_end_.reset();
  return end;
}

void WatchStream::Pump() {
  const WireMessage* to_write = nullptr;
  std::optional<absl::Status> end;
  bool catch_up = false;
  bool need_snapshot = false;
  int64_t catch_up_from = 0;
  WatchSink* sink = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (!started_ || ended_ || writing_ || job_pending_) return;
    sink = sink_;
    while (to_write == nullptr && !end && !catch_up && !need_snapshot) {
      switch (phase_) {
        case Phase::kDone:
          return;
        case Phase::kNeedSnapshot:
          job_pending_ = true;
          need_snapshot = true;
          break;
        case Phase::kSnapshot: {
          in_flight_ = snapshot_->chunks[next_chunk_++];
          to_write = in_flight_.get();
          if (next_chunk_ == snapshot_->chunks.size()) {
            position_ = snapshot_->revision;
            snapshot_.reset();
            phase_ = Phase::kLive;
            cache_->snapshots_sent_total_.fetch_add(1);
          }
          break;
        }
        case Phase::kStore: {
          if (!catch_up_) {
            job_pending_ = true;
            catch_up = true;
            catch_up_from = position_;
            break;
          }
          ChangeBatch batch = *std::move(catch_up_);
          catch_up_.reset();
          position_ = std::max(position_, batch.up_to_revision);
          // Back to the window, which sends the rest (or, when the rest is
          // older than it too, sends us here again).
          phase_ = Phase::kLive;
          if (batch.changes.empty()) break;
          v1::WatchTokensResponse message;
          message.set_kind(v1::WatchTokensResponse::CHANGES);
          message.set_revision(position_);
          for (const TokenChange& change : batch.changes) {
            ToProto(change, message.add_changes());
          }
          in_flight_ = std::make_shared<const WireMessage>(message);
          to_write = in_flight_.get();
          break;
        }
        case Phase::kLive: {
          WatchCache::Pull pull = cache_->PullFrom(position_, deployment_id_);
          if (pull.queued_bytes > cache_->options_.max_queued_bytes) {
            cache_->cut_off_total_.fetch_add(1);
            end = EndLocked(FellBehind(pull.queued_bytes));
            if (!end) return;
            break;
          }
          switch (pull.kind) {
            case WatchCache::Pull::Kind::kBehind:
              phase_ = Phase::kStore;
              break;
            case WatchCache::Pull::Kind::kMessage:
              in_flight_ = std::move(pull.message);
              to_write = in_flight_.get();
              position_ = pull.revision;
              break;
            case WatchCache::Pull::Kind::kCaughtUp: {
              position_ = pull.revision;
              if (!heartbeat_due_) return;
              in_flight_ = cache_->HeartbeatAt(position_);
              to_write = in_flight_.get();
              break;
            }
          }
          break;
        }
      }
    }
    if (to_write != nullptr) {
      writing_ = true;
      heartbeat_due_ = false;  // Any message proves the service alive.
      ++messages_;
    }
  }
  // Outside mu_: a sink may run a reaction inline. While writing_ or
  // job_pending_ is set nothing ends the stream, so the sink stays valid.
  if (end) {
    sink->End(*end);
  } else if (catch_up) {
    cache_->ScheduleCatchUp(shared_from_this(), catch_up_from);
  } else if (need_snapshot) {
    cache_->ScheduleSnapshot(shared_from_this());
  } else if (to_write != nullptr) {
    sink->Write(to_write);
  }
}

void WatchStream::WriteDone(bool ok) {
  std::optional<absl::Status> end;
  WatchSink* sink = nullptr;
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    in_flight_.reset();
    sink = sink_;
    if (ended_) {
      end = TakeEndLocked();
      if (!end) return;
    } else if (!ok) {
      end = EndLocked(absl::CancelledError("write failed"));
    }
  }
  if (end) {
    sink->End(*end);
    return;
  }
  // Drain what is left (snapshot chunks, a backlog) without waiting for the
  // next wake.
  Pump();
}

absl::Status WatchStream::FellBehind(int64_t queued) const {
  return absl::ResourceExhaustedError(absl::StrCat(
      "watcher fell behind: ", queued,
      " bytes of changes queued for it, more than the limit of ",
      cache_->options_.max_queued_bytes,
      " (--watch-max-queued-bytes); reconnect and resume from revision ",
      position_));
}

void WatchStream::Wake(bool heartbeat_due) {
  {
    absl::MutexLock lock(&mu_);
    if (ended_ || !started_) return;
    if (phase_ != Phase::kLive) return;
    if (heartbeat_due) heartbeat_due_ = true;
    if (writing_) {
      // Busy: it pulls on its own when the write is done. Only check that it
      // is not too far behind.
      // It ends when that write is done.
      const int64_t queued = cache_->QueuedBytes(position_);
      if (queued > cache_->options_.max_queued_bytes) {
        cache_->cut_off_total_.fetch_add(1);
        EndLocked(FellBehind(queued));
      }
      return;
    }
  }
  Pump();
}

void WatchStream::CatchUpDone(absl::StatusOr<ChangeBatch> batch) {
  std::optional<absl::Status> end;
  bool need_snapshot = false;
  WatchSink* sink = nullptr;
  {
    absl::MutexLock lock(&mu_);
    job_pending_ = false;
    sink = sink_;
    if (ended_) {
      end = TakeEndLocked();
    } else if (!batch.ok()) {
      end = EndLocked(ResumeLater("change feed: store unavailable", position_));
    } else if (!batch->complete) {
      // No longer retained (or ahead of the store): a snapshot.
      phase_ = Phase::kNeedSnapshot;
      job_pending_ = true;
      need_snapshot = true;
    } else {
      catch_up_ = *std::move(batch);
    }
  }
  if (end) {
    sink->End(*end);
  } else if (need_snapshot) {
    cache_->ScheduleSnapshot(shared_from_this());
  } else {
    Pump();
  }
}

void WatchStream::SnapshotReady(
    std::shared_ptr<const SharedSnapshot> snapshot) {
  std::optional<absl::Status> end;
  WatchSink* sink = nullptr;
  {
    absl::MutexLock lock(&mu_);
    job_pending_ = false;
    sink = sink_;
    if (ended_) {
      end = TakeEndLocked();
    } else {
      snapshot_ = std::move(snapshot);
      next_chunk_ = 0;
      phase_ = Phase::kSnapshot;
    }
  }
  if (end) {
    sink->End(*end);
    return;
  }
  Pump();
}

void WatchStream::Fail(const absl::Status& status) {
  std::optional<absl::Status> end;
  WatchSink* sink = nullptr;
  {
    absl::MutexLock lock(&mu_);
    job_pending_ = false;
    sink = sink_;
    end = ended_ ? TakeEndLocked() : EndLocked(status);
  }
  if (end) sink->End(*end);
}

void WatchStream::Cancel() {
  std::optional<absl::Status> end;
  WatchSink* sink = nullptr;
  {
    absl::MutexLock lock(&mu_);
    sink = sink_;
    // With a write or a job in flight the end waits for it.
    end = EndLocked(absl::CancelledError("cancelled"));
  }
  if (end) sink->End(*end);
}

void WatchStream::Close() {
  std::optional<absl::Status> end;
  WatchSink* sink = nullptr;
  {
    absl::MutexLock lock(&mu_);
    sink = sink_;
    end = EndLocked(ResumeLater("TokenService is shutting down", position_));
  }
  if (end) sink->End(*end);
}

void WatchStream::Detach() {
  {
    absl::MutexLock lock(&mu_);
    sink_ = nullptr;
    ended_ = true;
    phase_ = Phase::kDone;
    pending_end_.reset();
    snapshot_.reset();
  }
  cache_->Unregister(this);
}

// ----------------------------------------------------------------- WatchCache

WatchCache::WatchCache(TokenStore* store, Clock* clock, WorkPool* pool,
                       WatchCacheOptions options)
    : store_(store), clock_(clock), pool_(pool), options_(options) {}

WatchCache::~WatchCache() { Stop(); }

absl::Status WatchCache::Start() {
  absl::Status first = Initialize();
  if (!first.ok() && !absl::IsUnavailable(first)) return first;
  if (!first.ok()) {
    // The store cannot be reached yet (a database that is down): the reader
    // keeps trying, and streams are refused meanwhile.
    JsonLog("feed.waiting_for_store", "warn")
        .Str("error", std::string(first.message()));
  }
  reader_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

absl::Status WatchCache::Initialize() {
  auto current = store_->CurrentRevision();
  tail_reads_total_.fetch_add(1);
  if (!current.ok()) return current.status();
  // Start with what the change log still holds of the last window_changes
  // revisions, so verifiers a little behind resume from memory after a
  // restart. When the log holds less, ReadTail starts the window at the
  // current revision instead.
  const int64_t from = std::max<int64_t>(0, *current - options_.window_changes);
  {
    absl::MutexLock lock(&mu_);
    window_base_ = from;
    newest_ = from;
  }
  tail_revision_ = from;
  auto read = ReadTail();
  if (!read.ok()) return read.status();
  initialized_.store(true);
  store_ok_.store(true);
  return absl::OkStatus();
}

void WatchCache::Stop() {
  {
    absl::MutexLock lock(&signal_mu_);
    stopping_ = true;
  }
  if (reader_.joinable()) reader_.join();
}

void WatchCache::Notify() {
  absl::MutexLock lock(&signal_mu_);
  notified_ = true;
}

std::shared_ptr<WatchStream> WatchCache::Watch(WatchSink* sink,
                                               int64_t since_revision,
                                               bool resume,
                                               std::string deployment_id) {
  WatchStream::Phase phase = WatchStream::Phase::kLive;
  if (since_revision == 0 && !resume) {
    phase = WatchStream::Phase::kNeedSnapshot;
  } else if (!Covers(since_revision)) {
    // Older than the window (the log may still hold it), or ahead of it (the
    // store decides: not there yet means a snapshot).
    phase = WatchStream::Phase::kStore;
  }
  auto stream = std::make_shared<WatchStream>(WatchStream::Private{}, this,
                                              sink, since_revision,
                                              std::move(deployment_id), phase);
  bool closed = false;
  const bool initialized = initialized_.load();
  {
    absl::MutexLock lock(&streams_mu_);
    closed = closed_;
    if (!closed && initialized) streams_.emplace(stream.get(), stream);
  }
  if (closed || !initialized) {
    absl::MutexLock lock(&stream->mu_);
    stream->ended_ = true;
    stream->phase_ = WatchStream::Phase::kDone;
    stream->pending_end_ =
        ResumeLater(closed ? "TokenService is shutting down"
                           : "TokenService cannot read its database yet",
                    since_revision);
  }
  return stream;
}

void WatchCache::Unregister(WatchStream* stream) {
  absl::MutexLock lock(&streams_mu_);
  streams_.erase(stream);
}

void WatchCache::CloseAll() {
  std::vector<std::shared_ptr<WatchStream>> all;
  {
    absl::MutexLock lock(&streams_mu_);
    closed_ = true;
    all.reserve(streams_.size());
    for (auto& [ptr, weak] : streams_) {
      if (auto stream = weak.lock()) all.push_back(std::move(stream));
    }
  }
  for (auto& stream : all) stream->Close();
}

int WatchCache::subscriber_count() const {
  absl::MutexLock lock(&streams_mu_);
  return static_cast<int>(streams_.size());
}

WatchCacheStats WatchCache::stats() const {
  WatchCacheStats stats;
  stats.watchers = subscriber_count();
  {
    absl::ReaderMutexLock lock(&mu_);
    stats.window_changes = static_cast<int64_t>(entries_.size());
    stats.window_bytes = memory_bytes_;
    stats.oldest_revision = window_base_;
    stats.newest_revision = newest_;
  }
  stats.cut_off_total = cut_off_total_.load();
  stats.tail_reads_total = tail_reads_total_.load();
  stats.catch_up_reads_total = catch_up_reads_total_.load();
  stats.snapshot_reads_total = snapshot_reads_total_.load();
  stats.changes_read_total = changes_read_total_.load();
  stats.snapshots_built_total = snapshots_built_total_.load();
  stats.snapshots_shared_total = snapshots_shared_total_.load();
  stats.snapshots_sent_total = snapshots_sent_total_.load();
  stats.last_fan_out_us = last_fan_out_us_.load();
  stats.store_ok = store_ok_.load() ? 1 : 0;
  return stats;
}

FeedMessage WatchCache::HeartbeatAt(int64_t revision) {
  absl::MutexLock lock(&heartbeat_mu_);
  if (heartbeat_ == nullptr || heartbeat_revision_ != revision) {
    v1::WatchTokensResponse message;
    message.set_kind(v1::WatchTokensResponse::HEARTBEAT);
    message.set_revision(revision);
    heartbeat_ = std::make_shared<const WireMessage>(message);
    heartbeat_revision_ = revision;
  }
  return heartbeat_;
}

// The window ------------------------------------------------------------------

bool WatchCache::Covers(int64_t position) const {
  absl::ReaderMutexLock lock(&mu_);
  return window_base_ <= position && position <= newest_;
}

int64_t WatchCache::QueuedBytes(int64_t position) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = std::upper_bound(
      entries_.begin(), entries_.end(), position,
      [](int64_t p, const Entry& entry) { return p < entry.revision; });
  return it == entries_.end() ? 0 : wire_total_ - it->wire_before;
}

WatchCache::Pull WatchCache::PullFrom(int64_t position,
                                      const std::string& deployment_id) const {
  Pull pull;
  absl::ReaderMutexLock lock(&mu_);
  if (position < window_base_) {
    pull.kind = Pull::Kind::kBehind;
    return pull;
  }
  auto it = std::upper_bound(
      entries_.begin(), entries_.end(), position,
      [](int64_t p, const Entry& entry) { return p < entry.revision; });
  pull.queued_bytes = it == entries_.end() ? 0 : wire_total_ - it->wire_before;
  for (; it != entries_.end(); ++it) {
    if (deployment_id.empty() || it->deployment_id == deployment_id) {
      pull.kind = Pull::Kind::kMessage;
      pull.message = it->message;
      pull.revision = it->revision;
      return pull;
    }
  }
  pull.kind = Pull::Kind::kCaughtUp;
  pull.revision = std::max(position, newest_);
  return pull;
}

void WatchCache::Append(std::vector<TokenChange> changes,
                        int64_t up_to_revision) {
  // Encoding happens here, once per change, outside the lock.
  std::vector<Entry> fresh;
  std::vector<int64_t> wire_sizes;
  fresh.reserve(changes.size());
  wire_sizes.reserve(changes.size());
  for (TokenChange& change : changes) {
    Entry entry;
    entry.revision = change.revision;
    entry.message = EncodeChange(change);
    entry.deployment_id = std::move(change.deployment_id);
    entry.memory_bytes =
        entry.message->memory_bytes() +
        static_cast<int64_t>(sizeof(Entry) + entry.deployment_id.capacity());
    wire_sizes.push_back(entry.message->size());
    fresh.push_back(std::move(entry));
  }
  changes_read_total_.fetch_add(static_cast<int64_t>(fresh.size()));
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < fresh.size(); ++i) {
    fresh[i].wire_before = wire_total_;
    wire_total_ += wire_sizes[i];
    memory_bytes_ += fresh[i].memory_bytes;
    entries_.push_back(std::move(fresh[i]));
  }
  newest_ = std::max(newest_, up_to_revision);
  while (!entries_.empty() &&
         (static_cast<int64_t>(entries_.size()) > options_.window_changes ||
          memory_bytes_ > options_.window_bytes)) {
    window_base_ = entries_.front().revision;
    memory_bytes_ -= entries_.front().memory_bytes;
    entries_.pop_front();
  }
  if (entries_.empty()) window_base_ = newest_;
  tail_revision_ = newest_;
}

absl::StatusOr<bool> WatchCache::ReadTail() {
  bool moved = false;
  for (;;) {
    auto batch = store_->ReadChanges(tail_revision_, "", options_.read_batch);
    tail_reads_total_.fetch_add(1);
    if (!batch.ok()) return batch.status();
    if (!batch->complete) {
      // The log no longer holds what follows the window (trimmed past it, or
      // the store went back): start the window over at the store's revision.
      // Streams behind it catch up from the log or take a snapshot.
      auto current = store_->CurrentRevision();
      tail_reads_total_.fetch_add(1);
      if (!current.ok()) return current.status();
      JsonLog("feed.window_restarted", "warn")
          .Int("after_revision", tail_revision_)
          .Int("revision", *current);
      absl::MutexLock lock(&mu_);
      entries_.clear();
      memory_bytes_ = 0;
      window_base_ = *current;
      newest_ = *current;
      tail_revision_ = *current;
      return true;
    }
    const bool more =
        static_cast<int32_t>(batch->changes.size()) >= options_.read_batch;
    if (!batch->changes.empty() || batch->up_to_revision > tail_revision_) {
      Append(std::move(batch->changes), batch->up_to_revision);
      moved = true;
    }
    if (!more) return moved;
  }
}

void WatchCache::Run() {
  absl::Duration next_heartbeat =
      clock_->Monotonic() + options_.heartbeat_interval;
  bool retry = !initialized_.load();
  for (;;) {
    bool read = false;
    bool heartbeat = false;
    {
      absl::MutexLock lock(&signal_mu_);
      auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(signal_mu_) {
        return notified_ || stopping_;
      };
      absl::Duration timeout = next_heartbeat - clock_->Monotonic();
      if (retry) timeout = std::min(timeout, options_.retry_interval);
      if (!woken() && timeout > absl::ZeroDuration()) {
        clock_->AwaitWithTimeout(&signal_mu_, absl::Condition(&woken), timeout);
      }
      if (stopping_) return;
      read = notified_ || retry;
      notified_ = false;
      const absl::Duration now = clock_->Monotonic();
      if (now >= next_heartbeat) {
        heartbeat = true;
        next_heartbeat = now + options_.heartbeat_interval;
      }
    }
    if (!initialized_.load()) {
      retry = !Initialize().ok();
      if (!retry) JsonLog("feed.store_reachable");
      continue;
    }
    bool moved = false;
    retry = false;
    if (read) {
      auto tail = ReadTail();
      if (tail.ok()) {
        moved = *tail;
        if (!store_ok_.exchange(true)) JsonLog("feed.heartbeats_resumed");
      } else {
        retry = true;
        if (store_ok_.exchange(false)) {
          // A heartbeat says "nothing newer than this revision"; with the
          // store unreadable this replica cannot know that, so verifiers
          // stop hearing from it and fail over to a replica that can.
          // Logged once per outage; the read is retried every
          // retry_interval.
          JsonLog("feed.read_failed", "warn")
              .Str("error", std::string(tail.status().message()))
              .Bool("heartbeats_paused", true);
        }
      }
    }
    if (!store_ok_.load()) heartbeat = false;
    if (moved || heartbeat) FanOut(heartbeat);
  }
}

void WatchCache::FanOut(bool heartbeat_due) {
  std::vector<std::shared_ptr<WatchStream>> all;
  {
    absl::MutexLock lock(&streams_mu_);
    all.reserve(streams_.size());
    for (auto& [ptr, weak] : streams_) {
      if (auto stream = weak.lock()) all.push_back(std::move(stream));
    }
  }
  const absl::Duration start = clock_->Monotonic();
  // Starting a write costs gRPC a few microseconds (framing, often a
  // sendmsg): with thousands of streams, wake them from several threads.
  const size_t shards = std::min<size_t>(
      static_cast<size_t>(std::max(1, options_.fan_out_threads)),
      (all.size() + kStreamsPerShard - 1) / kStreamsPerShard);
  if (shards <= 1) {
    for (auto& stream : all) stream->Wake(heartbeat_due);
  } else {
    absl::BlockingCounter done(static_cast<int>(shards - 1));
    auto wake = [&all, heartbeat_due, shards](size_t shard) {
      for (size_t i = shard; i < all.size(); i += shards) {
        all[i]->Wake(heartbeat_due);
      }
    };
    for (size_t shard = 1; shard < shards; ++shard) {
      absl::Status scheduled = pool_->Schedule([&wake, &done, shard] {
        wake(shard);
        done.DecrementCount();
      });
      if (!scheduled.ok()) {
        wake(shard);
        done.DecrementCount();
      }
    }
    wake(0);
    done.Wait();
  }
  if (!heartbeat_due) {
    last_fan_out_us_.store(
        absl::ToInt64Microseconds(clock_->Monotonic() - start));
  }
}

// WorkPool jobs ---------------------------------------------------------------

void WatchCache::ScheduleCatchUp(std::shared_ptr<WatchStream> stream,
                                 int64_t position) {
  absl::Status scheduled = pool_->Schedule([this, stream, position] {
    auto batch = store_->ReadChanges(position, stream->deployment_id_,
                                     options_.read_batch);
    catch_up_reads_total_.fetch_add(1);
    stream->CatchUpDone(std::move(batch));
  });
  if (!scheduled.ok()) {
    stream->Fail(ResumeLater("TokenService is busy", position));
  }
}

void WatchCache::ScheduleSnapshot(std::shared_ptr<WatchStream> stream) {
  std::shared_ptr<const SharedSnapshot> ready;
  bool build = false;
  const std::string& deployment_id = stream->deployment_id_;
  {
    absl::MutexLock lock(&snapshot_mu_);
    SnapshotSlot& slot = snapshots_[deployment_id];
    ready = slot.last.lock();
    // One still being sent is good while the window can take a stream on
    // from its revision; otherwise build a newer one.
    if (ready != nullptr && !Covers(ready->revision)) ready.reset();
    if (ready == nullptr) {
      slot.waiting.push_back(stream);
      if (!slot.building) {
        slot.building = true;
        build = true;
      }
    }
  }
  if (ready != nullptr) {
    snapshots_shared_total_.fetch_add(1);
    stream->SnapshotReady(std::move(ready));
    return;
  }
  if (!build) return;  // Joins the build in progress.
  absl::Status scheduled =
      pool_->Schedule([this, deployment_id] { BuildSnapshot(deployment_id); });
  if (!scheduled.ok()) {
    std::vector<std::shared_ptr<WatchStream>> waiting;
    {
      absl::MutexLock lock(&snapshot_mu_);
      SnapshotSlot& slot = snapshots_[deployment_id];
      slot.building = false;
      waiting.swap(slot.waiting);
    }
    for (auto& w : waiting) w->Fail(ResumeLater("TokenService is busy", 0));
  }
}

void WatchCache::BuildSnapshot(const std::string& deployment_id) {
  auto snapshot = store_->ReadSnapshot(deployment_id);
  snapshot_reads_total_.fetch_add(1);
  std::shared_ptr<SharedSnapshot> built;
  if (snapshot.ok()) {
    built = std::make_shared<SharedSnapshot>();
    built->revision = snapshot->revision;
    // Tokens, then revoked values, `snapshot_chunk` entries per message.
    const size_t tokens = snapshot->tokens.size();
    const size_t total = tokens + snapshot->revoked.size();
    const size_t chunk =
        static_cast<size_t>(std::max(1, options_.snapshot_chunk));
    size_t at = 0;
    do {
      v1::WatchTokensResponse message;
      message.set_kind(v1::WatchTokensResponse::SNAPSHOT);
      message.set_revision(snapshot->revision);
      message.set_reset(at == 0);
      const size_t end = std::min(total, at + chunk);
      for (; at < end; ++at) {
        if (at < tokens) {
          ToProto(snapshot->tokens[at], message.add_changes());
        } else {
          ToProto(snapshot->revoked[at - tokens], message.add_revoked());
        }
      }
      message.set_snapshot_complete(at == total);
      built->chunks.push_back(std::make_shared<const WireMessage>(message));
    } while (at < total);
    snapshot->tokens.clear();
    snapshot->revoked.clear();
    snapshots_built_total_.fetch_add(1);
  }
  std::vector<std::shared_ptr<WatchStream>> waiting;
  {
    absl::MutexLock lock(&snapshot_mu_);
    SnapshotSlot& slot = snapshots_[deployment_id];
    slot.building = false;
    waiting.swap(slot.waiting);
    if (built != nullptr) slot.last = built;
  }
  if (built == nullptr) {
    for (auto& w : waiting) {
      w->Fail(ResumeLater("change feed: store unavailable", 0));
    }
    return;
  }
  if (waiting.size() > 1) {
    snapshots_shared_total_.fetch_add(static_cast<int64_t>(waiting.size()) - 1);
  }
  for (auto& w : waiting) w->SnapshotReady(built);
}

}  // namespace tokens
