// SqliteTokenStore's own machinery: the file (mode, WAL, user_version
// migrations), options and locking. What every TokenStore promises is in
// token_store_conformance_test.cc, run against this store too.
#include "storage/sqlite_token_store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/token_value.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/test_records.h"
#include "storage/token_store.h"

namespace tokens {
namespace {

using ::testing::SizeIs;

std::string TestPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
  unlink(path.c_str());
  unlink((path + "-wal").c_str());
  unlink((path + "-shm").c_str());
  return path;
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

  std::string path_;
  std::unique_ptr<SqliteTokenStore> store_;
};

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
  ASSERT_TRUE(
      store->RecordUsage({Usage("tok_old", kT0 + absl::Hours(1))}).ok());
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

// What version 2 binaries added to the version 1 schema, verbatim.
constexpr char kVersion2Additions[] = R"sql(
ALTER TABLE tokens ADD COLUMN previous_digest BLOB;
ALTER TABLE tokens ADD COLUMN previous_valid_until INTEGER;
ALTER TABLE tokens ADD COLUMN last_used_time INTEGER;
ALTER TABLE changes ADD COLUMN previous_digest BLOB;
ALTER TABLE changes ADD COLUMN previous_valid_until INTEGER;
CREATE TABLE meta (
  key TEXT PRIMARY KEY NOT NULL,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('changes_trimmed_through', COALESCE(
  (SELECT MIN(revision) - 1 FROM changes),
  (SELECT seq FROM sqlite_sequence WHERE name = 'changes'),
  0));
PRAGMA user_version = 2;
)sql";

TEST(SqliteTokenStoreMigrationTest, OpensAVersion2FileAndMigratesIt) {
  std::string path = TestPath("version2.db");
  const int64_t micros = absl::ToUnixMicros(kT0);
  const std::string digest =
      "x'000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'";
  const std::string previous =
      "x'1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100'";
  {
    RawDb raw(path);
    raw.Exec(kVersion1Schema);
    raw.Exec(kVersion2Additions);
    raw.Exec(absl::StrCat(
        "INSERT INTO tokens (id, deployment_id, name, secret_digest, "
        "previous_digest, previous_valid_until, create_time, update_time, "
        "expire_time, last_used_time, expiration_days) VALUES ('tok_old', "
        "'dep-1', 'old token', ",
        digest, ", ", previous, ", ", micros + 60000000, ", ", micros, ", ",
        micros, ", ", micros + 3600000000, ", ", micros + 1000000, ", 1)"));
    raw.Exec(absl::StrCat(
        "INSERT INTO changes (type, token_id, deployment_id, secret_digest, "
        "expire_time, previous_digest, previous_valid_until) VALUES "
        "('upsert', 'tok_old', 'dep-1', ",
        digest, ", ", micros + 3600000000, ", ", previous, ", ",
        micros + 60000000, ")"));
    raw.Exec(
        "INSERT INTO audit (time, principal, action, token_id, deployment_id, "
        "outcome, detail) VALUES (1, 'admin', 'token.create', 'tok_old', "
        "'dep-1', 'OK', '')");
  }

  std::unique_ptr<SqliteTokenStore> store = OpenStore(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawDb(path).Int("PRAGMA user_version"),
            SqliteTokenStore::kSchemaVersion);
  absl::StatusOr<TokenRecord> old = store->Get("tok_old");
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->name, "old token");
  EXPECT_EQ(old->secret_digest[31], 0x1f);
  ASSERT_TRUE(old->previous_digest.has_value());
  EXPECT_EQ((*old->previous_digest)[0], 0x1f);
  EXPECT_EQ(old->previous_valid_until, kT0 + absl::Minutes(1));
  EXPECT_EQ(old->expire_time, kT0 + absl::Hours(1));
  EXPECT_EQ(old->last_used_time, kT0 + absl::Seconds(1));
  EXPECT_EQ(old->last_used_verifier, "");
  EXPECT_EQ(old->last_reuse_time, absl::InfinitePast());
  // v4: a token from before self-rotation may not rotate itself, and is
  // found by its digest.
  EXPECT_FALSE(old->self_rotate);
  Digest old_digest;
  for (int i = 0; i < 32; ++i) old_digest[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(store->FindByDigest(old_digest, kT0)->id, "tok_old");
  absl::StatusOr<ChangeBatch> batch = store->ReadChanges(0, "", 10);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_TRUE(batch->complete);
  ASSERT_THAT(batch->changes, SizeIs(1));
  EXPECT_THAT(batch->changes[0].revoked, ::testing::IsEmpty());
  EXPECT_THAT(*store->ListAudit("dep-1", 0, 10), SizeIs(1));

  // What version 3 added works on the migrated rows.
  ListQuery query;
  query.deployment_id = "dep-1";
  query.order = TokenOrder::kExpireTime;
  query.expire_before = kT0 + absl::Hours(2);
  absl::StatusOr<TokenPage> page = store->List(query);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_THAT(page->tokens, SizeIs(1));
  EXPECT_EQ(*store->CountTokensExpiringBefore(kT0 + absl::Hours(2)), 1);
  absl::StatusOr<std::vector<ExpiryNotice>> notices =
      store->RecordExpiryNotices(kT0, {30, 7, 1, 0}, "sweeper");
  ASSERT_TRUE(notices.ok()) << notices.status();
  EXPECT_THAT(*notices, SizeIs(1));
  ASSERT_TRUE(
      store->RecordUsage({Usage("tok_old", kT0 + absl::Hours(1), "v", "c")})
          .ok());
  EXPECT_EQ(store->Get("tok_old")->last_used_verifier, "v");
  Rotation rotation;
  rotation.new_digest = DigestFor("new");
  rotation.now = kT0 + absl::Seconds(30);
  absl::StatusOr<TokenRecord> rotated =
      store->Rotate("tok_old", rotation, MakeAudit("token.rotate", "tok_old"));
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  absl::StatusOr<Snapshot> snapshot = store->ReadSnapshot("dep-1");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_THAT(snapshot->revoked, SizeIs(2));
  EXPECT_EQ(snapshot->revision, 2);
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

}  // namespace
}  // namespace tokens
