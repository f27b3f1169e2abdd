// WatchCache: the change feed's watch cache. One reader takes each committed
// change from the store once, keeps a window of recent changes in memory and
// serves every WatchTokens stream from it (docs/design.md, "The change feed and
// the watch cache"; Kubernetes' API server calls the same idea a watch cache).
//
//   * The reader is the cache's own thread. TokenManager calls Notify after a
//     commit; the reader then asks the store for the changes after the newest
//     one it holds (TokenStore::ReadChanges, unfiltered): one store read per
//     commit (or per batch of commits) whatever the number of watchers.
//   * Each change is converted to its wire message (a CHANGES response with
//     that one change) and serialized once, into a refcounted slice
//     (WireMessage); every stream that sends it writes those same bytes
//     (gRPC refs the slice, no copy, no serialization per stream). The window
//     is bounded by a count of changes and by bytes; the oldest leave first.
//     Heartbeats at one revision and snapshot chunks are shared the same way.
//   * A stream is a position (the last revision it sent) over the window, not a
//     queue: it sends the next matching entry whenever its previous write is
//     done, so a slow stream delays only itself, and a writer never waits for
//     any stream. After a read the reader wakes the idle streams (past 256
//     streams from up to fan_out_threads threads, WorkPool ones included:
//     starting a write costs gRPC and the kernel microseconds). Its queued
//     bytes are the wire bytes of the window after its position; past
//     `max_queued_bytes` it is ended with RESOURCE_EXHAUSTED and the revision
//     to resume from.
//   * A stream that resumes from a revision inside the window reads no store.
//     Older but still in the store's change log: it reads that part of the log
//     (ReadChanges with its filter) in batches on the WorkPool until it reaches
//     the window. Older than the log, ahead of the store, or since_revision 0
//     without `resume`: a snapshot, built on the WorkPool, once per Deployment
//     filter for every stream that needs it meanwhile, and shared by them
//     (weak_ptr in the cache, shared_ptr in each stream sending it).
//   * The deployment_id filter: a filtered stream steps over other Deployments'
//     entries without writing them; it gets its own Deployment's changes and
//     heartbeats.
//   * Heartbeats: every heartbeat_interval of the injected Clock's monotonic
//     time, each caught-up idle stream writes one small message carrying its
//     revision. No store read. A heartbeat claims "nothing newer than this
//     revision", so none is sent while the reader's last store read failed
//     (a replica cut off from its database): its verifiers then fail over to
//     a replica that can read it.
//
// Store calls run on the cache's thread or the WorkPool, never on a caller's
// (gRPC callback) thread. Depends only on TokenStore, so a replica tailing
// PostgreSQL uses it unchanged.
//
// Thread-safe. Lock order: WatchStream::mu_, then snapshot_mu_, then mu_ (and
// streams_mu_, signal_mu_, heartbeat_mu_ are leaves). The store, clock and pool
// must outlive the cache; Stop (or the destructor) joins the reader.
#ifndef SERVICES_WATCH_CACHE_H_
#define SERVICES_WATCH_CACHE_H_

#include <grpcpp/support/byte_buffer.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "proto/tokens/v1/tokens.pb.h"
#include "services/change_feed.h"
#include "services/work_pool.h"
#include "storage/token_store.h"

namespace tokens {

struct WatchCacheOptions {
  // The window: at most this many changes and this many bytes (the messages'
  // memory as protobuf reports it, plus a fixed overhead per entry).
  int64_t window_changes = 100000;
  int64_t window_bytes = 64 << 20;
  // A stream whose unsent part of the window exceeds this many wire bytes is
  // ended with RESOURCE_EXHAUSTED.
  int64_t max_queued_bytes = 8 << 20;
  absl::Duration heartbeat_interval = absl::Seconds(1);
  // Changes per store read (the reader's and a catching-up stream's), and
  // tokens per snapshot message.
  int32_t read_batch = 1000;
  int32_t snapshot_chunk = 1000;
  // Threads that wake streams after a change (the reader and WorkPool
  // threads), once there are enough streams to share.
  int fan_out_threads = 4;
  // How long the reader waits before it retries a store read that failed.
  absl::Duration retry_interval = absl::Milliseconds(100);
};

// What the cache holds and has done, for /metrics. Counters only grow.
struct WatchCacheStats {
  int64_t watchers = 0;
  int64_t window_changes = 0;
  int64_t window_bytes = 0;
  // Every change with oldest < revision <= newest is in the window (oldest ==
  // newest: it is empty).
  int64_t oldest_revision = 0;
  int64_t newest_revision = 0;
  int64_t cut_off_total = 0;
  // Store reads by the reader (one per commit or batch of commits), by streams
  // catching up from the change log, and for snapshots.
  int64_t tail_reads_total = 0;
  int64_t catch_up_reads_total = 0;
  int64_t snapshot_reads_total = 0;
  int64_t changes_read_total = 0;
  int64_t snapshots_built_total = 0;
  int64_t snapshots_shared_total = 0;  // Streams given an already built one.
  int64_t snapshots_sent_total = 0;
  // How long the last change took to hand to every stream (waking each and
  // starting its write), in microseconds.
  int64_t last_fan_out_us = 0;
  // 1 while the last store read succeeded (streams are served and
  // heartbeats sent), 0 while the store cannot be read.
  int64_t store_ok = 0;
};

// A WatchTokensResponse serialized once, in one refcounted slice, and never
// changed: gRPC writes the same bytes for every stream that sends it (a
// ByteBuffer copy only refs the slice). Thread-safe (immutable).
class WireMessage {
 public:
  explicit WireMessage(const v1::WatchTokensResponse& message);

  const grpc::ByteBuffer& bytes() const { return bytes_; }
  // Wire bytes, and the memory this object holds.
  int64_t size() const { return size_; }
  int64_t memory_bytes() const;
  // Decodes the bytes again (tests and tools); false when they do not parse.
  bool Parse(v1::WatchTokensResponse* message) const;

 private:
  grpc::ByteBuffer bytes_;
  int64_t size_ = 0;
};

using FeedMessage = std::shared_ptr<const WireMessage>;

// Where a WatchStream's messages go: the gRPC reactor, or a test's fake.
class WatchSink {
 public:
  virtual ~WatchSink() = default;
  // Starts writing `message` (valid until the sink calls
  // WatchStream::WriteDone, which it must do exactly once per write). Never
  // called with a write in flight, nor with the stream's lock held.
  virtual void Write(const WireMessage* message) = 0;
  // Ends the stream. Called once, with no write in flight; nothing else is
  // called after it.
  virtual void End(const absl::Status& status) = 0;
};

// A snapshot in wire form: its chunks, shared by every stream sending it.
struct SharedSnapshot {
  int64_t revision = 0;
  std::vector<FeedMessage> chunks;  // At least one.
};

class WatchCache;

// One watcher: its position, the snapshot it is sending and its one write in
// flight. Created by WatchCache::Watch; shared by the cache, the sink's owner
// and WorkPool jobs. Thread-safe.
class WatchStream : public std::enable_shared_from_this<WatchStream> {
 public:
  // The sink finished the write Write started; `ok` false when the stream is
  // broken (the stream then ends with CANCELLED).
  void WriteDone(bool ok);
  // The peer went away (or the call was cancelled): end the stream.
  void Cancel();
  // The service is shutting down: end with UNAVAILABLE.
  void Close();
  // After the sink's End has completed (gRPC's OnDone): forget the sink and
  // leave the cache. No sink call follows.
  void Detach();

  // The last revision handed to the sink (the one a verifier would resume
  // from), and how many messages were.
  int64_t revision() const;
  int64_t messages() const;

  // Starts sending (the first write may start before this returns). Called
  // once, by whoever called WatchCache::Watch, when the sink is ready for
  // WriteDone calls.
  void Start();

  // Public for std::make_shared; use WatchCache::Watch.
  struct Private {};
  enum class Phase {
    kLive,          // Sending from the window.
    kStore,         // Catching up from the change log (catch_up_).
    kNeedSnapshot,  // Waiting for a snapshot.
    kSnapshot,      // Sending snapshot_'s chunks.
    kDone,
  };
  WatchStream(Private, WatchCache* cache, WatchSink* sink, int64_t position,
              std::string deployment_id, Phase phase);

 private:
  friend class WatchCache;

  // Starts the next write (or store job) if none is in flight. Takes mu_.
  void Pump();
  // Under mu_: records the end; the caller passes the returned status (if any)
  // to the sink after unlocking.
  std::optional<absl::Status> EndLocked(absl::Status status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The end recorded by EndLocked, once nothing is in flight any more (a
  // write, or a WorkPool job that still holds the stream).
  std::optional<absl::Status> TakeEndLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status FellBehind(int64_t queued) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The reader's wake-up: a change arrived or a heartbeat is due.
  void Wake(bool heartbeat_due);
  // Results of WorkPool jobs.
  void CatchUpDone(absl::StatusOr<ChangeBatch> batch);
  void SnapshotReady(std::shared_ptr<const SharedSnapshot> snapshot);
  void Fail(const absl::Status& status);

  WatchCache* const cache_;
  const std::string deployment_id_;

  mutable absl::Mutex mu_;
  WatchSink* sink_ ABSL_GUARDED_BY(mu_);
  Phase phase_ ABSL_GUARDED_BY(mu_);
  int64_t position_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool job_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool heartbeat_due_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  // How the stream ends, until nothing is in flight.
  std::optional<absl::Status> pending_end_ ABSL_GUARDED_BY(mu_);
  int64_t messages_ ABSL_GUARDED_BY(mu_) = 0;
  // What is in flight (kept alive until WriteDone).
  FeedMessage in_flight_ ABSL_GUARDED_BY(mu_);
  // A snapshot being sent, and the next chunk.
  std::shared_ptr<const SharedSnapshot> snapshot_ ABSL_GUARDED_BY(mu_);
  size_t next_chunk_ ABSL_GUARDED_BY(mu_) = 0;
  // The last catch-up read, waiting to be written.
  std::optional<ChangeBatch> catch_up_ ABSL_GUARDED_BY(mu_);
};

class WatchCache : public ChangeFeed {
 public:
  WatchCache(TokenStore* store, Clock* clock, WorkPool* pool,
             WatchCacheOptions options = {});
  ~WatchCache() override;  // Stops.
  WatchCache(const WatchCache&) = delete;
  WatchCache& operator=(const WatchCache&) = delete;

  // Reads the store's revision and the retained changes the window can hold,
  // then starts the reader. A store that is Unavailable (a database that is
  // down) is no error: the reader retries every retry_interval, and streams
  // opened meanwhile end at once with UNAVAILABLE. Other errors are the
  // store's (Internal).
  absl::Status Start();
  // Joins the reader. Idempotent.
  void Stop();

  // A change committed: the reader reads it soon. Never blocks.
  void Notify() override;

  // Opens a stream writing to `sink`; it sends nothing until its Start.
  // `resume`: since_revision is a revision the verifier
  // has applied, even 0. Without it since_revision 0 asks for a snapshot (the
  // protocol's old rule, which every verifier before `resume` relies on).
  std::shared_ptr<WatchStream> Watch(WatchSink* sink, int64_t since_revision,
                                     bool resume, std::string deployment_id);

  // Ends every stream with UNAVAILABLE (shutdown); streams opened afterwards
  // end at once.
  void CloseAll();

  int subscriber_count() const;
  WatchCacheStats stats() const;
  const WatchCacheOptions& options() const { return options_; }
  Clock* clock() const { return clock_; }

 private:
  friend class WatchStream;

  struct Entry {
    int64_t revision = 0;
    std::string deployment_id;
    FeedMessage message;
    int64_t memory_bytes = 0;
    // Wire bytes of every entry before this one since the cache started.
    int64_t wire_before = 0;
  };

  // What a stream at `position` sends next from the window.
  struct Pull {
    enum class Kind { kMessage, kCaughtUp, kBehind } kind = Kind::kCaughtUp;
    FeedMessage message;
    int64_t revision = 0;      // The message's, or the newest when caught up.
    int64_t queued_bytes = 0;  // Wire bytes in the window after `position`.
  };
  Pull PullFrom(int64_t position, const std::string& deployment_id) const;
  int64_t QueuedBytes(int64_t position) const;
  // Whether the window holds every change after `position`.
  bool Covers(int64_t position) const;

  // The HEARTBEAT message at `revision`, shared by every stream that sends
  // one at that revision (built once per revision).
  FeedMessage HeartbeatAt(int64_t revision);

  // The first read of the store (Start, then the reader until it succeeds).
  absl::Status Initialize();
  void Run();
  // Reads every change after tail_revision_ into the window; true when the
  // window moved.
  absl::StatusOr<bool> ReadTail();
  void Append(std::vector<TokenChange> changes, int64_t up_to_revision);
  void FanOut(bool heartbeat_due);

  // WorkPool jobs for one stream.
  void ScheduleCatchUp(std::shared_ptr<WatchStream> stream, int64_t position);
  void ScheduleSnapshot(std::shared_ptr<WatchStream> stream);
  void BuildSnapshot(const std::string& deployment_id);
  void Unregister(WatchStream* stream);

  TokenStore* const store_;
  Clock* const clock_;
  WorkPool* const pool_;
  const WatchCacheOptions options_;

  // The window.
  mutable absl::Mutex mu_;
  std::deque<Entry> entries_ ABSL_GUARDED_BY(mu_);
  int64_t window_base_ ABSL_GUARDED_BY(mu_) = 0;  // oldest_revision
  int64_t newest_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t memory_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t wire_total_ ABSL_GUARDED_BY(mu_) = 0;
  // The reader's own copy of newest_ (only the reader thread moves it).
  int64_t tail_revision_ = 0;

  // The reader's wake-ups.
  absl::Mutex signal_mu_;
  bool notified_ ABSL_GUARDED_BY(signal_mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(signal_mu_) = false;
  std::thread reader_;

  mutable absl::Mutex streams_mu_;
  absl::flat_hash_map<WatchStream*, std::weak_ptr<WatchStream>> streams_
      ABSL_GUARDED_BY(streams_mu_);
  bool closed_ ABSL_GUARDED_BY(streams_mu_) = false;

  // Snapshots by Deployment filter ("" = all): the last one built (alive while
  // a stream sends it) and the streams waiting for one being built.
  struct SnapshotSlot {
    std::weak_ptr<const SharedSnapshot> last;
    bool building = false;
    std::vector<std::shared_ptr<WatchStream>> waiting;
  };
  absl::Mutex snapshot_mu_;
  absl::flat_hash_map<std::string, SnapshotSlot> snapshots_
      ABSL_GUARDED_BY(snapshot_mu_);

  // The last heartbeat built (a leaf lock).
  absl::Mutex heartbeat_mu_;
  FeedMessage heartbeat_ ABSL_GUARDED_BY(heartbeat_mu_);
  int64_t heartbeat_revision_ ABSL_GUARDED_BY(heartbeat_mu_) = 0;

  // Set once Initialize succeeded; streams are refused before.
  std::atomic<bool> initialized_{false};
  // False while the last tail read failed: no heartbeats then.
  std::atomic<bool> store_ok_{false};
  std::atomic<int64_t> cut_off_total_{0};
  std::atomic<int64_t> tail_reads_total_{0};
  std::atomic<int64_t> catch_up_reads_total_{0};
  std::atomic<int64_t> snapshot_reads_total_{0};
  std::atomic<int64_t> changes_read_total_{0};
  std::atomic<int64_t> snapshots_built_total_{0};
  std::atomic<int64_t> snapshots_shared_total_{0};
  std::atomic<int64_t> snapshots_sent_total_{0};
  std::atomic<int64_t> last_fan_out_us_{0};
};

}  // namespace tokens

#endif  // SERVICES_WATCH_CACHE_H_
