#include "storage/sqlite_token_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/sqlite_schema.h"
#include "storage/sqlite_statement.h"
#include "storage/store_rules.h"
#include "storage/stored_time.h"
#include "storage/token_hygiene.h"

namespace tokens {
namespace {

// Joins string literals at compile time, so that the statements below stay
// constants while the token column list is written once.
template <size_t... kSizes>
constexpr std::array<char, (kSizes + ...) - sizeof...(kSizes) + 1> JoinSql(
    const char (&... parts)[kSizes]) {
  std::array<char, (kSizes + ...) - sizeof...(kSizes) + 1> sql{};
  size_t at = 0;
  for (const char* part : {static_cast<const char*>(parts)...}) {
    while (*part != '\0') sql[at++] = *part++;
  }
  return sql;
}

constexpr size_t CountChar(const char* text, char c) {
  size_t count = 0;
  for (; *text != '\0'; ++text) count += *text == c ? 1 : 0;
  return count;
}

// The columns of a token row, in the order TokenFromRow() reads them and
// BindToken() binds them.
constexpr size_t kTokenColumnCount = 20;
constexpr char kTokenColumns[] =
    "id, deployment_id, name, description, short_token, "
    "expiration_days, secret_digest, previous_digest, previous_valid_until, "
    "create_time, update_time, expire_time, last_rotate_time, last_used_time, "
    "created_by, updated_by, last_used_verifier, last_used_client, "
    "last_reuse_time, self_rotate";
constexpr char kTokenPlaceholders[] =
    "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
    "?17, ?18, ?19, ?20";
static_assert(CountChar(kTokenColumns, ',') + 1 == kTokenColumnCount);
static_assert(CountChar(kTokenPlaceholders, '?') == kTokenColumnCount);

constexpr auto kSelectToken =
    JoinSql("SELECT ", kTokenColumns, " FROM tokens WHERE id = ?1");

// The token whose current value, or previous value inside its grace period
// (?2 = now), has digest ?1 (schema v4 indexes previous_digest).
constexpr auto kSelectTokenByDigest =
    JoinSql("SELECT ", kTokenColumns, " FROM tokens WHERE secret_digest = ?1 ",
            "UNION ALL SELECT ", kTokenColumns,
            " FROM tokens WHERE previous_digest = ?1 AND ",
            "previous_valid_until > ?2 LIMIT 1");

// The sort key of each TokenOrder; the indexes of schema v3 use the same
// expressions. ?1 deployment, ?2 and ?3 the cursor's key and id, ?4 the limit,
// ?5 expire_before (NULL: no filter).
#define SQLITE_LIST_TOKENS(key)                            \
  JoinSql("SELECT ", kTokenColumns,                        \
          " FROM tokens WHERE deployment_id = ?1 "         \
          "AND (?5 IS NULL OR expire_time < ?5) AND (" key \
          ", id) > (?2, ?3) "                              \
          "ORDER BY " key ", id LIMIT ?4")
constexpr auto kListByCreateTime = SQLITE_LIST_TOKENS("create_time");
constexpr auto kListByExpireTime =
    SQLITE_LIST_TOKENS("COALESCE(expire_time, 9223372036854775807)");
constexpr auto kListByName = SQLITE_LIST_TOKENS("name");
constexpr auto kListByLastUsedTime =
    SQLITE_LIST_TOKENS("COALESCE(last_used_time, -9223372036854775807 - 1)");
#undef SQLITE_LIST_TOKENS

constexpr char kCountTokens[] =
    "SELECT COUNT(*) FROM tokens WHERE deployment_id = ?1 "
    "AND (?2 IS NULL OR expire_time < ?2)";

constexpr auto kInsertToken = JoinSql("INSERT INTO tokens (", kTokenColumns,
                                      ") VALUES (", kTokenPlaceholders, ")");

constexpr char kUpdateToken[] =
    "UPDATE tokens SET name = COALESCE(?2, name), "
    "description = COALESCE(?3, description), update_time = ?4, "
    "updated_by = ?5 WHERE id = ?1";

// The right-hand sides see the row as it was, so previous_digest takes the old
// digest.
constexpr char kRotateToken[] =
    "UPDATE tokens SET "
    "previous_digest = CASE WHEN ?2 THEN secret_digest ELSE NULL END, "
    "previous_valid_until = ?3, secret_digest = ?4, short_token = ?5, "
    "expire_time = ?6, last_rotate_time = ?7, update_time = ?7, "
    "updated_by = ?8 WHERE id = ?1";

constexpr char kSelectDeployment[] =
    "SELECT deployment_id FROM tokens WHERE id = ?1";

// What a rotation or deletion revokes (HeldValues).
constexpr char kSelectHeld[] =
    "SELECT deployment_id, secret_digest, previous_digest, "
    "previous_valid_until FROM tokens WHERE id = ?1";

constexpr char kPruneRevoked[] =
    "DELETE FROM revoked_values WHERE revoke_time < ?1";

// A revoked digest seen before (a previous value revoked again) takes the
// latest revocation.
constexpr char kInsertRevoked[] =
    "INSERT OR REPLACE INTO revoked_values (digest, token_id, deployment_id, "
    "revoke_time) VALUES (?1, ?2, ?3, ?4)";

constexpr char kSelectRevoked[] =
    "SELECT digest, token_id, deployment_id, revoke_time FROM revoked_values "
    "ORDER BY digest";

constexpr char kSelectDeploymentRevoked[] =
    "SELECT digest, token_id, deployment_id, revoke_time FROM revoked_values "
    "WHERE deployment_id = ?1 ORDER BY digest";

constexpr char kSelectRevokedDeployment[] =
    "SELECT deployment_id FROM revoked_values WHERE token_id = ?1 LIMIT 1";

constexpr char kClearNotices[] =
    "DELETE FROM expiry_notices WHERE token_id = ?1";

constexpr char kRecordReuse[] =
    "UPDATE tokens SET last_reuse_time = ?2 "
    "WHERE id = ?1 AND (last_reuse_time IS NULL OR last_reuse_time < ?2)";

// Tokens that crossed a threshold, with their lowest notice so far.
constexpr char kSelectExpiring[] =
    "SELECT t.id, t.deployment_id, t.expire_time, "
    "(SELECT MIN(n.days) FROM expiry_notices n WHERE n.token_id = t.id) "
    "FROM tokens t WHERE t.expire_time IS NOT NULL AND t.expire_time <= ?1 "
    "ORDER BY t.id";

constexpr char kInsertNotice[] =
    "INSERT OR IGNORE INTO expiry_notices (token_id, days) VALUES (?1, ?2)";

constexpr char kCountExpiring[] =
    "SELECT COUNT(*) FROM tokens WHERE expire_time < ?1";

constexpr char kQueueNotification[] =
    "INSERT INTO notification_outbox (audit_id, next_attempt, attempts) "
    "VALUES (?1, ?2, 0)";

constexpr char kSelectDueNotifications[] =
    "SELECT a.id, a.time, a.principal, a.action, a.token_id, a.deployment_id, "
    "a.outcome, a.detail, o.attempts FROM notification_outbox o "
    "JOIN audit a ON a.id = o.audit_id WHERE o.next_attempt <= ?1 "
    "ORDER BY o.audit_id LIMIT ?2";

constexpr char kLeaseNotification[] =
    "UPDATE notification_outbox SET next_attempt = ?2 WHERE audit_id = ?1";

constexpr char kCompleteNotification[] =
    "DELETE FROM notification_outbox WHERE audit_id = ?1";

constexpr char kRetryNotification[] =
    "UPDATE notification_outbox SET attempts = attempts + 1, "
    "next_attempt = ?2 WHERE audit_id = ?1";

constexpr char kDeleteToken[] = "DELETE FROM tokens WHERE id = ?1";

constexpr char kRecordUsage[] =
    "UPDATE tokens SET last_used_time = ?2, last_used_verifier = ?3, "
    "last_used_client = ?4 "
    "WHERE id = ?1 AND (last_used_time IS NULL OR last_used_time < ?2)";

constexpr char kLogUpsert[] =
    "INSERT INTO changes (type, token_id, deployment_id, secret_digest, "
    "expire_time, previous_digest, previous_valid_until, revoked) "
    "SELECT 'upsert', id, deployment_id, secret_digest, expire_time, "
    "previous_digest, previous_valid_until, ?2 FROM tokens WHERE id = ?1";

constexpr char kLogDelete[] =
    "INSERT INTO changes (type, token_id, deployment_id, revoked) "
    "VALUES ('delete', ?1, ?2, ?3)";

constexpr char kTrimChanges[] = "DELETE FROM changes WHERE revision <= ?1";

constexpr char kRaiseTrimMark[] =
    "UPDATE meta SET value = MAX(value, ?1) "
    "WHERE key = 'changes_trimmed_through'";

constexpr char kSelectTrimMark[] =
    "SELECT value FROM meta WHERE key = 'changes_trimmed_through'";

// AUTOINCREMENT keeps the largest revision ever used here, also after trimming.
constexpr char kSelectRevision[] =
    "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = "
    "'changes'), 0)";

// Two statements each for changes and snapshots so that the filtered form uses
// the deployment index and the unfiltered one the primary key.
constexpr char kSelectChanges[] =
    "SELECT revision, type, token_id, deployment_id, secret_digest, "
    "expire_time, previous_digest, previous_valid_until, revoked FROM changes "
    "WHERE revision > ?1 ORDER BY revision LIMIT ?2";

constexpr char kSelectDeploymentChanges[] =
    "SELECT revision, type, token_id, deployment_id, secret_digest, "
    "expire_time, previous_digest, previous_valid_until, revoked FROM changes "
    "WHERE deployment_id = ?3 AND revision > ?1 ORDER BY revision LIMIT ?2";

constexpr char kSelectSnapshot[] =
    "SELECT 0, 'upsert', id, deployment_id, secret_digest, expire_time, "
    "previous_digest, previous_valid_until, NULL FROM tokens ORDER BY id";

constexpr char kSelectDeploymentSnapshot[] =
    "SELECT 0, 'upsert', id, deployment_id, secret_digest, expire_time, "
    "previous_digest, previous_valid_until, NULL FROM tokens "
    "WHERE deployment_id = ?1 ORDER BY id";

constexpr char kInsertAudit[] =
    "INSERT INTO audit (time, principal, action, token_id, deployment_id, "
    "outcome, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

constexpr char kListAudit[] =
    "SELECT id, time, principal, action, token_id, deployment_id, outcome, "
    "detail FROM audit WHERE deployment_id = ?1 AND id < ?2 "
    "ORDER BY id DESC LIMIT ?3";

// Reads a row of kTokenColumns.
absl::StatusOr<TokenRecord> TokenFromRow(SqliteStatement& row) {
  TokenRecord token;
  token.id = row.Text(0);
  token.deployment_id = row.Text(1);
  token.name = row.Text(2);
  token.description = row.Text(3);
  token.short_token = row.Text(4);
  token.expiration_days = static_cast<int32_t>(row.Int(5));
  RETURN_IF_ERROR(row.ReadDigest(6, &token.secret_digest));
  RETURN_IF_ERROR(row.ReadOptionalDigest(7, &token.previous_digest));
  token.previous_valid_until = row.Time(8, absl::InfinitePast());
  token.create_time = row.Time(9, absl::InfinitePast());
  token.update_time = row.Time(10, absl::InfinitePast());
  token.expire_time = row.Time(11, absl::InfiniteFuture());
  token.last_rotate_time = row.Time(12, absl::InfinitePast());
  token.last_used_time = row.Time(13, absl::InfinitePast());
  token.created_by = row.Text(14);
  token.updated_by = row.Text(15);
  token.last_used_verifier = row.Text(16);
  token.last_used_client = row.Text(17);
  token.last_reuse_time = row.Time(18, absl::InfinitePast());
  token.self_rotate = row.Int(19) != 0;
  return token;
}

// Binds `token` to kTokenPlaceholders.
void BindToken(const TokenRecord& token, SqliteStatement& statement) {
  statement.BindText(1, token.id);
  statement.BindText(2, token.deployment_id);
  statement.BindText(3, token.name);
  statement.BindText(4, token.description);
  statement.BindText(5, token.short_token);
  statement.BindInt(6, token.expiration_days);
  statement.BindDigest(7, token.secret_digest);
  statement.BindOptionalDigest(8, token.previous_digest);
  statement.BindTime(9, token.previous_valid_until, absl::InfinitePast());
  statement.BindTime(10, token.create_time, absl::InfinitePast());
  statement.BindTime(11, token.update_time, absl::InfinitePast());
  statement.BindTime(12, token.expire_time, absl::InfiniteFuture());
  statement.BindTime(13, token.last_rotate_time, absl::InfinitePast());
  statement.BindTime(14, token.last_used_time, absl::InfinitePast());
  statement.BindText(15, token.created_by);
  statement.BindText(16, token.updated_by);
  statement.BindText(17, token.last_used_verifier);
  statement.BindText(18, token.last_used_client);
  statement.BindTime(19, token.last_reuse_time, absl::InfinitePast());
  statement.BindInt(20, token.self_rotate ? 1 : 0);
}

// Reads revision, type, token_id, deployment_id, secret_digest, expire_time,
// previous_digest, previous_valid_until, revoked.
absl::StatusOr<TokenChange> ChangeFromRow(SqliteStatement& row) {
  TokenChange change;
  change.revision = row.Int(0);
  std::string type = row.Text(1);
  if (type == "upsert") {
    change.type = TokenChange::Type::kUpsert;
  } else if (type == "delete") {
    change.type = TokenChange::Type::kDelete;
  } else {
    return RowDataError("change type");
  }
  change.token_id = row.Text(2);
  change.deployment_id = row.Text(3);
  if (change.type == TokenChange::Type::kUpsert) {
    RETURN_IF_ERROR(row.ReadDigest(4, &change.digest));
  }
  change.expire_time = row.Time(5, absl::InfiniteFuture());
  RETURN_IF_ERROR(row.ReadOptionalDigest(6, &change.previous_digest));
  change.previous_valid_until = row.Time(7, absl::InfinitePast());
  ASSIGN_OR_RETURN(
      change.revoked,
      DecodeRevokedValues(row.Blob(8), change.token_id, change.deployment_id));
  return change;
}

absl::StatusOr<RevokedValue> RevokedFromRow(SqliteStatement& row) {
  RevokedValue value;
  RETURN_IF_ERROR(row.ReadDigest(0, &value.digest));
  value.token_id = row.Text(1);
  value.deployment_id = row.Text(2);
  value.revoke_time = DecodeTime(row.Int(3));
  return value;
}

AuditEntry AuditFromRow(SqliteStatement& row) {
  AuditEntry entry;
  entry.id = row.Int(0);
  entry.time = row.Time(1, absl::InfinitePast());
  entry.principal = row.Text(2);
  entry.action = row.Text(3);
  entry.token_id = row.Text(4);
  entry.deployment_id = row.Text(5);
  entry.outcome = row.Text(6);
  entry.detail = row.Text(7);
  return entry;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteTokenStore>> SqliteTokenStore::Open(
    const SqliteTokenStoreOptions& options) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError("database path is empty");
  }
  if (options.change_retention < 1) {
    return absl::InvalidArgumentError("change_retention must be at least 1");
  }
  if (options.busy_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("busy_timeout must not be negative");
  }
  // Create the file ourselves so that it is private from its first byte; SQLite
  // gives the -wal and -shm files the mode of the database file.
  int fd = open(options.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    int error = errno;
    return absl::UnavailableError(absl::StrCat("cannot open database file ",
                                               options.path, ": ",
                                               std::strerror(error)));
  }
  close(fd);

  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      options.path.c_str(), &db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
      nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status = StatusFromSqlite(
        rc, db, absl::StrCat("cannot open database ", options.path));
    sqlite3_close(db);
    return status;
  }
  if (options.external_commit_poll <= absl::ZeroDuration()) {
    sqlite3_close(db);
    return absl::InvalidArgumentError("external_commit_poll must be positive");
  }
  if (options.revoked_retention < absl::ZeroDuration()) {
    sqlite3_close(db);
    return absl::InvalidArgumentError("revoked_retention must not be negative");
  }
  auto store = absl::WrapUnique(new SqliteTokenStore(db, options));
  RETURN_IF_ERROR(store->Initialize(options));
  store->committer_ =
      std::thread([s = store.get()] { s->CommitAsyncWrites(); });
  store->finisher_ = std::thread([s = store.get()] { s->FinishAsyncWrites(); });
  return store;
}

SqliteTokenStore::SqliteTokenStore(sqlite3* db,
                                   const SqliteTokenStoreOptions& options)
    : db_(db),
      change_retention_(options.change_retention),
      revoked_retention_(options.revoked_retention),
      notification_outbox_(options.notification_outbox),
      external_commit_poll_(options.external_commit_poll) {}

SqliteTokenStore::~SqliteTokenStore() {
  {
    absl::MutexLock lock(&batch_mu_);
    committer_stopping_ = true;  // after the writes still queued
  }
  if (committer_.joinable()) committer_.join();
  {
    absl::MutexLock lock(&finish_mu_);
    finisher_stopping_ = true;  // after the writes still to finish
  }
  if (finisher_.joinable()) finisher_.join();
  {
    absl::MutexLock lock(&poll_mu_);
    stopping_ = true;
  }
  if (poller_.joinable()) poller_.join();
  absl::MutexLock lock(&mu_);
  for (auto& entry : statements_) sqlite3_finalize(entry.second);
  statements_.clear();
  sqlite3_close_v2(db_);
}

absl::Status SqliteTokenStore::Initialize(
    const SqliteTokenStoreOptions& options) {
  absl::MutexLock lock(&mu_);
  sqlite3_extended_result_codes(db_, 1);
  int64_t busy_ms = absl::ToInt64Milliseconds(options.busy_timeout);
  RETURN_IF_ERROR(StatusFromSqlite(
      sqlite3_busy_timeout(db_, static_cast<int>(std::min<int64_t>(
                                    busy_ms, std::numeric_limits<int>::max()))),
      db_, "busy_timeout"));

  {
    ASSIGN_OR_RETURN(SqliteStatement wal, Prepare("PRAGMA journal_mode=WAL"));
    ASSIGN_OR_RETURN(bool row, wal.Step());
    std::string mode = row ? wal.Text(0) : std::string();
    if (!absl::EqualsIgnoreCase(mode, "wal")) {
      return absl::InternalError(
          absl::StrCat("cannot enable WAL; journal_mode is '", mode, "'"));
    }
  }
  RETURN_IF_ERROR(Exec(options.synchronous_full ? "PRAGMA synchronous=FULL"
                                                : "PRAGMA synchronous=NORMAL"));
  RETURN_IF_ERROR(Exec("PRAGMA foreign_keys=ON"));
  return Migrate();
}

absl::StatusOr<int> SqliteTokenStore::ReadUserVersion() {
  ASSIGN_OR_RETURN(SqliteStatement statement, Prepare("PRAGMA user_version"));
  ASSIGN_OR_RETURN(bool row, statement.Step());
  if (!row) return absl::InternalError("PRAGMA user_version returned no row");
  return static_cast<int>(statement.Int(0));
}

absl::Status SqliteTokenStore::Migrate() {
  ASSIGN_OR_RETURN(int version, ReadUserVersion());
  if (version == kSchemaVersion) return absl::OkStatus();
  // Another process may be migrating the same file: decide again under the
  // write lock.
  return InTransaction(
      /*write=*/true, [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        ASSIGN_OR_RETURN(version, ReadUserVersion());
        if (version > kSchemaVersion || version < 0) {
          return absl::FailedPreconditionError(absl::StrCat(
              "database schema version ", version,
              " is not supported by this binary (which knows up to ",
              kSchemaVersion, ")"));
        }
        for (int next = version + 1; next <= kSchemaVersion; ++next) {
          RETURN_IF_ERROR(StatusFromSqlite(
              sqlite3_exec(db_, kSqliteMigrations[next - 1], nullptr, nullptr,
                           nullptr),
              db_, absl::StrCat("migration to schema version ", next)));
        }
        // PRAGMA takes no parameters; the value is our own constant.
        std::string set_version =
            absl::StrCat("PRAGMA user_version = ", kSchemaVersion);
        return StatusFromSqlite(
            sqlite3_exec(db_, set_version.c_str(), nullptr, nullptr, nullptr),
            db_, "set user_version");
      });
}

absl::StatusOr<SqliteStatement> SqliteTokenStore::Prepare(const char* sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return StatusFromSqlite(rc, db_, absl::StrCat("prepare ", sql));
    }
    it = statements_.emplace(sql, stmt).first;
  }
  return SqliteStatement(db_, it->second);
}

absl::Status SqliteTokenStore::Exec(const char* sql) {
  ASSIGN_OR_RETURN(SqliteStatement statement, Prepare(sql));
  return statement.Run();
}

template <typename Body>
absl::Status SqliteTokenStore::InTransaction(bool write, Body body) {
  RETURN_IF_ERROR(Exec(write ? "BEGIN IMMEDIATE" : "BEGIN"));
  absl::Status status = body();
  if (status.ok()) status = Exec("COMMIT");
  if (!status.ok() && sqlite3_get_autocommit(db_) == 0) {
    // The caller needs the first error; if ROLLBACK fails too, the next BEGIN
    // reports it.
    Exec("ROLLBACK").IgnoreError();
  }
  return status;
}

// One write waiting for a group commit: a caller blocked in InWriteBatch, or
// an asynchronous write (CreateAsync) that owns its body and is finished by
// whichever thread commits it.
struct SqliteTokenStore::PendingWrite {
  const std::function<absl::Status()>* body = nullptr;
  absl::Status status;
  bool done = false;
  // Asynchronous writes only.
  std::function<absl::Status()> owned_body;
  std::function<void(const absl::Status&)> finish;
};

namespace {

struct BatchTurn {
  const bool* done;
  const bool* committing;
};

bool MayProceed(BatchTurn* turn) { return *turn->done || !*turn->committing; }

struct CommitterTurn {
  const int* async_pending;
  const bool* committing;
  const bool* stopping;
};

// Asynchronous writes to commit, or nothing left and stopping.
bool CommitterMayProceed(CommitterTurn* turn) {
  if (*turn->async_pending > 0) return !*turn->committing;
  return *turn->stopping;
}

}  // namespace

// Group commit. Writers queue up; the first one finding no batch in progress
// becomes the leader, takes every queued write and commits them in one
// transaction (one fsync), while later writers queue for the next batch. Each
// caller returns only after the transaction holding its write committed, so
// an acknowledged write is as durable as before, and each write stays atomic
// on its own: it runs inside a savepoint that is rolled back if it fails, so
// a failing write neither leaves partial rows nor fails its batch-mates.
absl::Status SqliteTokenStore::InWriteBatch(
    const std::function<absl::Status()>& body) {
  PendingWrite write;
  write.body = &body;
  std::vector<PendingWrite*> batch;
  {
    absl::MutexLock lock(&batch_mu_);
    pending_.push_back(&write);
    BatchTurn turn{&write.done, &committing_};
    batch_mu_.Await(absl::Condition(&MayProceed, &turn));
    if (write.done) return write.status;
    batch = TakeBatchLocked();
  }
  CommitBatch(batch);
  // `write` is this thread's and is not touched by FinishBatch once done.
  const absl::Status status = write.status;
  FinishBatch(batch);
  return status;
}

std::vector<SqliteTokenStore::PendingWrite*>
SqliteTokenStore::TakeBatchLocked() {
  committing_ = true;
  std::vector<PendingWrite*> batch;
  batch.swap(pending_);
  for (const PendingWrite* w : batch) {
    if (w->finish) --async_pending_;
  }
  return batch;
}

void SqliteTokenStore::FinishBatch(const std::vector<PendingWrite*>& batch) {
  std::vector<PendingWrite*> finished;
  {
    absl::MutexLock lock(&batch_mu_);
    for (PendingWrite* w : batch) {
      if (w->finish) {
        finished.push_back(w);
      } else {
        w->done = true;  // its thread may return and free it from now on
      }
    }
    committing_ = false;
  }
  if (finished.empty()) return;
  absl::MutexLock lock(&finish_mu_);
  to_finish_.insert(to_finish_.end(), finished.begin(), finished.end());
}

void SqliteTokenStore::FinishAsyncWrites() {
  while (true) {
    std::vector<PendingWrite*> finished;
    {
      absl::MutexLock lock(&finish_mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(finish_mu_) {
        return !to_finish_.empty() || finisher_stopping_;
      };
      finish_mu_.Await(absl::Condition(&ready));
      if (to_finish_.empty()) return;  // stopping, and nothing is left
      finished.swap(to_finish_);
    }
    for (PendingWrite* w : finished) {
      w->finish(w->status);
      delete w;
    }
  }
}

void SqliteTokenStore::CommitAsyncWrites() {
  while (true) {
    std::vector<PendingWrite*> batch;
    {
      absl::MutexLock lock(&batch_mu_);
      CommitterTurn turn{&async_pending_, &committing_, &committer_stopping_};
      batch_mu_.Await(absl::Condition(&CommitterMayProceed, &turn));
      if (async_pending_ == 0) return;  // stopping, and nothing is left
      batch = TakeBatchLocked();
    }
    CommitBatch(batch);
    FinishBatch(batch);
  }
}

void SqliteTokenStore::CommitBatch(const std::vector<PendingWrite*>& batch) {
  absl::MutexLock lock(&mu_);
  if (batch.size() == 1) {
    batch[0]->status = InTransaction(/*write=*/true, *batch[0]->body);
    return;
  }
  absl::Status begun = Exec("BEGIN IMMEDIATE");
  if (!begun.ok()) {
    for (PendingWrite* w : batch) w->status = begun;
    return;
  }
  for (PendingWrite* w : batch) {
    absl::Status status = Exec("SAVEPOINT batch_write");
    if (status.ok()) status = (*w->body)();
    if (sqlite3_get_autocommit(db_) != 0) {
      // SQLite rolled back the whole transaction (disk full, I/O error):
      // nothing of this batch was written.
      if (status.ok()) {
        status = absl::UnavailableError("write transaction rolled back");
      }
      for (PendingWrite* x : batch) x->status = status;
      return;
    }
    if (status.ok()) {
      status = Exec("RELEASE batch_write");
    } else {
      Exec("ROLLBACK TO batch_write").IgnoreError();
      Exec("RELEASE batch_write").IgnoreError();
    }
    w->status = status;
  }
  absl::Status committed = Exec("COMMIT");
  if (!committed.ok()) {
    if (sqlite3_get_autocommit(db_) == 0) Exec("ROLLBACK").IgnoreError();
    for (PendingWrite* w : batch) {
      if (w->status.ok()) w->status = committed;
    }
  }
}

absl::StatusOr<TokenRecord> SqliteTokenStore::ReadToken(const std::string& id) {
  ASSIGN_OR_RETURN(SqliteStatement select, Prepare(kSelectToken.data()));
  select.BindText(1, id);
  ASSIGN_OR_RETURN(bool row, select.Step());
  if (!row) return TokenNotFound(id);
  return TokenFromRow(select);
}

absl::StatusOr<int64_t> SqliteTokenStore::ReadRevision() {
  ASSIGN_OR_RETURN(SqliteStatement select, Prepare(kSelectRevision));
  ASSIGN_OR_RETURN(bool row, select.Step());
  if (!row) return absl::InternalError("no revision row");
  return select.Int(0);
}

absl::StatusOr<int64_t> SqliteTokenStore::LogUpsert(
    const std::string& id, const std::vector<RevokedValue>& revoked) {
  ASSIGN_OR_RETURN(SqliteStatement insert, Prepare(kLogUpsert));
  insert.BindText(1, id);
  insert.BindBlobOrNull(2, EncodeRevokedValues(revoked));
  RETURN_IF_ERROR(insert.Run());
  if (sqlite3_changes(db_) != 1) return TokenNotFound(id);
  int64_t revision = sqlite3_last_insert_rowid(db_);
  RETURN_IF_ERROR(TrimChanges(revision));
  return revision;
}

absl::StatusOr<int64_t> SqliteTokenStore::LogDelete(
    const std::string& id, const std::string& deployment_id,
    const std::vector<RevokedValue>& revoked) {
  ASSIGN_OR_RETURN(SqliteStatement insert, Prepare(kLogDelete));
  insert.BindText(1, id);
  insert.BindText(2, deployment_id);
  insert.BindBlobOrNull(3, EncodeRevokedValues(revoked));
  RETURN_IF_ERROR(insert.Run());
  int64_t revision = sqlite3_last_insert_rowid(db_);
  RETURN_IF_ERROR(TrimChanges(revision));
  return revision;
}

absl::Status SqliteTokenStore::TrimChanges(int64_t revision) {
  int64_t trim_through = revision - change_retention_;
  if (trim_through <= 0) return absl::OkStatus();
  {
    ASSIGN_OR_RETURN(SqliteStatement trim, Prepare(kTrimChanges));
    trim.BindInt(1, trim_through);
    RETURN_IF_ERROR(trim.Run());
    if (sqlite3_changes(db_) == 0) return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(SqliteStatement mark, Prepare(kRaiseTrimMark));
  mark.BindInt(1, trim_through);
  RETURN_IF_ERROR(mark.Run());
  if (sqlite3_changes(db_) != 1) return RowDataError("change-log trim mark");
  return absl::OkStatus();
}

absl::Status SqliteTokenStore::InsertAudit(const AuditEntry& audit) {
  ASSIGN_OR_RETURN(SqliteStatement insert, Prepare(kInsertAudit));
  insert.BindTime(1, audit.time, absl::InfinitePast());
  insert.BindText(2, audit.principal);
  insert.BindText(3, audit.action);
  insert.BindText(4, audit.token_id);
  insert.BindText(5, audit.deployment_id);
  insert.BindText(6, audit.outcome);
  insert.BindText(7, audit.detail);
  RETURN_IF_ERROR(insert.Run());
  if (!notification_outbox_ ||
      !QueuesNotification(audit.action, audit.outcome)) {
    return absl::OkStatus();
  }
  const int64_t audit_id = sqlite3_last_insert_rowid(db_);
  ASSIGN_OR_RETURN(SqliteStatement queue, Prepare(kQueueNotification));
  queue.BindInt(1, audit_id);
  queue.BindInt(2, EncodeTime(audit.time));
  return queue.Run();
}

absl::StatusOr<HeldValues> SqliteTokenStore::ReadHeldValues(
    const std::string& id) {
  ASSIGN_OR_RETURN(SqliteStatement select, Prepare(kSelectHeld));
  select.BindText(1, id);
  ASSIGN_OR_RETURN(bool row, select.Step());
  if (!row) return TokenNotFound(id);
  HeldValues held;
  held.token_id = id;
  held.deployment_id = select.Text(0);
  RETURN_IF_ERROR(select.ReadDigest(1, &held.current));
  RETURN_IF_ERROR(select.ReadOptionalDigest(2, &held.previous));
  held.previous_valid_until = select.Time(3, absl::InfinitePast());
  return held;
}

absl::Status SqliteTokenStore::RememberRevoked(
    const std::string& token_id, const std::vector<RevokedValue>& revoked,
    absl::Time now) {
  const absl::Time cutoff = now - revoked_retention_;
  {
    ASSIGN_OR_RETURN(SqliteStatement prune, Prepare(kPruneRevoked));
    prune.BindInt(1, EncodeTime(cutoff));
    RETURN_IF_ERROR(prune.Run());
  }
  for (const RevokedValue& value : revoked) {
    // Already past its retention: nothing to remember.
    if (value.revoke_time < cutoff) continue;
    ASSIGN_OR_RETURN(SqliteStatement insert, Prepare(kInsertRevoked));
    insert.BindDigest(1, value.digest);
    insert.BindText(2, value.token_id);
    insert.BindText(3, value.deployment_id);
    insert.BindInt(4, EncodeTime(value.revoke_time));
    RETURN_IF_ERROR(insert.Run());
  }
  ASSIGN_OR_RETURN(SqliteStatement clear, Prepare(kClearNotices));
  clear.BindText(1, token_id);
  return clear.Run();
}

absl::StatusOr<int64_t> SqliteTokenStore::Create(const TokenRecord& record,
                                                 const AuditEntry& audit) {
  if (IsInfinite(record.create_time)) {
    return absl::InvalidArgumentError("create_time must be set");
  }
  int64_t revision = 0;
  RETURN_IF_ERROR(
      InWriteBatch([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        return InsertToken(record, audit, &revision);
      }));
  return revision;
}

void SqliteTokenStore::CreateAsync(TokenRecord record, AuditEntry audit,
                                   CreateDone done) {
  if (IsInfinite(record.create_time)) {
    done(absl::InvalidArgumentError("create_time must be set"));
    return;
  }
  struct Job {
    TokenRecord record;
    AuditEntry audit;
    int64_t revision = 0;
    CreateDone done;
  };
  auto job = std::make_shared<Job>(
      Job{std::move(record), std::move(audit), 0, std::move(done)});
  auto* write = new PendingWrite;
  write->owned_body = [this, job]()
                          ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
    return InsertToken(job->record, job->audit, &job->revision);
  };
  write->body = &write->owned_body;
  write->finish = [job](const absl::Status& status) {
    if (status.ok()) {
      job->done(job->revision);
    } else {
      job->done(status);
    }
  };
  absl::MutexLock lock(&batch_mu_);
  pending_.push_back(write);
  ++async_pending_;
}

absl::Status SqliteTokenStore::InsertToken(const TokenRecord& record,
                                           const AuditEntry& audit,
                                           int64_t* revision) {
  {
    ASSIGN_OR_RETURN(SqliteStatement insert, Prepare(kInsertToken.data()));
    BindToken(record, insert);
    RETURN_IF_ERROR(insert.Run());
  }
  ASSIGN_OR_RETURN(*revision, LogUpsert(record.id, {}));
  return InsertAudit(audit);
}

absl::StatusOr<TokenRecord> SqliteTokenStore::Get(const std::string& id) {
  absl::MutexLock lock(&mu_);
  return ReadToken(id);
}

absl::StatusOr<TokenRecord> SqliteTokenStore::FindByDigest(const Digest& digest,
                                                           absl::Time now) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqliteStatement select,
                   Prepare(kSelectTokenByDigest.data()));
  select.BindDigest(1, digest);
  select.BindTime(2, now, absl::InfinitePast());
  ASSIGN_OR_RETURN(bool row, select.Step());
  if (!row) return DigestNotFound();
  return TokenFromRow(select);
}

absl::StatusOr<TokenPage> SqliteTokenStore::List(const ListQuery& query) {
  RETURN_IF_ERROR(CheckLimit(query.limit));
  const char* sql = nullptr;
  switch (query.order) {
    case TokenOrder::kCreateTime:
      sql = kListByCreateTime.data();
      break;
    case TokenOrder::kExpireTime:
      sql = kListByExpireTime.data();
      break;
    case TokenOrder::kName:
      sql = kListByName.data();
      break;
    case TokenOrder::kLastUsedTime:
      sql = kListByLastUsedTime.data();
      break;
  }
  if (sql == nullptr) return absl::InvalidArgumentError("unknown list order");
  const bool filtered = query.expire_before != absl::InfiniteFuture();
  absl::MutexLock lock(&mu_);
  TokenPage page;
  RETURN_IF_ERROR(InTransaction(
      /*write=*/false,
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        {
          ASSIGN_OR_RETURN(SqliteStatement count, Prepare(kCountTokens));
          count.BindText(1, query.deployment_id);
          if (filtered) count.BindInt(2, EncodeTime(query.expire_before));
          ASSIGN_OR_RETURN(bool row, count.Step());
          if (row) page.total_size = static_cast<int32_t>(count.Int(0));
        }
        ASSIGN_OR_RETURN(SqliteStatement select, Prepare(sql));
        select.BindText(1, query.deployment_id);
        // An empty cursor id starts before every key.
        const bool start = query.after.id.empty();
        if (query.order == TokenOrder::kName) {
          select.BindText(2, start ? std::string() : query.after.name);
        } else {
          select.BindInt(2, start ? std::numeric_limits<int64_t>::min()
                                  : EncodeTime(query.after.time));
        }
        select.BindText(3, query.after.id);
        // One extra row tells whether another page follows; LIMIT makes it
        // the last.
        select.BindInt(4, static_cast<int64_t>(query.limit) + 1);
        if (filtered) select.BindInt(5, EncodeTime(query.expire_before));
        return select.ForEachRow([&]() -> absl::Status {
          if (page.tokens.size() == static_cast<size_t>(query.limit)) {
            page.more = true;
            return absl::OkStatus();
          }
          ASSIGN_OR_RETURN(TokenRecord token, TokenFromRow(select));
          page.tokens.push_back(std::move(token));
          return absl::OkStatus();
        });
      }));
  return page;
}

absl::StatusOr<TokenRecord> SqliteTokenStore::LogUpsertAndAudit(
    const std::string& id, const AuditEntry& audit,
    const std::vector<RevokedValue>& revoked) {
  RETURN_IF_ERROR(LogUpsert(id, revoked).status());
  RETURN_IF_ERROR(InsertAudit(audit));
  return ReadToken(id);
}

absl::StatusOr<TokenRecord> SqliteTokenStore::Update(const std::string& id,
                                                     const TokenUpdate& update,
                                                     const AuditEntry& audit) {
  TokenRecord result;
  RETURN_IF_ERROR(
      InWriteBatch([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        {
          ASSIGN_OR_RETURN(SqliteStatement statement, Prepare(kUpdateToken));
          statement.BindText(1, id);
          statement.BindOptionalText(2, update.name);
          statement.BindOptionalText(3, update.description);
          statement.BindTime(4, update.now, absl::InfinitePast());
          statement.BindText(5, update.updated_by);
          RETURN_IF_ERROR(statement.Run());
          if (sqlite3_changes(db_) == 0) return TokenNotFound(id);
        }
        ASSIGN_OR_RETURN(result, LogUpsertAndAudit(id, audit, {}));
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<TokenRecord> SqliteTokenStore::Rotate(const std::string& id,
                                                     const Rotation& rotation,
                                                     const AuditEntry& audit) {
  TokenRecord result;
  RETURN_IF_ERROR(
      InWriteBatch([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        ASSIGN_OR_RETURN(HeldValues held, ReadHeldValues(id));
        const std::vector<RevokedValue> revoked =
            RevokedByRotation(held, rotation);
        {
          ASSIGN_OR_RETURN(SqliteStatement statement, Prepare(kRotateToken));
          statement.BindText(1, id);
          bool grace = rotation.previous_valid_until.has_value();
          statement.BindInt(2, grace ? 1 : 0);
          if (grace) {
            statement.BindTime(3, *rotation.previous_valid_until,
                               absl::InfinitePast());
          } else {
            statement.BindNull(3);
          }
          statement.BindDigest(4, rotation.new_digest);
          statement.BindText(5, rotation.short_token);
          statement.BindTime(6, rotation.expire_time, absl::InfiniteFuture());
          statement.BindTime(7, rotation.now, absl::InfinitePast());
          statement.BindText(8, rotation.updated_by);
          RETURN_IF_ERROR(statement.Run());
          if (sqlite3_changes(db_) == 0) return TokenNotFound(id);
        }
        RETURN_IF_ERROR(RememberRevoked(id, revoked, rotation.now));
        ASSIGN_OR_RETURN(result, LogUpsertAndAudit(id, audit, revoked));
        return absl::OkStatus();
      }));
  return result;
}

absl::StatusOr<int64_t> SqliteTokenStore::Delete(const std::string& id,
                                                 const AuditEntry& audit) {
  int64_t revision = 0;
  RETURN_IF_ERROR(
      InWriteBatch([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        ASSIGN_OR_RETURN(HeldValues held, ReadHeldValues(id));
        // A deletion has no time of its own: it happens at its audit row's.
        const std::vector<RevokedValue> revoked =
            RevokedByDeletion(held, audit.time);
        {
          ASSIGN_OR_RETURN(SqliteStatement remove, Prepare(kDeleteToken));
          remove.BindText(1, id);
          RETURN_IF_ERROR(remove.Run());
        }
        RETURN_IF_ERROR(RememberRevoked(id, revoked, audit.time));
        ASSIGN_OR_RETURN(revision, LogDelete(id, held.deployment_id, revoked));
        AuditEntry entry = audit;
        entry.deployment_id = held.deployment_id;
        return InsertAudit(entry);
      }));
  return revision;
}

void SqliteTokenStore::RecordAuditAsync(AuditEntry audit, AuditDone done) {
  auto entry = std::make_shared<AuditEntry>(std::move(audit));
  auto write = std::make_unique<PendingWrite>();
  write->owned_body = [this, entry]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                          mu_) -> absl::Status { return InsertAudit(*entry); };
  write->body = &write->owned_body;
  write->finish = std::move(done);
  {
    absl::MutexLock lock(&batch_mu_);
    if (!committer_stopping_) {
      pending_.push_back(write.release());
      ++async_pending_;
      return;
    }
  }
  // Closing: the committer may have left already.
  write->finish(RecordAudit(*entry));
}

absl::Status SqliteTokenStore::RecordAudit(const AuditEntry& audit) {
  return InWriteBatch([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
    return InsertAudit(audit);
  });
}

absl::StatusOr<std::vector<AuditEntry>> SqliteTokenStore::ListAudit(
    const std::string& deployment_id, int64_t before_id, int32_t limit) {
  RETURN_IF_ERROR(CheckLimit(limit));
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqliteStatement select, Prepare(kListAudit));
  select.BindText(1, deployment_id);
  select.BindInt(
      2, before_id > 0 ? before_id : std::numeric_limits<int64_t>::max());
  select.BindInt(3, limit);
  std::vector<AuditEntry> entries;
  RETURN_IF_ERROR(select.ForEachRow([&] {
    entries.push_back(AuditFromRow(select));
    return absl::OkStatus();
  }));
  return entries;
}

absl::StatusOr<ChangeBatch> SqliteTokenStore::ReadChanges(
    int64_t since_revision, const std::string& deployment_id, int32_t limit) {
  RETURN_IF_ERROR(CheckLimit(limit));
  if (since_revision < 0) {
    return absl::InvalidArgumentError("since_revision must not be negative");
  }
  absl::MutexLock lock(&mu_);
  ChangeBatch batch;
  RETURN_IF_ERROR(InTransaction(
      /*write=*/false,
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        ASSIGN_OR_RETURN(int64_t current, ReadRevision());
        batch.up_to_revision = current;
        int64_t trimmed_through = 0;
        {
          ASSIGN_OR_RETURN(SqliteStatement mark, Prepare(kSelectTrimMark));
          ASSIGN_OR_RETURN(bool row, mark.Step());
          if (!row) return RowDataError("change-log trim mark");
          trimmed_through = mark.Int(0);
        }
        // Changes in (since_revision, trimmed_through] are gone: the reader
        // cannot catch up.
        if (since_revision > current || since_revision < trimmed_through) {
          batch.complete = false;
          return absl::OkStatus();
        }
        ASSIGN_OR_RETURN(
            SqliteStatement select,
            Prepare(deployment_id.empty() ? kSelectChanges
                                          : kSelectDeploymentChanges));
        select.BindInt(1, since_revision);
        // One extra row tells how far the reader is up to date when the batch
        // is full; LIMIT makes it the last.
        select.BindInt(2, static_cast<int64_t>(limit) + 1);
        if (!deployment_id.empty()) select.BindText(3, deployment_id);
        return select.ForEachRow([&]() -> absl::Status {
          if (batch.changes.size() == static_cast<size_t>(limit)) {
            // Nothing the reader wants lies between the last change and this
            // one.
            batch.up_to_revision = select.Int(0) - 1;
            return absl::OkStatus();
          }
          ASSIGN_OR_RETURN(TokenChange change, ChangeFromRow(select));
          batch.changes.push_back(std::move(change));
          return absl::OkStatus();
        });
      }));
  return batch;
}

absl::StatusOr<Snapshot> SqliteTokenStore::ReadSnapshot(
    const std::string& deployment_id) {
  absl::MutexLock lock(&mu_);
  Snapshot snapshot;
  RETURN_IF_ERROR(InTransaction(
      /*write=*/false,
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        ASSIGN_OR_RETURN(snapshot.revision, ReadRevision());
        ASSIGN_OR_RETURN(
            SqliteStatement select,
            Prepare(deployment_id.empty() ? kSelectSnapshot
                                          : kSelectDeploymentSnapshot));
        if (!deployment_id.empty()) select.BindText(1, deployment_id);
        RETURN_IF_ERROR(select.ForEachRow([&]() -> absl::Status {
          ASSIGN_OR_RETURN(TokenChange token, ChangeFromRow(select));
          token.revision = snapshot.revision;
          snapshot.tokens.push_back(std::move(token));
          return absl::OkStatus();
        }));
        ASSIGN_OR_RETURN(
            SqliteStatement revoked,
            Prepare(deployment_id.empty() ? kSelectRevoked
                                          : kSelectDeploymentRevoked));
        if (!deployment_id.empty()) revoked.BindText(1, deployment_id);
        return revoked.ForEachRow([&]() -> absl::Status {
          ASSIGN_OR_RETURN(RevokedValue value, RevokedFromRow(revoked));
          snapshot.revoked.push_back(std::move(value));
          return absl::OkStatus();
        });
      }));
  return snapshot;
}

absl::StatusOr<int64_t> SqliteTokenStore::CurrentRevision() {
  absl::MutexLock lock(&mu_);
  return ReadRevision();
}

absl::Status SqliteTokenStore::WatchExternalCommits(
    std::function<void()> wake) {
  if (poller_.joinable()) {
    return absl::FailedPreconditionError("already watching external commits");
  }
  poller_ = std::thread(
      [this, wake = std::move(wake)] { PollExternalCommits(wake); });
  return absl::OkStatus();
}

void SqliteTokenStore::PollExternalCommits(std::function<void()> wake) {
  int64_t seen = -1;
  absl::MutexLock poll_lock(&poll_mu_);
  while (!poll_mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                                    external_commit_poll_)) {
    int64_t version = -1;
    {
      absl::MutexLock lock(&mu_);
      auto statement = Prepare("PRAGMA data_version");
      if (statement.ok() && statement->Step().value_or(false)) {
        version = statement->Int(0);
      }
    }
    // A read error is retried at the next poll; a wake-up is cheap, so one
    // after an error is fine too.
    if (version != seen) {
      if (seen != -1) wake();
      seen = version;
    }
  }
}

absl::Status SqliteTokenStore::RecordUsage(
    const std::vector<TokenUsageRecord>& usages) {
  if (usages.empty()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  return InTransaction(
      /*write=*/true, [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        for (const TokenUsageRecord& usage : usages) {
          if (IsInfinite(usage.last_used_time)) continue;
          ASSIGN_OR_RETURN(SqliteStatement statement, Prepare(kRecordUsage));
          statement.BindText(1, usage.token_id);
          statement.BindInt(2, EncodeTime(usage.last_used_time));
          statement.BindText(3, usage.verifier_name);
          statement.BindText(4, usage.client_address);
          RETURN_IF_ERROR(statement.Run());
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<ReuseOutcome> SqliteTokenStore::RecordReuse(
    const ReuseSighting& sighting, const AuditEntry& audit) {
  ReuseOutcome outcome;
  RETURN_IF_ERROR(
      InWriteBatch([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        outcome = ReuseOutcome();
        {
          ASSIGN_OR_RETURN(SqliteStatement select, Prepare(kSelectDeployment));
          select.BindText(1, sighting.token_id);
          ASSIGN_OR_RETURN(bool row, select.Step());
          if (row) {
            outcome.token_exists = true;
            outcome.deployment_id = select.Text(0);
          }
        }
        if (outcome.token_exists) {
          ASSIGN_OR_RETURN(SqliteStatement update, Prepare(kRecordReuse));
          update.BindText(1, sighting.token_id);
          update.BindInt(2, EncodeTime(sighting.time));
          RETURN_IF_ERROR(update.Run());
        } else {
          ASSIGN_OR_RETURN(SqliteStatement select,
                           Prepare(kSelectRevokedDeployment));
          select.BindText(1, sighting.token_id);
          ASSIGN_OR_RETURN(bool row, select.Step());
          if (!row) return TokenNotFound(sighting.token_id);
          outcome.deployment_id = select.Text(0);
        }
        AuditEntry entry = audit;
        entry.deployment_id = outcome.deployment_id;
        return InsertAudit(entry);
      }));
  return outcome;
}

absl::StatusOr<std::vector<ExpiryNotice>> SqliteTokenStore::RecordExpiryNotices(
    absl::Time now, const std::vector<int32_t>& thresholds_days,
    const std::string& principal) {
  RETURN_IF_ERROR(CheckExpiryThresholds(thresholds_days));
  std::vector<ExpiryNotice> recorded;
  RETURN_IF_ERROR(InWriteBatch([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                                   mu_) -> absl::Status {
    recorded.clear();
    std::vector<ExpiryNotice> due;
    {
      ASSIGN_OR_RETURN(SqliteStatement select, Prepare(kSelectExpiring));
      select.BindInt(1, EncodeTime(ExpiryHorizon(now, thresholds_days)));
      RETURN_IF_ERROR(select.ForEachRow([&]() -> absl::Status {
        ExpiryNotice notice;
        notice.token_id = select.Text(0);
        notice.deployment_id = select.Text(1);
        notice.expire_time = select.Time(2, absl::InfiniteFuture());
        std::optional<int32_t> days =
            CrossedExpiryThreshold(notice.expire_time, now, thresholds_days);
        if (!days.has_value()) return absl::OkStatus();
        // A notice of this threshold or a later one was already sent.
        if (!select.IsNull(3) && select.Int(3) <= *days) {
          return absl::OkStatus();
        }
        notice.days = *days;
        due.push_back(std::move(notice));
        return absl::OkStatus();
      }));
    }
    for (ExpiryNotice& notice : due) {
      {
        ASSIGN_OR_RETURN(SqliteStatement insert, Prepare(kInsertNotice));
        insert.BindText(1, notice.token_id);
        insert.BindInt(2, notice.days);
        RETURN_IF_ERROR(insert.Run());
        if (sqlite3_changes(db_) == 0) continue;
      }
      RETURN_IF_ERROR(InsertAudit(ExpiryNoticeAudit(notice, now, principal)));
      recorded.push_back(std::move(notice));
    }
    return absl::OkStatus();
  }));
  return recorded;
}

absl::StatusOr<int64_t> SqliteTokenStore::CountTokensExpiringBefore(
    absl::Time before) {
  absl::MutexLock lock(&mu_);
  ASSIGN_OR_RETURN(SqliteStatement count, Prepare(kCountExpiring));
  count.BindInt(1, EncodeTime(before));
  ASSIGN_OR_RETURN(bool row, count.Step());
  if (!row) return absl::InternalError("no count row");
  return count.Int(0);
}

absl::StatusOr<std::vector<PendingNotification>>
SqliteTokenStore::ClaimNotifications(absl::Time now, absl::Duration lease,
                                     int32_t limit) {
  RETURN_IF_ERROR(CheckLimit(limit));
  std::vector<PendingNotification> claimed;
  RETURN_IF_ERROR(
      InWriteBatch([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
        claimed.clear();
        {
          ASSIGN_OR_RETURN(SqliteStatement select,
                           Prepare(kSelectDueNotifications));
          select.BindInt(1, EncodeTime(now));
          select.BindInt(2, limit);
          RETURN_IF_ERROR(select.ForEachRow([&]() -> absl::Status {
            PendingNotification pending;
            pending.event = AuditFromRow(select);
            pending.attempts = static_cast<int32_t>(select.Int(8));
            claimed.push_back(std::move(pending));
            return absl::OkStatus();
          }));
        }
        for (const PendingNotification& pending : claimed) {
          ASSIGN_OR_RETURN(SqliteStatement update, Prepare(kLeaseNotification));
          update.BindInt(1, pending.event.id);
          update.BindInt(2, EncodeTime(now + lease));
          RETURN_IF_ERROR(update.Run());
        }
        return absl::OkStatus();
      }));
  return claimed;
}

absl::Status SqliteTokenStore::CompleteNotification(int64_t audit_id) {
  return InWriteBatch([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
    ASSIGN_OR_RETURN(SqliteStatement remove, Prepare(kCompleteNotification));
    remove.BindInt(1, audit_id);
    return remove.Run();
  });
}

absl::Status SqliteTokenStore::RetryNotification(int64_t audit_id,
                                                 absl::Time next_attempt) {
  return InWriteBatch([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
    ASSIGN_OR_RETURN(SqliteStatement update, Prepare(kRetryNotification));
    update.BindInt(1, audit_id);
    update.BindInt(2, EncodeTime(next_attempt));
    return update.Run();
  });
}

}  // namespace tokens
