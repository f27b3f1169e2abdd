// Both real binaries on free ports: health, reflection, graceful shutdown, and
// no secret in either process's log after a full token lifecycle.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "gtest/gtest.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "tests/testing/raw_grpc.h"
#include "tests/testing/server_process.h"

namespace tokens::testing {
namespace {

constexpr int kServing = 1;

class SystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = NewTempDir("system") + "/var";
    auto service = ServerProcess::Start(
        RunfilePath("services/token_service"),
        {"--listen", "127.0.0.1:0", "--data-dir", data_dir_});
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = *std::move(service);
    auto verifier = ServerProcess::Start(
        RunfilePath("verifier/token_verifier"),
        {"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
         "--token-service", service_->address(), "--key-file",
         data_dir_ + "/verifier.key"},
        /*listen_lines=*/2);
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    verifier_ = *std::move(verifier);
    service_channel_ = grpc::CreateChannel(service_->address(),
                                           grpc::InsecureChannelCredentials());
    verifier_channel_ = grpc::CreateChannel(verifier_->address(),
                                            grpc::InsecureChannelCredentials());
    admin_key_ = *ReadKeyFile(data_dir_ + "/admin.key");
  }

  std::unique_ptr<grpc::ClientContext> AsAdmin() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(10));
    ctx->AddMetadata("authorization", "Bearer " + admin_key_);
    return ctx;
  }

  bool VerifierServing() {
    auto status = HealthCheck(verifier_channel_, "");
    return status.ok() && *status == kServing;
  }

  std::string data_dir_;
  std::unique_ptr<ServerProcess> service_;
  std::unique_ptr<ServerProcess> verifier_;
  std::shared_ptr<grpc::Channel> service_channel_;
  std::shared_ptr<grpc::Channel> verifier_channel_;
  std::string admin_key_;
};

TEST_F(SystemTest, BothServersAnswerHealthChecks) {
  auto service = HealthCheck(service_channel_, "");
  ASSERT_TRUE(service.ok()) << service.status();
  EXPECT_EQ(*service, kServing);
  // The verifier reports SERVING once it has synced with TokenService.
  EXPECT_TRUE(WaitFor([&] { return VerifierServing(); }, absl::Seconds(20)));
}

TEST_F(SystemTest, ReflectionListsTheContractServices) {
  auto services = ReflectionListServices(service_channel_);
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_NE(
      std::find(services->begin(), services->end(), "tokens.v1.TokenService"),
      services->end());
  EXPECT_NE(
      std::find(services->begin(), services->end(), "grpc.health.v1.Health"),
      services->end());
  auto verifier_services = ReflectionListServices(verifier_channel_);
  ASSERT_TRUE(verifier_services.ok()) << verifier_services.status();
  EXPECT_NE(std::find(verifier_services->begin(), verifier_services->end(),
                      "tokens.v1.Verifier"),
            verifier_services->end());
}

TEST_F(SystemTest, ReflectionDescribesMessagesForGrpcurl) {
  auto files = ReflectionFileNamesContaining(service_channel_,
                                             "tokens.v1.CreateTokenRequest");
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_NE(
      std::find(files->begin(), files->end(), "proto/tokens/v1/tokens.proto"),
      files->end());
}

TEST_F(SystemTest, SigtermStopsBothGracefully) {
  int verifier_status = verifier_->Stop(SIGTERM);
  int service_status = service_->Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(verifier_status) && WEXITSTATUS(verifier_status) == 0);
  EXPECT_TRUE(WIFEXITED(service_status) && WEXITSTATUS(service_status) == 0);
}

TEST_F(SystemTest, LogsAreJsonLinesWithoutAnySecret) {
  ASSERT_TRUE(WaitFor([&] { return VerifierServing(); }, absl::Seconds(20)));
  auto stub = v1::TokenService::NewStub(service_channel_);
  auto verifier = v1::Verifier::NewStub(verifier_channel_);
  std::vector<std::string> secrets;
  v1::CreateTokenRequest create;
  create.set_deployment_id("prod");
  create.set_name("lifecycle");
  v1::CreateTokenResponse created;
  ASSERT_TRUE(stub->CreateToken(AsAdmin().get(), create, &created).ok());
  secrets.push_back(created.secret());
  // Use it, rotate it, use both values, delete it.
  auto check = [&](const std::string& token) {
    grpc::ClientContext ctx;
    v1::CheckRequest request;
    request.set_token(token);
    request.set_deployment_id("prod");
    request.set_operation("deployment.get");
    v1::CheckResponse response;
    EXPECT_TRUE(verifier->Check(&ctx, request, &response).ok());
  };
  check(created.secret());
  v1::RotateTokenRequest rotate;
  rotate.set_id(created.token().id());
  v1::RotateTokenResponse rotated;
  ASSERT_TRUE(stub->RotateToken(AsAdmin().get(), rotate, &rotated).ok());
  secrets.push_back(rotated.secret());
  check(created.secret());
  check(rotated.secret());
  v1::DeleteTokenRequest del;
  del.set_id(created.token().id());
  google::protobuf::Empty empty;
  ASSERT_TRUE(stub->DeleteToken(AsAdmin().get(), del, &empty).ok());
  check(rotated.secret());
  // A caller that sends a token as its key must not see it echoed in logs
  // either.
  grpc::ClientContext bad;
  bad.AddMetadata("authorization", "Bearer " + rotated.secret());
  v1::Token token;
  v1::GetTokenRequest get;
  get.set_id(created.token().id());
  EXPECT_FALSE(stub->GetToken(&bad, get, &token).ok());

  verifier_->Stop(SIGTERM);
  service_->Stop(SIGTERM);
  for (const std::string& log : {service_->Log(), verifier_->Log()}) {
    EXPECT_FALSE(log.empty());
    for (const std::string& secret : secrets) {
      EXPECT_EQ(log.find(secret), std::string::npos);
      EXPECT_EQ(log.find(secret.substr(4, 43)), std::string::npos);
    }
    // One JSON object a line.
    size_t start = 0;
    while (start < log.size()) {
      size_t end = log.find('\n', start);
      if (end == std::string::npos) end = log.size();
      std::string line = log.substr(start, end - start);
      if (!line.empty()) {
        EXPECT_EQ(line.front(), '{') << line;
        EXPECT_EQ(line.back(), '}') << line;
      }
      start = end + 1;
    }
  }
  EXPECT_NE(service_->Log().find("\"method\":\"CreateToken\""),
            std::string::npos);
}

}  // namespace
}  // namespace tokens::testing
