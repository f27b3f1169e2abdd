// Token hygiene across the real binaries: token_service with --notify-url
// posting to a receiver in this test, and a verifier with --name. A value
// rotated away is REVOKED_TOKEN at the verifier, its reuse reaches the audit
// log with the verifier's name and the end client's address, and the webhook
// receives token.create, token.rotate and token.reuse_detected, each signed,
// none carrying a value or digest.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/file_util.h"
#include "common/http_server.h"
#include "common/token_value.h"
#include "gtest/gtest.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "services/notifier.h"
#include "tests/testing/server_process.h"

namespace tokens::testing {
namespace {

constexpr char kHmacKey[] = "a webhook key of more than 16 bytes";

struct Delivery {
  std::string event;
  std::string signature;
  std::string body;
};

class HygieneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto receiver = HttpServer::Start(
        "127.0.0.1:0", [this](const HttpRequest& request, std::string_view) {
          absl::MutexLock lock(&mu_);
          deliveries_.push_back({std::string(request["X-Tokens-Event"]),
                                 std::string(request["X-Tokens-Signature-256"]),
                                 request.body()});
          return MakeHttpResponse(boost::beast::http::status::ok,
                                  request.version(), "ok");
        });
    ASSERT_TRUE(receiver.ok()) << receiver.status();
    receiver_ = *std::move(receiver);

    const std::string dir = NewTempDir("hygiene");
    data_dir_ = dir + "/var";
    const std::string key_file = dir + "/notify.key";
    ASSERT_TRUE(WritePrivateFile(key_file, kHmacKey).ok());
    auto service = ServerProcess::Start(
        RunfilePath("services/token_service"),
        {"--listen", "127.0.0.1:0", "--data-dir", data_dir_, "--notify-url",
         absl::StrCat("http://127.0.0.1:", receiver_->port(), "/hooks/tokens"),
         "--notify-key-file", key_file});
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = *std::move(service);
    auto verifier = ServerProcess::Start(
        RunfilePath("verifier/token_verifier"),
        {"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
         "--token-service", service_->address(), "--key-file",
         data_dir_ + "/verifier.key", "--name", "ci-runner-7",
         "--usage-report-interval", "100ms"},
        /*listen_lines=*/2);
    ASSERT_TRUE(verifier.ok()) << verifier.status();
    verifier_ = *std::move(verifier);
    stub_ = v1::TokenService::NewStub(grpc::CreateChannel(
        service_->address(), grpc::InsecureChannelCredentials()));
    check_ = v1::Verifier::NewStub(grpc::CreateChannel(
        verifier_->address(), grpc::InsecureChannelCredentials()));
    admin_key_ = *ReadKeyFile(data_dir_ + "/admin.key");
  }

  void TearDown() override {
    verifier_.reset();
    service_.reset();
    if (receiver_ != nullptr) receiver_->Stop();
  }

  std::unique_ptr<grpc::ClientContext> AsAdmin() {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(10));
    ctx->AddMetadata("authorization", "Bearer " + admin_key_);
    return ctx;
  }

  // A check as the sidecar's own app makes it for end client 203.0.113.7.
  v1::CheckResponse Check(const std::string& value) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("x-forwarded-for", "203.0.113.7");
    v1::CheckRequest request;
    request.set_token(value);
    request.set_deployment_id("prod");
    request.set_operation("deployment.get");
    v1::CheckResponse response;
    EXPECT_TRUE(check_->Check(&ctx, request, &response).ok());
    return response;
  }

  std::vector<v1::AuditEvent> Audit() {
    v1::ListAuditEventsRequest request;
    request.set_deployment_id("prod");
    request.set_page_size(100);
    v1::ListAuditEventsResponse response;
    stub_->ListAuditEvents(AsAdmin().get(), request, &response);
    return {response.events().begin(), response.events().end()};
  }

  std::vector<Delivery> Deliveries() {
    absl::MutexLock lock(&mu_);
    return deliveries_;
  }

  absl::Mutex mu_;
  std::vector<Delivery> deliveries_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<HttpServer> receiver_;
  std::string data_dir_;
  std::unique_ptr<ServerProcess> service_;
  std::unique_ptr<ServerProcess> verifier_;
  std::unique_ptr<v1::TokenService::Stub> stub_;
  std::unique_ptr<v1::Verifier::Stub> check_;
  std::string admin_key_;
};

TEST_F(HygieneTest, ReuseOfARotatedValueIsDeniedAuditedAndPosted) {
  v1::CreateTokenRequest create;
  create.set_deployment_id("prod");
  create.set_name("pipeline");
  create.set_expiration_days(30);
  v1::CreateTokenResponse created;
  ASSERT_TRUE(stub_->CreateToken(AsAdmin().get(), create, &created).ok());
  const std::string id = created.token().id();
  ASSERT_TRUE(WaitFor([&] { return Check(created.secret()).allowed(); },
                      absl::Seconds(20)));

  v1::RotateTokenRequest rotate;
  rotate.set_id(id);
  v1::RotateTokenResponse rotated;
  ASSERT_TRUE(stub_->RotateToken(AsAdmin().get(), rotate, &rotated).ok());
  ASSERT_TRUE(WaitFor([&] { return Check(rotated.secret()).allowed(); },
                      absl::Seconds(20)));
  const v1::CheckResponse old = Check(created.secret());
  EXPECT_FALSE(old.allowed());
  EXPECT_EQ(old.reason(), v1::REVOKED_TOKEN);
  EXPECT_EQ(old.token_id(), id);

  // The sighting reaches the audit log with the verifier and end client.
  v1::AuditEvent reuse;
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const v1::AuditEvent& event : Audit()) {
          if (event.action() == "token.reuse_detected") {
            reuse = event;
            return true;
          }
        }
        return false;
      },
      absl::Seconds(20)))
      << service_->Log();
  EXPECT_EQ(reuse.token_id(), id);
  EXPECT_EQ(reuse.principal(), "verifier");
  EXPECT_TRUE(absl::StrContains(reuse.detail(), "verifier=ci-runner-7"))
      << reuse.detail();
  EXPECT_TRUE(absl::StrContains(reuse.detail(), "client=203.0.113.7"))
      << reuse.detail();
  v1::GetTokenRequest get;
  get.set_id(id);
  v1::Token token;
  ASSERT_TRUE(stub_->GetToken(AsAdmin().get(), get, &token).ok());
  EXPECT_TRUE(token.has_last_reuse_time());
  EXPECT_EQ(token.last_used_by().verifier(), "ci-runner-7");
  EXPECT_EQ(token.last_used_by().client_address(), "203.0.113.7");

  // Every event reaches the webhook, signed over its body.
  ASSERT_TRUE(WaitFor(
      [&] {
        std::vector<std::string> events;
        for (const Delivery& d : Deliveries()) events.push_back(d.event);
        auto has = [&](const char* e) {
          return std::find(events.begin(), events.end(), e) != events.end();
        };
        return has("token.create") && has("token.rotate") &&
               has("token.reuse_detected");
      },
      absl::Seconds(20)))
      << service_->Log();
  const std::string digest_hex =
      absl::BytesToHexString(DigestToBytes(DigestOf(rotated.secret())));
  for (const Delivery& d : Deliveries()) {
    EXPECT_EQ(d.signature, SignNotification(kHmacKey, d.body)) << d.body;
    EXPECT_TRUE(absl::StrContains(d.body, id)) << d.body;
    for (const std::string& secret : {created.secret(), rotated.secret()}) {
      EXPECT_FALSE(absl::StrContains(d.body, secret.substr(4, 20)));
    }
    EXPECT_FALSE(absl::StrContains(d.body, digest_hex));
  }
}

}  // namespace
}  // namespace tokens::testing
