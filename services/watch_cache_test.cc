// The watch cache against an in-memory TokenStore and fake sinks, on a
// FakeClock: no gRPC, no sleeps. Tests wait for conditions (with a generous
// real-time bound that only a hang would reach).
#include "services/watch_cache.h"

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/fake_clock.h"
#include "gtest/gtest.h"
#include "services/work_pool.h"

namespace tokens {
namespace {

constexpr absl::Duration kHang = absl::Seconds(30);

// Changes, a live-token table and a retention horizon, in memory, with the
// semantics of SqliteTokenStore's feed reads. Only the feed's methods work.
class MemoryStore : public TokenStore {
 public:
  // While set, reads fail with Unavailable (a database that is down).
  std::atomic<bool> down{false};

  int64_t Upsert(const std::string& id, const std::string& deployment) {
    absl::MutexLock lock(&mu_);
    TokenChange change;
    change.revision = ++revision_;
    change.type = TokenChange::Type::kUpsert;
    change.token_id = id;
    change.deployment_id = deployment;
    change.digest[0] = static_cast<uint8_t>(revision_);
    log_.push_back(change);
    live_[id] = change;
    return revision_;
  }
  int64_t Remove(const std::string& id) {
    absl::MutexLock lock(&mu_);
    TokenChange change;
    change.revision = ++revision_;
    change.type = TokenChange::Type::kDelete;
    change.token_id = id;
    change.deployment_id = live_[id].deployment_id;
    RevokedValue revoked;
    revoked.digest = live_[id].digest;
    revoked.token_id = id;
    revoked.deployment_id = change.deployment_id;
    revoked.revoke_time = absl::FromUnixSeconds(1767225600);
    change.revoked.push_back(revoked);
    revoked_.push_back(revoked);
    log_.push_back(change);
    live_.erase(id);
    return revision_;
  }
  // Forgets the changes up to `revision` (as retention does).
  void Trim(int64_t revision) {
    absl::MutexLock lock(&mu_);
    trimmed_through_ = revision;
  }
  // ReadSnapshot blocks until Release.
  void HoldSnapshots() { hold_ = std::make_unique<absl::Notification>(); }
  void Release() { hold_->Notify(); }

  int read_changes_calls() const {
    absl::MutexLock lock(&mu_);
    return read_changes_calls_;
  }

  absl::StatusOr<ChangeBatch> ReadChanges(int64_t since_revision,
                                          const std::string& deployment_id,
                                          int32_t limit) override {
    if (down.load()) return absl::UnavailableError("database unreachable");
    absl::MutexLock lock(&mu_);
    ++read_changes_calls_;
    ChangeBatch batch;
    if (since_revision > revision_ || since_revision < trimmed_through_) {
      batch.complete = false;
      return batch;
    }
    batch.up_to_revision = revision_;
    for (const TokenChange& change : log_) {
      if (change.revision <= since_revision) continue;
      if (!deployment_id.empty() && change.deployment_id != deployment_id) {
        continue;
      }
      batch.changes.push_back(change);
      if (static_cast<int32_t>(batch.changes.size()) == limit) {
        batch.up_to_revision = change.revision;
        break;
      }
    }
    return batch;
  }
  absl::StatusOr<Snapshot> ReadSnapshot(
      const std::string& deployment_id) override {
    if (hold_ != nullptr) hold_->WaitForNotification();
    absl::MutexLock lock(&mu_);
    Snapshot snapshot;
    snapshot.revision = revision_;
    for (const auto& [id, change] : live_) {
      if (deployment_id.empty() || change.deployment_id == deployment_id) {
        snapshot.tokens.push_back(change);
      }
    }
    for (const RevokedValue& value : revoked_) {
      if (deployment_id.empty() || value.deployment_id == deployment_id) {
        snapshot.revoked.push_back(value);
      }
    }
    return snapshot;
  }
  absl::StatusOr<int64_t> CurrentRevision() override {
    if (down.load()) return absl::UnavailableError("database unreachable");
    absl::MutexLock lock(&mu_);
    return revision_;
  }

  absl::StatusOr<int64_t> Create(const TokenRecord&,
                                 const AuditEntry&) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<TokenRecord> Get(const std::string&) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<TokenRecord> FindByDigest(const Digest&, absl::Time) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<TokenPage> List(const ListQuery&) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<TokenRecord> Update(const std::string&, const TokenUpdate&,
                                     const AuditEntry&) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<TokenRecord> Rotate(const std::string&, const Rotation&,
                                     const AuditEntry&) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<int64_t> Delete(const std::string&,
                                 const AuditEntry&) override {
    return absl::UnimplementedError("");
  }
  absl::Status RecordAudit(const AuditEntry&) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<std::vector<AuditEntry>> ListAudit(const std::string&, int64_t,
                                                    int32_t) override {
    return absl::UnimplementedError("");
  }
  absl::Status RecordUsage(const std::vector<TokenUsageRecord>&) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<ReuseOutcome> RecordReuse(const ReuseSighting&,
                                           const AuditEntry&) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<std::vector<ExpiryNotice>> RecordExpiryNotices(
      absl::Time, const std::vector<int32_t>&, const std::string&) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<int64_t> CountTokensExpiringBefore(absl::Time) override {
    return absl::UnimplementedError("");
  }
  absl::StatusOr<std::vector<PendingNotification>> ClaimNotifications(
      absl::Time, absl::Duration, int32_t) override {
    return absl::UnimplementedError("");
  }
  absl::Status CompleteNotification(int64_t) override {
    return absl::UnimplementedError("");
  }
  absl::Status RetryNotification(int64_t, absl::Time) override {
    return absl::UnimplementedError("");
  }

 private:
  mutable absl::Mutex mu_;
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t trimmed_through_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<TokenChange> log_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, TokenChange> live_ ABSL_GUARDED_BY(mu_);
  std::vector<RevokedValue> revoked_ ABSL_GUARDED_BY(mu_);
  int read_changes_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<absl::Notification> hold_;
};

// Records what a stream writes. With auto_ack each write completes at once
// (on `acks`, never inline); otherwise the test calls Ack.
class FakeSink : public WatchSink {
 public:
  FakeSink(WorkPool* acks, bool auto_ack) : acks_(acks), auto_ack_(auto_ack) {}

  void Attach(std::shared_ptr<WatchStream> stream) { stream_ = stream; }
  WatchStream* stream() const { return stream_.get(); }

  void Write(const WireMessage* message) override {
    std::shared_ptr<WatchStream> stream;
    WorkPool* acks = acks_;
    v1::WatchTokensResponse decoded;
    EXPECT_TRUE(message->Parse(&decoded));
    EXPECT_EQ(message->size(), static_cast<int64_t>(decoded.ByteSizeLong()));
    {
      absl::MutexLock lock(&mu_);
      received_.push_back(std::move(decoded));
      pointers_.push_back(message);
      if (auto_ack_) {
        stream = stream_;
      } else {
        in_flight_ = true;
      }
    }
    // Nothing of this sink is touched from here on: once the write is done the
    // stream may end and the test may destroy the sink.
    if (stream != nullptr) {
      ASSERT_TRUE(acks->Schedule([stream] { stream->WriteDone(true); }).ok());
    }
  }
  void End(const absl::Status& status) override {
    absl::MutexLock lock(&mu_);
    ended_ = status;
  }

  // Completes the write in flight.
  void Ack() {
    {
      absl::MutexLock lock(&mu_);
      if (!in_flight_) return;
      in_flight_ = false;
    }
    std::shared_ptr<WatchStream> stream = stream_;
    ASSERT_TRUE(acks_->Schedule([stream] { stream->WriteDone(true); }).ok());
  }

  // Waits (up to kHang) until `done` holds for the messages received so far.
  bool WaitFor(
      const std::function<bool(const std::vector<v1::WatchTokensResponse>&)>&
          done) {
    absl::MutexLock lock(&mu_);
    auto holds = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return done(received_);
    };
    return mu_.AwaitWithTimeout(absl::Condition(&holds), kHang);
  }
  // Waits until the stream has ended; returns how.
  absl::Status WaitForEnd() {
    absl::MutexLock lock(&mu_);
    auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return ended_.has_value();
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&ended), kHang)) {
      return absl::DeadlineExceededError("never ended");
    }
    return *ended_;
  }
  bool ended() const {
    absl::MutexLock lock(&mu_);
    return ended_.has_value();
  }
  std::vector<v1::WatchTokensResponse> received() const {
    absl::MutexLock lock(&mu_);
    return received_;
  }
  std::vector<const void*> pointers() const {
    absl::MutexLock lock(&mu_);
    return pointers_;
  }

 private:
  WorkPool* const acks_;
  const bool auto_ack_;
  std::shared_ptr<WatchStream> stream_;
  mutable absl::Mutex mu_;
  std::vector<v1::WatchTokensResponse> received_ ABSL_GUARDED_BY(mu_);
  std::vector<const void*> pointers_ ABSL_GUARDED_BY(mu_);
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<absl::Status> ended_ ABSL_GUARDED_BY(mu_);
};

// The revisions of the changes in `messages`, in order.
std::vector<int64_t> ChangeRevisions(
    const std::vector<v1::WatchTokensResponse>& messages) {
  std::vector<int64_t> revisions;
  for (const auto& m : messages) {
    if (m.kind() != v1::WatchTokensResponse::CHANGES) continue;
    for (const auto& c : m.changes()) revisions.push_back(c.revision());
  }
  return revisions;
}

std::vector<int64_t> Range(int64_t first, int64_t last) {
  std::vector<int64_t> out;
  for (int64_t r = first; r <= last; ++r) out.push_back(r);
  return out;
}

bool HasRevision(const std::vector<v1::WatchTokensResponse>& messages,
                 int64_t revision) {
  for (const auto& m : messages) {
    if (m.kind() == v1::WatchTokensResponse::CHANGES &&
        m.revision() >= revision) {
      return true;
    }
  }
  return false;
}

class WatchCacheTest : public ::testing::Test {
 protected:
  void StartCache(WatchCacheOptions options = {}) {
    cache_ = std::make_unique<WatchCache>(&store_, &clock_, &pool_, options);
    ASSERT_TRUE(cache_->Start().ok());
  }

  FakeSink* Open(int64_t since, bool resume, const std::string& deployment,
                 bool auto_ack = true) {
    sinks_.push_back(std::make_unique<FakeSink>(&acks_, auto_ack));
    FakeSink* sink = sinks_.back().get();
    sink->Attach(cache_->Watch(sink, since, resume, deployment));
    sink->stream()->Start();
    return sink;
  }

  // Commits have happened: tell the cache, wait until it has read them.
  void NotifyAndWait() {
    const int64_t revision = store_.CurrentRevision().value();
    cache_->Notify();
    // The reader runs on its own thread: poll its stats (the sleep paces the
    // polling; no time needs to pass).
    const absl::Time hang = absl::Now() + kHang;
    while (cache_->stats().newest_revision < revision) {
      ASSERT_LT(absl::Now(), hang);
      absl::SleepFor(absl::Milliseconds(1));
    }
  }

  void TearDown() override {
    for (auto& sink : sinks_) {
      sink->stream()->Cancel();
      sink->Ack();
    }
    for (auto& sink : sinks_) {
      EXPECT_FALSE(absl::IsDeadlineExceeded(sink->WaitForEnd()));
      sink->stream()->Detach();
    }
    cache_.reset();
  }

  MemoryStore store_;
  FakeClock clock_;
  WorkPool pool_{4, 10000};
  WorkPool acks_{2, 100000};
  std::unique_ptr<WatchCache> cache_;
  std::vector<std::unique_ptr<FakeSink>> sinks_;
};

TEST_F(WatchCacheTest, WindowKeepsTheNewestChangesByCount) {
  WatchCacheOptions options;
  options.window_changes = 3;
  StartCache(options);
  for (int i = 0; i < 5; ++i) store_.Upsert("tok_" + std::to_string(i), "a");
  NotifyAndWait();
  const WatchCacheStats stats = cache_->stats();
  EXPECT_EQ(stats.window_changes, 3);
  EXPECT_EQ(stats.oldest_revision, 2);  // Holds 3, 4, 5.
  EXPECT_EQ(stats.newest_revision, 5);
}

TEST_F(WatchCacheTest, WindowKeepsTheNewestChangesByBytes) {
  StartCache();
  store_.Upsert("tok_0", "a");
  NotifyAndWait();
  const int64_t one = cache_->stats().window_bytes;
  ASSERT_GT(one, 0);
  cache_.reset();

  WatchCacheOptions options;
  options.window_bytes = 2 * one + one / 2;  // Room for two entries.
  StartCache(options);
  for (int i = 1; i < 6; ++i) store_.Upsert("tok_" + std::to_string(i), "a");
  NotifyAndWait();
  const WatchCacheStats stats = cache_->stats();
  EXPECT_EQ(stats.window_changes, 2);
  EXPECT_LE(stats.window_bytes, options.window_bytes);
  EXPECT_EQ(stats.oldest_revision, 4);
  EXPECT_EQ(stats.newest_revision, 6);
}

TEST_F(WatchCacheTest, StartFillsTheWindowFromTheRetainedLog) {
  for (int i = 0; i < 4; ++i) store_.Upsert("tok_" + std::to_string(i), "a");
  StartCache();
  const WatchCacheStats stats = cache_->stats();
  EXPECT_EQ(stats.window_changes, 4);
  EXPECT_EQ(stats.oldest_revision, 0);
  EXPECT_EQ(stats.newest_revision, 4);
}

TEST_F(WatchCacheTest, ResumeInsideTheWindowReadsNoStore) {
  StartCache();
  for (int i = 0; i < 5; ++i) store_.Upsert("tok_" + std::to_string(i), "a");
  NotifyAndWait();
  const int reads = store_.read_changes_calls();
  FakeSink* sink = Open(2, /*resume=*/true, "");
  ASSERT_TRUE(sink->WaitFor([](const auto& m) { return HasRevision(m, 5); }));
  EXPECT_EQ(ChangeRevisions(sink->received()), Range(3, 5));
  EXPECT_EQ(store_.read_changes_calls(), reads);
  EXPECT_EQ(cache_->stats().catch_up_reads_total, 0);
  EXPECT_EQ(cache_->stats().snapshot_reads_total, 0);
}

TEST_F(WatchCacheTest, ResumeOlderThanTheWindowReadsTheRetainedLog) {
  WatchCacheOptions options;
  options.window_changes = 2;
  options.read_batch = 2;  // Several catch-up reads.
  StartCache(options);
  for (int i = 0; i < 8; ++i) store_.Upsert("tok_" + std::to_string(i), "a");
  NotifyAndWait();
  FakeSink* sink = Open(1, /*resume=*/true, "");
  ASSERT_TRUE(sink->WaitFor([](const auto& m) { return HasRevision(m, 8); }));
  EXPECT_EQ(ChangeRevisions(sink->received()), Range(2, 8));
  for (const auto& m : sink->received()) {
    EXPECT_NE(m.kind(), v1::WatchTokensResponse::SNAPSHOT);
  }
  EXPECT_GE(cache_->stats().catch_up_reads_total, 3);
  EXPECT_EQ(cache_->stats().snapshot_reads_total, 0);
}

TEST_F(WatchCacheTest, ResumeOlderThanTheLogGetsASnapshot) {
  WatchCacheOptions options;
  options.window_changes = 2;
  StartCache(options);
  for (int i = 0; i < 6; ++i) store_.Upsert("tok_" + std::to_string(i), "a");
  store_.Remove("tok_0");
  store_.Trim(4);
  NotifyAndWait();
  FakeSink* sink = Open(1, /*resume=*/true, "");
  ASSERT_TRUE(sink->WaitFor([](const auto& m) {
    return !m.empty() && m.back().snapshot_complete();
  }));
  const auto messages = sink->received();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].kind(), v1::WatchTokensResponse::SNAPSHOT);
  EXPECT_TRUE(messages[0].reset());
  EXPECT_EQ(messages[0].revision(), 7);
  EXPECT_EQ(messages[0].changes_size(), 5);
  EXPECT_EQ(sink->stream()->revision(), 7);
}

TEST_F(WatchCacheTest, ResumeAheadOfTheStoreGetsASnapshot) {
  StartCache();
  store_.Upsert("tok_0", "a");
  NotifyAndWait();
  FakeSink* sink = Open(40, /*resume=*/true, "");
  ASSERT_TRUE(sink->WaitFor([](const auto& m) {
    return !m.empty() && m.back().snapshot_complete();
  }));
  EXPECT_EQ(sink->received().back().revision(), 1);
}

TEST_F(WatchCacheTest, RevisionZeroOfAnEmptyStoreResumesLikeAnyOther) {
  StartCache();
  // An old verifier (no `resume`): since_revision 0 still means a snapshot,
  // which on an empty store carries revision 0.
  FakeSink* fresh = Open(0, /*resume=*/false, "");
  ASSERT_TRUE(fresh->WaitFor([](const auto& m) { return !m.empty(); }));
  const auto first = fresh->received().front();
  EXPECT_EQ(first.kind(), v1::WatchTokensResponse::SNAPSHOT);
  EXPECT_TRUE(first.reset());
  EXPECT_TRUE(first.snapshot_complete());
  EXPECT_EQ(first.revision(), 0);

  // A verifier that applied that snapshot resumes from 0: a heartbeat, no
  // snapshot, no store read.
  const int reads = store_.read_changes_calls();
  FakeSink* resumed = Open(0, /*resume=*/true, "");
  ASSERT_TRUE(resumed->WaitFor([](const auto& m) { return !m.empty(); }));
  EXPECT_EQ(resumed->received().front().kind(),
            v1::WatchTokensResponse::HEARTBEAT);
  EXPECT_EQ(resumed->received().front().revision(), 0);
  EXPECT_EQ(store_.read_changes_calls(), reads);
  EXPECT_EQ(cache_->stats().snapshots_built_total, 1);

  // And it gets the first change when it comes.
  store_.Upsert("tok_0", "a");
  NotifyAndWait();
  ASSERT_TRUE(
      resumed->WaitFor([](const auto& m) { return HasRevision(m, 1); }));
  EXPECT_EQ(ChangeRevisions(resumed->received()), Range(1, 1));
}

TEST_F(WatchCacheTest, FilteredStreamGetsOnlyItsDeploymentAndHeartbeats) {
  StartCache();
  FakeSink* mine = Open(0, /*resume=*/true, "a");
  ASSERT_TRUE(mine->WaitFor([](const auto& m) { return !m.empty(); }));
  store_.Upsert("tok_a1", "a");
  store_.Upsert("tok_b1", "b");
  store_.Upsert("tok_b2", "b");
  store_.Upsert("tok_a2", "a");
  store_.Upsert("tok_b3", "b");
  NotifyAndWait();
  ASSERT_TRUE(mine->WaitFor([](const auto& m) { return HasRevision(m, 4); }));
  EXPECT_EQ(ChangeRevisions(mine->received()), (std::vector<int64_t>{1, 4}));
  for (const auto& m : mine->received()) {
    for (const auto& c : m.changes()) EXPECT_EQ(c.deployment_id(), "a");
  }
  // Its heartbeat carries the newest revision, past other Deployments'.
  clock_.AwaitWaiters(1);
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(mine->WaitFor([](const auto& m) {
    return m.back().kind() == v1::WatchTokensResponse::HEARTBEAT &&
           m.back().revision() == 5;
  }));
}

TEST_F(WatchCacheTest, HeartbeatsFollowTheClockWithoutStoreReads) {
  StartCache();
  std::vector<FakeSink*> sinks;
  for (int i = 0; i < 20; ++i) sinks.push_back(Open(0, true, ""));
  for (FakeSink* sink : sinks) {
    ASSERT_TRUE(sink->WaitFor([](const auto& m) { return m.size() == 1; }));
  }
  const int reads = store_.read_changes_calls();
  for (int beat = 2; beat <= 4; ++beat) {
    clock_.AwaitWaiters(1);
    clock_.Advance(absl::Seconds(1));
    for (FakeSink* sink : sinks) {
      ASSERT_TRUE(sink->WaitFor([beat](const auto& m) {
        return static_cast<int>(m.size()) == beat;
      }));
      EXPECT_EQ(sink->received().back().kind(),
                v1::WatchTokensResponse::HEARTBEAT);
    }
  }
  EXPECT_EQ(store_.read_changes_calls(), reads);
}

// Moves the fake clock by the retry interval until the reader's store reads
// succeed again.
void AdvanceUntilStoreOk(FakeClock& clock, const WatchCache& cache) {
  const absl::Time hang = absl::Now() + kHang;
  while (cache.stats().store_ok == 0) {
    ASSERT_LT(absl::Now(), hang);
    clock.AwaitWaiters(1);
    clock.Advance(absl::Milliseconds(100));
    absl::SleepFor(absl::Milliseconds(1));
  }
}

TEST_F(WatchCacheTest, StoreDownAtStartRefusesStreamsUntilItAnswers) {
  store_.Upsert("a", "d1");
  store_.down = true;
  StartCache();
  EXPECT_EQ(cache_->stats().store_ok, 0);
  FakeSink* refused = Open(0, true, "");
  absl::Status end = refused->WaitForEnd();
  EXPECT_TRUE(absl::IsUnavailable(end)) << end;
  EXPECT_TRUE(absl::StrContains(end.message(), "database")) << end;
  EXPECT_TRUE(refused->received().empty());

  store_.down = false;
  ASSERT_NO_FATAL_FAILURE(AdvanceUntilStoreOk(clock_, *cache_));
  FakeSink* served = Open(0, true, "");
  ASSERT_TRUE(served->WaitFor([](const auto& m) {
    return ChangeRevisions(m) == std::vector<int64_t>{1};
  }));
}

TEST_F(WatchCacheTest, HeartbeatsPauseWhileTheStoreCannotBeRead) {
  StartCache();
  FakeSink* sink = Open(0, true, "");
  ASSERT_TRUE(sink->WaitFor([](const auto& m) { return m.size() == 1; }));
  store_.down = true;
  cache_->Notify();  // The next read fails.
  const absl::Time hang = absl::Now() + kHang;
  while (cache_->stats().store_ok == 1) {
    ASSERT_LT(absl::Now(), hang);
    absl::SleepFor(absl::Milliseconds(1));
  }
  // Seconds pass without a heartbeat: this replica cannot vouch for being
  // current, so its verifiers hear nothing and fail over.
  for (int i = 0; i < 3; ++i) {
    clock_.AwaitWaiters(1);
    clock_.Advance(absl::Seconds(1));
  }
  clock_.AwaitWaiters(1);
  EXPECT_EQ(sink->received().size(), 1u);

  store_.down = false;
  ASSERT_NO_FATAL_FAILURE(AdvanceUntilStoreOk(clock_, *cache_));
  clock_.AwaitWaiters(1);
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(sink->WaitFor([](const auto& m) {
    return m.size() >= 2 &&
           m.back().kind() == v1::WatchTokensResponse::HEARTBEAT;
  }));
}

TEST_F(WatchCacheTest, SlowWatcherIsCutOffWhileOthersStayCurrent) {
  store_.Upsert("tok_0", "a");
  WatchCacheOptions options;
  // A change is about 60 bytes on the wire: a stream that has two or three
  // unsent is cut off. One that keeps up never has more than one.
  options.max_queued_bytes = 150;
  StartCache(options);

  FakeSink* slow = Open(1, true, "", /*auto_ack=*/false);
  FakeSink* fast = Open(1, true, "");
  ASSERT_TRUE(slow->WaitFor([](const auto& m) { return m.size() == 1; }));
  for (int i = 1; i <= 20; ++i) {
    store_.Upsert("tok_" + std::to_string(i), "a");
    NotifyAndWait();
    ASSERT_TRUE(
        fast->WaitFor([i](const auto& m) { return HasRevision(m, i + 1); }));
  }
  EXPECT_EQ(ChangeRevisions(fast->received()), Range(2, 21));
  EXPECT_FALSE(fast->ended());
  EXPECT_EQ(cache_->stats().cut_off_total, 1);
  // The slow one ends as soon as its write in flight completes.
  slow->Ack();
  const absl::Status status = slow->WaitForEnd();
  EXPECT_TRUE(absl::IsResourceExhausted(status)) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "fell behind"));
  EXPECT_TRUE(absl::StrContains(status.message(), "resume from revision 1"));
  EXPECT_EQ(slow->received().size(), 1u);
}

TEST_F(WatchCacheTest, ConcurrentSnapshotsAreBuiltOnceAndShared) {
  for (int i = 0; i < 30; ++i) store_.Upsert("tok_" + std::to_string(i), "a");
  WatchCacheOptions options;
  options.snapshot_chunk = 10;
  StartCache(options);
  store_.HoldSnapshots();
  std::vector<FakeSink*> sinks;
  // Every Start asks for the snapshot before the first build can finish.
  for (int i = 0; i < 20; ++i) sinks.push_back(Open(0, false, ""));
  store_.Release();
  for (FakeSink* sink : sinks) {
    ASSERT_TRUE(sink->WaitFor([](const auto& m) {
      return !m.empty() && m.back().snapshot_complete();
    }));
    EXPECT_EQ(sink->received().size(), 3u);  // 30 tokens, 10 a chunk.
    EXPECT_EQ(sink->pointers(), sinks[0]->pointers()) << "the same messages";
  }
  const WatchCacheStats stats = cache_->stats();
  EXPECT_EQ(stats.snapshot_reads_total, 1);
  EXPECT_EQ(stats.snapshots_built_total, 1);
  EXPECT_EQ(stats.snapshots_shared_total, 19);
  EXPECT_EQ(stats.snapshots_sent_total, 20);
}

// Revoked values travel with the change that revoked them, and a snapshot
// carries the retained ones after its tokens, in the same chunks.
TEST_F(WatchCacheTest, RevokedValuesInChangesAndSnapshotChunks) {
  for (int i = 0; i < 15; ++i) store_.Upsert("tok_" + std::to_string(i), "a");
  for (int i = 0; i < 7; ++i) store_.Remove("tok_" + std::to_string(i));
  WatchCacheOptions options;
  options.snapshot_chunk = 5;
  StartCache(options);
  FakeSink* sink = Open(0, false, "");
  ASSERT_TRUE(sink->WaitFor([](const auto& m) {
    return !m.empty() && m.back().snapshot_complete();
  }));
  // 8 live tokens and 7 revoked values, 5 entries a chunk.
  const auto snapshot = sink->received();
  ASSERT_EQ(snapshot.size(), 3u);
  int tokens = 0;
  std::set<std::string> revoked;
  for (const v1::WatchTokensResponse& chunk : snapshot) {
    tokens += chunk.changes_size();
    for (const v1::RevokedValue& value : chunk.revoked()) {
      revoked.insert(value.token_id());
      EXPECT_EQ(value.digest().size(), 32u);
      EXPECT_TRUE(value.has_revoke_time());
    }
  }
  EXPECT_EQ(tokens, 8);
  EXPECT_EQ(revoked.size(), 7u);

  store_.Remove("tok_9");
  NotifyAndWait();
  ASSERT_TRUE(sink->WaitFor([](const auto& m) {
    return m.back().kind() == v1::WatchTokensResponse::CHANGES;
  }));
  const v1::TokenChange change = sink->received().back().changes(0);
  EXPECT_EQ(change.type(), v1::TokenChange::DELETE);
  ASSERT_EQ(change.revoked_size(), 1);
  EXPECT_EQ(change.revoked(0).token_id(), "tok_9");
}

TEST_F(WatchCacheTest, OneStoreReadPerChangeWhateverTheWatcherCount) {
  StartCache();
  std::vector<FakeSink*> sinks;
  for (int i = 0; i < 300; ++i) {
    sinks.push_back(Open(0, true, i % 2 == 0 ? "" : "a"));
  }
  const WatchCacheStats before = cache_->stats();
  const int reads = store_.read_changes_calls();
  constexpr int kChanges = 50;
  for (int i = 1; i <= kChanges; ++i) {
    store_.Upsert("tok_" + std::to_string(i), "a");
    NotifyAndWait();
    for (FakeSink* sink : sinks) {
      ASSERT_TRUE(
          sink->WaitFor([i](const auto& m) { return HasRevision(m, i); }));
    }
  }
  const WatchCacheStats after = cache_->stats();
  EXPECT_EQ(store_.read_changes_calls() - reads, kChanges);
  EXPECT_EQ(after.tail_reads_total - before.tail_reads_total, kChanges);
  EXPECT_EQ(after.changes_read_total - before.changes_read_total, kChanges);
  EXPECT_EQ(after.catch_up_reads_total, 0);
  for (FakeSink* sink : sinks) {
    EXPECT_EQ(ChangeRevisions(sink->received()), Range(1, kChanges));
    // Each change was encoded once: every stream wrote the same message.
    std::vector<const void*> changes;
    const auto received = sink->received();
    const auto pointers = sink->pointers();
    for (size_t i = 0; i < received.size(); ++i) {
      if (received[i].kind() == v1::WatchTokensResponse::CHANGES) {
        changes.push_back(pointers[i]);
      }
    }
    std::vector<const void*> first;
    const auto received0 = sinks[0]->received();
    const auto pointers0 = sinks[0]->pointers();
    for (size_t i = 0; i < received0.size(); ++i) {
      if (received0[i].kind() == v1::WatchTokensResponse::CHANGES) {
        first.push_back(pointers0[i]);
      }
    }
    EXPECT_EQ(changes, first);
  }
}

TEST_F(WatchCacheTest, CloseAllEndsEveryStreamWithItsResumeRevision) {
  StartCache();
  store_.Upsert("tok_0", "a");
  NotifyAndWait();
  FakeSink* sink = Open(1, true, "");
  ASSERT_TRUE(sink->WaitFor([](const auto& m) { return !m.empty(); }));
  cache_->CloseAll();
  const absl::Status status = sink->WaitForEnd();
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "resume from revision 1"));
  // Streams opened afterwards end at once.
  FakeSink* late = Open(1, true, "");
  EXPECT_TRUE(absl::IsUnavailable(late->WaitForEnd()));
}

}  // namespace
}  // namespace tokens
