// The TokenStore conformance suite: everything the TokenStore interface
// promises, run against every implementation (TEST_P, one instantiation per
// store: "Sqlite" and "Postgres"), plus ClusterState (PostgreSQL only) and a
// transcript test proving that both stores return identical records for the
// same calls. What is about one store's own machinery (SQLite's file, pragmas
// and locking; PostgreSQL's migrations, connections and replicas) lives in
// sqlite_token_store_test.cc and postgres_token_store_test.cc.
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/token_value.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/cluster_state.h"
#include "storage/postgres_token_store.h"
#include "storage/sqlite_token_store.h"
#include "storage/test_records.h"
#include "storage/token_store.h"
#include "tests/testing/postgres_server.h"

namespace tokens {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::tokens::testing::PostgresServer;

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
  EXPECT_EQ(got.last_used_verifier, want.last_used_verifier);
  EXPECT_EQ(got.last_used_client, want.last_used_client);
  EXPECT_EQ(got.last_reuse_time, want.last_reuse_time);
  EXPECT_EQ(got.self_rotate, want.self_rotate);
}

// How a test opens a store.
struct StoreConfig {
  int64_t change_retention = 100000;
  absl::Duration revoked_retention = absl::Hours(24 * 30);
  bool notification_outbox = false;
};

// One store implementation under test and a raw view of its database. Table
// names are the SQLite ones ("tokens", "changes", "audit"); `where` is SQL
// both databases understand.
class StoreHarness {
 public:
  virtual ~StoreHarness() = default;
  // Points the harness at a new, empty database.
  virtual void NewDatabase() = 0;
  // Opens a store on the current database.
  virtual absl::StatusOr<std::unique_ptr<TokenStore>> Open(
      const StoreConfig& config) = 0;
  absl::StatusOr<std::unique_ptr<TokenStore>> Open(int64_t change_retention) {
    StoreConfig config;
    config.change_retention = change_retention;
    return Open(config);
  }
  virtual int64_t Count(const std::string& table, const std::string& where) = 0;
  // Makes every audit-row insert fail (true) or work again (false).
  virtual void FailAuditInserts(bool fail) = 0;
};

class SqliteHarness : public StoreHarness {
 public:
  void NewDatabase() override {
    static std::atomic<int> databases{0};
    const char* dir = std::getenv("TEST_TMPDIR");
    path_ = absl::StrCat(dir != nullptr ? dir : "/tmp", "/conformance_",
                         getpid(), "_", ++databases, ".db");
    unlink(path_.c_str());
    unlink((path_ + "-wal").c_str());
    unlink((path_ + "-shm").c_str());
  }
  using StoreHarness::Open;
  absl::StatusOr<std::unique_ptr<TokenStore>> Open(
      const StoreConfig& config) override {
    SqliteTokenStoreOptions options;
    options.path = path_;
    options.change_retention = config.change_retention;
    options.revoked_retention = config.revoked_retention;
    options.notification_outbox = config.notification_outbox;
    absl::StatusOr<std::unique_ptr<SqliteTokenStore>> store =
        SqliteTokenStore::Open(options);
    if (!store.ok()) return store.status();
    return std::unique_ptr<TokenStore>(*std::move(store));
  }
  int64_t Count(const std::string& table, const std::string& where) override {
    std::string sql = absl::StrCat("SELECT COUNT(*) FROM ", table,
                                   where.empty() ? "" : " WHERE ", where);
    sqlite3* db = nullptr;
    sqlite3_stmt* stmt = nullptr;
    int64_t value = -1;
    if (sqlite3_open(path_.c_str(), &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      value = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
  }
  void FailAuditInserts(bool fail) override {
    Exec(fail ? "CREATE TRIGGER fail_audit BEFORE INSERT ON audit BEGIN "
                "SELECT RAISE(ABORT, 'injected failure'); END"
              : "DROP TRIGGER fail_audit");
  }

 private:
  void Exec(const char* sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &error), SQLITE_OK)
        << (error != nullptr ? error : "");
    sqlite3_free(error);
    sqlite3_close(db);
  }

  std::string path_;
};

// One server for the whole binary, a database per NewDatabase().
class PostgresHarness : public StoreHarness {
 public:
  void NewDatabase() override {
    absl::StatusOr<PostgresServer*> server = PostgresServer::Shared();
    ASSERT_TRUE(server.ok()) << server.status();
    absl::StatusOr<std::string> uri = (*server)->CreateDatabase();
    ASSERT_TRUE(uri.ok()) << uri.status();
    uri_ = *uri;
  }
  using StoreHarness::Open;
  absl::StatusOr<std::unique_ptr<TokenStore>> Open(
      const StoreConfig& config) override {
    PostgresTokenStoreOptions options;
    options.url = uri_;
    options.change_retention = config.change_retention;
    options.revoked_retention = config.revoked_retention;
    options.notification_outbox = config.notification_outbox;
    absl::StatusOr<std::unique_ptr<PostgresTokenStore>> store =
        PostgresTokenStore::Open(options);
    if (!store.ok()) return store.status();
    return std::unique_ptr<TokenStore>(*std::move(store));
  }
  int64_t Count(const std::string& table, const std::string& where) override {
    const std::string name = table == "changes" ? "change_log"
                             : table == "audit" ? "audit_log"
                                                : table;
    absl::StatusOr<std::string> count = testing::QuerySql(
        uri_, absl::StrCat("SELECT count(*) FROM ", name,
                           where.empty() ? "" : " WHERE ", where));
    int64_t value = -1;
    if (!count.ok() || !absl::SimpleAtoi(*count, &value)) {
      ADD_FAILURE() << count.status();
    }
    return value;
  }
  void FailAuditInserts(bool fail) override {
    absl::Status status = testing::ExecuteSql(
        uri_,
        fail ? "CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql "
               "AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$; "
               "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log "
               "FOR EACH ROW EXECUTE FUNCTION fail_audit()"
             : "DROP TRIGGER fail_audit ON audit_log; "
               "DROP FUNCTION fail_audit()");
    EXPECT_TRUE(status.ok()) << status;
  }
  const std::string& uri() const { return uri_; }

 private:
  std::string uri_;
};

struct StoreKind {
  std::string name;
  std::function<std::unique_ptr<StoreHarness>()> make;
};

StoreKind SqliteKind() {
  return {"Sqlite", [] { return std::make_unique<SqliteHarness>(); }};
}

StoreKind PostgresKind() {
  return {"Postgres", [] { return std::make_unique<PostgresHarness>(); }};
}

std::string KindName(const ::testing::TestParamInfo<StoreKind>& info) {
  return info.param.name;
}

class TokenStoreConformanceTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    harness_ = GetParam().make();
    UseFreshStore(/*retention=*/100000);
    ASSERT_NE(store_, nullptr);
  }

  // A store on a new, empty database (PostgreSQL keeps the first retention a
  // database was opened with, so a test that wants another starts afresh).
  void UseFreshStore(int64_t retention) {
    store_.reset();
    harness_->NewDatabase();
    Reopen(retention);
  }

  // A new store on the same database.
  void Reopen(int64_t retention = 100000) {
    StoreConfig config;
    config.change_retention = retention;
    Reopen(config);
  }
  void Reopen(const StoreConfig& config) {
    store_.reset();
    absl::StatusOr<std::unique_ptr<TokenStore>> store = harness_->Open(config);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  // A store on a new, empty database with `config`.
  void UseFreshStore(const StoreConfig& config) {
    store_.reset();
    harness_->NewDatabase();
    Reopen(config);
  }

  absl::StatusOr<TokenPage> List(const std::string& deployment,
                                 const ListCursor& after, int32_t limit,
                                 TokenOrder order = TokenOrder::kCreateTime) {
    ListQuery query;
    query.deployment_id = deployment;
    query.after = after;
    query.limit = limit;
    query.order = order;
    return store_->List(query);
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

  int64_t Count(const std::string& table, const std::string& where = "") {
    return harness_->Count(table, where);
  }

  std::unique_ptr<StoreHarness> harness_;
  std::unique_ptr<TokenStore> store_;
};

INSTANTIATE_TEST_SUITE_P(Stores, TokenStoreConformanceTest,
                         ::testing::Values(SqliteKind(), PostgresKind()),
                         KindName);

TEST_P(TokenStoreConformanceTest, EmptyStoreIsAtRevisionZero) {
  EXPECT_EQ(Revision(), 0);
  absl::StatusOr<ChangeBatch> batch = store_->ReadChanges(0, "", 10);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_TRUE(batch->complete);
  EXPECT_THAT(batch->changes, IsEmpty());
  EXPECT_EQ(batch->up_to_revision, 0);
}

TEST_P(TokenStoreConformanceTest, CreateThenGetReturnsTheSameRecord) {
  TokenRecord token = MakeToken("tok_a", "dep-1", kT0);
  EXPECT_EQ(Create(token), 1);
  absl::StatusOr<TokenRecord> got = store_->Get("tok_a");
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameToken(*got, token);
}

TEST_P(TokenStoreConformanceTest, NeverExpiringTokenKeepsInfiniteExpireTime) {
  TokenRecord token = MakeToken("tok_a", "dep-1", kT0);
  token.expiration_days = 0;
  token.expire_time = absl::InfiniteFuture();
  Create(token);
  absl::StatusOr<TokenRecord> got = store_->Get("tok_a");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->expire_time, absl::InfiniteFuture());
  EXPECT_EQ(got->last_used_time, absl::InfinitePast());
  EXPECT_EQ(got->last_rotate_time, absl::InfinitePast());
  // Stored as NULL, as "none".
  EXPECT_EQ(Count("tokens", "expire_time IS NULL"), 1);
}

TEST_P(TokenStoreConformanceTest, GetOfUnknownIdIsNotFound) {
  EXPECT_EQ(store_->Get("tok_missing").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(TokenStoreConformanceTest, CreateWithDuplicateDigestChangesNothing) {
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

TEST_P(TokenStoreConformanceTest, CreateWithDuplicateIdIsAlreadyExists) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  TokenRecord clash = MakeToken("tok_a", "dep-2", kT0);
  clash.secret_digest = DigestFor("other");
  EXPECT_EQ(
      store_->Create(clash, MakeAudit("token.create", "tok_a")).status().code(),
      absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Revision(), 1);
}

TEST_P(TokenStoreConformanceTest, CreateWithoutCreateTimeIsInvalidArgument) {
  TokenRecord token = MakeToken("tok_a", "dep-1", absl::InfinitePast());
  EXPECT_EQ(
      store_->Create(token, MakeAudit("token.create", "tok_a")).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Revision(), 0);
}

TEST_P(TokenStoreConformanceTest, ListPagesInCreateTimeOrderWithTotalSize) {
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
    absl::StatusOr<TokenPage> page = List("dep-1", cursor, 2);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_EQ(page->total_size, 5);
    ++pages;
    for (const TokenRecord& token : page->tokens) seen.push_back(token.id);
    if (!page->more) break;
    ASSERT_THAT(page->tokens, SizeIs(2));
    cursor.time = page->tokens.back().create_time;
    cursor.id = page->tokens.back().id;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(seen, ElementsAre("tok_a", "tok_b", "tok_c", "tok_d", "tok_e"));
}

TEST_P(TokenStoreConformanceTest, ListOfExactlyOnePageSaysNoMore) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  Create(MakeToken("tok_b", "dep-1", kT0 + absl::Seconds(1)));
  absl::StatusOr<TokenPage> page = List("dep-1", ListCursor(), 2);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(page->tokens, SizeIs(2));
  EXPECT_FALSE(page->more);
  absl::StatusOr<TokenPage> empty = List("dep-9", ListCursor(), 2);
  ASSERT_TRUE(empty.ok());
  EXPECT_THAT(empty->tokens, IsEmpty());
  EXPECT_EQ(empty->total_size, 0);
  EXPECT_EQ(List("dep-1", ListCursor(), 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(TokenStoreConformanceTest,
       UpdateChangesOnlyTheGivenFieldsAndLogsAChange) {
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

TEST_P(TokenStoreConformanceTest,
       UpdateOfUnknownIdIsNotFoundAndChangesNothing) {
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

TEST_P(TokenStoreConformanceTest, RotateWithoutGraceDropsTheOldDigest) {
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

TEST_P(TokenStoreConformanceTest,
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

TEST_P(TokenStoreConformanceTest,
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

TEST_P(TokenStoreConformanceTest, RotateOfUnknownIdIsNotFound) {
  Rotation rotation;
  rotation.new_digest = DigestFor("new");
  EXPECT_EQ(
      store_->Rotate("tok_missing", rotation, MakeAudit("token.rotate", "x"))
          .status()
          .code(),
      absl::StatusCode::kNotFound);
  EXPECT_EQ(Revision(), 0);
}

TEST_P(TokenStoreConformanceTest, DeleteRemovesTheTokenAndLogsADeleteChange) {
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

TEST_P(TokenStoreConformanceTest, DeleteOfUnknownIdChangesNothing) {
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

TEST_P(TokenStoreConformanceTest, RevisionsStrictlyIncrease) {
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

TEST_P(TokenStoreConformanceTest,
       ChangeAndAuditRollBackTogetherWhenTheAuditFails) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  harness_->FailAuditInserts(true);

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
  harness_->FailAuditInserts(false);
  EXPECT_EQ(Create(MakeToken("tok_b", "dep-1", kT0)), 2);
}

TEST_P(TokenStoreConformanceTest, TrimmedChangesMakeOldReadersIncomplete) {
  UseFreshStore(/*retention=*/3);
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

TEST_P(TokenStoreConformanceTest,
       RevisionsAreNotReusedAfterTrimmingAndReopening) {
  UseFreshStore(/*retention=*/1);
  ASSERT_NE(store_, nullptr);
  Create(MakeToken("tok_a", "dep-1", kT0));
  Create(MakeToken("tok_b", "dep-1", kT0));
  ASSERT_EQ(*store_->Delete("tok_a", MakeAudit("token.delete", "tok_a")), 3);
  ASSERT_EQ(*store_->Delete("tok_b", MakeAudit("token.delete", "tok_b")), 4);
  Reopen(/*retention=*/1);
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(Revision(), 4);
  EXPECT_EQ(Create(MakeToken("tok_c", "dep-1", kT0)), 5);
  EXPECT_FALSE(store_->ReadChanges(3, "", 10)->complete);
  EXPECT_TRUE(store_->ReadChanges(4, "", 10)->complete);
}

TEST_P(TokenStoreConformanceTest, ReadChangesAheadOfTheStoreIsIncomplete) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  absl::StatusOr<ChangeBatch> batch = store_->ReadChanges(7, "", 10);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_FALSE(batch->complete);
  EXPECT_THAT(batch->changes, IsEmpty());
  EXPECT_EQ(store_->ReadChanges(-1, "", 10).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(TokenStoreConformanceTest, ReadChangesFiltersByDeployment) {
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

TEST_P(TokenStoreConformanceTest,
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

TEST_P(TokenStoreConformanceTest,
       SnapshotFiltersByDeploymentAndCarriesTheRevision) {
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

TEST_P(TokenStoreConformanceTest,
       RecordUsageOnlyMovesForwardAndCreatesNoRevision) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  absl::Time later = kT0 + absl::Minutes(10);
  ASSERT_TRUE(
      store_
          ->RecordUsage({Usage("tok_a", later), Usage("tok_unknown", later),
                         Usage("tok_a", kT0 + absl::Minutes(1))})
          .ok());
  EXPECT_EQ(store_->Get("tok_a")->last_used_time, later);
  ASSERT_TRUE(store_->RecordUsage({Usage("tok_a", kT0)}).ok());
  EXPECT_EQ(store_->Get("tok_a")->last_used_time, later);
  ASSERT_TRUE(
      store_->RecordUsage({Usage("tok_a", later + absl::Seconds(1))}).ok());
  EXPECT_EQ(store_->Get("tok_a")->last_used_time, later + absl::Seconds(1));
  EXPECT_EQ(Revision(), 1);
  EXPECT_EQ(Count("audit"), 1);
  EXPECT_TRUE(store_->RecordUsage({}).ok());
}

TEST_P(TokenStoreConformanceTest, RecordAuditAppendsARowWithoutARevision) {
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

// RecordAuditAsync writes the same row; `done` runs once it committed, and a
// row still queued when the store closes is written first.
TEST_P(TokenStoreConformanceTest, RecordAuditAsyncAppendsTheRowThenCallsDone) {
  absl::Mutex mu;
  int done = 0;
  constexpr int kRows = 10;
  for (int i = 0; i < kRows; ++i) {
    AuditEntry refused = MakeAudit(absl::StrCat("a", i), "tok_x", "dep-1");
    refused.outcome = "UNAVAILABLE";
    store_->RecordAuditAsync(refused, [&](const absl::Status& status) {
      EXPECT_TRUE(status.ok()) << status;
      absl::MutexLock lock(&mu);
      ++done;
    });
  }
  {
    absl::MutexLock lock(&mu);
    auto all_done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return done == kRows;
    };
    mu.Await(absl::Condition(&all_done));
  }
  absl::StatusOr<std::vector<AuditEntry>> audit =
      store_->ListAudit("dep-1", 0, 100);
  ASSERT_TRUE(audit.ok()) << audit.status();
  ASSERT_THAT(*audit, SizeIs(kRows));
  EXPECT_EQ((*audit)[0].outcome, "UNAVAILABLE");
  EXPECT_EQ(Revision(), 0);

  store_->RecordAuditAsync(MakeAudit("last", "tok_x", "dep-1"),
                           [](const absl::Status&) {});
  Reopen(StoreConfig{});
  EXPECT_EQ(store_->ListAudit("dep-1", 0, 100)->front().action, "last");
}

TEST_P(TokenStoreConformanceTest, ListAuditIsNewestFirstAndPagesByBeforeId) {
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

TEST_P(TokenStoreConformanceTest, ReopeningKeepsEverything) {
  TokenRecord token = MakeToken("tok_a", "dep-1", kT0);
  Create(token);
  Rotation rotation;
  rotation.new_digest = DigestFor("new");
  rotation.now = kT0 + absl::Hours(1);
  rotation.previous_valid_until = rotation.now + absl::Minutes(5);
  absl::StatusOr<TokenRecord> rotated = store_->Rotate(
      "tok_a", rotation, MakeAudit("token.rotate", "tok_a", "dep-1"));
  ASSERT_TRUE(rotated.ok());
  ASSERT_TRUE(store_->RecordUsage({Usage("tok_a", kT0 + absl::Hours(2))}).ok());
  Reopen();
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

TEST_P(TokenStoreConformanceTest, ConcurrentWritersGetDistinctRevisions) {
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

// Concurrent writers are group-committed; each write must still be atomic on
// its own: a failing write leaves nothing behind and fails no other write.
TEST_P(TokenStoreConformanceTest, ConcurrentCreatesAreEachAtomicAndAllDurable) {
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

  // In the database: every acknowledged write, nothing of the failed.
  store_.reset();
  EXPECT_EQ(Count("tokens"), created + 1);
  EXPECT_EQ(Count("changes"), created + 1);
  EXPECT_EQ(Count("audit"), created + 1);
}

// CreateAsync, mixed with blocking writes from other threads: each `done`
// runs exactly once, only after its write committed (the token is readable
// from inside `done`), with a distinct revision, or alone with its own error.
TEST_P(TokenStoreConformanceTest, AsyncCreatesFinishOnceEachAfterTheirCommit) {
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  Create(MakeToken("tok_taken", "dep-1", t0));
  constexpr int kThreads = 4;
  constexpr int kPerThread = 40;
  absl::Mutex mu;
  std::vector<int64_t> revisions;
  absl::flat_hash_map<std::string, int> finished;  // id -> `done` calls
  int clashes = 0;
  int unreadable = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = absl::StrCat("tok_", t, "_", i);
        TokenRecord token = MakeToken(id, "dep-1", t0 + absl::Seconds(i));
        if (i % 4 == 3) {  // a blocking write among the asynchronous ones
          TokenUpdate update;
          update.name = absl::StrCat("name ", t, "_", i);
          update.now = t0 + absl::Seconds(i);
          update.updated_by = "admin";
          EXPECT_TRUE(
              store_
                  ->Update("tok_taken", update,
                           MakeAudit("token.update", "tok_taken", "dep-1"))
                  .ok());
          continue;
        }
        const bool clash = i % 4 == 1;  // fails alone: the digest is taken
        if (clash) token.secret_digest = DigestFor("tok_taken");
        store_->CreateAsync(token, MakeAudit("token.create", id, "dep-1"),
                            [&, id, clash](absl::StatusOr<int64_t> revision) {
                              const bool readable = store_->Get(id).ok();
                              absl::MutexLock lock(&mu);
                              ++finished[id];
                              if (clash) {
                                EXPECT_EQ(revision.status().code(),
                                          absl::StatusCode::kAlreadyExists);
                                ++clashes;
                                return;
                              }
                              EXPECT_TRUE(revision.ok()) << revision.status();
                              if (revision.ok()) revisions.push_back(*revision);
                              if (!readable) ++unreadable;
                            });
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  constexpr int kAsync = kThreads * (kPerThread - kPerThread / 4);
  {
    absl::MutexLock lock(&mu);
    auto all_finished = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return static_cast<int>(finished.size()) == kAsync;
    };
    mu.Await(absl::Condition(&all_finished));
    for (const auto& [id, calls] : finished) EXPECT_EQ(calls, 1) << id;
  }
  EXPECT_EQ(unreadable, 0);
  const int64_t created = kAsync - clashes;
  ASSERT_EQ(static_cast<int64_t>(revisions.size()), created);
  std::sort(revisions.begin(), revisions.end());
  EXPECT_EQ(std::unique(revisions.begin(), revisions.end()), revisions.end());
  constexpr int kUpdates = kThreads * (kPerThread / 4);
  EXPECT_EQ(Revision(), 1 + created + kUpdates);
  store_.reset();
  EXPECT_EQ(Count("tokens"), created + 1);
  EXPECT_EQ(Count("audit"), created + 1 + kUpdates);
}

// Writes still queued when the store closes are committed and finished first.
TEST_P(TokenStoreConformanceTest, ClosingTheStoreFinishesQueuedAsyncCreates) {
  const absl::Time t0 = absl::FromUnixSeconds(1700000000);
  constexpr int kCreates = 50;
  std::atomic<int> ok{0};
  for (int i = 0; i < kCreates; ++i) {
    const std::string id = absl::StrCat("tok_", i);
    store_->CreateAsync(MakeToken(id, "dep-1", t0),
                        MakeAudit("token.create", id, "dep-1"),
                        [&ok](absl::StatusOr<int64_t> revision) {
                          EXPECT_TRUE(revision.ok()) << revision.status();
                          if (revision.ok()) ++ok;
                        });
  }
  store_.reset();  // joins whatever commits them
  EXPECT_EQ(ok.load(), kCreates);
  EXPECT_EQ(Count("tokens"), kCreates);
}

// self_rotate round-trips through both create paths (one write, and a batch
// of queued creates that a group commit may merge into one statement).
TEST_P(TokenStoreConformanceTest, SelfRotateRoundTripsThroughEveryCreatePath) {
  TokenRecord single = MakeToken("tok_single", "dep-1", kT0);
  single.self_rotate = true;
  Create(single);
  EXPECT_TRUE(store_->Get("tok_single")->self_rotate);
  Create(MakeToken("tok_plain", "dep-1", kT0));
  EXPECT_FALSE(store_->Get("tok_plain")->self_rotate);

  constexpr int kCreates = 20;
  std::atomic<int> ok{0};
  for (int i = 0; i < kCreates; ++i) {
    TokenRecord token = MakeToken(absl::StrCat("tok_b", i), "dep-1", kT0);
    token.self_rotate = i % 2 == 0;
    store_->CreateAsync(token, MakeAudit("token.create", token.id, "dep-1"),
                        [&ok](absl::StatusOr<int64_t> revision) {
                          EXPECT_TRUE(revision.ok()) << revision.status();
                          if (revision.ok()) ++ok;
                        });
  }
  Reopen(StoreConfig{});  // finishes the queued creates
  EXPECT_EQ(ok.load(), kCreates);
  for (int i = 0; i < kCreates; ++i) {
    absl::StatusOr<TokenRecord> got = store_->Get(absl::StrCat("tok_b", i));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->self_rotate, i % 2 == 0) << got->id;
  }
  EXPECT_TRUE(store_->Get("tok_single")->self_rotate);
}

TEST_P(TokenStoreConformanceTest, FindByDigestFindsTheCurrentValue) {
  TokenRecord token = MakeToken("tok_a", "dep-1", kT0);
  token.self_rotate = true;
  Create(token);
  Create(MakeToken("tok_b", "dep-2", kT0));
  absl::StatusOr<TokenRecord> found =
      store_->FindByDigest(DigestFor("tok_a"), kT0);
  ASSERT_TRUE(found.ok()) << found.status();
  ExpectSameToken(*found, token);
  EXPECT_EQ(store_->FindByDigest(DigestFor("tok_b"), kT0)->id, "tok_b");
  EXPECT_EQ(store_->FindByDigest(DigestFor("unknown"), kT0).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(TokenStoreConformanceTest,
       FindByDigestFindsAPreviousValueOnlyInsideItsGracePeriod) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  Rotation rotation;
  rotation.new_digest = DigestFor("new");
  rotation.now = kT0 + absl::Hours(1);
  rotation.previous_valid_until = rotation.now + absl::Minutes(10);
  ASSERT_TRUE(store_
                  ->Rotate("tok_a", rotation,
                           MakeAudit("token.rotate", "tok_a", "dep-1"))
                  .ok());
  const absl::Time inside = rotation.now + absl::Minutes(5);
  const absl::Time after = rotation.now + absl::Minutes(10);
  EXPECT_EQ(store_->FindByDigest(DigestFor("new"), after)->id, "tok_a");
  absl::StatusOr<TokenRecord> previous =
      store_->FindByDigest(DigestFor("tok_a"), inside);
  ASSERT_TRUE(previous.ok()) << previous.status();
  EXPECT_EQ(previous->id, "tok_a");
  EXPECT_EQ(previous->previous_digest, DigestFor("tok_a"));
  EXPECT_EQ(store_->FindByDigest(DigestFor("tok_a"), after).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(TokenStoreConformanceTest, FindByDigestOfADeletedTokenIsNotFound) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  ASSERT_TRUE(store_->Delete("tok_a", MakeAudit("token.delete", "tok_a")).ok());
  absl::StatusOr<TokenRecord> found =
      store_->FindByDigest(DigestFor("tok_a"), kT0);
  EXPECT_EQ(found.status().code(), absl::StatusCode::kNotFound);
  // The message names no digest.
  EXPECT_THAT(std::string(found.status().message()),
              Not(HasSubstr(DigestPrefixHex(DigestFor("tok_a")))));
}

TEST_P(TokenStoreConformanceTest,
       TextWithQuotesBackslashesAndUnicodeRoundTrips) {
  const std::string id = "tok_\"q\\b,{x} 'ü'";
  TokenRecord token = MakeToken(id, "dep \"1\"\\", kT0);
  token.name = "名前 \"quoted\" \\ back, slash {brace} NULL";
  token.description = "";
  token.created_by = "Ådmin";
  EXPECT_EQ(Create(token), 1);
  absl::StatusOr<TokenRecord> got = store_->Get(id);
  ASSERT_TRUE(got.ok()) << got.status();
  ExpectSameToken(*got, token);

  ASSERT_TRUE(store_->RecordUsage({Usage(id, kT0 + absl::Seconds(1))}).ok());
  EXPECT_EQ(store_->Get(id)->last_used_time, kT0 + absl::Seconds(1));
  ASSERT_TRUE(store_->Delete(id, MakeAudit("token.delete", id)).ok());

  absl::StatusOr<ChangeBatch> batch =
      store_->ReadChanges(0, token.deployment_id, 10);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_THAT(batch->changes, SizeIs(2));
  EXPECT_EQ(batch->changes[0].token_id, id);
  EXPECT_EQ(batch->changes[0].deployment_id, token.deployment_id);
  EXPECT_EQ(batch->changes[1].token_id, id);
  EXPECT_EQ(batch->changes[1].type, TokenChange::Type::kDelete);
  absl::StatusOr<std::vector<AuditEntry>> audit =
      store_->ListAudit(token.deployment_id, 0, 10);
  ASSERT_TRUE(audit.ok()) << audit.status();
  EXPECT_THAT(*audit, SizeIs(2));
}

TEST_P(TokenStoreConformanceTest, TimesKeepMicrosecondsAndTheInfinities) {
  const absl::Time before_epoch = absl::FromUnixMicros(-1234567);
  TokenRecord token = MakeToken("tok_a", "dep-1", before_epoch);
  token.update_time = kT0 + absl::Microseconds(7);
  token.expire_time = absl::InfiniteFuture();
  Create(token);
  ExpectSameToken(*store_->Get("tok_a"), token);

  Rotation rotation;
  rotation.new_digest = DigestFor("new");
  rotation.now = kT0 + absl::Microseconds(1);
  rotation.expire_time = absl::InfiniteFuture();
  // A grace period that never ends is stored as such, not as "no grace".
  rotation.previous_valid_until = absl::InfiniteFuture();
  absl::StatusOr<TokenRecord> rotated =
      store_->Rotate("tok_a", rotation, MakeAudit("token.rotate", "tok_a"));
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(rotated->previous_digest, DigestFor("tok_a"));
  EXPECT_EQ(rotated->previous_valid_until, absl::InfiniteFuture());
  EXPECT_EQ(rotated->expire_time, absl::InfiniteFuture());
  EXPECT_EQ(rotated->last_rotate_time, rotation.now);
  ExpectSameToken(*store_->Get("tok_a"), *rotated);

  absl::StatusOr<ChangeBatch> batch = store_->ReadChanges(1, "", 10);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_THAT(batch->changes, SizeIs(1));
  EXPECT_EQ(batch->changes[0].expire_time, absl::InfiniteFuture());
  EXPECT_EQ(batch->changes[0].previous_valid_until, absl::InfiniteFuture());

  // Infinite usage times are ignored.
  ASSERT_TRUE(store_
                  ->RecordUsage({Usage("tok_a", absl::InfiniteFuture()),
                                 Usage("tok_a", absl::InfinitePast())})
                  .ok());
  EXPECT_EQ(store_->Get("tok_a")->last_used_time, absl::InfinitePast());
}

TEST_P(TokenStoreConformanceTest, ConcurrentReadersSeeNoGapsWhileWritersWrite) {
  constexpr int kWriters = 4;
  constexpr int kPerWriter = 25;
  std::atomic<bool> done{false};
  std::vector<int64_t> seen;
  std::thread reader([&] {
    int64_t last = 0;
    while (true) {
      const bool finished = done.load();
      absl::StatusOr<ChangeBatch> batch = store_->ReadChanges(last, "", 7);
      ASSERT_TRUE(batch.ok()) << batch.status();
      ASSERT_TRUE(batch->complete);
      for (const TokenChange& change : batch->changes) {
        seen.push_back(change.revision);
      }
      last = batch->up_to_revision;
      if (finished && batch->changes.empty()) break;
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        const std::string id = absl::StrCat("tok_", w, "_", i);
        ASSERT_TRUE(store_
                        ->Create(MakeToken(id, "dep-1", kT0),
                                 MakeAudit("token.create", id))
                        .ok());
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  done = true;
  reader.join();
  ASSERT_THAT(seen, SizeIs(kWriters * kPerWriter));
  for (size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i], static_cast<int64_t>(i + 1));
  }
}

// --- Token hygiene (issue 14) ---

RevokedValue Revoked(const std::string& seed, const std::string& token_id,
                     const std::string& deployment, absl::Time revoke_time) {
  RevokedValue value;
  value.digest = DigestFor(seed);
  value.token_id = token_id;
  value.deployment_id = deployment;
  value.revoke_time = revoke_time;
  return value;
}

MATCHER_P(IsRevoked, want, "") {
  return arg.digest == want.digest && arg.token_id == want.token_id &&
         arg.deployment_id == want.deployment_id &&
         arg.revoke_time == want.revoke_time;
}

Rotation RotateTo(const std::string& seed, absl::Time now,
                  std::optional<absl::Duration> grace = std::nullopt) {
  Rotation rotation;
  rotation.new_digest = DigestFor(seed);
  rotation.now = now;
  rotation.expire_time = now + absl::Hours(24 * 30);
  if (grace.has_value()) rotation.previous_valid_until = now + *grace;
  return rotation;
}

AuditEntry AuditAt(const std::string& action, const std::string& token_id,
                   absl::Time time) {
  AuditEntry audit = MakeAudit(action, token_id);
  audit.time = time;
  return audit;
}

TEST_P(TokenStoreConformanceTest, RotationsRecordTheValuesTheyRevoke) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  const absl::Time t1 = kT0 + absl::Hours(1);
  absl::StatusOr<TokenRecord> rotated =
      store_->Rotate("tok_a", RotateTo("b", t1, absl::Minutes(10)),
                     MakeAudit("token.rotate", "tok_a"));
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  // With a grace period the replaced value is revoked when it ends.
  const RevokedValue a_at_grace =
      Revoked("tok_a", "tok_a", "dep-1", t1 + absl::Minutes(10));
  absl::StatusOr<ChangeBatch> batch = store_->ReadChanges(1, "", 10);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_THAT(batch->changes, SizeIs(1));
  EXPECT_THAT(batch->changes[0].revoked, ElementsAre(IsRevoked(a_at_grace)));

  // Without one, inside the first grace period: the current value is revoked
  // now, and so is the previous one it drops (earlier than its grace end).
  const absl::Time t2 = t1 + absl::Minutes(5);
  ASSERT_TRUE(store_
                  ->Rotate("tok_a", RotateTo("c", t2),
                           MakeAudit("token.rotate", "tok_a"))
                  .ok());
  batch = store_->ReadChanges(2, "dep-1", 10);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_THAT(batch->changes, SizeIs(1));
  EXPECT_THAT(batch->changes[0].revoked,
              ElementsAre(IsRevoked(Revoked("b", "tok_a", "dep-1", t2)),
                          IsRevoked(Revoked("tok_a", "tok_a", "dep-1", t2))));

  // A previous value whose grace already ended keeps that end.
  const absl::Time t3 = t2 + absl::Hours(1);
  ASSERT_TRUE(store_
                  ->Rotate("tok_a", RotateTo("d", t3, absl::Minutes(1)),
                           MakeAudit("token.rotate", "tok_a"))
                  .ok());
  const absl::Time t4 = t3 + absl::Hours(1);
  ASSERT_TRUE(store_
                  ->Rotate("tok_a", RotateTo("e", t4),
                           MakeAudit("token.rotate", "tok_a"))
                  .ok());
  batch = store_->ReadChanges(4, "", 10);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_THAT(batch->changes, SizeIs(1));
  EXPECT_THAT(batch->changes[0].revoked,
              ElementsAre(IsRevoked(Revoked("d", "tok_a", "dep-1", t4)),
                          IsRevoked(Revoked("c", "tok_a", "dep-1",
                                            t3 + absl::Minutes(1)))));

  // The snapshot remembers each revoked value once, at its latest
  // revocation, in digest order; the live token carries none.
  absl::StatusOr<Snapshot> snapshot = store_->ReadSnapshot("");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ASSERT_THAT(snapshot->tokens, SizeIs(1));
  EXPECT_THAT(snapshot->tokens[0].revoked, IsEmpty());
  std::vector<RevokedValue> want = {
      Revoked("tok_a", "tok_a", "dep-1", t2),
      Revoked("b", "tok_a", "dep-1", t2),
      Revoked("c", "tok_a", "dep-1", t3 + absl::Minutes(1)),
      Revoked("d", "tok_a", "dep-1", t4)};
  std::sort(want.begin(), want.end(),
            [](const RevokedValue& x, const RevokedValue& y) {
              return x.digest < y.digest;
            });
  ASSERT_THAT(snapshot->revoked, SizeIs(4));
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_THAT(snapshot->revoked[i], IsRevoked(want[i])) << i;
  }
  // Revoked values create no extra revisions.
  EXPECT_EQ(snapshot->revision, 5);
}

// Rotations of one token racing each other (group-committed, or from two
// stores) still each revoke exactly the value the one before installed.
TEST_P(TokenStoreConformanceTest, ConcurrentRotationsRevokeAChainOfValues) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  absl::StatusOr<std::unique_ptr<TokenStore>> other = harness_->Open(100000);
  ASSERT_TRUE(other.ok()) << other.status();
  std::vector<TokenStore*> stores = {store_.get(), other->get()};
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Every other rotation keeps a grace period, so previous values are
        // dropped too.
        std::optional<absl::Duration> grace;
        if (i % 2 == 0) grace = absl::Hours(1);
        ASSERT_TRUE(stores[t % 2]
                        ->Rotate("tok_a",
                                 RotateTo(absl::StrCat("v", t, "_", i),
                                          kT0 + absl::Minutes(1), grace),
                                 MakeAudit("token.rotate", "tok_a"))
                        .ok());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  absl::StatusOr<ChangeBatch> batch = store_->ReadChanges(0, "", 1000);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_THAT(batch->changes, SizeIs(1 + kThreads * kPerThread));
  for (size_t i = 1; i < batch->changes.size(); ++i) {
    const TokenChange& before = batch->changes[i - 1];
    const TokenChange& change = batch->changes[i];
    ASSERT_FALSE(change.revoked.empty()) << i;
    EXPECT_EQ(change.revoked[0].digest, before.digest) << i;
    if (before.previous_digest.has_value()) {
      ASSERT_THAT(change.revoked, SizeIs(2)) << i;
      EXPECT_EQ(change.revoked[1].digest, *before.previous_digest) << i;
    } else {
      EXPECT_THAT(change.revoked, SizeIs(1)) << i;
    }
  }
  EXPECT_THAT(store_->ReadSnapshot("")->revoked, SizeIs(kThreads * kPerThread));
}

TEST_P(TokenStoreConformanceTest, DeletionsRecordEveryValueOfTheToken) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  Create(MakeToken("tok_b", "dep-2", kT0));
  const absl::Time t1 = kT0 + absl::Hours(1);
  ASSERT_TRUE(store_
                  ->Rotate("tok_a", RotateTo("a2", t1, absl::Hours(1)),
                           MakeAudit("token.rotate", "tok_a"))
                  .ok());
  // Deleted inside the grace period: both values are revoked now.
  const absl::Time t2 = t1 + absl::Minutes(30);
  absl::StatusOr<int64_t> revision =
      store_->Delete("tok_a", AuditAt("token.delete", "tok_a", t2));
  ASSERT_TRUE(revision.ok()) << revision.status();
  ASSERT_TRUE(
      store_->Delete("tok_b", AuditAt("token.delete", "tok_b", t2)).ok());

  absl::StatusOr<ChangeBatch> batch =
      store_->ReadChanges(*revision - 1, "", 10);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_THAT(batch->changes, SizeIs(2));
  EXPECT_EQ(batch->changes[0].type, TokenChange::Type::kDelete);
  EXPECT_THAT(batch->changes[0].revoked,
              ElementsAre(IsRevoked(Revoked("a2", "tok_a", "dep-1", t2)),
                          IsRevoked(Revoked("tok_a", "tok_a", "dep-1", t2))));
  EXPECT_THAT(batch->changes[1].revoked,
              ElementsAre(IsRevoked(Revoked("tok_b", "tok_b", "dep-2", t2))));

  // Snapshots filter them by deployment.
  absl::StatusOr<Snapshot> all = store_->ReadSnapshot("");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_THAT(all->tokens, IsEmpty());
  EXPECT_THAT(all->revoked, SizeIs(3));
  absl::StatusOr<Snapshot> dep2 = store_->ReadSnapshot("dep-2");
  ASSERT_TRUE(dep2.ok()) << dep2.status();
  EXPECT_THAT(dep2->revoked,
              ElementsAre(IsRevoked(Revoked("tok_b", "tok_b", "dep-2", t2))));
  absl::StatusOr<Snapshot> dep1 = store_->ReadSnapshot("dep-1");
  ASSERT_TRUE(dep1.ok()) << dep1.status();
  ASSERT_THAT(dep1->revoked, SizeIs(2));
  for (const RevokedValue& value : dep1->revoked) {
    EXPECT_EQ(value.deployment_id, "dep-1");
    EXPECT_EQ(value.token_id, "tok_a");
  }
  EXPECT_THAT(store_->ReadSnapshot("dep-9")->revoked, IsEmpty());

  // A revoked digest does not block a new token's.
  TokenRecord again = MakeToken("tok_c", "dep-1", kT0);
  again.secret_digest = DigestFor("a2");
  Create(again);
}

TEST_P(TokenStoreConformanceTest, RevokedValuesArePrunedAfterTheRetention) {
  StoreConfig config;
  config.revoked_retention = absl::Hours(1);
  UseFreshStore(config);
  ASSERT_NE(store_, nullptr);
  Create(MakeToken("tok_a", "dep-1", kT0));
  Create(MakeToken("tok_b", "dep-1", kT0));
  Create(MakeToken("tok_c", "dep-1", kT0));
  ASSERT_TRUE(
      store_->Delete("tok_a", AuditAt("token.delete", "tok_a", kT0)).ok());
  // Still inside the retention an hour later.
  ASSERT_TRUE(store_
                  ->Rotate("tok_b", RotateTo("b2", kT0 + absl::Hours(1)),
                           MakeAudit("token.rotate", "tok_b"))
                  .ok());
  EXPECT_THAT(store_->ReadSnapshot("")->revoked, SizeIs(2));
  EXPECT_EQ(Count("revoked_values"), 2);
  // Past it, the next write drops it.
  ASSERT_TRUE(store_
                  ->Delete("tok_c", AuditAt("token.delete", "tok_c",
                                            kT0 + absl::Minutes(61)))
                  .ok());
  absl::StatusOr<Snapshot> snapshot = store_->ReadSnapshot("");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ASSERT_THAT(snapshot->revoked, SizeIs(2));
  for (const RevokedValue& value : snapshot->revoked) {
    EXPECT_NE(value.token_id, "tok_a");
  }
  // A dropped previous value already past the retention is listed in its
  // change but not remembered.
  const absl::Time t = kT0 + absl::Hours(2);
  ASSERT_TRUE(store_
                  ->Rotate("tok_b", RotateTo("b3", t, absl::Minutes(1)),
                           MakeAudit("token.rotate", "tok_b"))
                  .ok());
  const absl::Time later = t + absl::Hours(3);
  ASSERT_TRUE(store_
                  ->Rotate("tok_b", RotateTo("b4", later),
                           MakeAudit("token.rotate", "tok_b"))
                  .ok());
  absl::StatusOr<ChangeBatch> batch =
      store_->ReadChanges(Revision() - 1, "", 1);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_THAT(batch->changes, SizeIs(1));
  EXPECT_THAT(batch->changes[0].revoked, SizeIs(2));
  snapshot = store_->ReadSnapshot("");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_THAT(snapshot->revoked,
              ElementsAre(IsRevoked(Revoked("b3", "tok_b", "dep-1", later))));
}

// Tokens for the List order tests: ties, never-expiring, never-used.
void CreateListFixture(TokenStore& store) {
  struct Spec {
    std::string id;
    std::string name;
    absl::Duration created;
    std::optional<absl::Duration> expires;  // nullopt: never.
    std::optional<absl::Duration> used;     // nullopt: never.
  };
  const std::vector<Spec> specs = {
      {"tok_1", "delta", absl::Seconds(3), absl::Hours(5), absl::Hours(1)},
      {"tok_2", "Alpha", absl::Seconds(1), std::nullopt, std::nullopt},
      {"tok_3", "alpha", absl::Seconds(1), absl::Hours(2), absl::Hours(3)},
      {"tok_4", "delta", absl::Seconds(2), absl::Hours(2), std::nullopt},
      {"tok_5", "beta", absl::Seconds(5), std::nullopt, absl::Hours(1)},
      {"tok_6", "ñu", absl::Seconds(4), absl::Hours(9), absl::Hours(2)},
  };
  for (const Spec& spec : specs) {
    TokenRecord token = MakeToken(spec.id, "dep-1", kT0 + spec.created);
    token.name = spec.name;
    token.expire_time =
        spec.expires ? kT0 + *spec.expires : absl::InfiniteFuture();
    ASSERT_TRUE(
        store.Create(token, MakeAudit("token.create", spec.id, "dep-1")).ok());
    if (spec.used) {
      ASSERT_TRUE(store.RecordUsage({Usage(spec.id, kT0 + *spec.used)}).ok());
    }
  }
  ASSERT_TRUE(store
                  .Create(MakeToken("tok_other", "dep-2", kT0),
                          MakeAudit("token.create", "tok_other", "dep-2"))
                  .ok());
}

// Every token of `query`, page by page (`limit` each); the cursor is built
// from each page's last row as a caller would.
std::vector<std::string> ListAll(TokenStore& store, ListQuery query,
                                 int32_t* total_size, int* pages) {
  std::vector<std::string> ids;
  *pages = 0;
  while (true) {
    absl::StatusOr<TokenPage> page = store.List(query);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) break;
    ++*pages;
    *total_size = page->total_size;
    for (const TokenRecord& token : page->tokens) ids.push_back(token.id);
    if (!page->more) break;
    EXPECT_THAT(page->tokens, SizeIs(query.limit));
    const TokenRecord& last = page->tokens.back();
    query.after.id = last.id;
    query.after.name = last.name;
    switch (query.order) {
      case TokenOrder::kCreateTime:
        query.after.time = last.create_time;
        break;
      case TokenOrder::kExpireTime:
        query.after.time = last.expire_time;
        break;
      case TokenOrder::kName:
        break;
      case TokenOrder::kLastUsedTime:
        query.after.time = last.last_used_time;
        break;
    }
    if (*pages > 20) break;
  }
  return ids;
}

TEST_P(TokenStoreConformanceTest, ListPagesInEveryOrder) {
  CreateListFixture(*store_);
  struct Case {
    TokenOrder order;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {TokenOrder::kCreateTime,
       {"tok_2", "tok_3", "tok_4", "tok_1", "tok_6", "tok_5"}},
      // Never-expiring tokens last.
      {TokenOrder::kExpireTime,
       {"tok_3", "tok_4", "tok_1", "tok_6", "tok_2", "tok_5"}},
      // Byte order: upper case before lower case, UTF-8 after ASCII.
      {TokenOrder::kName,
       {"tok_2", "tok_3", "tok_5", "tok_1", "tok_4", "tok_6"}},
      // Never-used tokens first.
      {TokenOrder::kLastUsedTime,
       {"tok_2", "tok_4", "tok_1", "tok_5", "tok_6", "tok_3"}},
  };
  for (const Case& c : cases) {
    for (int32_t limit : {1, 2, 4, 6, 100}) {
      ListQuery query;
      query.deployment_id = "dep-1";
      query.order = c.order;
      query.limit = limit;
      int32_t total = -1;
      int pages = 0;
      EXPECT_EQ(ListAll(*store_, query, &total, &pages), c.want)
          << "order " << static_cast<int>(c.order) << " limit " << limit;
      EXPECT_EQ(total, 6);
      EXPECT_EQ(pages, (6 + limit - 1) / limit);
    }
  }
}

TEST_P(TokenStoreConformanceTest, ListFiltersByExpireBeforeAndCountsMatches) {
  CreateListFixture(*store_);
  ListQuery query;
  query.deployment_id = "dep-1";
  query.order = TokenOrder::kExpireTime;
  query.limit = 1;
  // Strictly before: tok_1 expires at exactly kT0 + 5h.
  query.expire_before = kT0 + absl::Hours(5);
  int32_t total = -1;
  int pages = 0;
  EXPECT_THAT(ListAll(*store_, query, &total, &pages),
              ElementsAre("tok_3", "tok_4"));
  EXPECT_EQ(total, 2);
  query.order = TokenOrder::kName;
  query.limit = 10;
  query.expire_before = kT0 + absl::Hours(100);
  // Never-expiring tokens never match.
  EXPECT_THAT(ListAll(*store_, query, &total, &pages),
              ElementsAre("tok_3", "tok_1", "tok_4", "tok_6"));
  EXPECT_EQ(total, 4);
  query.expire_before = kT0;
  absl::StatusOr<TokenPage> none = store_->List(query);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_THAT(none->tokens, IsEmpty());
  EXPECT_EQ(none->total_size, 0);
  EXPECT_FALSE(none->more);
}

TEST_P(TokenStoreConformanceTest, RecordUsageKeepsWhoUsedTheTokenLast) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  const absl::Time t1 = kT0 + absl::Minutes(1);
  ASSERT_TRUE(store_
                  ->RecordUsage({Usage("tok_a", t1, "verifier-1", "10.0.0.1"),
                                 Usage("tok_a", t1, "verifier-2", "10.0.0.2"),
                                 Usage("tok_missing", t1, "v", "c")})
                  .ok());
  absl::StatusOr<TokenRecord> got = store_->Get("tok_a");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->last_used_time, t1);
  EXPECT_EQ(got->last_used_verifier, "verifier-1");
  EXPECT_EQ(got->last_used_client, "10.0.0.1");
  // An older report changes nothing; a newer one moves all three.
  ASSERT_TRUE(store_->RecordUsage({Usage("tok_a", kT0, "old", "old")}).ok());
  EXPECT_EQ(store_->Get("tok_a")->last_used_verifier, "verifier-1");
  const absl::Time t2 = t1 + absl::Seconds(1);
  ASSERT_TRUE(store_
                  ->RecordUsage({Usage("tok_a", t2, "verifier-3", "[::1]:5"),
                                 Usage("tok_a", t1, "verifier-4", "x")})
                  .ok());
  ListQuery query;
  query.deployment_id = "dep-1";
  absl::StatusOr<TokenPage> page = store_->List(query);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_THAT(page->tokens, SizeIs(1));
  EXPECT_EQ(page->tokens[0].last_used_time, t2);
  EXPECT_EQ(page->tokens[0].last_used_verifier, "verifier-3");
  EXPECT_EQ(page->tokens[0].last_used_client, "[::1]:5");
  // Update and Rotate return them too.
  TokenUpdate update;
  update.now = t2;
  absl::StatusOr<TokenRecord> updated =
      store_->Update("tok_a", update, MakeAudit("token.update", "tok_a"));
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->last_used_client, "[::1]:5");
  absl::StatusOr<TokenRecord> rotated = store_->Rotate(
      "tok_a", RotateTo("new", t2), MakeAudit("token.rotate", "tok_a"));
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_EQ(rotated->last_used_verifier, "verifier-3");
  EXPECT_EQ(Revision(), 3);
}

TEST_P(TokenStoreConformanceTest, RecordReuseOfALiveTokenMovesItsReuseTime) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  ASSERT_TRUE(store_
                  ->Rotate("tok_a", RotateTo("new", kT0 + absl::Minutes(1)),
                           MakeAudit("token.rotate", "tok_a"))
                  .ok());
  const int64_t revision = Revision();
  ReuseSighting sighting;
  sighting.token_id = "tok_a";
  sighting.time = kT0 + absl::Hours(1);
  sighting.verifier_name = "verifier-1";
  sighting.client_address = "10.0.0.9";
  sighting.count = 3;
  AuditEntry audit = MakeAudit("token.reuse_detected", "tok_a", "");
  audit.detail = "count=3";
  absl::StatusOr<ReuseOutcome> outcome = store_->RecordReuse(sighting, audit);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_TRUE(outcome->token_exists);
  EXPECT_EQ(outcome->deployment_id, "dep-1");
  EXPECT_EQ(store_->Get("tok_a")->last_reuse_time, sighting.time);
  // Never back.
  sighting.time = kT0;
  ASSERT_TRUE(store_->RecordReuse(sighting, audit).ok());
  EXPECT_EQ(store_->Get("tok_a")->last_reuse_time, kT0 + absl::Hours(1));
  EXPECT_EQ(Revision(), revision);
  absl::StatusOr<std::vector<AuditEntry>> entries =
      store_->ListAudit("dep-1", 0, 10);
  ASSERT_TRUE(entries.ok()) << entries.status();
  // The create and both sightings (the rotation was audited without one).
  ASSERT_THAT(*entries, SizeIs(3));
  EXPECT_EQ((*entries)[0].action, "token.reuse_detected");
  EXPECT_EQ((*entries)[0].deployment_id, "dep-1");
  EXPECT_EQ((*entries)[0].detail, "count=3");
}

TEST_P(TokenStoreConformanceTest, RecordReuseOfADeletedTokenUsesItsRevoked) {
  Create(MakeToken("tok_a", "dep-7", kT0));
  ASSERT_TRUE(
      store_->Delete("tok_a", AuditAt("token.delete", "tok_a", kT0)).ok());
  const int64_t revision = Revision();
  ReuseSighting sighting;
  sighting.token_id = "tok_a";
  sighting.time = kT0 + absl::Hours(1);
  absl::StatusOr<ReuseOutcome> outcome = store_->RecordReuse(
      sighting, MakeAudit("token.reuse_detected", "tok_a", ""));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_FALSE(outcome->token_exists);
  EXPECT_EQ(outcome->deployment_id, "dep-7");
  EXPECT_EQ(Revision(), revision);
  EXPECT_EQ(Count("audit",
                  "action = 'token.reuse_detected' AND "
                  "deployment_id = 'dep-7'"),
            1);

  // Neither a token nor a revoked value: nothing recorded.
  sighting.token_id = "tok_unknown";
  EXPECT_EQ(store_
                ->RecordReuse(sighting,
                              MakeAudit("token.reuse_detected", "tok_unknown"))
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Count("audit", "action = 'token.reuse_detected'"), 1);
}

const std::vector<int32_t> kThresholds = {30, 7, 1, 0};

TokenRecord ExpiringToken(const std::string& id, absl::Time expire_time) {
  TokenRecord token = MakeToken(id, "dep-1", kT0);
  token.expire_time = expire_time;
  return token;
}

std::vector<std::string> NoticeTexts(
    const absl::StatusOr<std::vector<ExpiryNotice>>& notices) {
  std::vector<std::string> out;
  EXPECT_TRUE(notices.ok()) << notices.status();
  if (!notices.ok()) return out;
  for (const ExpiryNotice& n : *notices) {
    out.push_back(absl::StrCat(n.token_id, ":", n.days));
  }
  return out;
}

TEST_P(TokenStoreConformanceTest, ExpiryNoticesAreRecordedOncePerThreshold) {
  const absl::Time now = kT0 + absl::Hours(24 * 100);
  const absl::Duration day = absl::Hours(24);
  Create(ExpiringToken("tok_5d", now + 5 * day));
  Create(ExpiringToken("tok_20d", now + 20 * day));
  Create(ExpiringToken("tok_40d", now + 40 * day));
  Create(ExpiringToken("tok_never", absl::InfiniteFuture()));
  const int64_t revision = Revision();

  absl::StatusOr<std::vector<ExpiryNotice>> first =
      store_->RecordExpiryNotices(now, kThresholds, "sweeper");
  EXPECT_THAT(NoticeTexts(first), ElementsAre("tok_20d:30", "tok_5d:7"));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)[1].deployment_id, "dep-1");
  EXPECT_EQ((*first)[1].expire_time, now + 5 * day);
  EXPECT_THAT(NoticeTexts(store_->RecordExpiryNotices(now + absl::Hours(1),
                                                      kThresholds, "sweeper")),
              IsEmpty());
  // The 5-day token gets 1 and 0, never 30.
  EXPECT_THAT(NoticeTexts(store_->RecordExpiryNotices(
                  now + 4 * day + absl::Hours(1), kThresholds, "sweeper")),
              ElementsAre("tok_5d:1"));
  EXPECT_THAT(NoticeTexts(store_->RecordExpiryNotices(now + 5 * day,
                                                      kThresholds, "sweeper")),
              ElementsAre("tok_5d:0"));
  EXPECT_THAT(NoticeTexts(store_->RecordExpiryNotices(now + 6 * day,
                                                      kThresholds, "sweeper")),
              IsEmpty());
  // A sweep that missed thresholds sends only the latest.
  EXPECT_THAT(NoticeTexts(store_->RecordExpiryNotices(now + 21 * day,
                                                      kThresholds, "sweeper")),
              ElementsAre("tok_20d:0", "tok_40d:30"));
  EXPECT_EQ(Count("expiry_notices", "token_id = 'tok_5d'"), 3);
  EXPECT_EQ(Revision(), revision);

  absl::StatusOr<std::vector<AuditEntry>> audit =
      store_->ListAudit("dep-1", 0, 100);
  ASSERT_TRUE(audit.ok()) << audit.status();
  std::vector<std::string> actions;
  for (const AuditEntry& entry : *audit) {
    if (entry.principal != "sweeper") continue;
    EXPECT_EQ(entry.outcome, "OK");
    EXPECT_THAT(entry.detail, HasSubstr("days="));
    actions.push_back(absl::StrCat(entry.action, " ", entry.token_id));
  }
  EXPECT_THAT(actions,
              ElementsAre("token.expiring tok_40d", "token.expired tok_20d",
                          "token.expired tok_5d", "token.expiring tok_5d",
                          "token.expiring tok_5d", "token.expiring tok_20d"));
  EXPECT_EQ(store_->RecordExpiryNotices(now, {7, 30, 0}, "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->RecordExpiryNotices(now, {30, 7}, "x").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(TokenStoreConformanceTest, RotationResetsAndDeletionRemovesNotices) {
  const absl::Time now = kT0 + absl::Hours(24 * 100);
  const absl::Duration day = absl::Hours(24);
  Create(ExpiringToken("tok_a", now + 2 * day));
  Create(ExpiringToken("tok_b", now + 2 * day));
  EXPECT_THAT(
      NoticeTexts(store_->RecordExpiryNotices(now, kThresholds, "sweeper")),
      ElementsAre("tok_a:7", "tok_b:7"));
  Rotation rotation = RotateTo("a2", now);
  rotation.expire_time = now + 3 * day;
  ASSERT_TRUE(
      store_->Rotate("tok_a", rotation, MakeAudit("token.rotate", "tok_a"))
          .ok());
  EXPECT_EQ(Count("expiry_notices", "token_id = 'tok_a'"), 0);
  EXPECT_THAT(NoticeTexts(store_->RecordExpiryNotices(now + absl::Minutes(1),
                                                      kThresholds, "sweeper")),
              ElementsAre("tok_a:7"));
  ASSERT_TRUE(
      store_->Delete("tok_b", AuditAt("token.delete", "tok_b", now)).ok());
  EXPECT_EQ(Count("expiry_notices", "token_id = 'tok_b'"), 0);
  EXPECT_EQ(Count("expiry_notices"), 1);
}

TEST_P(TokenStoreConformanceTest, ConcurrentSweepsRecordEachNoticeOnce) {
  const absl::Time now = kT0 + absl::Hours(24 * 100);
  constexpr int kTokens = 40;
  for (int i = 0; i < kTokens; ++i) {
    Create(
        ExpiringToken(absl::StrCat("tok_", i), now + absl::Hours(1 + i * 12)));
  }
  // Two stores on the one database (two processes, or two replicas).
  absl::StatusOr<std::unique_ptr<TokenStore>> other = harness_->Open(100000);
  ASSERT_TRUE(other.ok()) << other.status();
  std::vector<TokenStore*> stores = {store_.get(), other->get()};
  constexpr int kThreads = 4;
  constexpr int kSweeps = 5;
  absl::Mutex mu;
  std::vector<std::string> recorded;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int sweep = 0; sweep < kSweeps; ++sweep) {
        absl::StatusOr<std::vector<ExpiryNotice>> notices =
            stores[t % 2]->RecordExpiryNotices(now, kThresholds, "sweeper");
        ASSERT_TRUE(notices.ok()) << notices.status();
        absl::MutexLock lock(&mu);
        for (const ExpiryNotice& n : *notices) {
          recorded.push_back(absl::StrCat(n.token_id, ":", n.days));
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  // Every token is within 30 days: one notice each, and one audit row.
  std::sort(recorded.begin(), recorded.end());
  EXPECT_THAT(recorded, SizeIs(kTokens));
  EXPECT_EQ(std::unique(recorded.begin(), recorded.end()), recorded.end());
  EXPECT_EQ(Count("expiry_notices"), kTokens);
  EXPECT_EQ(Count("audit", "principal = 'sweeper'"), kTokens);
}

TEST_P(TokenStoreConformanceTest, CountTokensExpiringBefore) {
  Create(ExpiringToken("tok_a", kT0 + absl::Hours(1)));
  Create(ExpiringToken("tok_b", kT0 + absl::Hours(2)));
  TokenRecord other = ExpiringToken("tok_c", kT0 + absl::Hours(3));
  other.deployment_id = "dep-2";
  Create(other);
  Create(ExpiringToken("tok_never", absl::InfiniteFuture()));
  EXPECT_EQ(*store_->CountTokensExpiringBefore(kT0 + absl::Hours(1)), 0);
  EXPECT_EQ(*store_->CountTokensExpiringBefore(kT0 + absl::Hours(2)), 1);
  EXPECT_EQ(*store_->CountTokensExpiringBefore(kT0 + absl::Hours(4)), 3);
  EXPECT_EQ(*store_->CountTokensExpiringBefore(absl::InfiniteFuture()), 3);
}

std::vector<std::string> Claimed(
    const absl::StatusOr<std::vector<PendingNotification>>& claimed) {
  std::vector<std::string> out;
  EXPECT_TRUE(claimed.ok()) << claimed.status();
  if (!claimed.ok()) return out;
  for (const PendingNotification& n : *claimed) {
    out.push_back(
        absl::StrCat(n.event.action, " ", n.event.token_id, " ", n.attempts));
  }
  return out;
}

TEST_P(TokenStoreConformanceTest, TheOutboxQueuesNothingWhenOff) {
  Create(MakeToken("tok_a", "dep-1", kT0));
  ASSERT_TRUE(store_->RecordAudit(MakeAudit("token.rotate", "tok_a")).ok());
  EXPECT_THAT(Claimed(store_->ClaimNotifications(kT0 + absl::Hours(1),
                                                 absl::Minutes(1), 10)),
              IsEmpty());
  EXPECT_EQ(Count("notification_outbox"), 0);
}

TEST_P(TokenStoreConformanceTest, TheOutboxQueuesNotifiedEventsUntilDone) {
  StoreConfig config;
  config.notification_outbox = true;
  UseFreshStore(config);
  ASSERT_NE(store_, nullptr);
  Create(MakeToken("tok_a", "dep-1", kT0));
  TokenUpdate update;
  update.now = kT0;
  ASSERT_TRUE(
      store_->Update("tok_a", update, MakeAudit("token.update", "tok_a")).ok());
  AuditEntry denied = MakeAudit("token.delete", "tok_a", "dep-1");
  denied.outcome = "PERMISSION_DENIED";
  ASSERT_TRUE(store_->RecordAudit(denied).ok());
  ASSERT_TRUE(store_
                  ->Rotate("tok_a", RotateTo("a2", kT0),
                           MakeAudit("token.rotate", "tok_a"))
                  .ok());
  ReuseSighting sighting;
  sighting.token_id = "tok_a";
  sighting.time = kT0;
  ASSERT_TRUE(
      store_->RecordReuse(sighting, MakeAudit("token.reuse_detected", "tok_a"))
          .ok());
  Create(ExpiringToken("tok_b", kT0 + absl::Hours(1)));
  ASSERT_TRUE(store_->RecordExpiryNotices(kT0, kThresholds, "sweeper").ok());
  ASSERT_TRUE(
      store_->Delete("tok_b", AuditAt("token.delete", "tok_b", kT0)).ok());
  // Concurrent creates share a statement on PostgreSQL: each is queued.
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      const std::string id = absl::StrCat("tok_c", i);
      ASSERT_TRUE(store_
                      ->Create(MakeToken(id, "dep-1", kT0),
                               MakeAudit("token.create", id, "dep-1"))
                      .ok());
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(Count("notification_outbox"), 11);

  const absl::Time now = kT0 + absl::Minutes(1);
  absl::StatusOr<std::vector<PendingNotification>> first =
      store_->ClaimNotifications(now, absl::Minutes(5), 6);
  EXPECT_THAT(
      Claimed(first),
      ElementsAre("token.create tok_a 0", "token.rotate tok_a 0",
                  "token.reuse_detected tok_a 0", "token.create tok_b 0",
                  "token.expiring tok_a 0", "token.expiring tok_b 0"));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)[0].event.deployment_id, "dep-1");
  EXPECT_EQ((*first)[2].event.deployment_id, "dep-1");
  EXPECT_EQ((*first)[5].event.deployment_id, "dep-1");
  EXPECT_GT((*first)[0].event.id, 0);
  // The lease hides the claimed rows; the rest are still due.
  EXPECT_THAT(Claimed(store_->ClaimNotifications(now, absl::Minutes(5), 100)),
              SizeIs(5));
  EXPECT_THAT(Claimed(store_->ClaimNotifications(now + absl::Minutes(4),
                                                 absl::Minutes(5), 100)),
              IsEmpty());

  ASSERT_TRUE(store_->CompleteNotification((*first)[0].event.id).ok());
  ASSERT_TRUE(store_->CompleteNotification((*first)[0].event.id).ok());
  ASSERT_TRUE(store_->CompleteNotification(987654).ok());
  ASSERT_TRUE(
      store_->RetryNotification((*first)[1].event.id, now + absl::Minutes(2))
          .ok());
  EXPECT_THAT(Claimed(store_->ClaimNotifications(now + absl::Minutes(2),
                                                 absl::Minutes(5), 100)),
              ElementsAre("token.rotate tok_a 1"));
  EXPECT_EQ(Count("notification_outbox"), 10);

  // The outbox survives reopening; once the leases pass, all are due again.
  Reopen(config);
  ASSERT_NE(store_, nullptr);
  absl::StatusOr<std::vector<PendingNotification>> all =
      store_->ClaimNotifications(now + absl::Hours(1), absl::Minutes(5), 100);
  ASSERT_THAT(Claimed(all), SizeIs(10));
  EXPECT_EQ((*all)[0].event.action, "token.rotate");
  EXPECT_EQ((*all)[0].attempts, 1);
  for (const PendingNotification& n : *all) {
    EXPECT_TRUE(store_->CompleteNotification(n.event.id).ok());
  }
  EXPECT_EQ(Count("notification_outbox"), 0);
  EXPECT_EQ(
      store_->ClaimNotifications(now, absl::Minutes(1), 0).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST_P(TokenStoreConformanceTest, TheOutboxLeasesARowToOneClaimerAtATime) {
  StoreConfig config;
  config.notification_outbox = true;
  UseFreshStore(config);
  ASSERT_NE(store_, nullptr);
  constexpr int kEvents = 30;
  for (int i = 0; i < kEvents; ++i) {
    ASSERT_TRUE(store_
                    ->RecordAudit(MakeAudit("token.rotate",
                                            absl::StrCat("tok_", i), "dep-1"))
                    .ok());
  }
  absl::StatusOr<std::unique_ptr<TokenStore>> other = harness_->Open(config);
  ASSERT_TRUE(other.ok()) << other.status();
  std::vector<TokenStore*> stores = {store_.get(), other->get()};
  absl::Mutex mu;
  std::vector<int64_t> ids;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 10; ++round) {
        absl::StatusOr<std::vector<PendingNotification>> claimed =
            stores[t % 2]->ClaimNotifications(kT0 + absl::Minutes(1),
                                              absl::Hours(1), 2);
        ASSERT_TRUE(claimed.ok()) << claimed.status();
        absl::MutexLock lock(&mu);
        for (const PendingNotification& n : *claimed) ids.push_back(n.event.id);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::sort(ids.begin(), ids.end());
  EXPECT_THAT(ids, SizeIs(kEvents));
  EXPECT_EQ(std::unique(ids.begin(), ids.end()), ids.end());
}

// The same calls on both stores, every result written out in full: the two
// transcripts must be identical, byte for byte.
std::string TimeText(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone());
}

std::string DigestText(const Digest& digest) {
  return absl::BytesToHexString(DigestToBytes(digest));
}

std::string TokenText(const TokenRecord& t) {
  return absl::StrCat(
      "token{", t.id, "|", t.deployment_id, "|", t.name, "|", t.description,
      "|", t.short_token, "|", t.expiration_days, "|",
      DigestText(t.secret_digest), "|",
      t.previous_digest ? DigestText(*t.previous_digest) : "none", "|",
      TimeText(t.previous_valid_until), "|", TimeText(t.create_time), "|",
      TimeText(t.update_time), "|", TimeText(t.expire_time), "|",
      TimeText(t.last_rotate_time), "|", TimeText(t.last_used_time), "|",
      t.created_by, "|", t.updated_by, "|", t.last_used_verifier, "|",
      t.last_used_client, "|", TimeText(t.last_reuse_time), "}");
}

std::string RevokedText(const RevokedValue& v) {
  return absl::StrCat("revoked{", DigestText(v.digest), "|", v.token_id, "|",
                      v.deployment_id, "|", TimeText(v.revoke_time), "}");
}

std::string ChangeText(const TokenChange& c) {
  std::string revoked;
  for (const RevokedValue& v : c.revoked) {
    absl::StrAppend(&revoked, RevokedText(v));
  }
  return absl::StrCat(
      "change{", c.revision, "|",
      c.type == TokenChange::Type::kUpsert ? "upsert" : "delete", "|",
      c.token_id, "|", c.deployment_id, "|", DigestText(c.digest), "|",
      TimeText(c.expire_time), "|",
      c.previous_digest ? DigestText(*c.previous_digest) : "none", "|",
      TimeText(c.previous_valid_until), "|", revoked, "}");
}

template <typename T>
std::string StatusText(const absl::StatusOr<T>& result) {
  return result.ok() ? "OK" : absl::StatusCodeToString(result.status().code());
}

std::string Transcript(TokenStore& store) {
  std::vector<std::string> out;
  auto note = [&](const std::string& line) { out.push_back(line); };
  auto note_token = [&](const absl::StatusOr<TokenRecord>& token) {
    note(token.ok() ? TokenText(*token) : StatusText(token));
  };
  TokenRecord a = MakeToken("tok_a", "dep-1", kT0 + absl::Microseconds(1));
  TokenRecord b = MakeToken("tok_\"b\\,", "dep-1", kT0);
  b.expire_time = absl::InfiniteFuture();
  b.name = "ünïcode {b}";
  TokenRecord c = MakeToken("tok_c", "dep-2", absl::FromUnixMicros(-5));
  for (const TokenRecord& token : {a, b, c}) {
    absl::StatusOr<int64_t> revision =
        store.Create(token, MakeAudit("token.create", token.id, "dep-1"));
    note(absl::StrCat("create ", StatusText(revision), " ",
                      revision.ok() ? *revision : -1));
  }
  note(StatusText(store.Create(a, MakeAudit("token.create", a.id))));
  TokenUpdate update;
  update.description = "new description";
  update.now = kT0 + absl::Minutes(1);
  update.updated_by = "bob";
  note_token(store.Update(a.id, update, MakeAudit("token.update", a.id)));
  note_token(store.Update("tok_none", update, MakeAudit("token.update", "x")));
  Rotation grace;
  grace.new_digest = DigestFor("rotated");
  grace.short_token = "dpt_Rot...";
  grace.now = kT0 + absl::Minutes(2);
  grace.expire_time = grace.now + absl::Hours(1);
  grace.previous_valid_until = grace.now + absl::Minutes(5);
  grace.updated_by = "carol";
  note_token(store.Rotate(b.id, grace, MakeAudit("token.rotate", b.id)));
  Rotation clash;
  clash.new_digest = DigestFor("tok_c");
  note_token(store.Rotate(a.id, clash, MakeAudit("token.rotate", a.id)));
  note(StatusText(
      store.RecordUsage({Usage(a.id, kT0 + absl::Hours(1), "v1", "c1"),
                         Usage(b.id, kT0 + absl::Hours(2), "v2", "c2"),
                         Usage(a.id, kT0 + absl::Minutes(30), "v3")})
              .ok()
          ? absl::StatusOr<int>(0)
          : absl::StatusOr<int>(absl::InternalError("usage"))));
  absl::StatusOr<int64_t> deleted =
      store.Delete(c.id, MakeAudit("token.delete", c.id));
  note(absl::StrCat("delete ", StatusText(deleted), " ",
                    deleted.ok() ? *deleted : -1));
  note(StatusText(store.Delete(c.id, MakeAudit("token.delete", c.id))));
  ReuseSighting sighting;
  sighting.token_id = b.id;
  sighting.time = kT0 + absl::Hours(3);
  for (const std::string& id : {b.id, c.id, std::string("tok_none")}) {
    sighting.token_id = id;
    absl::StatusOr<ReuseOutcome> reuse =
        store.RecordReuse(sighting, MakeAudit("token.reuse_detected", id));
    note(absl::StrCat("reuse ", StatusText(reuse), " ",
                      reuse.ok() ? reuse->deployment_id : "", " ",
                      reuse.ok() && reuse->token_exists));
  }
  absl::StatusOr<std::vector<ExpiryNotice>> notices = store.RecordExpiryNotices(
      kT0 + absl::Hours(24 * 29), {30, 7, 1, 0}, "sweeper");
  if (notices.ok()) {
    for (const ExpiryNotice& n : *notices) {
      note(absl::StrCat("notice ", n.token_id, "|", n.deployment_id, "|",
                        n.days, "|", TimeText(n.expire_time)));
    }
  }
  for (const std::string& id : {a.id, b.id, c.id}) note_token(store.Get(id));
  for (TokenOrder order : {TokenOrder::kCreateTime, TokenOrder::kExpireTime,
                           TokenOrder::kName, TokenOrder::kLastUsedTime}) {
    ListQuery query;
    query.deployment_id = "dep-1";
    query.order = order;
    query.limit = 1;
    while (true) {
      absl::StatusOr<TokenPage> page = store.List(query);
      if (!page.ok()) {
        note(StatusText(page));
        break;
      }
      note(absl::StrCat("page total=", page->total_size, " more=", page->more));
      for (const TokenRecord& token : page->tokens) note(TokenText(token));
      if (!page->more) break;
      const TokenRecord& last = page->tokens.back();
      query.after.id = last.id;
      query.after.name = last.name;
      query.after.time = order == TokenOrder::kExpireTime ? last.expire_time
                         : order == TokenOrder::kLastUsedTime
                             ? last.last_used_time
                             : last.create_time;
    }
  }
  for (const std::string& filter : {std::string(), std::string("dep-1")}) {
    for (int32_t limit : {2, 100}) {
      absl::StatusOr<ChangeBatch> batch = store.ReadChanges(1, filter, limit);
      if (!batch.ok()) {
        note(StatusText(batch));
        continue;
      }
      note(absl::StrCat("changes complete=", batch->complete,
                        " up_to=", batch->up_to_revision));
      for (const TokenChange& change : batch->changes) note(ChangeText(change));
    }
    absl::StatusOr<Snapshot> snapshot = store.ReadSnapshot(filter);
    if (snapshot.ok()) {
      note(absl::StrCat("snapshot ", snapshot->revision));
      for (const TokenChange& token : snapshot->tokens) {
        note(ChangeText(token));
      }
      for (const RevokedValue& value : snapshot->revoked) {
        note(RevokedText(value));
      }
    }
  }
  absl::StatusOr<std::vector<AuditEntry>> audit =
      store.ListAudit("dep-1", 0, 100);
  if (audit.ok()) {
    for (const AuditEntry& e : *audit) {
      note(absl::StrCat("audit ", e.id, "|", TimeText(e.time), "|", e.principal,
                        "|", e.action, "|", e.token_id, "|", e.deployment_id,
                        "|", e.outcome, "|", e.detail));
    }
  }
  absl::StatusOr<int64_t> revision = store.CurrentRevision();
  note(absl::StrCat("revision ", revision.ok() ? *revision : -1));
  return absl::StrJoin(out, "\n");
}

TEST(StoresAgreeTest, SameCallsGiveIdenticalResults) {
  std::vector<std::string> transcripts;
  for (const StoreKind& kind : {SqliteKind(), PostgresKind()}) {
    std::unique_ptr<StoreHarness> harness = kind.make();
    harness->NewDatabase();
    absl::StatusOr<std::unique_ptr<TokenStore>> store = harness->Open(100000);
    ASSERT_TRUE(store.ok()) << kind.name << ": " << store.status();
    transcripts.push_back(Transcript(**store));
  }
  EXPECT_EQ(transcripts[0], transcripts[1]);
  EXPECT_THAT(transcripts[0], HasSubstr("ALREADY_EXISTS"));
  EXPECT_THAT(transcripts[0], HasSubstr("NOT_FOUND"));
}

// ClusterState: PostgreSQL only (SQLite's data directory keeps these as
// files), with several stores on one database acting as replicas.
class ClusterStateConformanceTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    harness_ = GetParam().make();
    harness_->NewDatabase();
    for (int i = 0; i < 3; ++i) {
      absl::StatusOr<std::unique_ptr<TokenStore>> store = harness_->Open(100);
      ASSERT_TRUE(store.ok()) << store.status();
      stores_.push_back(*std::move(store));
      clusters_.push_back(dynamic_cast<ClusterState*>(stores_.back().get()));
      ASSERT_NE(clusters_.back(), nullptr);
    }
  }

  static CallerRecord Caller(const std::string& name, const std::string& role,
                             char digit) {
    return {name, role, std::string(64, digit)};
  }

  std::unique_ptr<StoreHarness> harness_;
  std::vector<std::unique_ptr<TokenStore>> stores_;
  std::vector<ClusterState*> clusters_;
};

INSTANTIATE_TEST_SUITE_P(Stores, ClusterStateConformanceTest,
                         ::testing::Values(PostgresKind()), KindName);

TEST_P(ClusterStateConformanceTest, TheFirstSecretWinsOnEveryReplica) {
  const std::string binary("\0\x01\xff secret", 10);
  absl::StatusOr<std::string> first =
      clusters_[0]->GetOrCreateSecret("page_token_key", binary);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, binary);
  absl::StatusOr<std::string> second =
      clusters_[1]->GetOrCreateSecret("page_token_key", "other");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, binary);
  EXPECT_EQ(*clusters_[2]->GetOrCreateSecret("another", "x"), "x");
  EXPECT_EQ(clusters_[0]->GetOrCreateSecret("", "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(clusters_[0]
                ->GetOrCreateSecret(PostgresTokenStore::kRetentionSetting, "x")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(ClusterStateConformanceTest, ConcurrentReplicasAgreeOnOneSecret) {
  constexpr int kThreads = 9;
  absl::Mutex mu;
  std::vector<std::string> got;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      absl::StatusOr<std::string> secret =
          clusters_[t % clusters_.size()]->GetOrCreateSecret("shared",
                                                             absl::StrCat(t));
      ASSERT_TRUE(secret.ok()) << secret.status();
      absl::MutexLock lock(&mu);
      got.push_back(*secret);
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_THAT(got, SizeIs(kThreads));
  for (const std::string& secret : got) EXPECT_EQ(secret, got[0]);
}

TEST_P(ClusterStateConformanceTest, CallersAreInitializedOnceAndListedByName) {
  absl::StatusOr<bool> first = clusters_[0]->InitializeCallers(
      {Caller("verifier", "verifier", 'b'), Caller("admin", "admin", 'a')});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(*first);
  absl::StatusOr<bool> second =
      clusters_[1]->InitializeCallers({Caller("other", "admin", 'c')});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(*second);
  absl::StatusOr<std::vector<CallerRecord>> callers =
      clusters_[2]->ListCallers();
  ASSERT_TRUE(callers.ok()) << callers.status();
  ASSERT_THAT(*callers, SizeIs(2));
  EXPECT_EQ((*callers)[0].name, "admin");
  EXPECT_EQ((*callers)[0].role, "admin");
  EXPECT_EQ((*callers)[0].key_digest_hex, std::string(64, 'a'));
  EXPECT_EQ((*callers)[1].name, "verifier");
  EXPECT_EQ((*callers)[1].role, "verifier");
}

TEST_P(ClusterStateConformanceTest, ConcurrentInitializersInsertExactlyOnce) {
  constexpr int kThreads = 6;
  std::atomic<int> inserted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      absl::StatusOr<bool> done =
          clusters_[t % clusters_.size()]->InitializeCallers({Caller(
              absl::StrCat("admin", t), "admin", static_cast<char>('a' + t))});
      ASSERT_TRUE(done.ok()) << done.status();
      if (*done) ++inserted;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(inserted.load(), 1);
  EXPECT_THAT(*clusters_[0]->ListCallers(), SizeIs(1));
}

TEST_P(ClusterStateConformanceTest, AddAndRemoveCallers) {
  ASSERT_TRUE(clusters_[0]->AddCaller(Caller("ci", "admin", 'c')).ok());
  absl::Status taken_name = clusters_[1]->AddCaller(Caller("ci", "admin", 'd'));
  EXPECT_EQ(taken_name.code(), absl::StatusCode::kAlreadyExists);
  absl::Status taken_key =
      clusters_[1]->AddCaller(Caller("other", "verifier", 'c'));
  EXPECT_EQ(taken_key.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(taken_key.message()),
              Not(HasSubstr(std::string(64, 'c'))));
  EXPECT_EQ(clusters_[0]->AddCaller(Caller("bad", "root", 'e')).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(clusters_[0]->AddCaller({"bad", "admin", "ABC"}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(*clusters_[2]->ListCallers(), SizeIs(1));
  // A secret scanner's role (schema v4 lets the table hold it).
  ASSERT_TRUE(clusters_[0]->AddCaller(Caller("scanner", "reporter", 'f')).ok());
  EXPECT_THAT(*clusters_[2]->ListCallers(), SizeIs(2));
  ASSERT_TRUE(clusters_[1]->RemoveCaller("scanner").ok());

  EXPECT_EQ(clusters_[1]->RemoveCaller("nobody").code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(clusters_[1]->RemoveCaller("ci").ok());
  EXPECT_THAT(*clusters_[0]->ListCallers(), IsEmpty());
  // With no caller left, initialisation works again.
  EXPECT_TRUE(*clusters_[0]->InitializeCallers({Caller("a", "admin", 'a')}));
}

}  // namespace
}  // namespace tokens
