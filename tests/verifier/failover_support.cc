#include "tests/verifier/failover_support.h"

#include <utility>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace tokens::testing {

ReplicaAdmin::ReplicaAdmin(
    const std::string& address, std::string key,
    std::shared_ptr<grpc::ChannelCredentials> credentials)
    : stub_(v1::TokenService::NewStub(
          grpc::CreateChannel(address, std::move(credentials)))),
      key_(std::move(key)) {}

std::unique_ptr<grpc::ClientContext> ReplicaAdmin::Context() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("authorization", "Bearer " + key_);
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(10));
  return context;
}

v1::CreateTokenResponse ReplicaAdmin::Create(const std::string& deployment,
                                             const std::string& name) {
  v1::CreateTokenRequest request;
  request.set_deployment_id(deployment);
  request.set_name(name);
  v1::CreateTokenResponse response;
  grpc::Status status = stub_->CreateToken(Context().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

void ReplicaAdmin::Delete(const std::string& id) {
  v1::DeleteTokenRequest request;
  request.set_id(id);
  google::protobuf::Empty empty;
  grpc::Status status = stub_->DeleteToken(Context().get(), request, &empty);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

v1::Token ReplicaAdmin::Get(const std::string& id) {
  v1::GetTokenRequest request;
  request.set_id(id);
  v1::Token token;
  grpc::Status status = stub_->GetToken(Context().get(), request, &token);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return token;
}

ReadyWait WaitStayingReady(const std::function<bool()>& ready,
                           const std::function<bool()>& condition,
                           absl::Duration timeout) {
  ReadyWait wait;
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    ++wait.polls;
    if (!ready()) ++wait.not_ready;
    if (condition()) {
      wait.reached = true;
      return wait;
    }
    if (absl::Now() > deadline) return wait;
    absl::SleepFor(absl::Milliseconds(5));  // paces the polling only
  }
}

std::string FeedTargetIn(const std::string& metrics) {
  static constexpr char kPrefix[] = "token_verifier_feed_target_info{target=\"";
  const size_t start = metrics.find(kPrefix);
  if (start == std::string::npos) return "";
  const size_t begin = start + sizeof(kPrefix) - 1;
  const size_t end = metrics.find("\"} 1\n", begin);
  if (end == std::string::npos) return "";
  return metrics.substr(begin, end - begin);
}

}  // namespace tokens::testing
