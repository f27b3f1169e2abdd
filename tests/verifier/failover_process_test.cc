// The token_verifier binary with several --token-service replicas, all real
// processes on one data directory and SQLite file: a bad list is refused at
// start, and the verifier stays ready through a replica's crash (kill -9) and
// through a replica that freezes (SIGSTOP: the connection stays open, the
// heartbeats stop).
#include <signal.h>
#include <sys/wait.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/json_log.h"
#include "gtest/gtest.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "tests/testing/http_client.h"
#include "tests/testing/server_process.h"
#include "tests/verifier/failover_support.h"
#include "tests/verifier/verifier_fixture.h"

namespace tokens::testing {
namespace {

constexpr char kDeployment[] = "dep-1";
constexpr char kOperation[] = "deployment.deploys.create";
// A frozen replica is left after 4 s of silence; generous on top of that for
// busy machines.
constexpr absl::Duration kFreezeBound = absl::Seconds(30);

TEST(FailoverFlagsTest, EmptyOrRepeatedTokenServiceEntryExits2) {
  for (const std::string& bad :
       {std::string(""), std::string("127.0.0.1:50051,"),
        std::string("127.0.0.1:50051,,127.0.0.1:50052"),
        std::string("127.0.0.1:50051, ,127.0.0.1:50052"),
        std::string("127.0.0.1:50051,127.0.0.1:50051")}) {
    CommandResult result = RunCommand(
        {RunfilePath("verifier/token_verifier"), "--token-service", bad,
         "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"},
        {});
    EXPECT_EQ(result.exit_code, 2) << "\"" << bad << "\": " << result.err;
    EXPECT_NE(result.err.find("--token-service"), std::string::npos)
        << result.err;
  }
}

class FailoverProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    JsonLog::SetEnabled(false);
    data_dir_ = NewTempDir("failover_process") + "/var";
    a_ = StartReplica();
    ASSERT_NE(a_, nullptr);
    // The first replica wrote the keys; the second loads its credentials.
    b_ = StartReplica();
    ASSERT_NE(b_, nullptr);
    auto admin_key = ReadKeyFile(data_dir_ + "/admin.key");
    ASSERT_TRUE(admin_key.ok()) << admin_key.status();
    admin_key_ = *admin_key;

    auto verifier = ServerProcess::Start(
        RunfilePath("verifier/token_verifier"),
        {"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
         "--token-service", absl::StrCat(a_->address(), ",", b_->address()),
         "--key-file", data_dir_ + "/verifier.key"},
        /*listen_lines=*/2);
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    verifier_ = *std::move(verifier);
    stub_ = v1::Verifier::NewStub(grpc::CreateChannel(
        verifier_->address(), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    // SIGKILL ends a stopped process too (SIGTERM would wait for SIGCONT).
    if (a_ != nullptr) a_->Stop(SIGKILL);
  }

  std::unique_ptr<ServerProcess> StartReplica() {
    auto process = ServerProcess::Start(
        RunfilePath("services/token_service"),
        {"--listen", "127.0.0.1:0", "--data-dir", data_dir_});
    EXPECT_TRUE(process.ok()) << process.status();
    return process.ok() ? *std::move(process) : nullptr;
  }

  v1::Reason Reason(const std::string& token) {
    return CheckWith(stub_.get(), token, kDeployment, kOperation).reason();
  }

  // /readyz and a Check of `token` both say ready.
  std::function<bool()> ReadyChecking(const std::string& token) {
    return [this, token] {
      return HttpGet(verifier_->http_address(), "/readyz").status == 200 &&
             Reason(token) != v1::NOT_READY;
    };
  }

  std::string Metrics() {
    return HttpGet(verifier_->http_address(), "/metrics").body;
  }

  // Syncs, verifies on A, loses A by `signal`, and must move to B without
  // ever being unready, then follow B's changes.
  void LoseReplicaA(int signal, absl::Duration bound) {
    ReplicaAdmin admin_a(a_->address(), admin_key_);
    const v1::CreateTokenResponse kept = admin_a.Create(kDeployment, "kept");
    const v1::CreateTokenResponse doomed =
        admin_a.Create(kDeployment, "doomed");
    ASSERT_TRUE(WaitFor([&] { return Reason(doomed.secret()) == v1::ALLOWED; },
                        kPropagationBound));
    ASSERT_EQ(FeedTargetIn(Metrics()), a_->address());

    ASSERT_EQ(kill(a_->pid(), signal), 0);
    const ReadyWait moved = WaitStayingReady(
        ReadyChecking(kept.secret()),
        [&] { return FeedTargetIn(Metrics()) == b_->address(); }, bound);
    ASSERT_TRUE(moved.reached) << verifier_->Log();
    EXPECT_EQ(moved.not_ready, 0) << "of " << moved.polls << " polls";
    EXPECT_NE(Metrics().find("token_verifier_feed_failovers_total 1\n"),
              std::string::npos);

    ReplicaAdmin admin_b(b_->address(), admin_key_);
    const v1::CreateTokenResponse added = admin_b.Create(kDeployment, "added");
    admin_b.Delete(doomed.token().id());
    const ReadyWait caught_up = WaitStayingReady(
        ReadyChecking(kept.secret()),
        [&] {
          return Reason(added.secret()) == v1::ALLOWED &&
                 Reason(doomed.secret()) == v1::REVOKED_TOKEN;
        },
        kPropagationBound);
    EXPECT_TRUE(caught_up.reached);
    EXPECT_EQ(caught_up.not_ready, 0);
    EXPECT_EQ(Reason(kept.secret()), v1::ALLOWED);
    const std::string log = verifier_->Log();
    EXPECT_NE(log.find(absl::StrCat("\"event\":\"feed.failover\",\"from\":\"",
                                    a_->address(), "\",\"to\":\"",
                                    b_->address(), "\"")),
              std::string::npos)
        << log;
    EXPECT_EQ(log.find(admin_key_), std::string::npos);
  }

  std::string data_dir_;
  std::string admin_key_;
  std::unique_ptr<ServerProcess> a_;
  std::unique_ptr<ServerProcess> b_;
  std::unique_ptr<ServerProcess> verifier_;
  std::unique_ptr<v1::Verifier::Stub> stub_;
};

TEST_F(FailoverProcessTest, RidesOutACrashedReplica) {
  LoseReplicaA(SIGKILL, kPropagationBound);
}

TEST_F(FailoverProcessTest, LeavesAFrozenReplicaWhenItsHeartbeatIsOverdue) {
  LoseReplicaA(SIGSTOP, kFreezeBound);
  EXPECT_NE(verifier_->Log().find("\"event\":\"feed.heartbeat_overdue\""),
            std::string::npos);
}

}  // namespace
}  // namespace tokens::testing
