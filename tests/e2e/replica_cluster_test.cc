// TokenService replicas (the real binary) on a real PostgreSQL server: what
// they share (callers, keys, page tokens, the feed), how their health follows
// the database, and what a wrong --database gets.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "gtest/gtest.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "tests/testing/postgres_server.h"
#include "tests/testing/raw_grpc.h"
#include "tests/testing/server_process.h"

namespace tokens::testing {
namespace {

constexpr int kServing = 1;
constexpr int kNotServing = 2;

class ReplicaClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pg = PostgresServer::Launch();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = *std::move(pg);
    auto url = pg_->CreateDatabase();
    ASSERT_TRUE(url.ok()) << url.status();
    url_ = *url;
    root_ = NewTempDir("cluster");
  }

  // Starts a replica with its own data directory; returns its index.
  int StartReplica() {
    const int i = static_cast<int>(replicas_.size());
    dirs_.push_back(absl::StrCat(root_, "/replica", i));
    auto replica = ServerProcess::Start(
        RunfilePath("services/token_service"),
        {"--database", url_, "--listen", "127.0.0.1:0", "--data-dir", dirs_[i],
         "--cluster-sync-interval", "100ms"});
    EXPECT_TRUE(replica.ok()) << replica.status();
    if (!replica.ok()) return -1;
    channels_.push_back(grpc::CreateChannel(
        (*replica)->address(), grpc::InsecureChannelCredentials()));
    stubs_.push_back(v1::TokenService::NewStub(channels_.back()));
    replicas_.push_back(*std::move(replica));
    return i;
  }

  int Health(int i) {
    auto status = HealthCheck(channels_[i], "");
    return status.ok() ? *status : -1;
  }

  grpc::Status Create(int i, const std::string& key, const std::string& name,
                      v1::CreateTokenResponse* response) {
    v1::CreateTokenRequest request;
    request.set_deployment_id("prod");
    request.set_name(name);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    ctx.AddMetadata("authorization", "Bearer " + key);
    return stubs_[i]->CreateToken(&ctx, request, response);
  }

  CommandResult Callers(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {RunfilePath("services/token_service"),
                                     "callers"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--database");
    argv.push_back(url_);
    return RunCommand(argv, {});
  }

  std::unique_ptr<PostgresServer> pg_;
  std::string url_;
  std::string root_;
  std::vector<std::string> dirs_;
  std::vector<std::unique_ptr<ServerProcess>> replicas_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<v1::TokenService::Stub>> stubs_;
};

TEST_F(ReplicaClusterTest, LaterReplicasShareTheFirstOnesKeysAndPageTokens) {
  ASSERT_EQ(StartReplica(), 0);
  ASSERT_EQ(StartReplica(), 1);
  const std::string admin_key = *ReadKeyFile(dirs_[0] + "/admin.key");
  EXPECT_TRUE(ReadKeyFile(dirs_[0] + "/verifier.key").ok());
  // The later replica created no keys, and accepts the first one's.
  EXPECT_FALSE(ReadKeyFile(dirs_[1] + "/admin.key").ok());
  EXPECT_FALSE(ReadKeyFile(dirs_[1] + "/verifier.key").ok());
  for (int n = 0; n < 3; ++n) {
    v1::CreateTokenResponse created;
    ASSERT_TRUE(Create(n % 2, admin_key, absl::StrCat("t", n), &created).ok());
  }
  // A page token made by replica 0 continues the listing on replica 1.
  v1::ListTokensRequest list;
  list.set_deployment_id("prod");
  list.set_page_size(2);
  v1::ListTokensResponse first;
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + admin_key);
    ASSERT_TRUE(stubs_[0]->ListTokens(&ctx, list, &first).ok());
  }
  ASSERT_EQ(first.tokens_size(), 2);
  ASSERT_FALSE(first.next_page_token().empty());
  list.set_page_token(first.next_page_token());
  v1::ListTokensResponse second;
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + admin_key);
  grpc::Status status = stubs_[1]->ListTokens(&ctx, list, &second);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(second.tokens_size(), 1);
  EXPECT_EQ(second.tokens(0).name(), "t2");
}

TEST_F(ReplicaClusterTest, CallersAddedAndRemovedReachEveryReplica) {
  ASSERT_EQ(StartReplica(), 0);
  ASSERT_EQ(StartReplica(), 1);
  CommandResult added = Callers({"add", "ci-deployer", "admin"});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  std::string key = added.out;
  while (!key.empty() && key.back() == '\n') key.pop_back();
  ASSERT_TRUE(absl::StartsWith(key, "tkk_")) << key;
  EXPECT_FALSE(absl::StrContains(added.err, key));
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(WaitFor(
        [&] {
          v1::CreateTokenResponse created;
          return Create(i, key, absl::StrCat("by-ci-", i), &created).ok();
        },
        absl::Seconds(20)))
        << "replica " << i;
  }
  CommandResult listed = Callers({"list"});
  EXPECT_EQ(listed.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(listed.out, "ci-deployer admin")) << listed.out;
  EXPECT_FALSE(absl::StrContains(listed.out, "tkk_"));

  // Bad input: exit 2, naming what is wrong; nothing changes.
  CommandResult bad_role = Callers({"add", "x", "root"});
  EXPECT_EQ(bad_role.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(bad_role.err, "ROLE")) << bad_role.err;
  CommandResult taken = Callers({"add", "ci-deployer", "verifier"});
  EXPECT_EQ(taken.exit_code, 2) << taken.err;
  CommandResult missing = Callers({"remove", "nobody"});
  EXPECT_EQ(missing.exit_code, 2) << missing.err;

  CommandResult removed = Callers({"remove", "ci-deployer"});
  ASSERT_EQ(removed.exit_code, 0) << removed.err;
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(WaitFor(
        [&] {
          v1::CreateTokenResponse created;
          return Create(i, key, "after-removal", &created).error_code() ==
                 grpc::StatusCode::UNAUTHENTICATED;
        },
        absl::Seconds(20)))
        << "replica " << i;
  }
}

TEST_F(ReplicaClusterTest, DatabaseDownAtStartThenUpRecoversWithoutRestart) {
  ASSERT_TRUE(pg_->Stop().ok());
  ASSERT_EQ(StartReplica(), 0);
  EXPECT_EQ(Health(0), kNotServing);
  v1::CreateTokenResponse created;
  grpc::Status refused = Create(0, "tkk_unknown", "x", &created);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE)
      << refused.error_message();
  EXPECT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(replicas_[0]->Log(), "database.unreachable");
      },
      absl::Seconds(20)))
      << replicas_[0]->Log();

  ASSERT_TRUE(pg_->Start().ok());
  EXPECT_TRUE(WaitFor([&] { return Health(0) == kServing; }, absl::Seconds(30)))
      << replicas_[0]->Log();
  EXPECT_TRUE(absl::StrContains(replicas_[0]->Log(), "database.reachable"));
  auto admin_key = ReadKeyFile(dirs_[0] + "/admin.key");
  ASSERT_TRUE(admin_key.ok());
  EXPECT_TRUE(Create(0, *admin_key, "after-start", &created).ok());
}

TEST_F(ReplicaClusterTest, OutageMeansUnavailableAndNotServingThenRecovery) {
  ASSERT_EQ(StartReplica(), 0);
  const std::string admin_key = *ReadKeyFile(dirs_[0] + "/admin.key");
  EXPECT_EQ(Health(0), kServing);
  ASSERT_TRUE(pg_->Stop(PostgresServer::StopMode::kImmediate).ok());
  EXPECT_TRUE(
      WaitFor([&] { return Health(0) == kNotServing; }, absl::Seconds(20)));
  v1::CreateTokenResponse created;
  grpc::Status down = Create(0, admin_key, "during", &created);
  EXPECT_EQ(down.error_code(), grpc::StatusCode::UNAVAILABLE)
      << down.error_message();
  ASSERT_TRUE(pg_->Start().ok());
  EXPECT_TRUE(WaitFor([&] { return Health(0) == kServing; }, absl::Seconds(30)))
      << replicas_[0]->Log();
  EXPECT_TRUE(
      WaitFor([&] { return Create(0, admin_key, "after", &created).ok(); },
              absl::Seconds(20)));
}

TEST_F(ReplicaClusterTest, AChangeThroughOneReplicaReachesAnotherOnesWatchers) {
  ASSERT_EQ(StartReplica(), 0);
  ASSERT_EQ(StartReplica(), 1);
  const std::string admin_key = *ReadKeyFile(dirs_[0] + "/admin.key");
  const std::string verifier_key = *ReadKeyFile(dirs_[0] + "/verifier.key");
  grpc::ClientContext watch_ctx;
  watch_ctx.AddMetadata("authorization", "Bearer " + verifier_key);
  v1::WatchTokensRequest watch;
  watch.set_since_revision(0);
  watch.set_resume(true);
  auto stream = stubs_[1]->WatchTokens(&watch_ctx, watch);
  v1::WatchTokensResponse message;
  ASSERT_TRUE(stream->Read(&message));  // Current at revision 0.
  v1::CreateTokenResponse created;
  ASSERT_TRUE(Create(0, admin_key, "through-a", &created).ok());
  bool seen = false;
  while (!seen && stream->Read(&message)) {
    for (const v1::TokenChange& change : message.changes()) {
      if (change.token_id() == created.token().id()) seen = true;
    }
  }
  EXPECT_TRUE(seen);
  EXPECT_EQ(message.revision(), 1);
  watch_ctx.TryCancel();
  stream->Finish().IgnoreError();
}

TEST_F(ReplicaClusterTest, WrongDatabaseUrlOrCredentialsExitTwoWithOneLine) {
  const std::string binary = RunfilePath("services/token_service");
  const std::string dir = NewTempDir("bad-db");
  CommandResult bad_url = RunCommand(
      {binary, "--database", "postgresql://[::1", "--data-dir", dir}, {});
  EXPECT_EQ(bad_url.exit_code, 2) << bad_url.err;
  EXPECT_TRUE(absl::StrContains(bad_url.err, "--database")) << bad_url.err;

  const std::string wrong_password =
      absl::StrCat("postgresql://", PostgresServer::kPasswordRole,
                   ":wrong-secret@127.0.0.1:", pg_->port(), "/postgres");
  CommandResult refused =
      RunCommand({binary, "--database", wrong_password, "--data-dir", dir}, {});
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_FALSE(absl::StrContains(refused.err, "wrong-secret")) << refused.err;
  EXPECT_FALSE(absl::StrContains(refused.out, "wrong-secret"));
  // One line on stderr that is not the JSON log.
  int lines = 0;
  for (absl::string_view line : absl::StrSplit(refused.err, '\n')) {
    if (!line.empty() && line[0] != '{') ++lines;
  }
  EXPECT_EQ(lines, 1) << refused.err;
}

}  // namespace
}  // namespace tokens::testing
