// Drives FeedClient::HandleMessage with hand-made feed messages; no server
// involved.
#include "verifier/feed_client.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/fake_clock.h"
#include "common/proto_time.h"
#include "gtest/gtest.h"
#include "verifier/test_support.h"

namespace tokens {
namespace {

using testing_support::NewTokenValue;

v1::TokenChange ChangeProto(int64_t revision, v1::TokenChange::Type type,
                            const std::string& token_id,
                            const std::string& value) {
  v1::TokenChange change;
  change.set_revision(revision);
  change.set_type(type);
  change.set_token_id(token_id);
  change.set_deployment_id("dep-1");
  if (!value.empty()) change.set_secret_digest(DigestToBytes(DigestOf(value)));
  return change;
}

v1::WatchTokensResponse Snapshot(
    int64_t revision, bool reset, bool complete,
    std::initializer_list<v1::TokenChange> changes) {
  v1::WatchTokensResponse message;
  message.set_kind(v1::WatchTokensResponse::SNAPSHOT);
  message.set_revision(revision);
  message.set_reset(reset);
  message.set_snapshot_complete(complete);
  for (const auto& change : changes) *message.add_changes() = change;
  return message;
}

class FeedClientTest : public ::testing::Test {
 protected:
  FeedClientTest()
      : clock_(absl::FromUnixSeconds(1700000000)),
        // Never connected: the test calls HandleMessage directly.
        client_(grpc::CreateChannel("127.0.0.1:1",
                                    grpc::InsecureChannelCredentials()),
                FeedClientOptions(), &cache_, &metrics_, &clock_, &clock_) {}

  bool Has(const std::string& value) {
    return cache_.Lookup(DigestOf(value)).has_value();
  }

  FakeClock clock_;
  TokenCache cache_;
  Metrics metrics_;
  FeedClient client_;
};

TEST_F(FeedClientTest, PartialSnapshotNeverServes) {
  const std::string a = NewTokenValue();
  const std::string b = NewTokenValue();
  client_.HandleMessage(
      Snapshot(7, /*reset=*/true, /*complete=*/false,
               {ChangeProto(3, v1::TokenChange::UPSERT, "tok_a", a)}));
  EXPECT_FALSE(cache_.state().synced);
  EXPECT_FALSE(Has(a));
  client_.HandleMessage(
      Snapshot(7, false, /*complete=*/true,
               {ChangeProto(5, v1::TokenChange::UPSERT, "tok_b", b)}));
  EXPECT_TRUE(cache_.state().synced);
  EXPECT_EQ(cache_.state().revision, 7);
  EXPECT_TRUE(Has(a));
  EXPECT_TRUE(Has(b));
  EXPECT_EQ(metrics_.snapshots(), 1u);
}

TEST_F(FeedClientTest, NewSnapshotReplacesTheOldOneOnlyWhenComplete) {
  const std::string a = NewTokenValue();
  const std::string b = NewTokenValue();
  client_.HandleMessage(Snapshot(
      1, true, true, {ChangeProto(1, v1::TokenChange::UPSERT, "tok_a", a)}));
  client_.HandleMessage(Snapshot(
      9, true, false, {ChangeProto(9, v1::TokenChange::UPSERT, "tok_b", b)}));
  // The old snapshot keeps serving while the new one streams in.
  EXPECT_TRUE(Has(a));
  EXPECT_FALSE(Has(b));
  EXPECT_EQ(cache_.state().revision, 1);
  client_.HandleMessage(Snapshot(9, false, true, {}));
  EXPECT_FALSE(Has(a));
  EXPECT_TRUE(Has(b));
  EXPECT_EQ(cache_.state().revision, 9);
  EXPECT_EQ(metrics_.snapshots(), 2u);
}

v1::RevokedValue RevokedProto(const std::string& value,
                              const std::string& token_id, absl::Time when) {
  v1::RevokedValue revoked;
  revoked.set_digest(DigestToBytes(DigestOf(value)));
  revoked.set_token_id(token_id);
  revoked.set_deployment_id("dep-1");
  TimeToProto(when, revoked.mutable_revoke_time());
  return revoked;
}

TEST_F(FeedClientTest, SnapshotRevokedValuesReplaceTheSetWhenComplete) {
  const std::string before = NewTokenValue();
  const std::string first = NewTokenValue();
  const std::string second = NewTokenValue();
  const absl::Time when = clock_.Now() - absl::Hours(1);
  v1::WatchTokensResponse old_snapshot = Snapshot(1, true, true, {});
  *old_snapshot.add_revoked() = RevokedProto(before, "tok_old", when);
  client_.HandleMessage(old_snapshot);
  ASSERT_TRUE(cache_.LookupWithRevoked(DigestOf(before)).revoked.has_value());

  // Spread over two chunks; the old set serves until the last one.
  v1::WatchTokensResponse chunk1 = Snapshot(9, true, false, {});
  *chunk1.add_revoked() = RevokedProto(first, "tok_a", when);
  client_.HandleMessage(chunk1);
  EXPECT_TRUE(cache_.LookupWithRevoked(DigestOf(before)).revoked.has_value());
  EXPECT_FALSE(cache_.LookupWithRevoked(DigestOf(first)).revoked.has_value());
  v1::WatchTokensResponse chunk2 = Snapshot(9, false, true, {});
  *chunk2.add_revoked() = RevokedProto(second, "tok_b", when);
  v1::RevokedValue damaged = RevokedProto(second, "tok_bad", when);
  damaged.set_digest("short");
  *chunk2.add_revoked() = damaged;
  client_.HandleMessage(chunk2);
  EXPECT_FALSE(cache_.LookupWithRevoked(DigestOf(before)).revoked.has_value());
  std::optional<RevokedEntry> a =
      cache_.LookupWithRevoked(DigestOf(first)).revoked;
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->token_id, "tok_a");
  EXPECT_EQ(a->revoke_time, when);
  EXPECT_TRUE(cache_.LookupWithRevoked(DigestOf(second)).revoked.has_value());
  EXPECT_EQ(cache_.state().revoked_count, 2u) << "the damaged one is dropped";
}

TEST_F(FeedClientTest, ChangesCarryTheValuesTheyRevoked) {
  const std::string value = NewTokenValue();
  client_.HandleMessage(
      Snapshot(1, true, true,
               {ChangeProto(1, v1::TokenChange::UPSERT, "tok_a", value)}));
  v1::WatchTokensResponse changes;
  changes.set_kind(v1::WatchTokensResponse::CHANGES);
  changes.set_revision(2);
  v1::TokenChange deleted =
      ChangeProto(2, v1::TokenChange::DELETE, "tok_a", "");
  *deleted.add_revoked() = RevokedProto(value, "tok_a", clock_.Now());
  *changes.add_changes() = deleted;
  client_.HandleMessage(changes);
  EXPECT_FALSE(Has(value));
  std::optional<RevokedEntry> revoked =
      cache_.LookupWithRevoked(DigestOf(value)).revoked;
  ASSERT_TRUE(revoked.has_value());
  EXPECT_EQ(revoked->token_id, "tok_a");
}

TEST_F(FeedClientTest, MessagesPruneRevokedValuesPastTheRetention) {
  const std::string value = NewTokenValue();
  v1::WatchTokensResponse snapshot = Snapshot(1, true, true, {});
  *snapshot.add_revoked() = RevokedProto(value, "tok_a", clock_.Now());
  client_.HandleMessage(snapshot);
  EXPECT_EQ(cache_.state().revoked_count, 1u);
  clock_.Advance(cache_.revoked_options().retention + absl::Seconds(1));
  v1::WatchTokensResponse heartbeat;
  heartbeat.set_kind(v1::WatchTokensResponse::HEARTBEAT);
  heartbeat.set_revision(1);
  client_.HandleMessage(heartbeat);
  EXPECT_EQ(cache_.state().revoked_count, 0u);
}

TEST_F(FeedClientTest, ChunkWithoutResetIsDropped) {
  const std::string a = NewTokenValue();
  client_.HandleMessage(Snapshot(
      4, false, true, {ChangeProto(4, v1::TokenChange::UPSERT, "tok_a", a)}));
  EXPECT_FALSE(cache_.state().synced);
  EXPECT_FALSE(Has(a));
}

TEST_F(FeedClientTest, ChangesApplyInRevisionOrderAndSkipOldOnes) {
  const std::string a = NewTokenValue();
  const std::string a2 = NewTokenValue();
  client_.HandleMessage(Snapshot(
      5, true, true, {ChangeProto(5, v1::TokenChange::UPSERT, "tok_a", a)}));
  v1::WatchTokensResponse changes;
  changes.set_kind(v1::WatchTokensResponse::CHANGES);
  changes.set_revision(7);
  // Revision 4 is older than the snapshot: ignored.
  *changes.add_changes() = ChangeProto(4, v1::TokenChange::DELETE, "tok_a", "");
  *changes.add_changes() = ChangeProto(6, v1::TokenChange::UPSERT, "tok_a", a2);
  client_.HandleMessage(changes);
  EXPECT_FALSE(Has(a));
  EXPECT_TRUE(Has(a2));
  EXPECT_EQ(cache_.state().revision, 7);
}

TEST_F(FeedClientTest, AGapInAnUnfilteredFeedIsCounted) {
  client_.HandleMessage(Snapshot(5, true, true, {}));
  v1::WatchTokensResponse next;
  next.set_kind(v1::WatchTokensResponse::CHANGES);
  next.set_revision(6);
  *next.add_changes() =
      ChangeProto(6, v1::TokenChange::UPSERT, "tok_a", NewTokenValue());
  client_.HandleMessage(next);
  EXPECT_EQ(metrics_.revision_gaps(), 0u);
  v1::WatchTokensResponse skipped;
  skipped.set_kind(v1::WatchTokensResponse::CHANGES);
  skipped.set_revision(8);
  *skipped.add_changes() =
      ChangeProto(8, v1::TokenChange::UPSERT, "tok_b", NewTokenValue());
  client_.HandleMessage(skipped);
  EXPECT_EQ(metrics_.revision_gaps(), 1u);
  EXPECT_EQ(cache_.state().revision, 8);
}

TEST_F(FeedClientTest, EveryMessageRecordsAHeartbeat) {
  v1::WatchTokensResponse heartbeat;
  heartbeat.set_kind(v1::WatchTokensResponse::HEARTBEAT);
  heartbeat.set_revision(3);
  client_.HandleMessage(heartbeat);
  EXPECT_EQ(cache_.state().last_heartbeat, clock_.Now());
  clock_.Advance(absl::Seconds(1));
  client_.HandleMessage(Snapshot(3, true, true, {}));
  EXPECT_EQ(cache_.state().last_heartbeat, clock_.Now());
}

// A TokenService that only answers WatchTokens: it records each request and
// runs the test's script for it; a script that returns waits until the
// client goes away.
class FakeFeed final : public v1::TokenService::Service {
 public:
  using Script = std::function<grpc::Status(
      int connection, grpc::ServerWriter<v1::WatchTokensResponse>*)>;
  explicit FakeFeed(Script script) : script_(std::move(script)) {}

  grpc::Status WatchTokens(
      grpc::ServerContext* context, const v1::WatchTokensRequest* request,
      grpc::ServerWriter<v1::WatchTokensResponse>* writer) override {
    int connection;
    {
      absl::MutexLock lock(&mu_);
      connection = static_cast<int>(requests_.size());
      requests_.push_back(*request);
    }
    grpc::Status status = script_(connection, writer);
    if (!status.ok()) return status;
    absl::MutexLock lock(&mu_);
    // Held open until the client cancels (or the server stops).
    auto gone = [&] { return context->IsCancelled() || stopping_; };
    while (!gone())
      mu_.AwaitWithTimeout(absl::Condition(&gone), absl::Milliseconds(5));
    return grpc::Status(grpc::StatusCode::CANCELLED, "client left");
  }

  int connections() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(requests_.size());
  }
  v1::WatchTokensRequest request(int n) {
    absl::MutexLock lock(&mu_);
    return requests_[n];
  }
  void Stop() {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }

 private:
  const Script script_;
  absl::Mutex mu_;
  std::vector<v1::WatchTokensRequest> requests_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

// FeedClient against FakeFeed replicas with the backoff and watchdog on a
// FakeClock.
class FeedClientStreamTest : public ::testing::Test {
 protected:
  static constexpr absl::Duration kHeartbeatLimit = absl::Seconds(4);

  struct Replica {
    std::unique_ptr<FakeFeed> feed;
    std::unique_ptr<grpc::Server> server;
  };

  // Starts a fake TokenService running `script` and lists its address.
  FakeFeed* AddReplica(FakeFeed::Script script) {
    Replica replica;
    replica.feed = std::make_unique<FakeFeed>(std::move(script));
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(replica.feed.get());
    replica.server = builder.BuildAndStart();
    EXPECT_NE(port, 0);
    addresses_.push_back(absl::StrCat("127.0.0.1:", port));
    replicas_.push_back(std::move(replica));
    return replicas_.back().feed.get();
  }

  // Lists an address nothing listens on (a port bound, then released).
  void AddDeadAddress() {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    std::unique_ptr<grpc::Server> probe = builder.BuildAndStart();
    probe->Shutdown(std::chrono::system_clock::now());
    probe->Wait();
    addresses_.push_back(absl::StrCat("127.0.0.1:", port));
  }

  // Starts the client on every address added so far, in that order.
  void StartClient() {
    targets_ = TokenServiceTargets::Connect(addresses_,
                                            grpc::InsecureChannelCredentials());
    FeedClientOptions options;
    options.key = "verifier-key";
    options.min_backoff = absl::Seconds(1);
    options.max_backoff = absl::Seconds(1);
    options.heartbeat_interval = absl::Seconds(1);
    options.failover_after = absl::Seconds(3);
    options.snapshot_timeout = absl::Seconds(10);
    client_ = std::make_unique<FeedClient>(targets_.get(), options, &cache_,
                                           &metrics_, &clock_, &waits_);
    client_->Start();
  }

  void Start(FakeFeed::Script script) {
    AddReplica(std::move(script));
    StartClient();
  }

  void TearDown() override {
    for (Replica& replica : replicas_) replica.feed->Stop();
    if (client_) client_->Stop();
    for (Replica& replica : replicas_) {
      replica.server->Shutdown(std::chrono::system_clock::now());
    }
  }

  // Polls `condition` (the sleep only paces the polling).
  static bool Eventually(const std::function<bool()>& condition) {
    const absl::Time hang = absl::Now() + absl::Seconds(30);
    while (!condition()) {
      if (absl::Now() > hang) return false;
      absl::SleepFor(absl::Milliseconds(2));
    }
    return true;
  }

  FakeClock clock_;
  FakeClock waits_;
  TokenCache cache_;
  Metrics metrics_;
  std::vector<std::string> addresses_;
  std::vector<Replica> replicas_;
  std::unique_ptr<TokenServiceTargets> targets_;
  std::unique_ptr<FeedClient> client_;
};

// Writes a heartbeat at `revision` and keeps the stream open.
FakeFeed::Script HeartbeatThenHold(int64_t revision) {
  return [revision](int, grpc::ServerWriter<v1::WatchTokensResponse>* w) {
    v1::WatchTokensResponse heartbeat;
    heartbeat.set_kind(v1::WatchTokensResponse::HEARTBEAT);
    heartbeat.set_revision(revision);
    w->Write(heartbeat);
    return grpc::Status::OK;
  };
}

TEST_F(FeedClientStreamTest,
       SyncedAtRevisionZeroResumesInsteadOfResnapshotting) {
  Start([](int connection, grpc::ServerWriter<v1::WatchTokensResponse>* w) {
    if (connection == 0) {
      // An empty store's snapshot, then the service goes away.
      w->Write(Snapshot(0, /*reset=*/true, /*complete=*/true, {}));
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "restarting");
    }
    return grpc::Status::OK;
  });
  FakeFeed* feed = replicas_[0].feed.get();
  ASSERT_TRUE(Eventually([&] { return metrics_.reconnects() >= 1; }));
  EXPECT_TRUE(cache_.state().synced);
  EXPECT_EQ(feed->request(0).since_revision(), 0);
  EXPECT_FALSE(feed->request(0).resume()) << "not synced: a snapshot";
  // The reconnect waits for the backoff on the injected clock.
  waits_.AwaitWaiters(2);  // The backoff and the watchdog.
  EXPECT_EQ(feed->connections(), 1);
  waits_.Advance(absl::Seconds(1));
  ASSERT_TRUE(Eventually([&] { return feed->connections() >= 2; }));
  EXPECT_EQ(feed->request(1).since_revision(), 0);
  EXPECT_TRUE(feed->request(1).resume()) << "synced at 0: resume";
  EXPECT_EQ(metrics_.snapshots(), 1u);
  EXPECT_EQ(targets_->failovers(), 0u) << "one address: nowhere to move";
}

TEST_F(FeedClientStreamTest, SilentStreamIsReopenedByTheWatchdogClock) {
  Start([](int connection, grpc::ServerWriter<v1::WatchTokensResponse>* w) {
    if (connection == 0) {
      w->Write(Snapshot(3, true, true, {}));  // Then silence.
    }
    return grpc::Status::OK;
  });
  FakeFeed* feed = replicas_[0].feed.get();
  ASSERT_TRUE(Eventually([&] { return cache_.state().synced; }));
  waits_.AwaitWaiters(1);  // The watchdog.
  waits_.Advance(kHeartbeatLimit - absl::Milliseconds(1));
  EXPECT_EQ(metrics_.reconnects(), 0u);
  waits_.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(Eventually([&] { return metrics_.reconnects() >= 1; }));
  waits_.AwaitWaiters(2);
  waits_.Advance(absl::Seconds(1));
  ASSERT_TRUE(Eventually([&] { return feed->connections() >= 2; }));
  EXPECT_EQ(feed->request(1).since_revision(), 3);
  EXPECT_TRUE(feed->request(1).resume());
}

TEST_F(FeedClientStreamTest, BrokenStreamMovesToTheNextAddressAtOnce) {
  FakeFeed* a = AddReplica(
      [](int connection, grpc::ServerWriter<v1::WatchTokensResponse>* w) {
        w->Write(Snapshot(5, true, true, {}));
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "going away");
      });
  FakeFeed* b = AddReplica(HeartbeatThenHold(5));
  StartClient();
  // No time passes on the wait clock: the other address is tried at once.
  ASSERT_TRUE(Eventually([&] { return b->connections() >= 1; }));
  EXPECT_EQ(b->request(0).since_revision(), 5);
  EXPECT_TRUE(b->request(0).resume()) << "resumes from its revision";
  EXPECT_EQ(a->connections(), 1);
  EXPECT_EQ(targets_->current(), 1u);
  EXPECT_EQ(targets_->failovers(), 1u);
  EXPECT_EQ(metrics_.snapshots(), 1u);
  EXPECT_NE(
      targets_->Render().find(absl::StrCat(
          "token_verifier_feed_target_info{target=\"", addresses_[1], "\"} 1")),
      std::string::npos);
}

TEST_F(FeedClientStreamTest, OverdueHeartbeatMovesToTheNextAddress) {
  FakeFeed* a = AddReplica(
      [](int connection, grpc::ServerWriter<v1::WatchTokensResponse>* w) {
        w->Write(Snapshot(3, true, true, {}));  // Then silence.
        return grpc::Status::OK;
      });
  FakeFeed* b = AddReplica(HeartbeatThenHold(3));
  StartClient();
  ASSERT_TRUE(Eventually([&] { return cache_.state().synced; }));
  waits_.AwaitWaiters(1);  // The watchdog.
  waits_.Advance(kHeartbeatLimit - absl::Milliseconds(1));
  EXPECT_EQ(b->connections(), 0) << "a heartbeat may be up to 3 s late";
  waits_.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(Eventually([&] { return b->connections() >= 1; }));
  EXPECT_EQ(b->request(0).since_revision(), 3);
  EXPECT_TRUE(b->request(0).resume());
  EXPECT_EQ(a->connections(), 1);
  EXPECT_EQ(targets_->current(), 1u);
  EXPECT_EQ(targets_->failovers(), 1u);
}

TEST_F(FeedClientStreamTest, FirstSnapshotMayTakeLongerThanAHeartbeat) {
  FakeFeed* a =
      AddReplica([](int, grpc::ServerWriter<v1::WatchTokensResponse>*) {
        return grpc::Status::OK;  // Never answers.
      });
  FakeFeed* b =
      AddReplica([](int, grpc::ServerWriter<v1::WatchTokensResponse>* w) {
        w->Write(Snapshot(8, true, true, {}));
        return grpc::Status::OK;
      });
  StartClient();
  ASSERT_TRUE(Eventually([&] { return a->connections() >= 1; }));
  waits_.AwaitWaiters(1);  // The watchdog.
  waits_.Advance(kHeartbeatLimit);
  waits_.AwaitWaiters(1);
  EXPECT_EQ(b->connections(), 0) << "a snapshot stream waits 10 s";
  waits_.Advance(absl::Seconds(6));
  ASSERT_TRUE(Eventually([&] { return cache_.state().synced; }));
  EXPECT_EQ(cache_.state().revision, 8);
  EXPECT_FALSE(b->request(0).resume());
  EXPECT_EQ(targets_->current(), 1u);
}

TEST_F(FeedClientStreamTest, DeadFirstAddressIsSkippedAtOnce) {
  AddDeadAddress();
  FakeFeed* b =
      AddReplica([](int, grpc::ServerWriter<v1::WatchTokensResponse>* w) {
        w->Write(Snapshot(2, true, true, {}));
        return grpc::Status::OK;
      });
  StartClient();
  // Without any time passing on the wait clock.
  ASSERT_TRUE(Eventually([&] { return cache_.state().synced; }));
  EXPECT_EQ(b->connections(), 1);
  EXPECT_EQ(targets_->current(), 1u);
  EXPECT_EQ(metrics_.reconnects(), 1u);
}

TEST_F(FeedClientStreamTest, EveryAddressDownBacksOffBeforeTheNextRound) {
  AddDeadAddress();
  AddDeadAddress();
  StartClient();
  // Both tried at once, then the backoff.
  ASSERT_TRUE(Eventually([&] { return metrics_.reconnects() >= 2; }));
  waits_.AwaitWaiters(2);  // The backoff and the watchdog.
  EXPECT_EQ(metrics_.reconnects(), 2u);
  EXPECT_EQ(targets_->current(), 0u) << "round robin: back to the first";
  waits_.Advance(absl::Seconds(1));
  ASSERT_TRUE(Eventually([&] { return metrics_.reconnects() >= 4; }));
  waits_.AwaitWaiters(2);
  EXPECT_EQ(metrics_.reconnects(), 4u) << "one round per backoff";
  EXPECT_EQ(targets_->failovers(), 4u);
}

TEST(TokenChangeFromProtoTest, ConvertsTimesAndPreviousDigest) {
  const std::string value = NewTokenValue();
  const std::string old_value = NewTokenValue();
  v1::TokenChange change =
      ChangeProto(3, v1::TokenChange::UPSERT, "tok_a", value);
  change.mutable_expire_time()->set_seconds(1800000000);
  change.mutable_expire_time()->set_nanos(5);
  change.set_previous_digest(DigestToBytes(DigestOf(old_value)));
  change.mutable_previous_valid_until()->set_seconds(1700000100);
  TokenChange out = TokenChangeFromProto(change);
  EXPECT_EQ(out.type, TokenChange::Type::kUpsert);
  EXPECT_EQ(out.revision, 3);
  EXPECT_EQ(out.digest, DigestOf(value));
  EXPECT_EQ(out.expire_time,
            absl::FromUnixSeconds(1800000000) + absl::Nanoseconds(5));
  ASSERT_TRUE(out.previous_digest.has_value());
  EXPECT_EQ(*out.previous_digest, DigestOf(old_value));
  EXPECT_EQ(out.previous_valid_until, absl::FromUnixSeconds(1700000100));
}

TEST(TokenChangeFromProtoTest, UnsetExpiryMeansNever) {
  TokenChange out = TokenChangeFromProto(
      ChangeProto(1, v1::TokenChange::UPSERT, "tok_a", NewTokenValue()));
  EXPECT_EQ(out.expire_time, absl::InfiniteFuture());
  EXPECT_FALSE(out.previous_digest.has_value());
}

TEST(TokenChangeFromProtoTest, DamagedDigestBecomesADelete) {
  v1::TokenChange change = ChangeProto(1, v1::TokenChange::UPSERT, "tok_a", "");
  change.set_secret_digest("short");
  EXPECT_EQ(TokenChangeFromProto(change).type, TokenChange::Type::kDelete);
}

}  // namespace
}  // namespace tokens
