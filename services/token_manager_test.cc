// TokenManager on its own: the lifecycle in plain C++ on a real SQLite file
// and a FakeClock, with no gRPC. Refusals and their audit rows, the feed's
// wake-up after each commit, and the path of a create whose commit fails.
#include "services/token_manager.h"

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/fake_clock.h"
#include "common/token_value.h"
#include "gtest/gtest.h"
#include "services/change_feed.h"
#include "services/page_token.h"
#include "storage/forwarding_token_store.h"
#include "storage/sqlite_token_store.h"

namespace tokens {
namespace {

class CountingFeed : public ChangeFeed {
 public:
  void Notify() override { notified.fetch_add(1); }
  std::atomic<int> notified{0};
};

// Creates fail as a failed group commit does, finished from a thread of the
// store's; records which threads commit audit rows synchronously.
class FailingCommitStore : public ForwardingTokenStore {
 public:
  using ForwardingTokenStore::ForwardingTokenStore;
  ~FailingCommitStore() override {
    for (std::thread& t : finishers_) t.join();
  }

  void CreateAsync(TokenRecord, AuditEntry, CreateDone done) override {
    finishers_.emplace_back([this, done = std::move(done)] {
      {
        absl::MutexLock lock(&mu_);
        finisher_ = std::this_thread::get_id();
      }
      done(absl::UnavailableError("database is full"));
    });
  }
  absl::Status RecordAudit(const AuditEntry& audit) override {
    absl::MutexLock lock(&mu_);
    sync_audit_threads_.push_back(std::this_thread::get_id());
    return inner()->RecordAudit(audit);
  }
  void RecordAuditAsync(AuditEntry audit, AuditDone done) override {
    async_audits_.fetch_add(1);
    inner()->RecordAuditAsync(std::move(audit), std::move(done));
  }

  bool FinisherCommittedAnAudit() {
    absl::MutexLock lock(&mu_);
    for (std::thread::id id : sync_audit_threads_) {
      if (id == finisher_) return true;
    }
    return false;
  }
  std::atomic<int> async_audits_{0};

 private:
  absl::Mutex mu_;
  std::thread::id finisher_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread::id> sync_audit_threads_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> finishers_;
};

class TokenManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    SqliteTokenStoreOptions options;
    options.path = absl::StrCat(
        tmp != nullptr ? tmp : "/tmp", "/manager-",
        ::testing::UnitTest::GetInstance()->random_seed(), "-",
        ::testing::UnitTest::GetInstance()->current_test_info()->name(), ".db");
    std::remove(options.path.c_str());
    auto store = SqliteTokenStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    sqlite_ = *std::move(store);
    UseStore(sqlite_.get());
  }

  void UseStore(TokenStore* store) {
    TokenManagerOptions options;
    options.max_expiration_days = 90;
    options.audit_written = [this] { audit_written_.fetch_add(1); };
    manager_ = std::make_unique<TokenManager>(store, &clock_, &pages_, &feed_,
                                              options);
  }

  CreateTokenParams Params(const std::string& name = "ci") {
    CreateTokenParams params;
    params.deployment_id = "dep-1";
    params.name = name;
    params.expiration_days = 30;
    return params;
  }

  std::vector<AuditEntry> Audit() {
    auto audit = sqlite_->ListAudit("dep-1", 0, 100);
    EXPECT_TRUE(audit.ok()) << audit.status();
    return audit.ok() ? *audit : std::vector<AuditEntry>{};
  }

  const Principal admin_{"alice", CallerRole::kAdmin};
  FakeClock clock_{absl::FromUnixSeconds(1800000000)};
  PageTokenCodec pages_{std::string(32, 'k')};
  CountingFeed feed_;
  std::atomic<int> audit_written_{0};
  std::unique_ptr<SqliteTokenStore> sqlite_;
  std::unique_ptr<TokenManager> manager_;
};

TEST_F(TokenManagerTest, CreateStoresTheDigestAuditsAndWakesTheFeed) {
  absl::StatusOr<IssuedToken> issued = manager_->Create(admin_, Params());
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_TRUE(IsWellFormedTokenValue(issued->secret));
  absl::StatusOr<TokenRecord> stored = sqlite_->Get(issued->token.id);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->secret_digest, DigestOf(issued->secret));
  EXPECT_EQ(stored->expire_time, clock_.Now() + absl::Hours(24 * 30));
  EXPECT_EQ(stored->created_by, "alice");
  EXPECT_EQ(feed_.notified.load(), 1);
  EXPECT_EQ(audit_written_.load(), 1);
  std::vector<AuditEntry> audit = Audit();
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].action, "token.create");
  EXPECT_EQ(audit[0].outcome, "OK");
  EXPECT_EQ(audit[0].principal, "alice");
}

TEST_F(TokenManagerTest, EveryCreateRefusalIsAuditedAndNothingIsWritten) {
  struct Case {
    CreateTokenParams params;
    const char* field;
  };
  std::vector<Case> cases;
  cases.push_back({Params(""), "name"});
  cases.push_back({Params(std::string(257, 'n')), "name"});
  CreateTokenParams days = Params();
  days.expiration_days = 91;  // over this server's cap
  cases.push_back({days, "expiration_days"});
  CreateTokenParams description = Params();
  description.description = std::string(1025, 'd');
  cases.push_back({description, "description"});
  for (const Case& c : cases) {
    absl::StatusOr<IssuedToken> refused = manager_->Create(admin_, c.params);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(refused.status().message()).rfind(c.field, 0), 0u)
        << refused.status();
  }
  EXPECT_EQ(feed_.notified.load(), 0);
  std::vector<AuditEntry> audit = Audit();
  ASSERT_EQ(audit.size(), cases.size());
  for (const AuditEntry& entry : audit) {
    EXPECT_EQ(entry.action, "token.create");
    EXPECT_EQ(entry.outcome, "INVALID_ARGUMENT");
    EXPECT_TRUE(entry.token_id.empty());
  }
  ListQuery query;
  query.deployment_id = "dep-1";
  TokenPage page = *sqlite_->List(query);
  EXPECT_EQ(page.total_size, 0);
}

// A create whose commit fails is finished at once from the store's thread,
// and its refusal is queued with RecordAuditAsync: that thread commits
// nothing itself, so it never holds up the creates finished after it.
TEST_F(TokenManagerTest, AFailedCommitIsFinishedFirstAndAuditedOffTheFinisher) {
  FailingCommitStore failing(sqlite_.get());
  UseStore(&failing);
  absl::StatusOr<IssuedToken> failed = manager_->Create(admin_, Params());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(feed_.notified.load(), 0);
  // Wait for the queued row (the store's committer writes it).
  while (audit_written_.load() == 0) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(failing.async_audits_.load(), 1);
  EXPECT_FALSE(failing.FinisherCommittedAnAudit());
  std::vector<AuditEntry> audit = Audit();
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].action, "token.create");
  EXPECT_EQ(audit[0].outcome, "UNAVAILABLE");
  EXPECT_EQ(audit[0].detail, "database is full");
  EXPECT_FALSE(audit[0].token_id.empty());  // the id it would have had
}

TEST_F(TokenManagerTest, UpdateRefusalsNameTheFieldAndAreAudited) {
  IssuedToken issued = *manager_->Create(admin_, Params());
  const std::string id = issued.token.id;
  auto update = [&](TokenFields fields, std::vector<std::string> mask) {
    return manager_->Update(admin_, id, fields, mask).status();
  };
  EXPECT_EQ(update({"x", ""}, {"owner"}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(update({"", ""}, {}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(update({"", ""}, {"name"}).code(),
            absl::StatusCode::kInvalidArgument);  // an empty name
  EXPECT_EQ(
      manager_->Update(admin_, "tok_missing", {"x", ""}, {}).status().code(),
      absl::StatusCode::kNotFound);
  absl::StatusOr<TokenRecord> renamed =
      manager_->Update(admin_, id, {"new", ""}, {});
  ASSERT_TRUE(renamed.ok()) << renamed.status();
  EXPECT_EQ(renamed->name, "new");
  EXPECT_EQ(feed_.notified.load(), 2);  // the create and the rename
  int refused = 0;
  for (const AuditEntry& entry : Audit()) {
    if (entry.action == "token.update" && entry.outcome != "OK") ++refused;
  }
  EXPECT_EQ(refused, 3);  // listed under the Deployment (the missing id is not)
}

TEST_F(TokenManagerTest, RotateKeepsTheOldValueForTheGracePeriodOnly) {
  IssuedToken issued = *manager_->Create(admin_, Params());
  clock_.Advance(absl::Hours(24));
  absl::StatusOr<IssuedToken> rotated =
      manager_->Rotate(admin_, issued.token.id, 600);
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(rotated->token.previous_digest, DigestOf(issued.secret));
  EXPECT_EQ(rotated->token.previous_valid_until,
            clock_.Now() + absl::Minutes(10));
  EXPECT_EQ(rotated->token.expire_time, clock_.Now() + absl::Hours(24 * 30));
  EXPECT_EQ(manager_->Rotate(admin_, issued.token.id, 86401).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(manager_->Rotate(admin_, "tok_missing", 0).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(feed_.notified.load(), 2);
}

TEST_F(TokenManagerTest, DeleteRemovesTheTokenAndASecondDeleteIsNotFound) {
  IssuedToken issued = *manager_->Create(admin_, Params());
  ASSERT_TRUE(manager_->Delete(admin_, issued.token.id).ok());
  EXPECT_EQ(manager_->Get(issued.token.id).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(manager_->Delete(admin_, issued.token.id).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(manager_->Delete(admin_, "").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(feed_.notified.load(), 2);
  std::vector<AuditEntry> audit = Audit();
  ASSERT_GE(audit.size(), 2u);
  EXPECT_EQ(audit[0].action, "token.delete");
}

}  // namespace
}  // namespace tokens
