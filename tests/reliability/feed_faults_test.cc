// Faults between TokenService and the verifier, over a real gRPC stream: a
// scripted fake TokenService cuts the WatchTokens stream in the middle of a
// snapshot or in the middle of the change stream, and replays overlapping
// changes after the reconnect. The FeedClient and TokenCache under test are
// the real ones.
//   * A cut mid-snapshot never lets a partial snapshot serve: a verifier that
//     was not synced stays not synced, one that was keeps its old cache whole.
//   * A cut mid-stream resumes from the last applied revision; no event is
//     lost and none is applied twice (a replayed older change cannot bring a
//     rotated-away value back).
//   * TokenService down when the verifier starts: not ready, every Check
//     denied with NOT_READY.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "common/fake_clock.h"
#include "common/file_util.h"
#include "common/token_value.h"
#include "gtest/gtest.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "tests/testing/server_process.h"
#include "verifier/feed_client.h"
#include "verifier/metrics.h"
#include "verifier/token_cache.h"
#include "verifier/verifier_server.h"

namespace tokens::testing {
namespace {

using Writer = grpc::ServerWriter<v1::WatchTokensResponse>;
// One scripted stream: what the fake sends on the n-th connection (0-based).
using Script = std::function<grpc::Status(
    int connection, const v1::WatchTokensRequest&, Writer*)>;

// A TokenService that only implements WatchTokens, following a script.
class ScriptedFeed final : public v1::TokenService::Service {
 public:
  explicit ScriptedFeed(Script script) : script_(std::move(script)) {}

  grpc::Status WatchTokens(grpc::ServerContext*,
                           const v1::WatchTokensRequest* request,
                           Writer* writer) override {
    int connection;
    {
      absl::MutexLock lock(&mu_);
      connection = static_cast<int>(requests_.size());
      requests_.push_back(*request);
    }
    return script_(connection, *request, writer);
  }

  int connections() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(requests_.size());
  }
  v1::WatchTokensRequest request(int n) {
    absl::MutexLock lock(&mu_);
    return requests_[n];
  }

 private:
  Script script_;
  absl::Mutex mu_;
  std::vector<v1::WatchTokensRequest> requests_;
};

v1::TokenChange Upsert(int64_t revision, const std::string& id,
                       const std::string& value) {
  v1::TokenChange change;
  change.set_revision(revision);
  change.set_type(v1::TokenChange::UPSERT);
  change.set_token_id(id);
  change.set_deployment_id("prod");
  change.set_secret_digest(DigestToBytes(DigestOf(value)));
  return change;
}

v1::TokenChange Remove(int64_t revision, const std::string& id) {
  v1::TokenChange change;
  change.set_revision(revision);
  change.set_type(v1::TokenChange::DELETE);
  change.set_token_id(id);
  change.set_deployment_id("prod");
  return change;
}

v1::WatchTokensResponse Snapshot(int64_t revision, bool reset, bool complete,
                                 std::vector<v1::TokenChange> changes) {
  v1::WatchTokensResponse m;
  m.set_kind(v1::WatchTokensResponse::SNAPSHOT);
  m.set_revision(revision);
  m.set_reset(reset);
  m.set_snapshot_complete(complete);
  for (auto& c : changes) *m.add_changes() = c;
  return m;
}

v1::WatchTokensResponse Changes(int64_t revision,
                                std::vector<v1::TokenChange> changes) {
  v1::WatchTokensResponse m;
  m.set_kind(v1::WatchTokensResponse::CHANGES);
  m.set_revision(revision);
  for (auto& c : changes) *m.add_changes() = c;
  return m;
}

grpc::Status Cut() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection cut");
}

class FeedFaultsTest : public ::testing::Test {
 protected:
  void Start(Script script) {
    feed_ = std::make_unique<ScriptedFeed>(std::move(script));
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(feed_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    FeedClientOptions options;
    options.key = "verifier-key";
    options.min_backoff = absl::Milliseconds(1);
    options.max_backoff = absl::Milliseconds(20);
    client_ = std::make_unique<FeedClient>(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                            grpc::InsecureChannelCredentials()),
        options, &cache_, &metrics_, &clock_, RealClock());
    client_->Start();
  }

  void TearDown() override {
    if (!release_.HasBeenNotified()) release_.Notify();
    if (client_) client_->Stop();
    if (server_) server_->Shutdown(std::chrono::system_clock::now());
  }

  bool Has(const std::string& value) {
    return cache_.Lookup(DigestOf(value)).has_value();
  }

  // Blocks a scripted stream until the test has looked at the cache.
  void Hold() { release_.WaitForNotificationWithTimeout(absl::Seconds(20)); }

  FakeClock clock_{absl::FromUnixSeconds(1800000000)};
  TokenCache cache_;
  Metrics metrics_;
  std::unique_ptr<ScriptedFeed> feed_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<FeedClient> client_;
  absl::Notification release_;
  const std::string a_ = GenerateTokenValue().value();
  const std::string b_ = GenerateTokenValue().value();
  const std::string b2_ = GenerateTokenValue().value();
  const std::string c_ = GenerateTokenValue().value();
};

TEST_F(FeedFaultsTest, CutMidFirstSnapshotNeverServesAPartialCache) {
  Start([&](int n, const v1::WatchTokensRequest&, Writer* w) {
    if (n == 0) {
      w->Write(Snapshot(7, true, false, {Upsert(3, "tok_a", a_)}));
      return Cut();
    }
    Hold();
    w->Write(Snapshot(7, true, false, {Upsert(3, "tok_a", a_)}));
    w->Write(Snapshot(7, false, true, {Upsert(5, "tok_b", b_)}));
    return Hold(), grpc::Status::OK;
  });
  // The client reconnected after the cut: the first chunk it got must not
  // serve.
  ASSERT_TRUE(
      WaitFor([&] { return feed_->connections() >= 2; }, absl::Seconds(10)));
  EXPECT_FALSE(cache_.state().synced);
  EXPECT_FALSE(Has(a_));
  EXPECT_EQ(feed_->request(1).since_revision(), 0);
  release_.Notify();
  ASSERT_TRUE(
      WaitFor([&] { return cache_.state().synced; }, absl::Seconds(10)));
  EXPECT_TRUE(Has(a_));
  EXPECT_TRUE(Has(b_));
  EXPECT_EQ(cache_.state().revision, 7);
}

TEST_F(FeedFaultsTest, CutMidResnapshotKeepsTheOldCacheWhole) {
  Start([&](int n, const v1::WatchTokensRequest&, Writer* w) {
    if (n == 0) {
      w->Write(Snapshot(4, true, true, {Upsert(4, "tok_a", a_)}));
      return Cut();
    }
    if (n == 1) {
      // A new snapshot (say the revision was no longer retained) that dies
      // after its first chunk.
      w->Write(Snapshot(9, true, false, {Upsert(9, "tok_b", b_)}));
      return Cut();
    }
    Hold();
    return Cut();
  });
  ASSERT_TRUE(
      WaitFor([&] { return feed_->connections() >= 3; }, absl::Seconds(10)));
  const CacheState state = cache_.state();
  EXPECT_TRUE(state.synced);
  EXPECT_EQ(state.revision, 4);
  EXPECT_TRUE(Has(a_)) << "the complete old snapshot keeps serving";
  EXPECT_FALSE(Has(b_)) << "no part of the cut snapshot serves";
  EXPECT_EQ(feed_->request(2).since_revision(), 4);
}

TEST_F(FeedFaultsTest, CutMidStreamResumesWithoutLossOrDoubleApply) {
  Start([&](int n, const v1::WatchTokensRequest& request, Writer* w) {
    if (n == 0) {
      w->Write(Snapshot(1, true, true, {Upsert(1, "tok_a", a_)}));
      w->Write(Changes(2, {Upsert(2, "tok_b", b_)}));
      // tok_b rotated: b_ dies, b2_ lives.
      w->Write(Changes(3, {Upsert(3, "tok_b", b2_)}));
      return Cut();
    }
    // The resume overlaps what was already applied (as a service may after a
    // failover): revision 2 again must not bring b_ back.
    EXPECT_EQ(request.since_revision(), 3);
    w->Write(Changes(4, {Upsert(2, "tok_b", b_), Upsert(3, "tok_b", b2_),
                         Remove(4, "tok_a")}));
    w->Write(Changes(5, {Upsert(5, "tok_c", c_)}));
    return Hold(), grpc::Status::OK;
  });
  ASSERT_TRUE(
      WaitFor([&] { return cache_.state().revision == 5; }, absl::Seconds(10)));
  EXPECT_EQ(feed_->connections(), 2);
  EXPECT_EQ(feed_->request(1).since_revision(), 3);
  EXPECT_FALSE(Has(a_)) << "revision 4 (delete) was applied";
  EXPECT_FALSE(Has(b_)) << "the replayed revision 2 was not applied twice";
  EXPECT_TRUE(Has(b2_));
  EXPECT_TRUE(Has(c_));
  EXPECT_EQ(metrics_.snapshots(), 1u) << "resumed, not re-snapshotted";
}

TEST(VerifierStartFaultsTest, TokenServiceDownAtStartMeansNotReadyAndDeny) {
  const std::string dir = NewTempDir("down");
  ASSERT_TRUE(WritePrivateFile(dir + "/verifier.key", "some-key\n").ok());
  // Reserve a port nobody listens on: bind a server, note the port, stop it.
  int port = 0;
  {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    auto probe = builder.BuildAndStart();
    probe->Shutdown();
  }
  VerifierOptions options;
  options.feed_wait_clock = RealClock();  // reconnects on real time
  options.listen = "127.0.0.1:0";
  options.http_listen = "127.0.0.1:0";
  options.token_service = absl::StrCat("127.0.0.1:", port);
  options.key_file = dir + "/verifier.key";
  FakeClock clock(absl::FromUnixSeconds(1800000000));
  auto verifier = VerifierServer::BuildAndStart(options, &clock);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  auto stub = v1::Verifier::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*verifier)->grpc_port()),
                          grpc::InsecureChannelCredentials()));
  // Let it try (and fail) to connect a few times.
  ASSERT_TRUE(WaitFor([&] { return (*verifier)->metrics().reconnects() >= 2; },
                      absl::Seconds(20)));
  EXPECT_FALSE((*verifier)->IsReady());
  v1::CheckRequest request;
  request.set_token(GenerateTokenValue().value());
  request.set_deployment_id("prod");
  request.set_operation("deployment.get");
  v1::CheckResponse response;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub->Check(&ctx, request, &response).ok());
  EXPECT_FALSE(response.allowed());
  EXPECT_EQ(response.reason(), v1::NOT_READY);
  (*verifier)->Shutdown(absl::Seconds(1));
}

}  // namespace
}  // namespace tokens::testing
