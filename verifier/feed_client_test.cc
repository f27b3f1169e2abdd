// Drives FeedClient::HandleMessage with hand-made feed messages; no server
// involved.
#include "verifier/feed_client.h"

#include <string>

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
                FeedClientOptions(), &cache_, &metrics_, &clock_) {}

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

TEST(CacheChangeFromProtoTest, ConvertsTimesAndPreviousDigest) {
  const std::string value = NewTokenValue();
  const std::string old_value = NewTokenValue();
  v1::TokenChange change =
      ChangeProto(3, v1::TokenChange::UPSERT, "tok_a", value);
  change.mutable_expire_time()->set_seconds(1800000000);
  change.mutable_expire_time()->set_nanos(5);
  change.set_previous_digest(DigestToBytes(DigestOf(old_value)));
  change.mutable_previous_valid_until()->set_seconds(1700000100);
  CacheChange out = CacheChangeFromProto(change);
  EXPECT_EQ(out.type, CacheChange::Type::kUpsert);
  EXPECT_EQ(out.revision, 3);
  EXPECT_EQ(out.digest, DigestOf(value));
  EXPECT_EQ(out.expire_time,
            absl::FromUnixSeconds(1800000000) + absl::Nanoseconds(5));
  ASSERT_TRUE(out.previous_digest.has_value());
  EXPECT_EQ(*out.previous_digest, DigestOf(old_value));
  EXPECT_EQ(out.previous_valid_until, absl::FromUnixSeconds(1700000100));
}

TEST(CacheChangeFromProtoTest, UnsetExpiryMeansNever) {
  CacheChange out = CacheChangeFromProto(
      ChangeProto(1, v1::TokenChange::UPSERT, "tok_a", NewTokenValue()));
  EXPECT_EQ(out.expire_time, absl::InfiniteFuture());
  EXPECT_FALSE(out.previous_digest.has_value());
}

TEST(CacheChangeFromProtoTest, DamagedDigestBecomesADelete) {
  v1::TokenChange change = ChangeProto(1, v1::TokenChange::UPSERT, "tok_a", "");
  change.set_secret_digest("short");
  EXPECT_EQ(CacheChangeFromProto(change).type, CacheChange::Type::kDelete);
}

}  // namespace
}  // namespace tokens
