// VerifierServer start-up: option checks, and serving before any TokenService
// is reachable.
#include "verifier/verifier_server.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "common/fake_clock.h"
#include "gtest/gtest.h"

namespace tokens {
namespace {

class VerifierServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    key_file_ = std::string(tmp != nullptr ? tmp : "/tmp") + "/verifier.key";
    std::ofstream(key_file_) << "  a-verifier-key\n";
    options_.feed_wait_clock = RealClock();
    options_.listen = "127.0.0.1:0";
    options_.http_listen = "127.0.0.1:0";
    // Nothing listens on port 1: the verifier starts but never syncs.
    options_.token_service = "127.0.0.1:1";
    options_.key_file = key_file_;
  }

  std::string key_file_;
  VerifierOptions options_;
  FakeClock clock_{absl::FromUnixSeconds(1700000000)};
};

TEST_F(VerifierServerTest, StartsOnFreePortsAndIsNotReadyWithoutAFeed) {
  auto server = VerifierServer::BuildAndStart(options_, &clock_);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT((*server)->grpc_port(), 0);
  EXPECT_GT((*server)->http_port(), 0);
  EXPECT_NE((*server)->grpc_port(), (*server)->http_port());
  EXPECT_FALSE((*server)->IsReady());
  (*server)->Shutdown();
  (*server)->Shutdown();  // idempotent
}

TEST_F(VerifierServerTest, RejectsBadOptions) {
  VerifierOptions options = options_;
  options.key_file = key_file_ + ".missing";
  EXPECT_FALSE(VerifierServer::BuildAndStart(options, &clock_).ok());

  options = options_;
  options.deployment = "Not_A_Deployment";
  auto bad_deployment = VerifierServer::BuildAndStart(options, &clock_);
  EXPECT_EQ(bad_deployment.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_deployment.status().message().find("deployment"),
            std::string::npos);

  options = options_;
  options.max_staleness = absl::ZeroDuration();
  EXPECT_EQ(VerifierServer::BuildAndStart(options, &clock_).status().code(),
            absl::StatusCode::kInvalidArgument);

  options = options_;
  options.listen = "no-port";
  EXPECT_EQ(VerifierServer::BuildAndStart(options, &clock_).status().code(),
            absl::StatusCode::kInvalidArgument);

  options = options_;
  options.http_listen = "127.0.0.1:99999";
  EXPECT_EQ(VerifierServer::BuildAndStart(options, &clock_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(VerifierServerTest, TokenServiceIsAListOfReplicas) {
  VerifierOptions options = options_;
  // A dns:/// target with an IP literal: gRPC resolves it without a c-ares
  // query, whose buffer c-ares may leak (LeakSanitizer, make test's ASan pass)
  // when the channel goes away while the lookup is still in flight.
  options.token_service = "127.0.0.1:1,dns:///127.0.0.1:2";
  auto server = VerifierServer::BuildAndStart(options, &clock_);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_EQ((*server)->targets().size(), 2u);
  EXPECT_EQ((*server)->targets().address(1), "dns:///127.0.0.1:2");

  for (const char* bad : {"", "127.0.0.1:1,", "127.0.0.1:1,127.0.0.1:1"}) {
    options.token_service = bad;
    auto refused = VerifierServer::BuildAndStart(options, &clock_);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
    EXPECT_NE(refused.status().message().find("--token-service"),
              std::string::npos);
  }
}

TEST_F(VerifierServerTest, HttpPortInUseIsUnavailable) {
  auto first = VerifierServer::BuildAndStart(options_, &clock_);
  ASSERT_TRUE(first.ok()) << first.status();
  VerifierOptions options = options_;
  options.http_listen = "127.0.0.1:" + std::to_string((*first)->http_port());
  EXPECT_EQ(VerifierServer::BuildAndStart(options, &clock_).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tokens
