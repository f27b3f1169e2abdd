// PostgresTokenStore's own behaviour: migrations, URLs and logins, outages and
// recovery, LISTEN/NOTIFY, retries, the error mapping, and the revision order
// shared by several replicas. What every TokenStore promises is in
// token_store_conformance_test.cc.
#include "storage/postgres_token_store.h"

#include <poll.h>
#include <postgresql/libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/token_value.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/postgres_schema.h"
#include "storage/postgres_status.h"
#include "storage/test_records.h"
#include "storage/token_store.h"
#include "tests/testing/postgres_server.h"
#include "tests/testing/server_process.h"

namespace tokens {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;
using ::tokens::testing::ExecuteSql;
using ::tokens::testing::PostgresServer;
using ::tokens::testing::QuerySql;
using ::tokens::testing::WaitFor;

int64_t QueryInt(const std::string& uri, const std::string& sql) {
  absl::StatusOr<std::string> text = QuerySql(uri, sql);
  int64_t value = -1;
  EXPECT_TRUE(text.ok()) << text.status();
  if (text.ok()) {
    EXPECT_TRUE(absl::SimpleAtoi(*text, &value)) << *text;
  }
  return value;
}

class PostgresTokenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<PostgresServer*> server = PostgresServer::Shared();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *server;
    ASSERT_TRUE(server_->Start().ok());  // In case a test left it stopped.
    absl::StatusOr<std::string> uri = server_->CreateDatabase();
    ASSERT_TRUE(uri.ok()) << uri.status();
    uri_ = *uri;
  }

  PostgresTokenStoreOptions Options() const {
    PostgresTokenStoreOptions options;
    options.url = uri_;
    options.connect_timeout = absl::Seconds(5);
    return options;
  }

  std::unique_ptr<PostgresTokenStore> OpenStore(
      PostgresTokenStoreOptions options) {
    absl::StatusOr<std::unique_ptr<PostgresTokenStore>> store =
        PostgresTokenStore::Open(options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }
  std::unique_ptr<PostgresTokenStore> OpenStore() {
    return OpenStore(Options());
  }

  PostgresServer* server_ = nullptr;
  std::string uri_;
};

// --- Migrations ---

TEST_F(PostgresTokenStoreTest, MigrationsLeaveTheCurrentVersionOnce) {
  std::unique_ptr<PostgresTokenStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(QueryInt(uri_, "SELECT version FROM schema_version"),
            PostgresTokenStore::kSchemaVersion);
  EXPECT_EQ(QueryInt(uri_, "SELECT count(*) FROM schema_version"), 1);
  EXPECT_EQ(QueryInt(uri_, "SELECT count(*) FROM revision_counter"), 1);
  store.reset();
  // Opening again changes nothing.
  store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(QueryInt(uri_, "SELECT count(*) FROM revision_counter"), 1);
  EXPECT_EQ(*store->CurrentRevision(), 0);
}

TEST_F(PostgresTokenStoreTest, AnOlderSchemaIsUpgradedStepByStep) {
  // A database as a version-1 binary left it, with a token in it.
  ASSERT_TRUE(
      ExecuteSql(uri_, absl::StrCat("CREATE TABLE schema_version (singleton "
                                    "boolean PRIMARY KEY DEFAULT true CHECK "
                                    "(singleton), version integer NOT NULL);"
                                    "INSERT INTO schema_version (version) "
                                    "VALUES (1);",
                                    kPostgresMigrations[0]))
          .ok());
  ASSERT_TRUE(
      ExecuteSql(uri_,
                 "INSERT INTO tokens (id, deployment_id, name, secret_digest, "
                 "create_time) VALUES ('tok_old', 'dep-1', 'old', "
                 "'\\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1"
                 "c1d1e1f', 1700000000000000)")
          .ok());
  std::unique_ptr<PostgresTokenStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(QueryInt(uri_, "SELECT version FROM schema_version"),
            PostgresTokenStore::kSchemaVersion);
  absl::StatusOr<TokenRecord> old = store->Get("tok_old");
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->create_time, kT0);
  EXPECT_EQ(old->secret_digest[31], 0x1f);
  // Version 4: a token from before self-rotation may not rotate itself, and
  // is found by its digest.
  EXPECT_FALSE(old->self_rotate);
  EXPECT_EQ(store->FindByDigest(old->secret_digest, kT0)->id, "tok_old");
  // What version 2 added works.
  EXPECT_TRUE(store->AddCaller({"admin", "admin", std::string(64, 'a')}).ok());
}

TEST_F(PostgresTokenStoreTest, AVersion2DatabaseMigratesWithItsDataIntact) {
  // A database as a version-2 binary left it: a token in its grace period,
  // its change, an audit row, a caller and the retention setting.
  ASSERT_TRUE(
      ExecuteSql(uri_,
                 absl::StrCat("CREATE TABLE schema_version (singleton "
                              "boolean PRIMARY KEY DEFAULT true CHECK "
                              "(singleton), version integer NOT NULL);"
                              "INSERT INTO schema_version (version) "
                              "VALUES (2);",
                              kPostgresMigrations[0], kPostgresMigrations[1]))
          .ok());
  const int64_t micros = absl::ToUnixMicros(kT0);
  const std::string digest =
      "'\\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'";
  const std::string previous =
      "'\\x1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100'";
  ASSERT_TRUE(
      ExecuteSql(
          uri_,
          absl::StrCat(
              "INSERT INTO tokens (id, deployment_id, name, secret_digest, "
              "previous_digest, previous_valid_until, create_time, "
              "update_time, expire_time, last_used_time) VALUES ('tok_old', "
              "'dep-1', 'old', ",
              digest, ", ", previous, ", ", micros + 60000000, ", ", micros,
              ", ", micros, ", ", micros + 3600000000, ", ", micros + 1000000,
              "); INSERT INTO change_log (revision, type, token_id, "
              "deployment_id, secret_digest, expire_time, previous_digest, "
              "previous_valid_until) VALUES (1, 'upsert', 'tok_old', 'dep-1', ",
              digest, ", ", micros + 3600000000, ", ", previous, ", ",
              micros + 60000000,
              "); UPDATE revision_counter SET value = 1; "
              "INSERT INTO audit_log (time, principal, action, token_id, "
              "deployment_id, outcome, detail) VALUES (1, 'admin', "
              "'token.create', 'tok_old', 'dep-1', 'OK', ''); "
              "INSERT INTO callers (name, role, key_digest) VALUES ('admin', "
              "'admin', '",
              std::string(64, 'a'), "')"))
          .ok());
  PostgresTokenStoreOptions options = Options();
  options.notification_outbox = true;
  std::unique_ptr<PostgresTokenStore> store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(QueryInt(uri_, "SELECT version FROM schema_version"),
            PostgresTokenStore::kSchemaVersion);
  absl::StatusOr<TokenRecord> old = store->Get("tok_old");
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->name, "old");
  EXPECT_EQ(old->secret_digest[31], 0x1f);
  ASSERT_TRUE(old->previous_digest.has_value());
  EXPECT_EQ((*old->previous_digest)[0], 0x1f);
  EXPECT_EQ(old->previous_valid_until, kT0 + absl::Minutes(1));
  EXPECT_EQ(old->expire_time, kT0 + absl::Hours(1));
  EXPECT_EQ(old->last_used_time, kT0 + absl::Seconds(1));
  EXPECT_EQ(old->last_used_verifier, "");
  EXPECT_EQ(old->last_reuse_time, absl::InfinitePast());
  EXPECT_EQ(*store->CurrentRevision(), 1);
  absl::StatusOr<ChangeBatch> batch = store->ReadChanges(0, "", 10);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_THAT(batch->changes, SizeIs(1));
  EXPECT_TRUE(batch->changes[0].revoked.empty());
  EXPECT_THAT(*store->ListAudit("dep-1", 0, 10), SizeIs(1));
  EXPECT_THAT(*store->ListCallers(), SizeIs(1));

  // What version 3 added works on the migrated rows.
  ListQuery query;
  query.deployment_id = "dep-1";
  query.order = TokenOrder::kName;
  query.expire_before = kT0 + absl::Hours(2);
  absl::StatusOr<TokenPage> page = store->List(query);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_THAT(page->tokens, SizeIs(1));
  EXPECT_EQ(page->total_size, 1);
  TokenUsageRecord usage;
  usage.token_id = "tok_old";
  usage.last_used_time = kT0 + absl::Hours(1);
  usage.verifier_name = "v";
  ASSERT_TRUE(store->RecordUsage({usage}).ok());
  EXPECT_EQ(store->Get("tok_old")->last_used_verifier, "v");
  Rotation rotation;
  rotation.new_digest = DigestOf("new");
  rotation.now = kT0 + absl::Seconds(30);
  ASSERT_TRUE(
      store->Rotate("tok_old", rotation, MakeAudit("token.rotate", "tok_old"))
          .ok());
  absl::StatusOr<Snapshot> snapshot = store->ReadSnapshot("dep-1");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_THAT(snapshot->revoked, SizeIs(2));
  EXPECT_EQ(snapshot->revision, 2);
  EXPECT_THAT(
      *store->ClaimNotifications(kT0 + absl::Hours(1), absl::Minutes(1), 10),
      SizeIs(1));
}

TEST_F(PostgresTokenStoreTest, ManyStoresOpeningOneEmptyDatabaseAtOnce) {
  constexpr int kStores = 8;
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(kStores);
  std::vector<std::unique_ptr<PostgresTokenStore>> stores(kStores);
  for (int i = 0; i < kStores; ++i) {
    threads.emplace_back([&, i] {
      PostgresTokenStoreOptions options = Options();
      options.change_retention = 1000 + i;
      absl::StatusOr<std::unique_ptr<PostgresTokenStore>> store =
          PostgresTokenStore::Open(options);
      results[i] = store.status();
      if (store.ok()) stores[i] = *std::move(store);
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const absl::Status& result : results) EXPECT_TRUE(result.ok()) << result;
  EXPECT_EQ(QueryInt(uri_, "SELECT version FROM schema_version"),
            PostgresTokenStore::kSchemaVersion);
  EXPECT_EQ(QueryInt(uri_, "SELECT count(*) FROM revision_counter"), 1);
  // One retention for all: whichever store got there first.
  const int64_t retention =
      QueryInt(uri_,
               "SELECT convert_from(value, 'UTF8')::bigint FROM settings "
               "WHERE name = 'change_retention'");
  EXPECT_GE(retention, 1000);
  EXPECT_LT(retention, 1000 + kStores);
}

TEST_F(PostgresTokenStoreTest, TheFirstStoresRetentionIsEveryStoresRetention) {
  PostgresTokenStoreOptions first = Options();
  first.change_retention = 2;
  std::unique_ptr<PostgresTokenStore> a = OpenStore(first);
  ASSERT_NE(a, nullptr);
  PostgresTokenStoreOptions second = Options();
  second.change_retention = 100;
  std::unique_ptr<PostgresTokenStore> b = OpenStore(second);
  ASSERT_NE(b, nullptr);
  for (int i = 0; i < 5; ++i) {
    const std::string id = absl::StrCat("tok_", i);
    ASSERT_TRUE(
        b->Create(MakeToken(id, "dep-1"), MakeAudit("create", id)).ok());
  }
  EXPECT_EQ(QueryInt(uri_, "SELECT count(*) FROM change_log"), 2);
  EXPECT_FALSE(b->ReadChanges(2, "", 10)->complete);
  EXPECT_TRUE(b->ReadChanges(3, "", 10)->complete);
}

TEST_F(PostgresTokenStoreTest, ANewerSchemaIsRefused) {
  ASSERT_TRUE(ExecuteSql(uri_,
                         "CREATE TABLE schema_version (singleton boolean "
                         "PRIMARY KEY DEFAULT true CHECK (singleton), version "
                         "integer NOT NULL); INSERT INTO schema_version "
                         "(version) VALUES (99)")
                  .ok());
  absl::StatusOr<std::unique_ptr<PostgresTokenStore>> store =
      PostgresTokenStore::Open(Options());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("99"));
}

// --- URLs, logins, options ---

TEST_F(PostgresTokenStoreTest, ABadUrlIsInvalidArgumentWithoutThePassword) {
  for (const std::string& url :
       {std::string("postgresql://admin:hunter2@[::1/tokens"),
        std::string("host=localhost password=hunter2 nonsense"),
        std::string("postgresql://admin:hunter2@localhost/db?bogus=1"),
        std::string("")}) {
    PostgresTokenStoreOptions options;
    options.url = url;
    absl::StatusOr<std::unique_ptr<PostgresTokenStore>> store =
        PostgresTokenStore::Open(options);
    EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument) << url;
    EXPECT_THAT(std::string(store.status().message()), HasSubstr("--database"));
    EXPECT_THAT(std::string(store.status().message()),
                Not(HasSubstr("hunter2")));
  }
}

TEST_F(PostgresTokenStoreTest, BadOptionsAreInvalidArgument) {
  PostgresTokenStoreOptions options = Options();
  options.pool_size = 0;
  EXPECT_EQ(PostgresTokenStore::Open(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options();
  options.change_retention = 0;
  EXPECT_EQ(PostgresTokenStore::Open(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options();
  options.poll_interval = absl::ZeroDuration();
  EXPECT_EQ(PostgresTokenStore::Open(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PostgresTokenStoreTest, RefusedLoginsArePermissionDenied) {
  const std::string port = absl::StrCat(server_->port());
  const std::string dbname = uri_.substr(uri_.rfind('/') + 1);
  struct Case {
    std::string url;
    std::string says;
  };
  for (const Case& c : {
           Case{absl::StrCat("postgresql://", PostgresServer::kPasswordRole,
                             ":wrong-secret@127.0.0.1:", port, "/", dbname),
                "password authentication failed"},
           Case{absl::StrCat("postgresql://nobody@127.0.0.1:", port, "/",
                             dbname),
                "nobody"},
           Case{absl::StrCat("postgresql://postgres@127.0.0.1:", port,
                             "/no_such_db"),
                "does not exist"},
       }) {
    PostgresTokenStoreOptions options;
    options.url = c.url;
    absl::StatusOr<std::unique_ptr<PostgresTokenStore>> store =
        PostgresTokenStore::Open(options);
    EXPECT_EQ(store.status().code(), absl::StatusCode::kPermissionDenied)
        << c.url << ": " << store.status();
    const std::string message(store.status().message());
    EXPECT_THAT(message, HasSubstr(c.says));
    EXPECT_THAT(message, Not(HasSubstr("wrong-secret")));
    EXPECT_THAT(message, Not(HasSubstr("\n")));
  }
  // The right password works.
  PostgresTokenStoreOptions options;
  options.url =
      absl::StrCat("postgresql://", PostgresServer::kPasswordRole, ":",
                   PostgresServer::kPassword, "@127.0.0.1:", port, "/postgres");
  absl::StatusOr<std::unique_ptr<PostgresTokenStore>> store =
      PostgresTokenStore::Open(options);
  // Logged in: it may lack the rights to create tables in `postgres`, but it
  // is not refused.
  EXPECT_NE(store.status().code(), absl::StatusCode::kPermissionDenied)
      << store.status();
}

// --- Outages ---

TEST_F(PostgresTokenStoreTest, AnUnreachableServerGivesALazyStore) {
  PostgresTokenStoreOptions options;
  options.url = absl::StrCat("postgresql://postgres@",
                             testing::FreeLoopbackAddress(), "/nothing");
  absl::StatusOr<std::unique_ptr<PostgresTokenStore>> store =
      PostgresTokenStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<int64_t> revision = (*store)->CurrentRevision();
  EXPECT_EQ(revision.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(revision.status().message()),
              HasSubstr("database unreachable"));
  EXPECT_EQ((*store)
                ->Create(MakeToken("tok_a", "dep-1"), MakeAudit("create", "a"))
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ((*store)->ListCallers().status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(PostgresTokenStoreTest, ALazyStoreMigratesWhenTheServerAppears) {
  ASSERT_TRUE(server_->Stop().ok());
  absl::Cleanup restart = [this] { ASSERT_TRUE(server_->Start().ok()); };
  absl::StatusOr<std::unique_ptr<PostgresTokenStore>> store =
      PostgresTokenStore::Open(Options());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->CurrentRevision().status().code(),
            absl::StatusCode::kUnavailable);
  ASSERT_TRUE(server_->Start().ok());
  absl::StatusOr<int64_t> revision = (*store)->CurrentRevision();
  ASSERT_TRUE(revision.ok()) << revision.status();
  EXPECT_EQ(*revision, 0);
  EXPECT_EQ(QueryInt(uri_, "SELECT version FROM schema_version"),
            PostgresTokenStore::kSchemaVersion);
  EXPECT_EQ(*(*store)->Create(MakeToken("tok_a", "dep-1"),
                              MakeAudit("create", "tok_a")),
            1);
}

TEST_F(PostgresTokenStoreTest, AServerOutageIsUnavailableAndHealsByItself) {
  std::unique_ptr<PostgresTokenStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(*store->Create(MakeToken("tok_a", "dep-1"), MakeAudit("c", "a")),
            1);
  absl::Cleanup restart = [this] { ASSERT_TRUE(server_->Start().ok()); };
  for (PostgresServer::StopMode mode : {PostgresServer::StopMode::kFast,
                                        PostgresServer::StopMode::kImmediate}) {
    ASSERT_TRUE(server_->Stop(mode).ok());
    EXPECT_EQ(store->Get("tok_a").status().code(),
              absl::StatusCode::kUnavailable);
    EXPECT_EQ(store->Create(MakeToken("tok_b", "dep-1"), MakeAudit("c", "b"))
                  .status()
                  .code(),
              absl::StatusCode::kUnavailable);
    ASSERT_TRUE(server_->Start().ok());
    // The pool's connections all died with the server; the next call
    // reconnects without the caller doing anything.
    absl::StatusOr<TokenRecord> got = store->Get("tok_a");
    ASSERT_TRUE(got.ok()) << got.status();
  }
  // And keeps working, with every connection of the pool renewed.
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] { EXPECT_TRUE(store->CurrentRevision().ok()); });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(*store->CurrentRevision(), 1);
}

TEST_F(PostgresTokenStoreTest, StaleConnectionsAreReplacedAfterARestart) {
  PostgresTokenStoreOptions options = Options();
  options.pool_size = 4;
  std::unique_ptr<PostgresTokenStore> store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  // Fill the pool.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] { EXPECT_TRUE(store->ReadSnapshot("").ok()); });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_TRUE(server_->Restart(PostgresServer::StopMode::kFast).ok());
  // Every call succeeds on its first try: stale connections are dropped and
  // the call is retried on a new one.
  for (int i = 0; i < 6; ++i) {
    const std::string id = absl::StrCat("tok_", i);
    absl::StatusOr<int64_t> created =
        store->Create(MakeToken(id, "dep-1"), MakeAudit("c", id));
    ASSERT_TRUE(created.ok()) << created.status();
    EXPECT_EQ(*created, i + 1);
  }
}

// --- Retries ---

// Makes the first `failures` audit inserts of `uri` fail with `sqlstate`.
void InjectAuditFailures(const std::string& uri, int failures,
                         const std::string& sqlstate) {
  ASSERT_TRUE(
      ExecuteSql(
          uri,
          absl::StrCat(
              "CREATE SEQUENCE audit_attempts; "
              "CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql "
              "AS $$ BEGIN IF nextval('audit_attempts') <= ",
              failures, " THEN RAISE EXCEPTION 'injected' USING ERRCODE = '",
              sqlstate,
              "'; END IF; RETURN NEW; END $$; "
              "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log "
              "FOR EACH ROW EXECUTE FUNCTION fail_audit()"))
          .ok());
}

TEST_F(PostgresTokenStoreTest, DeadlocksAreRetried) {
  std::unique_ptr<PostgresTokenStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  InjectAuditFailures(uri_, PostgresTokenStore::kMaxAttempts - 1, "40P01");
  absl::StatusOr<int64_t> created =
      store->Create(MakeToken("tok_a", "dep-1"), MakeAudit("c", "tok_a"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(*created, 1);
  EXPECT_EQ(QueryInt(uri_, "SELECT count(*) FROM audit_log"), 1);
  EXPECT_EQ(QueryInt(uri_, "SELECT count(*) FROM change_log"), 1);
}

TEST_F(PostgresTokenStoreTest,
       SerializationFailuresBeyondTheRetriesAreUnavailable) {
  std::unique_ptr<PostgresTokenStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  InjectAuditFailures(uri_, PostgresTokenStore::kMaxAttempts, "40001");
  absl::StatusOr<int64_t> created =
      store->Create(MakeToken("tok_a", "dep-1"), MakeAudit("c", "tok_a"));
  EXPECT_EQ(created.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(created.status().message()), HasSubstr("attempts"));
  EXPECT_EQ(*store->CurrentRevision(), 0);
  EXPECT_EQ(QueryInt(uri_, "SELECT count(*) FROM tokens"), 0);
  // The next call goes through.
  EXPECT_EQ(*store->Create(MakeToken("tok_a", "dep-1"), MakeAudit("c", "a")),
            1);
}

TEST_F(PostgresTokenStoreTest, TransientServerErrorsAreUnavailableNotInternal) {
  std::unique_ptr<PostgresTokenStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  InjectAuditFailures(uri_, 1, "55P03");
  EXPECT_EQ(store->RecordAudit(MakeAudit("x", "y")).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_TRUE(store->RecordAudit(MakeAudit("x", "y")).ok());
}

// --- Group commit ---

// Rotations to a taken digest raise a unique violation inside their batch;
// the batch's other writes must still commit, each alone, with gapless
// revisions.
TEST_F(PostgresTokenStoreTest, AFailingStatementFailsOnlyItsOwnWrite) {
  std::unique_ptr<PostgresTokenStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(
      *store->Create(MakeToken("tok_taken", "dep-1"), MakeAudit("c", "t")), 1);
  ASSERT_EQ(*store->Create(MakeToken("tok_rot", "dep-1"), MakeAudit("c", "r")),
            2);
  constexpr int kThreads = 6;
  constexpr int kPerThread = 15;
  std::atomic<int> ok{0};
  std::atomic<int> clashes{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (t == 0) {
          Rotation rotation;
          rotation.new_digest = DigestFor("tok_taken");
          rotation.now = kT0;
          absl::Status status =
              store->Rotate("tok_rot", rotation, MakeAudit("r", "x")).status();
          EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists) << status;
          ++clashes;
          continue;
        }
        const std::string id = absl::StrCat("tok_", t, "_", i);
        TokenUpdate update;
        update.name = id;
        update.now = kT0;
        absl::Status status =
            i % 3 == 2
                ? store->Update("tok_taken", update, MakeAudit("u", id))
                      .status()
                : store->Create(MakeToken(id, "dep-1"), MakeAudit("c", id))
                      .status();
        EXPECT_TRUE(status.ok()) << status;
        if (status.ok()) ++ok;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(clashes.load(), kPerThread);
  const int64_t current = *store->CurrentRevision();
  EXPECT_EQ(current, 2 + ok.load());
  absl::StatusOr<ChangeBatch> batch = store->ReadChanges(0, "", 1000);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_THAT(batch->changes, SizeIs(current));
  for (size_t i = 0; i < batch->changes.size(); ++i) {
    EXPECT_EQ(batch->changes[i].revision, static_cast<int64_t>(i + 1));
  }
  EXPECT_EQ(QueryInt(uri_, "SELECT count(*) FROM audit_log"), current);
  EXPECT_EQ(store->Get("tok_rot")->secret_digest, DigestFor("tok_rot"));
}

// --- LISTEN / NOTIFY ---

class WakeCounter {
 public:
  std::function<void()> Callback() {
    return [this] { count_.fetch_add(1); };
  }
  int count() const { return count_.load(); }
  // Waits until at least `n` wake-ups happened.
  bool AtLeast(int n) {
    return WaitFor([&] { return count_.load() >= n; }, absl::Seconds(30));
  }

 private:
  std::atomic<int> count_{0};
};

TEST_F(PostgresTokenStoreTest, EveryCommitNotifiesItsRevision) {
  std::unique_ptr<PostgresTokenStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  PGconn* listener = PQconnectdb(uri_.c_str());
  ASSERT_EQ(PQstatus(listener), CONNECTION_OK);
  absl::Cleanup close = [listener] { PQfinish(listener); };
  PQclear(PQexec(listener, "LISTEN token_changes"));
  ASSERT_EQ(*store->Create(MakeToken("tok_a", "dep-1"), MakeAudit("c", "a")),
            1);
  ASSERT_EQ(*store->Delete("tok_a", MakeAudit("d", "a")), 2);
  std::vector<std::string> payloads;
  ASSERT_TRUE(WaitFor(
      [&] {
        PQconsumeInput(listener);
        while (PGnotify* notify = PQnotifies(listener)) {
          payloads.push_back(notify->extra);
          PQfreemem(notify);
        }
        return payloads.size() >= 2;
      },
      absl::Seconds(30)));
  EXPECT_EQ(payloads, (std::vector<std::string>{"1", "2"}));
}

TEST_F(PostgresTokenStoreTest,
       WatchExternalCommitsWakesOnAnotherReplicasCommit) {
  PostgresTokenStoreOptions options = Options();
  options.poll_interval = absl::Hours(1);  // Only notifications wake it.
  std::unique_ptr<PostgresTokenStore> watcher = OpenStore(options);
  std::unique_ptr<PostgresTokenStore> writer = OpenStore();
  ASSERT_NE(watcher, nullptr);
  ASSERT_NE(writer, nullptr);
  WakeCounter wakes;
  ASSERT_TRUE(watcher->WatchExternalCommits(wakes.Callback()).ok());
  EXPECT_EQ(watcher->WatchExternalCommits([] {}).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(wakes.AtLeast(1));  // Once listening.
  const int before = wakes.count();
  ASSERT_TRUE(
      writer->Create(MakeToken("tok_a", "dep-1"), MakeAudit("c", "a")).ok());
  EXPECT_TRUE(wakes.AtLeast(before + 1));
}

TEST_F(PostgresTokenStoreTest, WatchExternalCommitsPollsWithoutNotifications) {
  PostgresTokenStoreOptions options = Options();
  options.poll_interval = absl::Milliseconds(20);
  std::unique_ptr<PostgresTokenStore> store = OpenStore(options);
  ASSERT_NE(store, nullptr);
  WakeCounter wakes;
  ASSERT_TRUE(store->WatchExternalCommits(wakes.Callback()).ok());
  EXPECT_TRUE(wakes.AtLeast(5));
}

TEST_F(PostgresTokenStoreTest, WatchExternalCommitsReconnectsAfterARestart) {
  PostgresTokenStoreOptions options = Options();
  options.poll_interval = absl::Hours(1);
  std::unique_ptr<PostgresTokenStore> watcher = OpenStore(options);
  std::unique_ptr<PostgresTokenStore> writer = OpenStore();
  ASSERT_NE(watcher, nullptr);
  ASSERT_NE(writer, nullptr);
  WakeCounter wakes;
  ASSERT_TRUE(watcher->WatchExternalCommits(wakes.Callback()).ok());
  ASSERT_TRUE(wakes.AtLeast(1));
  ASSERT_TRUE(server_->Restart(PostgresServer::StopMode::kFast).ok());
  // The reconnect wakes it...
  ASSERT_TRUE(wakes.AtLeast(2));
  // ...and it listens again.
  const int before = wakes.count();
  ASSERT_TRUE(
      writer->Create(MakeToken("tok_a", "dep-1"), MakeAudit("c", "a")).ok());
  EXPECT_TRUE(wakes.AtLeast(before + 1));
}

TEST_F(PostgresTokenStoreTest, AWatchingStoreIsDestroyedPromptlyWhileDown) {
  ASSERT_TRUE(server_->Stop().ok());
  absl::Cleanup restart = [this] { ASSERT_TRUE(server_->Start().ok()); };
  PostgresTokenStoreOptions options = Options();
  options.poll_interval = absl::Milliseconds(10);
  absl::StatusOr<std::unique_ptr<PostgresTokenStore>> store =
      PostgresTokenStore::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  WakeCounter wakes;
  ASSERT_TRUE((*store)->WatchExternalCommits(wakes.Callback()).ok());
  const absl::Time start = absl::Now();
  store->reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(wakes.count(), 0);
}

// --- The revision order shared by replicas ---

// Several stores on one database act as replicas; writer threads on each
// create, rotate, update and delete while a reader on another replica follows
// ReadChanges from its last revision. The reader must see every revision
// 1..N exactly once, in order, and N must be the number of committed changes.
TEST_F(PostgresTokenStoreTest, ReplicasShareOneGaplessRevisionOrder) {
  constexpr int kReplicas = 3;
  constexpr int kWritersPerReplica = 3;
  constexpr int kOpsPerWriter = 40;
  std::vector<std::unique_ptr<PostgresTokenStore>> replicas;
  for (int r = 0; r <= kReplicas; ++r) {
    PostgresTokenStoreOptions options = Options();
    options.pool_size = 2;
    replicas.push_back(OpenStore(options));
    ASSERT_NE(replicas.back(), nullptr);
  }
  PostgresTokenStore& reader_store = *replicas.back();
  // Every writer also updates this one token: the writers contend on its row.
  ASSERT_EQ(*replicas[0]->Create(MakeToken("tok_hot", "dep-1"),
                                 MakeAudit("c", "tok_hot")),
            1);

  struct Logged {
    int64_t revision;
    std::string token_id;
    TokenChange::Type type;
  };
  absl::Mutex mu;
  std::vector<Logged> logged;  // Creates and deletes, by their revision.
  std::atomic<int64_t> committed{1};
  std::atomic<bool> writers_done{false};

  std::vector<TokenChange> seen;
  std::thread reader([&] {
    int64_t last = 0;
    while (true) {
      const bool finished = writers_done.load();
      absl::StatusOr<ChangeBatch> batch =
          reader_store.ReadChanges(last, "", 16);
      ASSERT_TRUE(batch.ok()) << batch.status();
      ASSERT_TRUE(batch->complete);
      for (const TokenChange& change : batch->changes) seen.push_back(change);
      ASSERT_GE(batch->up_to_revision, last);
      last = batch->up_to_revision;
      if (finished && batch->changes.empty()) break;
    }
  });

  std::vector<std::thread> writers;
  for (int r = 0; r < kReplicas; ++r) {
    for (int w = 0; w < kWritersPerReplica; ++w) {
      writers.emplace_back([&, r, w] {
        PostgresTokenStore& store = *replicas[r];
        std::vector<std::string> mine;
        int created = 0;
        for (int i = 0; i < kOpsPerWriter; ++i) {
          const int op = mine.empty() ? 0 : i % 4;
          if (op == 0) {
            const std::string id =
                absl::StrCat("tok_", r, "_", w, "_", created++);
            absl::StatusOr<int64_t> revision =
                store.Create(MakeToken(id, "dep-1"), MakeAudit("c", id));
            ASSERT_TRUE(revision.ok()) << revision.status();
            mine.push_back(id);
            absl::MutexLock lock(&mu);
            logged.push_back({*revision, id, TokenChange::Type::kUpsert});
          } else if (op == 1) {
            Rotation rotation;
            rotation.new_digest =
                DigestOf(absl::StrCat("rotated_", r, "_", w, "_", i));
            rotation.now = kT0;
            ASSERT_TRUE(
                store.Rotate(mine.back(), rotation, MakeAudit("r", "x")).ok());
          } else if (op == 2) {
            TokenUpdate update;
            update.description = absl::StrCat("by ", r, "/", w, " #", i);
            update.now = kT0;
            ASSERT_TRUE(
                store.Update("tok_hot", update, MakeAudit("u", "hot")).ok());
          } else {
            absl::StatusOr<int64_t> revision =
                store.Delete(mine.back(), MakeAudit("d", mine.back()));
            ASSERT_TRUE(revision.ok()) << revision.status();
            absl::MutexLock lock(&mu);
            logged.push_back(
                {*revision, mine.back(), TokenChange::Type::kDelete});
            mine.pop_back();
          }
          committed.fetch_add(1);
        }
      });
    }
  }
  for (std::thread& writer : writers) writer.join();
  writers_done = true;
  reader.join();

  const int64_t current = *reader_store.CurrentRevision();
  EXPECT_EQ(current, committed.load());
  ASSERT_EQ(static_cast<int64_t>(seen.size()), current);
  for (size_t i = 0; i < seen.size(); ++i) {
    ASSERT_EQ(seen[i].revision, static_cast<int64_t>(i + 1))
        << "the reader missed or repeated a revision";
  }
  for (const Logged& entry : logged) {
    const TokenChange& change = seen[entry.revision - 1];
    EXPECT_EQ(change.token_id, entry.token_id);
    EXPECT_EQ(change.type, entry.type);
  }
  EXPECT_EQ(QueryInt(uri_, "SELECT count(*) FROM change_log"), current);
}

// --- The error mapping ---

TEST(PostgresStatusTest, SqlStatesMapToTheDocumentedCodes) {
  struct Case {
    const char* sqlstate;
    absl::StatusCode code;
  };
  for (const Case& c : {
           Case{"40001", absl::StatusCode::kAborted},
           Case{"40P01", absl::StatusCode::kAborted},
           Case{"08006", absl::StatusCode::kUnavailable},
           Case{"08001", absl::StatusCode::kUnavailable},
           Case{"57P01", absl::StatusCode::kUnavailable},
           Case{"57P02", absl::StatusCode::kUnavailable},
           Case{"57P03", absl::StatusCode::kUnavailable},
           Case{"57014", absl::StatusCode::kUnavailable},
           Case{"53300", absl::StatusCode::kUnavailable},
           Case{"53100", absl::StatusCode::kUnavailable},
           Case{"55P03", absl::StatusCode::kUnavailable},
           Case{"25006", absl::StatusCode::kUnavailable},
           Case{"23505", absl::StatusCode::kAlreadyExists},
           Case{"23503", absl::StatusCode::kInternal},
           Case{"42P01", absl::StatusCode::kInternal},
           Case{"XX000", absl::StatusCode::kInternal},
           Case{"", absl::StatusCode::kInternal},
       }) {
    absl::Status status = StatusFromSqlState(c.sqlstate, "message", "what");
    EXPECT_EQ(status.code(), c.code) << c.sqlstate;
    EXPECT_THAT(std::string(status.message()), HasSubstr("what"));
  }
}

TEST(PostgresStatusTest, DataErrorsDoNotQuoteTheValue) {
  absl::Status status = StatusFromSqlState(
      "22P02", "invalid input syntax for type bigint: \"secret\"", "insert");
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("secret")));
  EXPECT_THAT(std::string(status.message()), HasSubstr("22P02"));
}

TEST(PostgresStatusTest, ExhaustedRetriesAreUnavailable) {
  absl::Status status = RetriesExhausted(absl::AbortedError("deadlock"), 5);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()), HasSubstr("deadlock"));
  EXPECT_TRUE(IsRetryableStatus(absl::AbortedError("x")));
  EXPECT_FALSE(IsRetryableStatus(absl::UnavailableError("x")));
}

TEST(PostgresStatusTest, ConnectionMessagesLoseLocationsHintsAndCodes) {
  EXPECT_EQ(CleanConnectionMessage(
                "connection to server at \"127.0.0.1\", port 5 failed: "
                "FATAL:  28P01: password authentication failed for user "
                "\"u\"\nLOCATION:  auth_failed, auth.c:326\n"),
            "connection to server at \"127.0.0.1\", port 5 failed: FATAL:  "
            "password authentication failed for user \"u\"");
  EXPECT_EQ(CleanConnectionMessage(
                "connection to server at \"127.0.0.1\", port 5 failed: "
                "Connection refused\n\tIs the server running on that host and "
                "accepting TCP/IP connections?\n"),
            "connection to server at \"127.0.0.1\", port 5 failed: Connection "
            "refused");
}

TEST(PostgresStatusTest, AConnectionThatBrokeIsUnavailable) {
  EXPECT_EQ(StatusFromResult(nullptr, nullptr, "select").code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusFromConnectFailure(nullptr).code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tokens
