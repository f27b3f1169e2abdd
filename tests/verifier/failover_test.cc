// A verifier fails over between TokenService replicas: two real TokenServers
// (in-process, real ports) on one data directory and SQLite file, and a real
// verifier given both addresses. Wall time is the machine's on every side, so
// readiness (max-staleness) is real; the verifier's feed waits on a clock that
// never moves, so a failover that waited for a backoff or a watchdog would
// never happen.
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/fake_clock.h"
#include "common/file_util.h"
#include "common/json_log.h"
#include "common/tls_files.h"
#include "gtest/gtest.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "services/token_server.h"
#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/testing/test_certs.h"
#include "tests/verifier/failover_support.h"
#include "tests/verifier/verifier_fixture.h"
#include "verifier/verifier_server.h"

namespace tokens::testing {
namespace {

constexpr char kDeployment[] = "dep-1";
constexpr char kOperation[] = "deployment.deploys.create";

class FailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    JsonLog::SetEnabled(false);
    data_dir_ = NewTempDir("failover") + "/var";
    a_ = StartReplica(FirstReplicaTls());
    ASSERT_NE(a_, nullptr);
    a_address_ = AddressOf(*a_);
    auto admin_key = ReadKeyFile(data_dir_ + "/admin.key");
    ASSERT_TRUE(admin_key.ok()) << admin_key.status();
    admin_key_ = *admin_key;
  }

  void TearDown() override {
    stub_.reset();
    if (verifier_ != nullptr) verifier_->Shutdown(absl::Seconds(1));
    verifier_.reset();
    for (std::unique_ptr<TokenServer>* replica : {&a_, &b_}) {
      if (*replica != nullptr) (*replica)->Shutdown(absl::Seconds(1));
      replica->reset();
    }
  }

  // A replica on the fixture's data directory: the first creates the keys
  // and the database, later ones load them.
  std::unique_ptr<TokenServer> StartReplica(ServerTlsFiles tls = {}) {
    TokenServerOptions options;
    options.listen = "127.0.0.1:0";
    options.data_dir = data_dir_;
    options.feed_clock = RealClock();
    options.tls = std::move(tls);
    auto server = TokenServer::BuildAndStart(options, RealClock());
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  // TLS of the replica SetUp starts; none here.
  virtual ServerTlsFiles FirstReplicaTls() { return {}; }

  static std::string AddressOf(const TokenServer& server) {
    return absl::StrCat("127.0.0.1:", server.port());
  }

  void StartVerifier(const std::string& token_service,
                     ClientTlsFiles tls = {}) {
    VerifierOptions options;
    options.token_service_tls = std::move(tls);
    options.listen = "127.0.0.1:0";
    options.http_listen = "127.0.0.1:0";
    options.token_service = token_service;
    options.key_file = data_dir_ + "/verifier.key";
    options.usage_report_interval = absl::Milliseconds(100);
    options.feed_wait_clock = &feed_waits_;
    auto verifier = VerifierServer::BuildAndStart(options, RealClock());
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    verifier_ = *std::move(verifier);
    stub_ = v1::Verifier::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", verifier_->grpc_port()),
                            grpc::InsecureChannelCredentials()));
  }

  v1::Reason Reason(const std::string& token) {
    return CheckWith(stub_.get(), token, kDeployment, kOperation).reason();
  }

  // Ready by both of the verifier's accounts: its readiness, and a Check of
  // `token` that is not NOT_READY.
  std::function<bool()> ReadyChecking(const std::string& token) {
    return [this, token] {
      return verifier_->IsReady() && Reason(token) != v1::NOT_READY;
    };
  }

  // The feed's current address as GET /metrics names it.
  std::string FeedTarget() {
    return FeedTargetIn(
        HttpGet(absl::StrCat("127.0.0.1:", verifier_->http_port()), "/metrics")
            .body);
  }

  std::string data_dir_;
  std::string admin_key_;
  std::unique_ptr<TokenServer> a_;
  std::unique_ptr<TokenServer> b_;
  std::string a_address_;
  FakeClock feed_waits_;
  std::unique_ptr<VerifierServer> verifier_;
  std::unique_ptr<v1::Verifier::Stub> stub_;
};

TEST_F(FailoverTest, MovesToTheOtherReplicaAndFollowsItsChanges) {
  ReplicaAdmin admin_a(a_address_, admin_key_);
  const v1::CreateTokenResponse kept = admin_a.Create(kDeployment, "kept");
  const v1::CreateTokenResponse doomed = admin_a.Create(kDeployment, "doomed");
  const v1::CreateTokenResponse used_later =
      admin_a.Create(kDeployment, "used after the failover");
  b_ = StartReplica();
  ASSERT_NE(b_, nullptr);
  const std::string b_address = AddressOf(*b_);
  StartVerifier(absl::StrCat(a_address_, ",", b_address));
  ASSERT_TRUE(WaitFor([&] { return Reason(kept.secret()) == v1::ALLOWED; },
                      kPropagationBound));
  EXPECT_EQ(FeedTarget(), a_address_);
  EXPECT_EQ(verifier_->targets().current(), 0u);
  const int64_t revision_before = verifier_->cache().state().revision;

  // A goes away while readiness is watched, from before the stop on.
  std::thread stop_a([&] { a_->Shutdown(absl::Seconds(1)); });
  const ReadyWait moved = WaitStayingReady(
      ReadyChecking(kept.secret()), [&] { return FeedTarget() == b_address; },
      kPropagationBound);
  stop_a.join();
  ASSERT_TRUE(moved.reached) << "feed still on " << FeedTarget();
  EXPECT_EQ(moved.not_ready, 0) << "of " << moved.polls << " polls";
  EXPECT_EQ(verifier_->targets().failovers(), 1u);

  // Changes made through the surviving replica arrive over its feed.
  ReplicaAdmin admin_b(b_address, admin_key_);
  const v1::CreateTokenResponse added = admin_b.Create(kDeployment, "added");
  ReadyWait arrived = WaitStayingReady(
      ReadyChecking(kept.secret()),
      [&] { return Reason(added.secret()) == v1::ALLOWED; }, kPropagationBound);
  EXPECT_TRUE(arrived.reached);
  EXPECT_EQ(arrived.not_ready, 0);
  admin_b.Delete(doomed.token().id());
  arrived = WaitStayingReady(
      ReadyChecking(kept.secret()),
      [&] { return Reason(doomed.secret()) == v1::REVOKED_TOKEN; },
      kPropagationBound);
  EXPECT_TRUE(arrived.reached);
  EXPECT_EQ(arrived.not_ready, 0);
  EXPECT_EQ(Reason(kept.secret()), v1::ALLOWED);
  EXPECT_EQ(verifier_->metrics().snapshots(), 1u)
      << "resumed from its revision, no new snapshot";
  EXPECT_GT(verifier_->cache().state().revision, revision_before);

  // Usage seen after the failover reaches the surviving replica.
  EXPECT_FALSE(admin_b.Get(used_later.token().id()).has_last_used_time());
  EXPECT_EQ(Reason(used_later.secret()), v1::ALLOWED);
  EXPECT_TRUE(WaitFor(
      [&] { return admin_b.Get(used_later.token().id()).has_last_used_time(); },
      kPropagationBound));
}

TEST_F(FailoverTest, AnAddressWhereNothingListensFirstIsPassedOver) {
  const v1::CreateTokenResponse token =
      ReplicaAdmin(a_address_, admin_key_).Create(kDeployment, "token");
  const std::string nobody = FreeLoopbackAddress();
  StartVerifier(absl::StrCat(nobody, ",", a_address_));
  EXPECT_TRUE(WaitFor([&] { return verifier_->IsReady(); }, kPropagationBound));
  EXPECT_EQ(Reason(token.secret()), v1::ALLOWED);
  EXPECT_EQ(FeedTarget(), a_address_);
  EXPECT_EQ(verifier_->targets().failovers(), 1u);
}

TEST_F(FailoverTest, OneAddressStillWorksAsBefore) {
  const v1::CreateTokenResponse token =
      ReplicaAdmin(a_address_, admin_key_).Create(kDeployment, "token");
  StartVerifier(a_address_);
  EXPECT_TRUE(WaitFor([&] { return Reason(token.secret()) == v1::ALLOWED; },
                      kPropagationBound));
  EXPECT_EQ(FeedTarget(), a_address_);
  EXPECT_EQ(verifier_->targets().failovers(), 0u);
}

// Mutual TLS to every replica: the verifier's TLS options hold for each
// address.
class FailoverTlsTest : public FailoverTest {
 protected:
  void SetUp() override {
    auto certs = MakeTestCerts(NewTempDir("failover_certs"));
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *std::move(certs);
    FailoverTest::SetUp();
  }

  ServerTlsFiles FirstReplicaTls() override {
    return {certs_.server_cert, certs_.server_key, certs_.ca_cert};
  }
  ClientTlsFiles VerifierTls() const {
    return {certs_.ca_cert, certs_.client_cert, certs_.client_key};
  }
  std::shared_ptr<grpc::ChannelCredentials> AdminCredentials() const {
    return *ChannelCredentialsFrom(VerifierTls());
  }

  TestCerts certs_;
};

TEST_F(FailoverTlsTest, EveryAddressGetsTheSameTls) {
  const v1::CreateTokenResponse kept =
      ReplicaAdmin(a_address_, admin_key_, AdminCredentials())
          .Create(kDeployment, "kept");
  b_ = StartReplica(FirstReplicaTls());
  ASSERT_NE(b_, nullptr);
  const std::string b_address = AddressOf(*b_);
  StartVerifier(absl::StrCat(a_address_, ",", b_address), VerifierTls());
  ASSERT_TRUE(WaitFor([&] { return Reason(kept.secret()) == v1::ALLOWED; },
                      kPropagationBound));

  std::thread stop_a([&] { a_->Shutdown(absl::Seconds(1)); });
  const ReadyWait moved = WaitStayingReady(
      ReadyChecking(kept.secret()), [&] { return FeedTarget() == b_address; },
      kPropagationBound);
  stop_a.join();
  ASSERT_TRUE(moved.reached);
  EXPECT_EQ(moved.not_ready, 0);
  const v1::CreateTokenResponse added =
      ReplicaAdmin(b_address, admin_key_, AdminCredentials())
          .Create(kDeployment, "added over TLS");
  EXPECT_TRUE(WaitFor([&] { return Reason(added.secret()) == v1::ALLOWED; },
                      kPropagationBound));
}

}  // namespace
}  // namespace tokens::testing
