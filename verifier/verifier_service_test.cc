// Runs VerifierService in an in-process gRPC server on a loopback port.
#include "verifier/verifier_service.h"

#include <grpcpp/grpcpp.h>

#include "gtest/gtest.h"
#include "verifier/test_support.h"

namespace tokens {
namespace {

using testing_support::CoreFixture;
using testing_support::NewTokenValue;
using testing_support::Upsert;

class VerifierServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::Verifier::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                            grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(); }

  grpc::Status Check(const v1::CheckRequest& request,
                     v1::CheckResponse* response,
                     const std::string& authorization = "") {
    grpc::ClientContext context;
    if (!authorization.empty()) {
      context.AddMetadata("authorization", authorization);
    }
    return stub_->Check(&context, request, response);
  }

  static v1::CheckRequest Request(const std::string& token,
                                  const std::string& deployment,
                                  const std::string& operation) {
    v1::CheckRequest request;
    request.set_token(token);
    request.set_deployment_id(deployment);
    request.set_operation(operation);
    return request;
  }

  CoreFixture fx_;
  VerifierService service_{&fx_.core};
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Verifier::Stub> stub_;
  const std::string value_ = NewTokenValue();
};

TEST_F(VerifierServiceTest, AllowedCarriesTokenIdAndExpiry) {
  const absl::Time expiry = fx_.clock.Now() + absl::Hours(48);
  fx_.Sync({Upsert(1, "tok_a", "dep-1", value_, expiry)});
  v1::CheckResponse response;
  ASSERT_TRUE(
      Check(Request(value_, "dep-1", "deployment.deploys.create"), &response)
          .ok());
  EXPECT_TRUE(response.allowed());
  EXPECT_EQ(response.reason(), v1::ALLOWED);
  EXPECT_EQ(response.token_id(), "tok_a");
  EXPECT_EQ(response.expire_time().seconds(), absl::ToUnixSeconds(expiry));
}

TEST_F(VerifierServiceTest, TokenComesFromBearerMetadataWhenFieldIsEmpty) {
  fx_.Sync({Upsert(1, "tok_a", "dep-1", value_)});
  v1::CheckResponse response;
  ASSERT_TRUE(Check(Request("", "dep-1", "deployment.get"), &response,
                    "Bearer " + value_)
                  .ok());
  EXPECT_TRUE(response.allowed());
  EXPECT_FALSE(response.has_expire_time());
}

TEST_F(VerifierServiceTest, DenialIsAnOkResponse) {
  fx_.Sync({Upsert(1, "tok_a", "dep-1", value_)});
  v1::CheckResponse response;
  ASSERT_TRUE(
      Check(Request(value_, "dep-2", "deployment.get"), &response).ok());
  EXPECT_FALSE(response.allowed());
  EXPECT_EQ(response.reason(), v1::WRONG_DEPLOYMENT);
  EXPECT_EQ(response.token_id(), "tok_a");

  ASSERT_TRUE(Check(Request("", "dep-1", "deployment.get"), &response).ok());
  EXPECT_EQ(response.reason(), v1::MALFORMED_TOKEN);
}

TEST_F(VerifierServiceTest, RevokedValueNamesItsToken) {
  const std::string new_value = NewTokenValue();
  const absl::Time now = fx_.clock.Now();
  fx_.Sync({testing_support::Rotate(2, "tok_a", "dep-1", new_value, value_, now,
                                    now)},
           {testing_support::Revoked(value_, "tok_a", now)});
  v1::CheckResponse response;
  ASSERT_TRUE(
      Check(Request(value_, "dep-1", "deployment.get"), &response).ok());
  EXPECT_FALSE(response.allowed());
  EXPECT_EQ(response.reason(), v1::REVOKED_TOKEN);
  EXPECT_EQ(response.token_id(), "tok_a");
  EXPECT_FALSE(response.has_expire_time());
  ASSERT_TRUE(
      Check(Request(new_value, "dep-1", "deployment.get"), &response).ok());
  EXPECT_TRUE(response.allowed());
}

TEST_F(VerifierServiceTest, NotReadyBeforeSync) {
  v1::CheckResponse response;
  ASSERT_TRUE(
      Check(Request(value_, "dep-1", "deployment.get"), &response).ok());
  EXPECT_FALSE(response.allowed());
  EXPECT_EQ(response.reason(), v1::NOT_READY);
}

TEST_F(VerifierServiceTest, MissingOrOversizedFieldsAreInvalidArgument) {
  fx_.Sync({});
  v1::CheckResponse response;
  grpc::Status status = Check(Request(value_, "", "deployment.get"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("deployment_id"), std::string::npos);
  status = Check(Request(value_, "dep-1", ""), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("operation"), std::string::npos);
  status = Check(Request(value_, "dep-1", std::string(257, 'o')), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("operation"), std::string::npos);
  EXPECT_TRUE(
      Check(Request(value_, std::string(256, 'd'), "x"), &response).ok());
}

}  // namespace
}  // namespace tokens
