// TokenService over real gRPC against a real database file: the lifecycle, the
// change feed, restarts, and what bad input and bad callers get.
#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/fake_clock.h"
#include "common/file_util.h"
#include "common/token_value.h"
#include "tests/services/token_service_fixture.h"

namespace tokens::testing {
namespace {

using ::grpc::StatusCode;

TEST_F(TokenServiceTest, CreateReturnsTheValueOnceAndGetAndListNeverDo) {
  v1::CreateTokenResponse created = Create("prod", "ci deploys", 30);
  EXPECT_TRUE(IsWellFormedTokenValue(created.secret()));
  EXPECT_EQ(created.token().deployment_id(), "prod");
  EXPECT_EQ(created.token().name(), "ci deploys");
  EXPECT_EQ(created.token().created_by(), "admin");
  EXPECT_EQ(created.token().expiration_days(), 30);
  EXPECT_EQ(created.token().expire_time().seconds() -
                created.token().create_time().seconds(),
            30 * 86400);
  EXPECT_EQ(created.token().short_token().substr(0, 8),
            created.secret().substr(0, 8));

  v1::GetTokenRequest get;
  get.set_id(created.token().id());
  v1::Token token;
  ASSERT_TRUE(stub_->GetToken(AsAdmin().get(), get, &token).ok());
  EXPECT_EQ(token.DebugString().find(created.secret()), std::string::npos);
  EXPECT_EQ(token.name(), "ci deploys");

  v1::ListTokensRequest list;
  list.set_deployment_id("prod");
  v1::ListTokensResponse listed;
  ASSERT_TRUE(stub_->ListTokens(AsAdmin().get(), list, &listed).ok());
  ASSERT_EQ(listed.tokens_size(), 1);
  EXPECT_EQ(listed.DebugString().find(created.secret()), std::string::npos);
}

TEST_F(TokenServiceTest, DatabaseFilesNeverContainAValue) {
  std::vector<std::string> secrets;
  v1::CreateTokenResponse a = Create("prod", "a");
  secrets.push_back(a.secret());
  v1::RotateTokenRequest rotate;
  rotate.set_id(a.token().id());
  rotate.set_grace_period_seconds(60);
  v1::RotateTokenResponse rotated;
  ASSERT_TRUE(stub_->RotateToken(AsAdmin().get(), rotate, &rotated).ok());
  secrets.push_back(rotated.secret());
  v1::DeleteTokenRequest del;
  del.set_id(a.token().id());
  google::protobuf::Empty empty;
  ASSERT_TRUE(stub_->DeleteToken(AsAdmin().get(), del, &empty).ok());
  secrets.push_back(Create("prod", "b").secret());
  StopServer();

  for (const char* file : {"/tokens.db", "/tokens.db-wal"}) {
    auto bytes = ReadFile(data_dir_ + file);
    if (!bytes.ok()) continue;
    for (const std::string& secret : secrets) {
      EXPECT_EQ(bytes->find(secret), std::string::npos) << file;
      // Not even the random body alone.
      EXPECT_EQ(bytes->find(secret.substr(4, 43)), std::string::npos) << file;
    }
  }
}

TEST_F(TokenServiceTest, DataDirectoryIsPrivate) {
  struct stat st;
  ASSERT_EQ(stat(data_dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  for (const char* file :
       {"/tokens.db", "/admin.key", "/verifier.key", "/credentials"}) {
    ASSERT_EQ(stat((data_dir_ + file).c_str(), &st), 0) << file;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << file;
  }
  // The credentials file stores digests, not keys.
  auto credentials = ReadFile(data_dir_ + "/credentials");
  ASSERT_TRUE(credentials.ok());
  EXPECT_EQ(credentials->find(admin_key_), std::string::npos);
  EXPECT_EQ(credentials->find(verifier_key_), std::string::npos);
}

TEST_F(TokenServiceTest, UpdateChangesOnlyWhatTheMaskNames) {
  v1::CreateTokenResponse created = Create("prod", "old name");
  v1::UpdateTokenRequest update;
  update.set_id(created.token().id());
  update.set_name("new name");
  update.set_description("ignored: not in the mask");
  update.mutable_update_mask()->add_paths("name");
  clock_.Advance(absl::Minutes(5));
  v1::Token token;
  ASSERT_TRUE(stub_->UpdateToken(AsAdmin().get(), update, &token).ok());
  EXPECT_EQ(token.name(), "new name");
  EXPECT_EQ(token.description(), "");
  EXPECT_EQ(token.update_time().seconds(),
            created.token().create_time().seconds() + 300);
  EXPECT_EQ(token.updated_by(), "admin");
  EXPECT_EQ(token.create_time().seconds(),
            created.token().create_time().seconds());
}

TEST_F(TokenServiceTest, EmptyMaskUpdatesTheFieldsThatAreSet) {
  v1::CreateTokenResponse created = Create("prod", "name");
  v1::UpdateTokenRequest update;
  update.set_id(created.token().id());
  update.set_description("now described");
  v1::Token token;
  ASSERT_TRUE(stub_->UpdateToken(AsAdmin().get(), update, &token).ok());
  EXPECT_EQ(token.name(), "name");
  EXPECT_EQ(token.description(), "now described");
}

TEST_F(TokenServiceTest, RotateKeepsIdentityAndSwapsDigestsInOneRevision) {
  v1::CreateTokenResponse created = Create("prod", "rotating", 10);
  const int64_t before = CurrentRevision();
  clock_.Advance(absl::Hours(24));
  v1::RotateTokenRequest rotate;
  rotate.set_id(created.token().id());
  v1::RotateTokenResponse rotated;
  ASSERT_TRUE(stub_->RotateToken(AsAdmin().get(), rotate, &rotated).ok());
  EXPECT_EQ(rotated.token().id(), created.token().id());
  EXPECT_EQ(rotated.token().name(), "rotating");
  EXPECT_EQ(rotated.token().deployment_id(), "prod");
  EXPECT_NE(rotated.secret(), created.secret());
  EXPECT_TRUE(IsWellFormedTokenValue(rotated.secret()));
  EXPECT_EQ(rotated.token().expire_time().seconds(),
            created.token().expire_time().seconds() + 86400);
  EXPECT_TRUE(rotated.token().has_last_rotate_time());

  // The feed carries one change: the new digest replaces the old one for the
  // token id.
  auto messages = Watch(before, "", [](const v1::WatchTokensResponse& m) {
    return m.kind() == v1::WatchTokensResponse::CHANGES;
  });
  ASSERT_FALSE(messages.empty());
  const v1::WatchTokensResponse& last = messages.back();
  ASSERT_EQ(last.changes_size(), 1);
  EXPECT_EQ(last.changes(0).type(), v1::TokenChange::UPSERT);
  EXPECT_EQ(BytesHex(last.changes(0).secret_digest()),
            DigestHex(rotated.secret()));
  EXPECT_TRUE(last.changes(0).previous_digest().empty());
  auto digests = SnapshotDigests();
  EXPECT_EQ(digests[created.token().id()],
            std::vector<std::string>{DigestHex(rotated.secret())});
}

TEST_F(TokenServiceTest, RotateWithGracePeriodKeepsTheOldDigestUntilItEnds) {
  v1::CreateTokenResponse created = Create("prod", "graceful");
  v1::RotateTokenRequest rotate;
  rotate.set_id(created.token().id());
  rotate.set_grace_period_seconds(3600);
  v1::RotateTokenResponse rotated;
  ASSERT_TRUE(stub_->RotateToken(AsAdmin().get(), rotate, &rotated).ok());
  auto messages = Watch(0, "", [](const v1::WatchTokensResponse& m) {
    return m.snapshot_complete();
  });
  ASSERT_EQ(messages.back().changes_size(), 1);
  const v1::TokenChange& entry = messages.back().changes(0);
  EXPECT_EQ(BytesHex(entry.previous_digest()), DigestHex(created.secret()));
  EXPECT_EQ(entry.previous_valid_until().seconds(),
            absl::ToUnixSeconds(clock_.Now()) + 3600);
}

TEST_F(TokenServiceTest, DeleteIsPermanent) {
  v1::CreateTokenResponse created = Create("prod", "doomed");
  v1::DeleteTokenRequest del;
  del.set_id(created.token().id());
  google::protobuf::Empty empty;
  ASSERT_TRUE(stub_->DeleteToken(AsAdmin().get(), del, &empty).ok());

  v1::GetTokenRequest get;
  get.set_id(created.token().id());
  v1::Token token;
  EXPECT_EQ(stub_->GetToken(AsAdmin().get(), get, &token).error_code(),
            StatusCode::NOT_FOUND);
  EXPECT_EQ(stub_->DeleteToken(AsAdmin().get(), del, &empty).error_code(),
            StatusCode::NOT_FOUND);
  EXPECT_EQ(SnapshotDigests().count(created.token().id()), 0u);
}

TEST_F(TokenServiceTest, ResumingWatcherGetsExactlyTheChangesItMissed) {
  Create("prod", "seen");
  const int64_t resume_from = CurrentRevision();
  v1::CreateTokenResponse missed1 = Create("prod", "missed 1");
  v1::CreateTokenResponse missed2 = Create("stage", "missed 2");
  v1::DeleteTokenRequest del;
  del.set_id(missed1.token().id());
  google::protobuf::Empty empty;
  ASSERT_TRUE(stub_->DeleteToken(AsAdmin().get(), del, &empty).ok());
  const int64_t now = CurrentRevision();

  std::vector<v1::TokenChange> changes;
  for (const auto& m : Watch(resume_from, "", [&](const auto& m) {
         return m.revision() >= now;
       })) {
    EXPECT_NE(m.kind(), v1::WatchTokensResponse::SNAPSHOT);
    for (const auto& c : m.changes()) changes.push_back(c);
  }
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].token_id(), missed1.token().id());
  EXPECT_EQ(changes[0].type(), v1::TokenChange::UPSERT);
  EXPECT_EQ(changes[1].token_id(), missed2.token().id());
  EXPECT_EQ(changes[2].token_id(), missed1.token().id());
  EXPECT_EQ(changes[2].type(), v1::TokenChange::DELETE);
  EXPECT_LT(changes[0].revision(), changes[1].revision());
  EXPECT_LT(changes[1].revision(), changes[2].revision());
}

TEST_F(TokenServiceTest, WatcherFilteredByDeploymentSeesOnlyItsTokens) {
  Create("stage", "other");
  v1::CreateTokenResponse mine = Create("prod", "mine");
  auto messages =
      Watch(0, "prod", [](const auto& m) { return m.snapshot_complete(); });
  ASSERT_EQ(messages.back().changes_size(), 1);
  EXPECT_EQ(messages.back().changes(0).token_id(), mine.token().id());
}

TEST_F(TokenServiceTest, WatcherTooFarBehindGetsAFullSnapshot) {
  StopServer();
  TokenServerOptions options;
  options.change_retention = 3;
  StartServer(options);
  Create("prod", "first");
  const int64_t old = CurrentRevision();
  for (int i = 0; i < 5; ++i) Create("prod", absl::StrCat("t", i));
  auto messages =
      Watch(old, "", [](const auto& m) { return m.snapshot_complete(); });
  ASSERT_FALSE(messages.empty());
  EXPECT_EQ(messages.front().kind(), v1::WatchTokensResponse::SNAPSHOT);
  EXPECT_TRUE(messages.front().reset());
  int entries = 0;
  for (const auto& m : messages) entries += m.changes_size();
  EXPECT_EQ(entries, 6);
}

TEST_F(TokenServiceTest, WatchSendsHeartbeatsWithTheCurrentRevision) {
  // Heartbeats run on the feed's clock: the test moves it, nothing waits for
  // a real second.
  FakeClock feed_clock;
  StopServer();
  TokenServerOptions options;
  options.feed_clock = &feed_clock;
  StartServer(options);
  Create("prod", "a");
  const int64_t revision = CurrentRevision();
  // Once the feed waits for its next heartbeat, move its clock past it, as
  // often as it takes for the stream below to see one.
  std::atomic<bool> seen{false};
  std::thread ticker([&] {
    while (!seen.load()) {
      feed_clock.AwaitWaiters(1);
      feed_clock.Advance(absl::Seconds(1));
      std::this_thread::yield();
    }
  });
  auto messages = Watch(revision, "", [](const auto& m) {
    return m.kind() == v1::WatchTokensResponse::HEARTBEAT;
  });
  seen = true;
  ticker.join();
  StopServer();  // before feed_clock goes away
  ASSERT_FALSE(messages.empty());
  EXPECT_EQ(messages.back().kind(), v1::WatchTokensResponse::HEARTBEAT);
  EXPECT_EQ(messages.back().revision(), revision);
}

TEST_F(TokenServiceTest, ConcurrentRotatesLeaveOnlyTheLastValueValid) {
  v1::CreateTokenResponse created = Create("prod", "contended");
  std::string secrets[2];
  std::thread rotators[2];
  for (int i = 0; i < 2; ++i) {
    rotators[i] = std::thread([&, i] {
      v1::RotateTokenRequest rotate;
      rotate.set_id(created.token().id());
      v1::RotateTokenResponse rotated;
      grpc::Status status =
          stub_->RotateToken(AsAdmin().get(), rotate, &rotated);
      EXPECT_TRUE(status.ok()) << status.error_message();
      secrets[i] = rotated.secret();
    });
  }
  for (auto& t : rotators) t.join();
  ASSERT_NE(secrets[0], secrets[1]);

  v1::GetTokenRequest get;
  get.set_id(created.token().id());
  v1::Token token;
  ASSERT_TRUE(stub_->GetToken(AsAdmin().get(), get, &token).ok());
  const std::string& last = token.short_token() == ShortTokenHint(secrets[0])
                                ? secrets[0]
                                : secrets[1];
  EXPECT_EQ(token.short_token(), ShortTokenHint(last));
  EXPECT_EQ(SnapshotDigests()[created.token().id()],
            std::vector<std::string>{DigestHex(last)});
}

TEST_F(TokenServiceTest, RestartKeepsEveryTokenAndRevision) {
  v1::CreateTokenResponse a = Create("prod", "a", 7);
  clock_.Advance(absl::Seconds(1));
  v1::CreateTokenResponse b = Create("prod", "b");
  const int64_t revision = CurrentRevision();
  StopServer();
  StartServer(options_);
  EXPECT_EQ(CurrentRevision(), revision);
  v1::ListTokensRequest list;
  list.set_deployment_id("prod");
  v1::ListTokensResponse listed;
  ASSERT_TRUE(stub_->ListTokens(AsAdmin().get(), list, &listed).ok());
  ASSERT_EQ(listed.tokens_size(), 2);
  EXPECT_EQ(listed.tokens(0).id(), a.token().id());
  EXPECT_EQ(listed.tokens(1).id(), b.token().id());
  auto digests = SnapshotDigests();
  EXPECT_EQ(digests[a.token().id()],
            std::vector<std::string>{DigestHex(a.secret())});
  // Keys from the first start still work: they were not regenerated.
  EXPECT_EQ(*ReadKeyFile(data_dir_ + "/admin.key"), admin_key_);
}

TEST_F(TokenServiceTest, ListPagesAreStableAndCountTheTotal) {
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i) {
    ids.push_back(Create("prod", absl::StrCat("t", i)).token().id());
    clock_.Advance(absl::Seconds(1));
  }
  Create("stage", "elsewhere");
  std::vector<std::string> seen;
  std::string page_token;
  int pages = 0;
  do {
    v1::ListTokensRequest list;
    list.set_deployment_id("prod");
    list.set_page_size(3);
    list.set_page_token(page_token);
    v1::ListTokensResponse listed;
    ASSERT_TRUE(stub_->ListTokens(AsAdmin().get(), list, &listed).ok());
    EXPECT_EQ(listed.total_size(), 7);
    for (const auto& t : listed.tokens()) seen.push_back(t.id());
    page_token = listed.next_page_token();
    ++pages;
  } while (!page_token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, ids);
}

TEST_F(TokenServiceTest, PageTokenOfAnotherDeploymentIsRejected) {
  for (int i = 0; i < 3; ++i) Create("prod", absl::StrCat("t", i));
  v1::ListTokensRequest list;
  list.set_deployment_id("prod");
  list.set_page_size(1);
  v1::ListTokensResponse listed;
  ASSERT_TRUE(stub_->ListTokens(AsAdmin().get(), list, &listed).ok());
  ASSERT_FALSE(listed.next_page_token().empty());
  list.set_deployment_id("stage");
  list.set_page_token(listed.next_page_token());
  grpc::Status status = stub_->ListTokens(AsAdmin().get(), list, &listed);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("page_token"), std::string::npos);
}

TEST_F(TokenServiceTest, ReportUsageMovesLastUsedTimeOnlyForward) {
  v1::CreateTokenResponse created = Create("prod", "used");
  auto report = [&](int64_t seconds) {
    v1::ReportUsageRequest request;
    auto* usage = request.add_usages();
    usage->set_token_id(created.token().id());
    usage->mutable_last_used_time()->set_seconds(seconds);
    google::protobuf::Empty empty;
    return stub_->ReportUsage(As(verifier_key_).get(), request, &empty);
  };
  const int64_t now = absl::ToUnixSeconds(clock_.Now());
  const int64_t revision = CurrentRevision();
  ASSERT_TRUE(report(now - 10).ok());
  ASSERT_TRUE(report(now - 100).ok());
  v1::GetTokenRequest get;
  get.set_id(created.token().id());
  v1::Token token;
  ASSERT_TRUE(stub_->GetToken(AsAdmin().get(), get, &token).ok());
  EXPECT_EQ(token.last_used_time().seconds(), now - 10);
  EXPECT_EQ(CurrentRevision(), revision);
}

TEST_F(TokenServiceTest, AuditLogRecordsEveryChangeWithoutSecrets) {
  v1::CreateTokenResponse created = Create("prod", "audited");
  v1::UpdateTokenRequest update;
  update.set_id(created.token().id());
  update.set_name("renamed");
  v1::Token updated;
  ASSERT_TRUE(stub_->UpdateToken(AsAdmin().get(), update, &updated).ok());
  v1::RotateTokenRequest rotate;
  rotate.set_id(created.token().id());
  v1::RotateTokenResponse rotated;
  ASSERT_TRUE(stub_->RotateToken(AsAdmin().get(), rotate, &rotated).ok());
  v1::DeleteTokenRequest del;
  del.set_id(created.token().id());
  google::protobuf::Empty empty;
  ASSERT_TRUE(stub_->DeleteToken(AsAdmin().get(), del, &empty).ok());

  v1::ListAuditEventsRequest request;
  request.set_deployment_id("prod");
  v1::ListAuditEventsResponse response;
  ASSERT_TRUE(stub_->ListAuditEvents(AsAdmin().get(), request, &response).ok());
  ASSERT_EQ(response.events_size(), 4);
  EXPECT_EQ(response.events(0).action(), "token.delete");
  EXPECT_EQ(response.events(1).action(), "token.rotate");
  EXPECT_EQ(response.events(2).action(), "token.update");
  EXPECT_EQ(response.events(3).action(), "token.create");
  for (const auto& event : response.events()) {
    EXPECT_EQ(event.principal(), "admin");
    EXPECT_EQ(event.outcome(), "OK");
    EXPECT_EQ(event.token_id(), created.token().id());
  }
  const std::string text = response.DebugString();
  EXPECT_EQ(text.find(created.secret()), std::string::npos);
  EXPECT_EQ(text.find(rotated.secret()), std::string::npos);
}

}  // namespace
}  // namespace tokens::testing
