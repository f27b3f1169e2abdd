#include "tests/verifier/verifier_fixture.h"

#include "absl/strings/str_cat.h"
#include "tests/testing/server_process.h"

namespace tokens::testing {

void VerifierTest::TearDown() {
  StopVerifier();
  TokenServiceTest::TearDown();
}

VerifierOptions VerifierTest::DefaultVerifierOptions() const {
  VerifierOptions options;
  options.feed_wait_clock = RealClock();  // the feed reconnects on real time
  options.listen = "127.0.0.1:0";
  options.http_listen = "127.0.0.1:0";
  options.token_service = absl::StrCat("127.0.0.1:", server_->port());
  options.key_file = data_dir_ + "/verifier.key";
  return options;
}

void VerifierTest::StartVerifier(VerifierOptions options) {
  auto verifier = VerifierServer::BuildAndStart(options, &clock_);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  verifier_ = *std::move(verifier);
  verifier_channel_ =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", verifier_->grpc_port()),
                          grpc::InsecureChannelCredentials());
  verifier_stub_ = v1::Verifier::NewStub(verifier_channel_);
}

void VerifierTest::StopVerifier() {
  verifier_stub_.reset();
  verifier_channel_.reset();
  if (verifier_ != nullptr) verifier_->Shutdown(absl::Seconds(1));
  verifier_.reset();
}

void VerifierTest::RestartServerOnSamePort(TokenServerOptions options) {
  const int port = server_->port();
  StopServer();
  StartServerOnPort(port, std::move(options));
}

void VerifierTest::ChangeWhileVerifierIsAway(
    const std::function<void()>& changes) {
  const int port = server_->port();
  const TokenServerOptions options = options_;
  StopServer();
  StartServer(options);  // port 0: not where the verifier looks
  changes();
  StopServer();
  StartServerOnPort(port, options);
}

void VerifierTest::StartServerOnPort(int port, TokenServerOptions options) {
  options.listen = absl::StrCat("127.0.0.1:", port);
  options.data_dir = data_dir_;
  if (options.feed_clock == nullptr) options.feed_clock = RealClock();
  options_ = options;
  auto server = TokenServer::BuildAndStart(options, &clock_);
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
  channel_ =
      grpc::CreateChannel(options.listen, grpc::InsecureChannelCredentials());
  stub_ = v1::TokenService::NewStub(channel_);
}

v1::CheckResponse CheckWith(v1::Verifier::Stub* stub, const std::string& token,
                            const std::string& deployment,
                            const std::string& operation) {
  v1::CheckRequest request;
  request.set_token(token);
  request.set_deployment_id(deployment);
  request.set_operation(operation);
  v1::CheckResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  grpc::Status status = stub->Check(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

v1::CheckResponse VerifierTest::Check(const std::string& token,
                                      const std::string& deployment,
                                      const std::string& operation) {
  return CheckWith(verifier_stub_.get(), token, deployment, operation);
}

v1::CheckResponse VerifierTest::WaitForReason(const std::string& token,
                                              const std::string& deployment,
                                              const std::string& operation,
                                              v1::Reason want) {
  v1::CheckResponse last;
  WaitFor(
      [&] {
        last = Check(token, deployment, operation);
        return last.reason() == want;
      },
      kPropagationBound);
  return last;
}

bool VerifierTest::WaitUntilReady() {
  return WaitFor([&] { return verifier_->IsReady(); }, kPropagationBound);
}

HttpResult VerifierTest::Http(
    const std::string& target,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  return HttpGet(absl::StrCat("127.0.0.1:", verifier_->http_port()), target,
                 headers);
}

HttpResult VerifierTest::ForwardAuth(const std::string& token,
                                     const std::string& deployment,
                                     const std::string& operation) {
  return Http("/v1/authorize", {{"Authorization", "Bearer " + token},
                                {"X-Deployment-Id", deployment},
                                {"X-Operation", operation}});
}

v1::Token VerifierTest::GetToken(const std::string& id) {
  v1::GetTokenRequest request;
  request.set_id(id);
  v1::Token token;
  grpc::Status status = stub_->GetToken(AsAdmin().get(), request, &token);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return token;
}

}  // namespace tokens::testing
