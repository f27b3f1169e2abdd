#include "tests/services/token_service_fixture.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/json_log.h"
#include "common/token_value.h"
#include "tests/testing/server_process.h"

namespace tokens::testing {

std::string BytesHex(const std::string& bytes) {
  return absl::BytesToHexString(bytes);
}

std::string DigestHex(const std::string& value) {
  return BytesHex(DigestToBytes(DigestOf(value)));
}

void TokenServiceTest::SetUp() {
  JsonLog::SetEnabled(false);
  data_dir_ = NewTempDir("tokens") + "/var";
  options_.listen = "127.0.0.1:0";
  options_.data_dir = data_dir_;
  StartServer(options_);
}

void TokenServiceTest::TearDown() { StopServer(); }

void TokenServiceTest::StartServer(TokenServerOptions options) {
  options.listen = "127.0.0.1:0";
  options.data_dir = data_dir_;
  // Intervals (heartbeats) on real time unless a test drives them.
  if (options.feed_clock == nullptr) options.feed_clock = RealClock();
  options_ = options;
  auto server = TokenServer::BuildAndStart(options, &clock_);
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
  channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                 grpc::InsecureChannelCredentials());
  stub_ = v1::TokenService::NewStub(channel_);
  admin_key_ = *ReadKeyFile(data_dir_ + "/admin.key");
  verifier_key_ = *ReadKeyFile(data_dir_ + "/verifier.key");
}

void TokenServiceTest::StopServer() {
  stub_.reset();
  channel_.reset();
  if (server_) server_->Shutdown(absl::Seconds(1));
  server_.reset();
}

std::unique_ptr<grpc::ClientContext> TokenServiceTest::As(
    const std::string& key) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(10));
  if (!key.empty()) ctx->AddMetadata("authorization", "Bearer " + key);
  return ctx;
}

v1::CreateTokenResponse TokenServiceTest::Create(const std::string& deployment,
                                                 const std::string& name,
                                                 int expiration_days) {
  v1::CreateTokenRequest request;
  request.set_deployment_id(deployment);
  request.set_name(name);
  request.set_expiration_days(expiration_days);
  v1::CreateTokenResponse response;
  grpc::Status status = stub_->CreateToken(AsAdmin().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

std::vector<v1::WatchTokensResponse> TokenServiceTest::Watch(
    int64_t since_revision, const std::string& deployment,
    const std::function<bool(const v1::WatchTokensResponse&)>& until) {
  auto ctx = As(verifier_key_);
  v1::WatchTokensRequest request;
  request.set_since_revision(since_revision);
  request.set_deployment_id(deployment);
  auto reader = stub_->WatchTokens(ctx.get(), request);
  std::vector<v1::WatchTokensResponse> messages;
  v1::WatchTokensResponse message;
  while (reader->Read(&message)) {
    messages.push_back(message);
    if (until(message)) break;
  }
  ctx->TryCancel();
  reader->Finish();
  return messages;
}

int64_t TokenServiceTest::CurrentRevision() {
  auto messages = Watch(0, "", [](const v1::WatchTokensResponse& m) {
    return m.snapshot_complete();
  });
  return messages.empty() ? -1 : messages.back().revision();
}

std::map<std::string, std::vector<std::string>>
TokenServiceTest::SnapshotDigests() {
  std::map<std::string, std::vector<std::string>> digests;
  for (const auto& m : Watch(0, "", [](const v1::WatchTokensResponse& m) {
         return m.snapshot_complete();
       })) {
    for (const v1::TokenChange& c : m.changes()) {
      digests[c.token_id()].push_back(BytesHex(c.secret_digest()));
      if (!c.previous_digest().empty()) {
        digests[c.token_id()].push_back(BytesHex(c.previous_digest()));
      }
    }
  }
  return digests;
}

int TokenServiceTest::AuditCount(const std::string& deployment) {
  v1::ListAuditEventsRequest request;
  request.set_deployment_id(deployment);
  request.set_page_size(1000);
  v1::ListAuditEventsResponse response;
  grpc::Status status =
      stub_->ListAuditEvents(AsAdmin().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.events_size();
}

}  // namespace tokens::testing
