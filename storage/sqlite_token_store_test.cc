#include "storage/sqlite_token_store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/token_value.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/token_store.h"

namespace tokens {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

std::string TestPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
  unlink(path.c_str());
  unlink((path + "-wal").c_str());
  unlink((path + "-shm").c_str());
  return path;
}

Digest DigestFor(const std::string& seed) {
  return DigestOf(std::string("dpt_test_value_") + seed);
}

TokenRecord MakeToken(const std::string& id, const std::string& deployment,
                      absl::Time create_time) {
  TokenRecord token;
  token.id = id;
  token.deployment_id = deployment;
  token.name = "name of " + id;
  token.description = "description of " + id;
  token.short_token = "dpt_Ab12...9xYz";
  token.expiration_days = 30;
  token.secret_digest = DigestFor(id);
  token.create_time = create_time;
  token.update_time = create_time;
  token.expire_time = create_time + absl::Hours(24 * 30);
  token.created_by = "admin";
  token.updated_by = "admin";
  return token;
}

AuditEntry MakeAudit(const std::string& action, const std::string& token_id,
                     const std::string& deployment = "") {
  AuditEntry entry;
  entry.time = kT0;
  entry.principal = "admin";
  entry.action = action;
  entry.token_id = token_id;
  entry.deployment_id = deployment;
  entry.outcome = "OK";
  return entry;
}

// A second, raw connection for looking at (or tampering with) the file behind
// the store.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
  }
  ~RawDb() { sqlite3_close(db_); }
  void Exec(const std::string& sql) {
    char* error = nullptr;
    ASSERT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error),
              SQLITE_OK)
        << (error != nullptr ? error : "") << " in " << sql;
  }
  int64_t Int(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db_);
    int64_t value = -1;
    if (sqlite3_step(stmt) == SQLITE_ROW) value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
  }
  std::string Text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr),
              SQLITE_OK);
    std::string value;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return value;
  }

 private:
  sqlite3* db_ = nullptr;
};

std::unique_ptr<SqliteTokenStore> OpenStore(const std::string& path,
                                            int64_t retention = 100000) {
  SqliteTokenStoreOptions options;
  options.path = path;
  options.change_retention = retention;
  absl::StatusOr<std::unique_ptr<SqliteTokenStore>> store =
      SqliteTokenStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

void ExpectSameToken(const TokenRecord& got, const TokenRecord& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.deployment_id, want.deployment_id);
  EXPECT_EQ(got.name, want.name);
  EXPECT_EQ(got.description, want.description);
  EXPECT_EQ(got.short_token, want.short_token);
  EXPECT_EQ(got.expiration_days, want.expiration_days);
  EXPECT_EQ(got.secret_digest, want.secret_digest);
  EXPECT_EQ(got.previous_digest, want.previous_digest);
  EXPECT_EQ(got.previous_valid_until, want.previous_valid_until);
  EXPECT_EQ(got.create_time, want.create_time);
  EXPECT_EQ(got.update_time, want.update_time);
  EXPECT_EQ(got.expire_time, want.expire_time);
  EXPECT_EQ(got.last_rotate_time, want.last_rotate_time);
  EXPECT_EQ(got.last_used_time, want.last_used_time);
  EXPECT_EQ(got.created_by, want.created_by);
  EXPECT_EQ(got.updated_by, want.updated_by);
}

class SqliteTokenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = TestPath(
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    store_ = OpenStore(path_);
    ASSERT_NE(store_, nullptr);
  }

  int64_t Create(const TokenRecord& token) {
    absl::StatusOr<int64_t> revision = store_->Create(
        token, MakeAudit("token.create", token.id, token.deployment_id));
    EXPECT_TRUE(revision.ok()) << revision.status();
    return revision.ok() ? *revision : -1;
  }

  int64_t Revision() {
    absl::StatusOr<int64_t> revision = store_->CurrentRevision();
    EXPECT_TRUE(revision.ok()) << revision.status();
    return revision.ok() ? *revision : -1;
  }

  int64_t Count(const std::string& table) {
    return RawDb(path_).Int("SELECT COUNT(*) FROM " + table);
  }

  std::string path_;
  std::unique_ptr<SqliteTokenStore> store_;
};

TEST_F(SqliteTokenStoreTest, EmptyStoreIsAtRevisionZero) {
  EXPECT_EQ(Revision(), 0);
  absl::StatusOr<ChangeBatch> batch = store_->ReadChanges(0, "", 10);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_TRUE(batch->complete);
  EXPECT_THAT(batch->changes, IsEmpty());
  EXPECT_EQ(batch->up_to_revision, 0);
}

TEST_F(SqliteTokenStoreTest, CreateThenGetReturnsTheSameRecord) {
  TokenRecord token = MakeToken("tok_a", "dep-1", kT0);
  EXPECT_EQ(Create(token), 1);
  absl::StatusOr<TokenRecord> got = store_->Get("tok_a");
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameToken(*got, token);
}

TEST_F(SqliteTokenStoreTest, NeverExpiringTokenKeepsInfiniteExpireTime) {
  TokenRecord token = MakeToken("tok_a", "dep-1", kT0);
  token.expiration_days = 0;
  token.expire_time = absl::InfiniteFuture();
  Create(token);
  absl::StatusOr<TokenRecord> got = store_->Get("tok_a");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->expire_time, absl::InfiniteFuture());
  EXPECT_EQ(got->last_used_time, absl::InfinitePast());
  EXPECT_EQ(got->last_rotate_time, absl::InfinitePast());
  EXPECT_EQ(RawDb(path_).Int("SELECT COUNT(*) FROM tokens WHERE expire_time "
                             "IS NULL"),
            1);
}

TEST_F(SqliteTokenStoreTest, GetOfUnknownIdIsNotFound) {
  EXPECT_EQ(store_->Get("tok_missing").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(SqliteTokenStoreTest, CreateWithDuplicateDigestChangesNothing) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  TokenRecord clash = MakeToken("tok_b", "dep-1", kT0);
  clash.secret_digest = DigestFor("tok_a");
  absl::StatusOr<int64_t> result =
      store_->Create(clash, MakeAudit("token.create", "tok_b", "dep-1"));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Revision(), 1);
  EXPECT_EQ(Count("changes"), 1);
  EXPECT_EQ(Count("audit"), 1);
  EXPECT_EQ(store_->Get("tok_b").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SqliteTokenStoreTest, CreateWithDuplicateIdIsAlreadyExists) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  TokenRecord clash = MakeToken("tok_a", "dep-2", kT0);
  clash.secret_digest = DigestFor("other");
  EXPECT_EQ(
      store_->Create(clash, MakeAudit("token.create", "tok_a")).status().code(),
      absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Revision(), 1);
}

TEST_F(SqliteTokenStoreTest, CreateWithoutCreateTimeIsInvalidArgument) {
  TokenRecord token = MakeToken("tok_a", "dep-1", absl::InfinitePast());
  EXPECT_EQ(
      store_->Create(token, MakeAudit("token.create", "tok_a")).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Revision(), 0);
}

TEST_F(SqliteTokenStoreTest, ListPagesInCreateTimeOrderWithTotalSize) {
  // Two tokens share a create time: the id breaks the tie.
  Create(MakeToken("tok_c", "dep-1", kT0 + absl::Seconds(2)));
  Create(MakeToken("tok_b", "dep-1", kT0 + absl::Seconds(1)));
  Create(MakeToken("tok_a", "dep-1", kT0 + absl::Seconds(1)));
  Create(MakeToken("tok_d", "dep-1", kT0 + absl::Seconds(3)));
  Create(MakeToken("tok_e", "dep-1", kT0 + absl::Seconds(4)));
  Create(MakeToken("tok_x", "dep-2", kT0));

  std::vector<std::string> seen;
  ListCursor cursor;
  int pages = 0;
  while (true) {
    absl::StatusOr<TokenPage> page = store_->List("dep-1", cursor, 2);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_EQ(page->total_size, 5);
    ++pages;
    for (const TokenRecord& token : page->tokens) seen.push_back(token.id);
    if (!page->more) break;
    ASSERT_THAT(page->tokens, SizeIs(2));
    cursor.create_time = page->tokens.back().create_time;
    cursor.id = page->tokens.back().id;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(seen, ElementsAre("tok_a", "tok_b", "tok_c", "tok_d", "tok_e"));
}

TEST_F(SqliteTokenStoreTest, ListOfExactlyOnePageSaysNoMore) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  Create(MakeToken("tok_b", "dep-1", kT0 + absl::Seconds(1)));
  absl::StatusOr<TokenPage> page = store_->List("dep-1", ListCursor(), 2);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(page->tokens, SizeIs(2));
  EXPECT_FALSE(page->more);
  absl::StatusOr<TokenPage> empty = store_->List("dep-9", ListCursor(), 2);
  ASSERT_TRUE(empty.ok());
  EXPECT_THAT(empty->tokens, IsEmpty());
  EXPECT_EQ(empty->total_size, 0);
  EXPECT_EQ(store_->List("dep-1", ListCursor(), 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SqliteTokenStoreTest, UpdateChangesOnlyTheGivenFieldsAndLogsAChange) {
  TokenRecord token = MakeToken("tok_a", "dep-1", kT0);
  Create(token);
  TokenUpdate update;
  update.name = "renamed";
  update.now = kT0 + absl::Minutes(5);
  update.updated_by = "alice";
  absl::StatusOr<TokenRecord> updated = store_->Update(
      "tok_a", update, MakeAudit("token.update", "tok_a", "dep-1"));
  ASSERT_TRUE(updated.ok()) << updated.status();
  token.name = "renamed";
  token.update_time = update.now;
  token.updated_by = "alice";
  ExpectSameToken(*updated, token);
  ExpectSameToken(*store_->Get("tok_a"), token);
  EXPECT_EQ(Revision(), 2);
  EXPECT_EQ(Count("audit"), 2);
}

TEST_F(SqliteTokenStoreTest, UpdateOfUnknownIdIsNotFoundAndChangesNothing) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  TokenUpdate update;
  update.description = "x";
  update.now = kT0;
  EXPECT_EQ(store_
                ->Update("tok_missing", update,
                         MakeAudit("token.update", "tok_missing"))
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Revision(), 1);
  EXPECT_EQ(Count("changes"), 1);
  EXPECT_EQ(Count("audit"), 1);
}

TEST_F(SqliteTokenStoreTest, RotateWithoutGraceDropsTheOldDigest) {
  TokenRecord token = MakeToken("tok_a", "dep-1", kT0);
  Create(token);
  Rotation rotation;
  rotation.new_digest = DigestFor("new");
  rotation.short_token = "dpt_New1...2345";
  rotation.now = kT0 + absl::Hours(1);
  rotation.expire_time = rotation.now + absl::Hours(24 * 30);
  rotation.updated_by = "bob";
  absl::StatusOr<TokenRecord> rotated = store_->Rotate(
      "tok_a", rotation, MakeAudit("token.rotate", "tok_a", "dep-1"));
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(rotated->secret_digest, DigestFor("new"));
  EXPECT_EQ(rotated->previous_digest, std::nullopt);
  EXPECT_EQ(rotated->previous_valid_until, absl::InfinitePast());
  EXPECT_EQ(rotated->short_token, "dpt_New1...2345");
  EXPECT_EQ(rotated->expire_time, rotation.expire_time);
  EXPECT_EQ(rotated->last_rotate_time, rotation.now);
  EXPECT_EQ(rotated->update_time, rotation.now);
  EXPECT_EQ(rotated->updated_by, "bob");
  EXPECT_EQ(rotated->name, token.name);
  EXPECT_EQ(rotated->create_time, token.create_time);

  absl::StatusOr<ChangeBatch> batch = store_->ReadChanges(1, "", 10);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_THAT(batch->changes, SizeIs(1));
  EXPECT_EQ(batch->changes[0].type, TokenChange::Type::kUpsert);
  EXPECT_EQ(batch->changes[0].digest, DigestFor("new"));
  EXPECT_EQ(batch->changes[0].previous_digest, std::nullopt);

  // The old digest is free again: nothing refers to it.
  TokenRecord reuse = MakeToken("tok_b", "dep-1", kT0);
  reuse.secret_digest = DigestFor("tok_a");
  Create(reuse);
}

TEST_F(SqliteTokenStoreTest,
       RotateWithGraceKeepsTheOldDigestUntilTheGivenTime) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  Rotation rotation;
  rotation.new_digest = DigestFor("new");
  rotation.now = kT0 + absl::Hours(1);
  rotation.previous_valid_until = rotation.now + absl::Minutes(10);
  absl::StatusOr<TokenRecord> rotated = store_->Rotate(
      "tok_a", rotation, MakeAudit("token.rotate", "tok_a", "dep-1"));
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(rotated->secret_digest, DigestFor("new"));
  EXPECT_EQ(rotated->previous_digest, DigestFor("tok_a"));
  EXPECT_EQ(rotated->previous_valid_until, *rotation.previous_valid_until);
  EXPECT_EQ(rotated->expire_time, absl::InfiniteFuture());

  absl::StatusOr<ChangeBatch> batch = store_->ReadChanges(1, "", 10);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_THAT(batch->changes, SizeIs(1));
  EXPECT_EQ(batch->changes[0].previous_digest, DigestFor("tok_a"));
  EXPECT_EQ(batch->changes[0].previous_valid_until,
            *rotation.previous_valid_until);

  absl::StatusOr<Snapshot> snapshot = store_->ReadSnapshot("");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ASSERT_THAT(snapshot->tokens, SizeIs(1));
  EXPECT_EQ(snapshot->tokens[0].digest, DigestFor("new"));
  EXPECT_EQ(snapshot->tokens[0].previous_digest, DigestFor("tok_a"));
  EXPECT_EQ(snapshot->tokens[0].previous_valid_until,
            *rotation.previous_valid_until);

  // A second rotation without grace ends the grace of the first at once.
  Rotation again;
  again.new_digest = DigestFor("newer");
  again.now = kT0 + absl::Hours(2);
  rotated = store_->Rotate("tok_a", again, MakeAudit("token.rotate", "tok_a"));
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(rotated->previous_digest, std::nullopt);
  EXPECT_EQ(rotated->previous_valid_until, absl::InfinitePast());
}

TEST_F(SqliteTokenStoreTest,
       RotateToATakenDigestIsAlreadyExistsAndChangesNothing) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  Create(MakeToken("tok_b", "dep-1", kT0));
  Rotation rotation;
  rotation.new_digest = DigestFor("tok_b");
  rotation.now = kT0;
  EXPECT_EQ(
      store_->Rotate("tok_a", rotation, MakeAudit("token.rotate", "tok_a"))
          .status()
          .code(),
      absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->Get("tok_a")->secret_digest, DigestFor("tok_a"));
  EXPECT_EQ(Revision(), 2);
  EXPECT_EQ(Count("audit"), 2);
}

TEST_F(SqliteTokenStoreTest, RotateOfUnknownIdIsNotFound) {
  Rotation rotation;
  rotation.new_digest = DigestFor("new");
  EXPECT_EQ(
      store_->Rotate("tok_missing", rotation, MakeAudit("token.rotate", "x"))
          .status()
          .code(),
      absl::StatusCode::kNotFound);
  EXPECT_EQ(Revision(), 0);
}

TEST_F(SqliteTokenStoreTest, DeleteRemovesTheTokenAndLogsADeleteChange) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  // The caller does not know the deployment: the store fills it in from the
  // row.
  absl::StatusOr<int64_t> revision =
      store_->Delete("tok_a", MakeAudit("token.delete", "tok_a", ""));
  ASSERT_TRUE(revision.ok()) << revision.status();
  EXPECT_EQ(*revision, 2);
  EXPECT_EQ(store_->Get("tok_a").status().code(), absl::StatusCode::kNotFound);

  absl::StatusOr<ChangeBatch> batch = store_->ReadChanges(1, "dep-1", 10);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_THAT(batch->changes, SizeIs(1));
  EXPECT_EQ(batch->changes[0].type, TokenChange::Type::kDelete);
  EXPECT_EQ(batch->changes[0].token_id, "tok_a");
  EXPECT_EQ(batch->changes[0].deployment_id, "dep-1");
  EXPECT_EQ(batch->changes[0].revision, 2);

  absl::StatusOr<std::vector<AuditEntry>> audit =
      store_->ListAudit("dep-1", 0, 10);
  ASSERT_TRUE(audit.ok()) << audit.status();
  ASSERT_THAT(*audit, SizeIs(2));
  EXPECT_EQ((*audit)[0].action, "token.delete");
  EXPECT_EQ((*audit)[0].deployment_id, "dep-1");

  absl::StatusOr<Snapshot> snapshot = store_->ReadSnapshot("");
  ASSERT_TRUE(snapshot.ok());
  EXPECT_THAT(snapshot->tokens, IsEmpty());
  EXPECT_EQ(snapshot->revision, 2);
}

TEST_F(SqliteTokenStoreTest, DeleteOfUnknownIdChangesNothing) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  EXPECT_EQ(
      store_->Delete("tok_missing", MakeAudit("token.delete", "tok_missing"))
          .status()
          .code(),
      absl::StatusCode::kNotFound);
  EXPECT_EQ(Revision(), 1);
  EXPECT_EQ(Count("changes"), 1);
  EXPECT_EQ(Count("audit"), 1);
  // The next change takes the next revision: the failed call used none.
  EXPECT_EQ(Create(MakeToken("tok_b", "dep-1", kT0)), 2);
}

TEST_F(SqliteTokenStoreTest, RevisionsStrictlyIncrease) {
  std::vector<int64_t> revisions;
  revisions.push_back(Create(MakeToken("tok_a", "dep-1", kT0)));
  revisions.push_back(Create(MakeToken("tok_b", "dep-2", kT0)));
  TokenUpdate update;
  update.now = kT0;
  ASSERT_TRUE(
      store_->Update("tok_a", update, MakeAudit("token.update", "tok_a")).ok());
  revisions.push_back(Revision());
  Rotation rotation;
  rotation.new_digest = DigestFor("new");
  ASSERT_TRUE(
      store_->Rotate("tok_b", rotation, MakeAudit("token.rotate", "tok_b"))
          .ok());
  revisions.push_back(Revision());
  revisions.push_back(
      *store_->Delete("tok_a", MakeAudit("token.delete", "tok_a")));
  EXPECT_THAT(revisions, ElementsAre(1, 2, 3, 4, 5));

  absl::StatusOr<ChangeBatch> batch = store_->ReadChanges(0, "", 100);
  ASSERT_TRUE(batch.ok());
  ASSERT_THAT(batch->changes, SizeIs(5));
  for (size_t i = 0; i < batch->changes.size(); ++i) {
    EXPECT_EQ(batch->changes[i].revision, static_cast<int64_t>(i + 1));
  }
  EXPECT_EQ(batch->up_to_revision, 5);
}

TEST_F(SqliteTokenStoreTest, ChangeAndAuditRollBackTogetherWhenTheAuditFails) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  RawDb raw(path_);
  raw.Exec(
      "CREATE TRIGGER fail_audit BEFORE INSERT ON audit BEGIN "
      "SELECT RAISE(ABORT, 'injected failure'); END");

  absl::StatusOr<int64_t> created = store_->Create(
      MakeToken("tok_b", "dep-1", kT0), MakeAudit("token.create", "tok_b"));
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInternal);
  Rotation rotation;
  rotation.new_digest = DigestFor("new");
  EXPECT_FALSE(
      store_->Rotate("tok_a", rotation, MakeAudit("token.rotate", "tok_a"))
          .ok());
  EXPECT_FALSE(
      store_->Delete("tok_a", MakeAudit("token.delete", "tok_a")).ok());

  EXPECT_EQ(store_->Get("tok_b").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Get("tok_a")->secret_digest, DigestFor("tok_a"));
  EXPECT_EQ(Revision(), 1);
  EXPECT_EQ(Count("changes"), 1);

  // The store is usable again once the audit table accepts rows.
  raw.Exec("DROP TRIGGER fail_audit");
  EXPECT_EQ(Create(MakeToken("tok_b", "dep-1", kT0)), 2);
}

TEST_F(SqliteTokenStoreTest, TrimmedChangesMakeOldReadersIncomplete) {
  store_.reset();
  store_ = OpenStore(path_, /*retention=*/3);
  ASSERT_NE(store_, nullptr);
  for (int i = 0; i < 6; ++i)
    Create(MakeToken(absl::StrCat("tok_", i), "dep-1", kT0));
  EXPECT_EQ(Revision(), 6);
  EXPECT_EQ(Count("changes"), 3);  // Revisions 4, 5, 6.

  for (int64_t since : {0, 1, 2}) {
    absl::StatusOr<ChangeBatch> batch = store_->ReadChanges(since, "", 10);
    ASSERT_TRUE(batch.ok()) << batch.status();
    EXPECT_FALSE(batch->complete) << "since " << since;
    EXPECT_THAT(batch->changes, IsEmpty());
  }
  for (int64_t since : {3, 5, 6}) {
    absl::StatusOr<ChangeBatch> batch = store_->ReadChanges(since, "", 10);
    ASSERT_TRUE(batch.ok()) << batch.status();
    EXPECT_TRUE(batch->complete) << "since " << since;
    EXPECT_THAT(batch->changes, SizeIs(6 - since));
    EXPECT_EQ(batch->up_to_revision, 6);
  }
  // A deployment filter does not hide the gap.
  EXPECT_FALSE(store_->ReadChanges(1, "dep-1", 10)->complete);
  EXPECT_FALSE(store_->ReadChanges(1, "dep-other", 10)->complete);
}

TEST_F(SqliteTokenStoreTest, RevisionsAreNotReusedAfterTrimmingAndReopening) {
  store_.reset();
  store_ = OpenStore(path_, /*retention=*/1);
  ASSERT_NE(store_, nullptr);
  Create(MakeToken("tok_a", "dep-1", kT0));
  Create(MakeToken("tok_b", "dep-1", kT0));
  ASSERT_EQ(*store_->Delete("tok_a", MakeAudit("token.delete", "tok_a")), 3);
  ASSERT_EQ(*store_->Delete("tok_b", MakeAudit("token.delete", "tok_b")), 4);
  store_.reset();
  store_ = OpenStore(path_, /*retention=*/1);
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(Revision(), 4);
  EXPECT_EQ(Create(MakeToken("tok_c", "dep-1", kT0)), 5);
  EXPECT_FALSE(store_->ReadChanges(3, "", 10)->complete);
  EXPECT_TRUE(store_->ReadChanges(4, "", 10)->complete);
}

TEST_F(SqliteTokenStoreTest, ReadChangesAheadOfTheStoreIsIncomplete) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  absl::StatusOr<ChangeBatch> batch = store_->ReadChanges(7, "", 10);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_FALSE(batch->complete);
  EXPECT_THAT(batch->changes, IsEmpty());
  EXPECT_EQ(store_->ReadChanges(-1, "", 10).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SqliteTokenStoreTest, ReadChangesFiltersByDeployment) {
  Create(MakeToken("tok_a", "dep-1", kT0));  // 1
  Create(MakeToken("tok_b", "dep-2", kT0));  // 2
  Create(MakeToken("tok_c", "dep-1", kT0));  // 3
  Create(MakeToken("tok_d", "dep-2", kT0));  // 4

  absl::StatusOr<ChangeBatch> batch = store_->ReadChanges(0, "dep-1", 10);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_TRUE(batch->complete);
  ASSERT_THAT(batch->changes, SizeIs(2));
  EXPECT_EQ(batch->changes[0].token_id, "tok_a");
  EXPECT_EQ(batch->changes[0].digest, DigestFor("tok_a"));
  EXPECT_EQ(batch->changes[0].expire_time, kT0 + absl::Hours(24 * 30));
  EXPECT_EQ(batch->changes[1].token_id, "tok_c");
  EXPECT_EQ(batch->changes[1].revision, 3);
  // Up to date through the store's revision even though the last change is
  // older.
  EXPECT_EQ(batch->up_to_revision, 4);
}

TEST_F(SqliteTokenStoreTest,
       ReadChangesWithLimitSaysHowFarTheReaderIsUpToDate) {
  Create(MakeToken("tok_a", "dep-1", kT0));  // 1
  Create(MakeToken("tok_b", "dep-1", kT0));  // 2
  Create(MakeToken("tok_x", "dep-2", kT0));  // 3
  Create(MakeToken("tok_c", "dep-1", kT0));  // 4
  Create(MakeToken("tok_y", "dep-2", kT0));  // 5

  absl::StatusOr<ChangeBatch> batch = store_->ReadChanges(0, "dep-1", 2);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_THAT(batch->changes, SizeIs(2));
  // The next dep-1 change is 4, so nothing wanted lies in (2, 3].
  EXPECT_EQ(batch->up_to_revision, 3);

  batch = store_->ReadChanges(batch->up_to_revision, "dep-1", 2);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_THAT(batch->changes, SizeIs(1));
  EXPECT_EQ(batch->changes[0].token_id, "tok_c");
  EXPECT_EQ(batch->up_to_revision, 5);

  batch = store_->ReadChanges(0, "", 3);
  ASSERT_TRUE(batch.ok());
  EXPECT_THAT(batch->changes, SizeIs(3));
  EXPECT_EQ(batch->up_to_revision, 3);
}

TEST_F(SqliteTokenStoreTest, SnapshotFiltersByDeploymentAndCarriesTheRevision) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  Create(MakeToken("tok_b", "dep-2", kT0));
  Create(MakeToken("tok_c", "dep-1", kT0));

  absl::StatusOr<Snapshot> all = store_->ReadSnapshot("");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->revision, 3);
  EXPECT_THAT(all->tokens, SizeIs(3));

  absl::StatusOr<Snapshot> one = store_->ReadSnapshot("dep-1");
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->revision, 3);
  ASSERT_THAT(one->tokens, SizeIs(2));
  for (const TokenChange& token : one->tokens) {
    EXPECT_EQ(token.deployment_id, "dep-1");
    EXPECT_EQ(token.type, TokenChange::Type::kUpsert);
    EXPECT_EQ(token.digest, DigestFor(token.token_id));
    EXPECT_EQ(token.previous_digest, std::nullopt);
  }
}

TEST_F(SqliteTokenStoreTest, RecordUsageOnlyMovesForwardAndCreatesNoRevision) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  absl::Time later = kT0 + absl::Minutes(10);
  ASSERT_TRUE(store_
                  ->RecordUsage({{"tok_a", later},
                                 {"tok_unknown", later},
                                 {"tok_a", kT0 + absl::Minutes(1)}})
                  .ok());
  EXPECT_EQ(store_->Get("tok_a")->last_used_time, later);
  ASSERT_TRUE(store_->RecordUsage({{"tok_a", kT0}}).ok());
  EXPECT_EQ(store_->Get("tok_a")->last_used_time, later);
  ASSERT_TRUE(store_->RecordUsage({{"tok_a", later + absl::Seconds(1)}}).ok());
  EXPECT_EQ(store_->Get("tok_a")->last_used_time, later + absl::Seconds(1));
  EXPECT_EQ(Revision(), 1);
  EXPECT_EQ(Count("audit"), 1);
  EXPECT_TRUE(store_->RecordUsage({}).ok());
}

TEST_F(SqliteTokenStoreTest, RecordAuditAppendsARowWithoutARevision) {
  AuditEntry denied = MakeAudit("token.delete", "tok_x", "dep-1");
  denied.outcome = "PERMISSION_DENIED";
  denied.detail = "caller is not an admin";
  ASSERT_TRUE(store_->RecordAudit(denied).ok());
  EXPECT_EQ(Revision(), 0);
  absl::StatusOr<std::vector<AuditEntry>> audit =
      store_->ListAudit("dep-1", 0, 10);
  ASSERT_TRUE(audit.ok()) << audit.status();
  ASSERT_THAT(*audit, SizeIs(1));
  EXPECT_GT((*audit)[0].id, 0);
  EXPECT_EQ((*audit)[0].time, kT0);
  EXPECT_EQ((*audit)[0].principal, "admin");
  EXPECT_EQ((*audit)[0].action, "token.delete");
  EXPECT_EQ((*audit)[0].token_id, "tok_x");
  EXPECT_EQ((*audit)[0].outcome, "PERMISSION_DENIED");
  EXPECT_EQ((*audit)[0].detail, "caller is not an admin");
}

TEST_F(SqliteTokenStoreTest, ListAuditIsNewestFirstAndPagesByBeforeId) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        store_->RecordAudit(MakeAudit(absl::StrCat("a", i), "t", "dep-1"))
            .ok());
  }
  ASSERT_TRUE(store_->RecordAudit(MakeAudit("other", "t", "dep-2")).ok());
  absl::StatusOr<std::vector<AuditEntry>> first =
      store_->ListAudit("dep-1", 0, 3);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_THAT(*first, SizeIs(3));
  EXPECT_EQ((*first)[0].action, "a4");
  EXPECT_EQ((*first)[2].action, "a2");
  absl::StatusOr<std::vector<AuditEntry>> second =
      store_->ListAudit("dep-1", first->back().id, 3);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_THAT(*second, SizeIs(2));
  EXPECT_EQ((*second)[0].action, "a1");
  EXPECT_EQ((*second)[1].action, "a0");
}

TEST_F(SqliteTokenStoreTest, ReopeningTheFileKeepsEverything) {
  TokenRecord token = MakeToken("tok_a", "dep-1", kT0);
  Create(token);
  Rotation rotation;
  rotation.new_digest = DigestFor("new");
  rotation.now = kT0 + absl::Hours(1);
  rotation.previous_valid_until = rotation.now + absl::Minutes(5);
  absl::StatusOr<TokenRecord> rotated = store_->Rotate(
      "tok_a", rotation, MakeAudit("token.rotate", "tok_a", "dep-1"));
  ASSERT_TRUE(rotated.ok());
  ASSERT_TRUE(store_->RecordUsage({{"tok_a", kT0 + absl::Hours(2)}}).ok());
  store_.reset();

  store_ = OpenStore(path_);
  ASSERT_NE(store_, nullptr);
  absl::StatusOr<TokenRecord> got = store_->Get("tok_a");
  ASSERT_TRUE(got.ok()) << got.status();
  TokenRecord want = *rotated;
  want.last_used_time = kT0 + absl::Hours(2);
  ExpectSameToken(*got, want);
  EXPECT_EQ(Revision(), 2);
  EXPECT_THAT(*store_->ListAudit("dep-1", 0, 10), SizeIs(2));
  EXPECT_THAT(store_->ReadChanges(0, "", 10)->changes, SizeIs(2));
}

TEST_F(SqliteTokenStoreTest, DatabaseFilesArePrivate) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  for (const std::string& file : {path_, path_ + "-wal"}) {
    struct stat info;
    ASSERT_EQ(stat(file.c_str(), &info), 0) << file;
    EXPECT_EQ(info.st_mode & 0777, 0600u) << file;
  }
}

TEST_F(SqliteTokenStoreTest, FileIsInWalModeAtTheCurrentSchemaVersion) {
  RawDb raw(path_);
  EXPECT_EQ(raw.Text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.Int("PRAGMA user_version"), SqliteTokenStore::kSchemaVersion);
}

TEST_F(SqliteTokenStoreTest,
       WriteWhileAnotherConnectionHoldsTheLockIsUnavailable) {
  store_.reset();
  SqliteTokenStoreOptions options;
  options.path = path_;
  options.busy_timeout = absl::ZeroDuration();
  absl::StatusOr<std::unique_ptr<SqliteTokenStore>> store =
      SqliteTokenStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = *std::move(store);

  RawDb raw(path_);
  raw.Exec("BEGIN IMMEDIATE");
  absl::StatusOr<int64_t> created = store_->Create(
      MakeToken("tok_a", "dep-1", kT0), MakeAudit("token.create", "tok_a"));
  EXPECT_EQ(created.status().code(), absl::StatusCode::kUnavailable);
  // Readers are not blocked by the writer.
  EXPECT_EQ(Revision(), 0);
  raw.Exec("ROLLBACK");
  EXPECT_EQ(Create(MakeToken("tok_a", "dep-1", kT0)), 1);
}

TEST_F(SqliteTokenStoreTest, ConcurrentWritersGetDistinctRevisions) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20;
  absl::Mutex mu;
  std::vector<int64_t> revisions;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string id = absl::StrCat("tok_", t, "_", i);
        absl::StatusOr<int64_t> revision = store_->Create(
            MakeToken(id, "dep-1", kT0), MakeAudit("token.create", id));
        ASSERT_TRUE(revision.ok()) << revision.status();
        ASSERT_TRUE(store_->ReadSnapshot("dep-1").ok());
        absl::MutexLock lock(&mu);
        revisions.push_back(*revision);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::sort(revisions.begin(), revisions.end());
  ASSERT_THAT(revisions, SizeIs(kThreads * kPerThread));
  for (size_t i = 0; i < revisions.size(); ++i) {
    EXPECT_EQ(revisions[i], static_cast<int64_t>(i + 1));
  }
}

// The schema as version 1 binaries wrote it: a fixture of the old on-disk
// format, kept here verbatim so that a change to the migrations cannot silently
// change it.
constexpr char kVersion1Schema[] = R"sql(
CREATE TABLE tokens (
  id TEXT PRIMARY KEY NOT NULL,
  deployment_id TEXT NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  short_token TEXT NOT NULL DEFAULT '',
  expiration_days INTEGER NOT NULL DEFAULT 0,
  secret_digest BLOB UNIQUE NOT NULL,
  create_time INTEGER NOT NULL,
  update_time INTEGER,
  expire_time INTEGER,
  last_rotate_time INTEGER,
  created_by TEXT NOT NULL DEFAULT '',
  updated_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX tokens_by_deployment ON tokens (deployment_id, create_time, id);
CREATE TABLE changes (
  revision INTEGER PRIMARY KEY AUTOINCREMENT,
  type TEXT NOT NULL CHECK (type IN ('upsert', 'delete')),
  token_id TEXT NOT NULL,
  deployment_id TEXT NOT NULL,
  secret_digest BLOB,
  expire_time INTEGER
);
CREATE INDEX changes_by_deployment ON changes (deployment_id, revision);
CREATE TABLE audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time INTEGER,
  principal TEXT NOT NULL,
  action TEXT NOT NULL,
  token_id TEXT NOT NULL,
  deployment_id TEXT NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX audit_by_deployment ON audit (deployment_id, id);
PRAGMA user_version = 1;
)sql";

TEST(SqliteTokenStoreMigrationTest, OpensAVersion1FileAndMigratesIt) {
  std::string path = TestPath("version1.db");
  const int64_t create_micros = absl::ToUnixMicros(kT0);
  {
    RawDb raw(path);
    raw.Exec(kVersion1Schema);
    // x'00..' is a 32-byte digest; 00 01 02 ... 1f.
    raw.Exec(absl::StrCat(
        "INSERT INTO tokens (id, deployment_id, name, secret_digest, "
        "create_time, update_time, expiration_days) VALUES ('tok_old', "
        "'dep-1', 'old token', "
        "x'000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', ",
        create_micros, ", ", create_micros, ", 0)"));
    raw.Exec(
        "INSERT INTO changes (type, token_id, deployment_id, secret_digest) "
        "VALUES ('upsert', 'tok_old', 'dep-1', "
        "x'000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f')");
  }

  std::unique_ptr<SqliteTokenStore> store = OpenStore(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawDb(path).Int("PRAGMA user_version"),
            SqliteTokenStore::kSchemaVersion);

  absl::StatusOr<TokenRecord> old = store->Get("tok_old");
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->name, "old token");
  EXPECT_EQ(old->create_time, kT0);
  EXPECT_EQ(old->expire_time, absl::InfiniteFuture());
  EXPECT_EQ(old->last_used_time, absl::InfinitePast());
  EXPECT_EQ(old->previous_digest, std::nullopt);
  EXPECT_EQ(old->secret_digest[31], 0x1f);

  // The old change log is still complete, and new revisions follow it.
  absl::StatusOr<ChangeBatch> batch = store->ReadChanges(0, "", 10);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_TRUE(batch->complete);
  ASSERT_THAT(batch->changes, SizeIs(1));
  EXPECT_EQ(batch->changes[0].previous_digest, std::nullopt);

  // Features added by version 2 work on the migrated rows.
  ASSERT_TRUE(store->RecordUsage({{"tok_old", kT0 + absl::Hours(1)}}).ok());
  Rotation rotation;
  rotation.new_digest = DigestFor("new");
  rotation.now = kT0 + absl::Hours(2);
  rotation.previous_valid_until = rotation.now + absl::Minutes(1);
  absl::StatusOr<TokenRecord> rotated =
      store->Rotate("tok_old", rotation, MakeAudit("token.rotate", "tok_old"));
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(rotated->previous_digest, old->secret_digest);
  EXPECT_EQ(rotated->last_used_time, kT0 + absl::Hours(1));
  EXPECT_EQ(*store->CurrentRevision(), 2);

  // Opening again is a no-op.
  store.reset();
  store = OpenStore(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Get("tok_old")->secret_digest, DigestFor("new"));
}

TEST(SqliteTokenStoreMigrationTest, RefusesAFileWithANewerSchema) {
  std::string path = TestPath("future.db");
  RawDb(path).Exec("PRAGMA user_version = 99");
  SqliteTokenStoreOptions options;
  options.path = path;
  EXPECT_EQ(SqliteTokenStore::Open(options).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(SqliteTokenStoreOpenTest, RejectsBadOptions) {
  SqliteTokenStoreOptions options;
  EXPECT_EQ(SqliteTokenStore::Open(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.path = TestPath("bad_options.db");
  options.change_retention = 0;
  EXPECT_EQ(SqliteTokenStore::Open(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SqliteTokenStoreOpenTest, MissingDirectoryIsUnavailable) {
  SqliteTokenStoreOptions options;
  options.path = TestPath("no/such/dir/tokens.db");
  EXPECT_EQ(SqliteTokenStore::Open(options).status().code(),
            absl::StatusCode::kUnavailable);
}

// Concurrent writers are group-committed; each write must still be atomic on
// its own: a failing write leaves nothing behind and fails no other write.
TEST_F(SqliteTokenStoreTest, ConcurrentCreatesAreEachAtomicAndAllDurable) {
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  Create(MakeToken("tok_taken", "dep-1", t0));
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::vector<std::thread> threads;
  absl::Mutex mu;
  std::vector<int64_t> revisions;
  int clashes = 0;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = absl::StrCat("tok_", t, "_", i);
        TokenRecord token = MakeToken(id, "dep-1", t0 + absl::Seconds(i));
        // Every fifth write reuses a taken digest and must fail alone.
        const bool clash = i % 5 == 0;
        if (clash) token.secret_digest = DigestFor("tok_taken");
        absl::StatusOr<int64_t> revision =
            store_->Create(token, MakeAudit("token.create", id, "dep-1"));
        absl::MutexLock lock(&mu);
        if (clash) {
          EXPECT_EQ(revision.status().code(), absl::StatusCode::kAlreadyExists);
          ++clashes;
        } else {
          EXPECT_TRUE(revision.ok()) << revision.status();
          if (revision.ok()) revisions.push_back(*revision);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const int64_t created = kThreads * kPerThread - clashes;
  ASSERT_EQ(static_cast<int64_t>(revisions.size()), created);
  std::sort(revisions.begin(), revisions.end());
  EXPECT_EQ(std::unique(revisions.begin(), revisions.end()), revisions.end());
  EXPECT_EQ(Revision(), created + 1);

  // Reopened from the file: every acknowledged write, nothing of the failed.
  store_.reset();
  EXPECT_EQ(Count("tokens"), created + 1);
  EXPECT_EQ(Count("changes"), created + 1);
  EXPECT_EQ(Count("audit"), created + 1);
}

}  // namespace
}  // namespace tokens
