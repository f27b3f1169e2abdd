// Leaked tokens across the real binaries: token_service with --notify-url
// posting to a receiver in this test, a `reporter` caller in its credentials
// file, and two verifiers fed by it. A reported value stops verifying at both
// verifiers, the audit log and the webhook get token.leaked with the reporter
// and the location, and a token created with self_rotate renews itself with
// RotateSelf, its old value dying at once or after the grace period.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/file_util.h"
#include "common/http_server.h"
#include "common/token_value.h"
#include "gtest/gtest.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "services/caller_registry.h"
#include "services/notifier.h"
#include "tests/testing/server_process.h"

namespace tokens::testing {
namespace {

constexpr char kHmacKey[] = "a webhook key of more than 16 bytes";

struct Delivery {
  std::string event;
  std::string body;
};

std::unique_ptr<grpc::ClientContext> As(const std::string& key) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(10));
  ctx->AddMetadata("authorization", "Bearer " + key);
  return ctx;
}

class LeakedTokensE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto receiver = HttpServer::Start(
        "127.0.0.1:0", [this](const HttpRequest& request, std::string_view) {
          absl::MutexLock lock(&mu_);
          deliveries_.push_back(
              {std::string(request["X-Tokens-Event"]), request.body()});
          return MakeHttpResponse(boost::beast::http::status::ok,
                                  request.version(), "ok");
        });
    ASSERT_TRUE(receiver.ok()) << receiver.status();
    receiver_ = *std::move(receiver);

    const std::string dir = NewTempDir("leaks");
    const std::string data_dir = dir + "/var";
    ASSERT_TRUE(MakePrivateDirectory(data_dir).ok());
    admin_key_ = *CallerRegistry::GenerateKey();
    verifier_key_ = *CallerRegistry::GenerateKey();
    reporter_key_ = *CallerRegistry::GenerateKey();
    ASSERT_TRUE(
        WritePrivateFile(
            data_dir + "/credentials",
            absl::StrCat("admin admin ",
                         CallerRegistry::KeyDigestHex(admin_key_),
                         "\nverifier verifier ",
                         CallerRegistry::KeyDigestHex(verifier_key_),
                         "\nscanner reporter ",
                         CallerRegistry::KeyDigestHex(reporter_key_), "\n"))
            .ok());
    ASSERT_TRUE(
        WritePrivateFile(data_dir + "/verifier.key", verifier_key_).ok());
    ASSERT_TRUE(WritePrivateFile(dir + "/notify.key", kHmacKey).ok());
    auto service = ServerProcess::Start(
        RunfilePath("services/token_service"),
        {"--listen", "127.0.0.1:0", "--data-dir", data_dir, "--notify-url",
         absl::StrCat("http://127.0.0.1:", receiver_->port(), "/hooks"),
         "--notify-key-file", dir + "/notify.key"});
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = *std::move(service);
    for (const char* name : {"sidecar-a", "sidecar-b"}) {
      auto verifier = ServerProcess::Start(
          RunfilePath("verifier/token_verifier"),
          {"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
           "--token-service", service_->address(), "--key-file",
           data_dir + "/verifier.key", "--name", name},
          /*listen_lines=*/2);
      ASSERT_TRUE(verifier.ok()) << verifier.status();
      checks_.push_back(v1::Verifier::NewStub(grpc::CreateChannel(
          (*verifier)->address(), grpc::InsecureChannelCredentials())));
      verifiers_.push_back(*std::move(verifier));
    }
    stub_ = v1::TokenService::NewStub(grpc::CreateChannel(
        service_->address(), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    verifiers_.clear();
    service_.reset();
    if (receiver_ != nullptr) receiver_->Stop();
  }

  v1::CreateTokenResponse Create(const std::string& name, bool self_rotate) {
    v1::CreateTokenRequest request;
    request.set_deployment_id("prod");
    request.set_name(name);
    request.set_expiration_days(30);
    request.set_self_rotate(self_rotate);
    v1::CreateTokenResponse response;
    grpc::Status status =
        stub_->CreateToken(As(admin_key_).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  v1::Reason Check(size_t verifier, const std::string& value) {
    grpc::ClientContext ctx;
    v1::CheckRequest request;
    request.set_token(value);
    request.set_deployment_id("prod");
    request.set_operation("deployment.get");
    v1::CheckResponse response;
    EXPECT_TRUE(checks_[verifier]->Check(&ctx, request, &response).ok());
    return response.reason();
  }

  // Waits until every verifier answers `reason` for `value`.
  bool EveryVerifierSays(const std::string& value, v1::Reason reason) {
    return WaitFor(
        [&] {
          for (size_t i = 0; i < checks_.size(); ++i) {
            if (Check(i, value) != reason) return false;
          }
          return true;
        },
        absl::Seconds(20));
  }

  std::vector<v1::AuditEvent> Audit() {
    v1::ListAuditEventsRequest request;
    request.set_deployment_id("prod");
    request.set_page_size(100);
    v1::ListAuditEventsResponse response;
    stub_->ListAuditEvents(As(admin_key_).get(), request, &response);
    return {response.events().begin(), response.events().end()};
  }

  std::vector<Delivery> Deliveries() {
    absl::MutexLock lock(&mu_);
    return deliveries_;
  }

  absl::Mutex mu_;
  std::vector<Delivery> deliveries_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<HttpServer> receiver_;
  std::unique_ptr<ServerProcess> service_;
  std::vector<std::unique_ptr<ServerProcess>> verifiers_;
  std::vector<std::unique_ptr<v1::Verifier::Stub>> checks_;
  std::unique_ptr<v1::TokenService::Stub> stub_;
  std::string admin_key_;
  std::string verifier_key_;
  std::string reporter_key_;
};

TEST_F(LeakedTokensE2eTest, AReportedValueStopsVerifyingEverywhere) {
  v1::CreateTokenResponse leaked = Create("leaked", false);
  v1::CreateTokenResponse kept = Create("kept", false);
  ASSERT_TRUE(EveryVerifierSays(leaked.secret(), v1::ALLOWED));

  v1::ReportLeakedTokensRequest report;
  report.add_digests(DigestToBytes(DigestOf(leaked.secret())));
  report.set_location("https://github.com/acme/app/blob/main/deploy.sh#L12");
  v1::ReportLeakedTokensResponse answer;
  grpc::Status status =
      stub_->ReportLeakedTokens(As(reporter_key_).get(), report, &answer);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(answer.received(), 1);

  EXPECT_TRUE(EveryVerifierSays(leaked.secret(), v1::REVOKED_TOKEN));
  EXPECT_TRUE(EveryVerifierSays(kept.secret(), v1::ALLOWED));

  bool audited = false;
  for (const v1::AuditEvent& event : Audit()) {
    if (event.action() != "token.leaked") continue;
    audited = true;
    EXPECT_EQ(event.principal(), "scanner");
    EXPECT_EQ(event.token_id(), leaked.token().id());
    EXPECT_TRUE(absl::StrContains(event.detail(), "deploy.sh#L12"));
  }
  EXPECT_TRUE(audited);
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const Delivery& d : Deliveries()) {
          if (d.event == "token.leaked") return true;
        }
        return false;
      },
      absl::Seconds(20)))
      << service_->Log();
  for (const Delivery& d : Deliveries()) {
    if (d.event != "token.leaked") continue;
    EXPECT_TRUE(absl::StrContains(d.body, leaked.token().id())) << d.body;
    EXPECT_TRUE(absl::StrContains(d.body, "scanner")) << d.body;
    EXPECT_FALSE(absl::StrContains(d.body, leaked.secret().substr(4, 20)));
  }
  EXPECT_FALSE(absl::StrContains(service_->Log(), leaked.secret()));
}

TEST_F(LeakedTokensE2eTest, ATokenRenewsItselfWithAGracePeriod) {
  v1::CreateTokenResponse created = Create("pipeline", true);
  ASSERT_TRUE(EveryVerifierSays(created.secret(), v1::ALLOWED));

  v1::RotateSelfRequest request;
  request.set_grace_period_seconds(3600);
  v1::RotateTokenResponse rotated;
  grpc::Status status =
      stub_->RotateSelf(As(created.secret()).get(), request, &rotated);
  ASSERT_TRUE(status.ok()) << status.error_message();
  // Both verify during the grace period; then the new one renews without it
  // and the first value dies at once.
  EXPECT_TRUE(EveryVerifierSays(rotated.secret(), v1::ALLOWED));
  EXPECT_EQ(Check(0, created.secret()), v1::ALLOWED);
  EXPECT_EQ(Check(1, created.secret()), v1::ALLOWED);

  request.set_grace_period_seconds(0);
  v1::RotateTokenResponse again;
  status = stub_->RotateSelf(As(rotated.secret()).get(), request, &again);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(EveryVerifierSays(again.secret(), v1::ALLOWED));
  EXPECT_TRUE(EveryVerifierSays(rotated.secret(), v1::REVOKED_TOKEN));
  EXPECT_TRUE(EveryVerifierSays(created.secret(), v1::REVOKED_TOKEN));

  int self_rotations = 0;
  for (const v1::AuditEvent& event : Audit()) {
    if (event.action() == "token.rotate" && event.outcome() == "OK") {
      EXPECT_EQ(event.principal(), "token:" + created.token().id());
      ++self_rotations;
    }
  }
  EXPECT_EQ(self_rotations, 2);
}

TEST_F(LeakedTokensE2eTest, RotateSelfIsDeniedWithoutTheFlagOrAValue) {
  v1::CreateTokenResponse plain = Create("plain", false);
  v1::RotateSelfRequest request;
  v1::RotateTokenResponse response;
  EXPECT_EQ(stub_->RotateSelf(As(plain.secret()).get(), request, &response)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(
      stub_->RotateSelf(As(admin_key_).get(), request, &response).error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(EveryVerifierSays(plain.secret(), v1::ALLOWED));
}

}  // namespace
}  // namespace tokens::testing
