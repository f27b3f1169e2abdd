// Storage faults against the real token_service binary, and a verifier far
// behind the change log.
//   * Disk full: the service runs under a file-size limit (RLIMIT_FSIZE, so
//     SQLite's writes fail with EFBIG the way they fail with ENOSPC on a full
//     disk). Writes must fail with UNAVAILABLE, reads keep working, and after a
//     kill -9 and a restart without the limit the database is intact and holds
//     every acknowledged token.
//   * Far behind: a WatchTokens resume from a revision older than the retained
//     change log gets a fresh snapshot, not a replay.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/stat.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "gtest/gtest.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "tests/services/token_service_fixture.h"
#include "tests/testing/server_process.h"
#include "tests/testing/sqlite_integrity.h"

namespace tokens::testing {
namespace {

using ::grpc::StatusCode;

std::string IntegrityCheck(const std::string& path) {
  return SqliteIntegrityCheck(path, /*read_only=*/false);
}

class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override { data_dir_ = NewTempDir("diskfull") + "/var"; }

  // Starts token_service; with `limit_kib` > 0 under that file-size limit.
  void Start(int limit_kib) {
    const std::string binary = RunfilePath("services/token_service");
    std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--data-dir",
                                     data_dir_};
    absl::StatusOr<std::unique_ptr<ServerProcess>> service;
    if (limit_kib > 0) {
      std::vector<std::string> wrapped = {
          "-c", "trap '' XFSZ; ulimit -f \"$1\"; shift; exec \"$0\" \"$@\"",
          binary, absl::StrCat(limit_kib)};
      wrapped.insert(wrapped.end(), args.begin(), args.end());
      service = ServerProcess::Start("/bin/bash", wrapped);
    } else {
      service = ServerProcess::Start(binary, args);
    }
    ASSERT_TRUE(service.ok()) << service.status();
    service_ = *std::move(service);
    stub_ = v1::TokenService::NewStub(grpc::CreateChannel(
        service_->address(), grpc::InsecureChannelCredentials()));
    admin_key_ = *ReadKeyFile(data_dir_ + "/admin.key");
    verifier_key_ = *ReadKeyFile(data_dir_ + "/verifier.key");
  }

  std::unique_ptr<grpc::ClientContext> As(const std::string& key) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(20));
    ctx->AddMetadata("authorization", "Bearer " + key);
    return ctx;
  }

  grpc::Status Create(std::string* id) {
    v1::CreateTokenRequest request;
    request.set_deployment_id("prod");
    request.set_name("n");
    request.set_description(std::string(1000, 'd'));  // fills pages quickly
    v1::CreateTokenResponse response;
    grpc::Status status =
        stub_->CreateToken(As(admin_key_).get(), request, &response);
    if (status.ok()) *id = response.token().id();
    return status;
  }

  std::set<std::string> SnapshotIds() {
    auto ctx = As(verifier_key_);
    auto reader = stub_->WatchTokens(ctx.get(), v1::WatchTokensRequest());
    std::set<std::string> ids;
    v1::WatchTokensResponse message;
    while (reader->Read(&message)) {
      for (const auto& change : message.changes())
        ids.insert(change.token_id());
      if (message.snapshot_complete()) break;
    }
    ctx->TryCancel();
    reader->Finish();
    return ids;
  }

  std::string data_dir_;
  std::unique_ptr<ServerProcess> service_;
  std::unique_ptr<v1::TokenService::Stub> stub_;
  std::string admin_key_;
  std::string verifier_key_;
};

TEST_F(DiskFullTest, WritesFailUnavailableReadsWorkNothingLost) {
  Start(0);
  std::vector<std::string> acked;
  for (int i = 0; i < 3; ++i) {
    std::string id;
    ASSERT_TRUE(Create(&id).ok());
    acked.push_back(id);
  }
  service_->Stop(SIGTERM);

  struct stat st;
  ASSERT_EQ(stat((data_dir_ + "/tokens.db").c_str(), &st), 0);
  // Room for SQLite's 32 KiB shared-memory index plus a few transactions.
  const int limit_kib = static_cast<int>(st.st_size / 1024) + 64;
  Start(limit_kib);

  grpc::Status failure;
  int created = 0;
  for (int i = 0; i < 2000 && failure.ok(); ++i) {
    std::string id;
    failure = Create(&id);
    if (failure.ok()) {
      acked.push_back(id);
      ++created;
    }
  }
  ASSERT_FALSE(failure.ok()) << "the file-size limit was never reached";
  EXPECT_EQ(failure.error_code(), StatusCode::UNAVAILABLE)
      << failure.error_message();
  // Other writes fail the same way; none is INTERNAL.
  {
    v1::RotateTokenRequest request;
    request.set_id(acked.front());
    v1::RotateTokenResponse response;
    grpc::Status status =
        stub_->RotateToken(As(admin_key_).get(), request, &response);
    EXPECT_TRUE(status.ok() || status.error_code() == StatusCode::UNAVAILABLE)
        << status.error_code() << " " << status.error_message();
  }
  // Reads keep working.
  v1::GetTokenRequest get;
  get.set_id(acked.back());
  v1::Token token;
  EXPECT_TRUE(stub_->GetToken(As(admin_key_).get(), get, &token).ok());
  v1::ListTokensRequest list;
  list.set_deployment_id("prod");
  list.set_page_size(1000);
  v1::ListTokensResponse listed;
  ASSERT_TRUE(stub_->ListTokens(As(admin_key_).get(), list, &listed).ok());
  EXPECT_EQ(listed.total_size(), static_cast<int>(acked.size()));
  std::set<std::string> ids = SnapshotIds();
  for (const std::string& id : acked) EXPECT_TRUE(ids.count(id)) << id;

  // Crash while full, then restart with room again.
  service_->Stop(SIGKILL);
  EXPECT_EQ(IntegrityCheck(data_dir_ + "/tokens.db"), "ok");
  Start(0);
  ids = SnapshotIds();
  for (const std::string& id : acked) EXPECT_TRUE(ids.count(id)) << id;
  std::string id;
  EXPECT_TRUE(Create(&id).ok()) << "writes work again once there is room";
  std::printf(
      "reliability summary: disk full after %d creates, write status %d, "
      "acked tokens kept=%zu lost=0\n",
      created, failure.error_code(), acked.size());
}

class FarBehindTest : public TokenServiceTest {};

TEST_F(FarBehindTest, ResumeOlderThanRetentionGetsASnapshotNotAReplay) {
  StopServer();
  TokenServerOptions options;
  options.change_retention = 5;
  StartServer(options);
  for (int i = 0; i < 30; ++i) Create("prod", absl::StrCat("t", i));
  const int64_t current = CurrentRevision();
  // Far behind: the first message starts a full snapshot.
  auto messages = Watch(1, "", [](const v1::WatchTokensResponse& m) {
    return m.snapshot_complete() ||
           m.kind() != v1::WatchTokensResponse::SNAPSHOT;
  });
  ASSERT_FALSE(messages.empty());
  EXPECT_EQ(messages.front().kind(), v1::WatchTokensResponse::SNAPSHOT);
  EXPECT_TRUE(messages.front().reset());
  EXPECT_TRUE(messages.back().snapshot_complete());
  EXPECT_EQ(messages.back().revision(), current);
  size_t tokens = 0;
  for (const auto& m : messages) tokens += m.changes_size();
  EXPECT_EQ(tokens, 30u);
  // Within the retained window: the missing changes only.
  messages = Watch(current - 2, "", [&](const v1::WatchTokensResponse& m) {
    return m.revision() >= current;
  });
  ASSERT_FALSE(messages.empty());
  EXPECT_EQ(messages.front().kind(), v1::WatchTokensResponse::CHANGES);
}

}  // namespace
}  // namespace tokens::testing
