// SqliteTokenStore: the TokenStore on one SQLite database file (WAL mode).
//
// Open() creates the file (mode 0600) if needed, sets the pragmas (WAL,
// synchronous=FULL by default, foreign keys, busy timeout) and brings the
// schema up to date with versioned migrations tracked in `PRAGMA user_version`,
// so a fresh file and a file written by an older binary both end up current. A
// file with a newer schema than this binary knows is refused.
//
// Thread-safe: one connection guarded by a mutex serves every call. Every
// mutating call is atomic on its own (token row, change-log row, audit row,
// change-log trimming; rolled back on any error). Concurrent mutating calls
// that write the change or audit log are group-committed (RecordUsage, which
// writes neither, commits on its own): one caller commits the writes queued
// meanwhile in a single `BEGIN IMMEDIATE` transaction (each in its own
// savepoint) and one fsync, and every caller returns only after that commit, so
// an acknowledged change is durable. A lone writer gets a transaction of its
// own, as before. CreateAsync queues its write and returns at once: the store's
// committer thread commits queued asynchronous writes (with any blocked ones)
// whenever no other caller is committing, and its finisher thread then runs
// their `done` in commit order, so the committer starts the next batch
// meanwhile and no thread is woken per write. Several processes may open the
// same file; a write that cannot get the lock within `busy_timeout` fails with
// Unavailable and changes nothing. WatchExternalCommits polls `PRAGMA
// data_version` (it changes only when another connection commits) every
// `external_commit_poll` on its own thread.
//
// Token hygiene (schema v3): Rotate and Delete remember the values they revoke
// in `revoked_values` (pruning those past revoked_retention in the same
// transaction) and list them in the change-log row's `revoked` column
// (token_hygiene.h's encoding); expiry notices are rows of `expiry_notices`
// (primary key token and threshold), written with their audit rows in one
// write transaction; with notification_outbox on, InsertAudit queues every
// notified OK audit row in `notification_outbox` in the same transaction.
// RecordUsage, RecordReuse, the notices and the outbox create no revision.
//
// Errors beyond those of TokenStore: Open() returns InvalidArgument for bad
// options, FailedPrecondition for a schema newer than kSchemaVersion,
// Unavailable when the file cannot be created or opened.
// List/ListAudit/ReadChanges/ClaimNotifications return InvalidArgument for
// limit <= 0, RecordExpiryNotices for thresholds that are not strictly
// descending to 0; Create returns InvalidArgument for a record without
// create_time.
#ifndef STORAGE_SQLITE_TOKEN_STORE_H_
#define STORAGE_SQLITE_TOKEN_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/sqlite_schema.h"
#include "storage/token_hygiene.h"
#include "storage/token_store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace tokens {

class SqliteStatement;  // storage/sqlite_statement.h

struct SqliteTokenStoreOptions {
  // The database file. Its directory must exist.
  std::string path;
  // How long a write waits for another connection's lock before failing with
  // Unavailable.
  absl::Duration busy_timeout = absl::Seconds(5);
  // synchronous=FULL (an acknowledged change survives power loss); NORMAL when
  // false.
  bool synchronous_full = true;
  // How many of the most recent change-log rows are kept (>= 1). Older rows are
  // trimmed in the same transaction that adds a change; readers behind them get
  // complete=false.
  int64_t change_retention = 100000;
  // How long revoked values are remembered after their revoke_time (>= 0);
  // each Rotate and Delete prunes those older.
  absl::Duration revoked_retention = absl::Hours(24 * 30);
  // Queue notified audit rows in the notification outbox (token_store.h).
  bool notification_outbox = false;
  // How often WatchExternalCommits checks whether another connection (another
  // process on the same file) has committed.
  absl::Duration external_commit_poll = absl::Milliseconds(250);
};

class SqliteTokenStore : public TokenStore {
 public:
  // The schema version a successful Open() leaves in `PRAGMA user_version`.
  static constexpr int kSchemaVersion = kSqliteSchemaVersion;

  static absl::StatusOr<std::unique_ptr<SqliteTokenStore>> Open(
      const SqliteTokenStoreOptions& options);

  ~SqliteTokenStore() override;
  SqliteTokenStore(const SqliteTokenStore&) = delete;
  SqliteTokenStore& operator=(const SqliteTokenStore&) = delete;

  absl::StatusOr<int64_t> Create(const TokenRecord& record,
                                 const AuditEntry& audit) override;
  // Queued for the next group commit (led by the committer thread or by a
  // blocked writer); the finisher thread runs `done` after that commit.
  void CreateAsync(TokenRecord record, AuditEntry audit,
                   CreateDone done) override;
  bool CreateAsyncNeverBlocks() const override { return true; }
  // Queued like CreateAsync (written on this thread once the store closes).
  void RecordAuditAsync(AuditEntry audit, AuditDone done) override;
  absl::StatusOr<TokenRecord> Get(const std::string& id) override;
  absl::StatusOr<TokenRecord> FindByDigest(const Digest& digest,
                                           absl::Time now) override;
  absl::StatusOr<TokenPage> List(const ListQuery& query) override;
  absl::StatusOr<TokenRecord> Update(const std::string& id,
                                     const TokenUpdate& update,
                                     const AuditEntry& audit) override;
  absl::StatusOr<TokenRecord> Rotate(const std::string& id,
                                     const Rotation& rotation,
                                     const AuditEntry& audit) override;
  absl::StatusOr<int64_t> Delete(const std::string& id,
                                 const AuditEntry& audit) override;
  absl::Status RecordAudit(const AuditEntry& audit) override;
  absl::StatusOr<std::vector<AuditEntry>> ListAudit(
      const std::string& deployment_id, int64_t before_id,
      int32_t limit) override;
  absl::StatusOr<ChangeBatch> ReadChanges(int64_t since_revision,
                                          const std::string& deployment_id,
                                          int32_t limit) override;
  absl::StatusOr<Snapshot> ReadSnapshot(
      const std::string& deployment_id) override;
  absl::StatusOr<int64_t> CurrentRevision() override;
  absl::Status RecordUsage(
      const std::vector<TokenUsageRecord>& usages) override;
  absl::StatusOr<ReuseOutcome> RecordReuse(const ReuseSighting& sighting,
                                           const AuditEntry& audit) override;
  absl::StatusOr<std::vector<ExpiryNotice>> RecordExpiryNotices(
      absl::Time now, const std::vector<int32_t>& thresholds_days,
      const std::string& principal) override;
  absl::StatusOr<int64_t> CountTokensExpiringBefore(absl::Time before) override;
  absl::StatusOr<std::vector<PendingNotification>> ClaimNotifications(
      absl::Time now, absl::Duration lease, int32_t limit) override;
  absl::Status CompleteNotification(int64_t audit_id) override;
  absl::Status RetryNotification(int64_t audit_id,
                                 absl::Time next_attempt) override;
  absl::Status WatchExternalCommits(std::function<void()> wake) override;

 private:
  SqliteTokenStore(sqlite3* db, const SqliteTokenStoreOptions& options);
  // The WatchExternalCommits thread: polls data_version until stopped.
  void PollExternalCommits(std::function<void()> wake);

  // Pragmas and migrations, run once by Open().
  absl::Status Initialize(const SqliteTokenStoreOptions& options);
  absl::Status Migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<int> ReadUserVersion() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Returns the cached prepared statement for `sql` (a constant), preparing it
  // once.
  absl::StatusOr<SqliteStatement> Prepare(const char* sql)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs a statement that returns no rows.
  absl::Status Exec(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT (writes) or BEGIN ... COMMIT
  // (reads); rolls back when `body` or COMMIT fails.
  template <typename Body>
  absl::Status InTransaction(bool write, Body body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Runs `body` (which needs mu_) as one write, group-committed with the
  // writes of other threads; returns its status, or the commit's error.
  struct PendingWrite;  // Defined in the .cc.
  absl::Status InWriteBatch(const std::function<absl::Status()>& body)
      ABSL_LOCKS_EXCLUDED(mu_, batch_mu_);
  // Commits `batch` in one transaction (the leader of InWriteBatch).
  void CommitBatch(const std::vector<PendingWrite*>& batch)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The leader's turn: takes every queued write.
  std::vector<PendingWrite*> TakeBatchLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(batch_mu_);
  // After CommitBatch: wakes the batch's blocked writers, ends the turn, and
  // hands its asynchronous writes to the finisher.
  void FinishBatch(const std::vector<PendingWrite*>& batch)
      ABSL_LOCKS_EXCLUDED(mu_, batch_mu_);
  // The committer thread: commits batches while asynchronous writes are
  // queued and no other leader is committing.
  void CommitAsyncWrites() ABSL_LOCKS_EXCLUDED(mu_, batch_mu_);
  // The finisher thread: runs (and frees) committed asynchronous writes'
  // `finish`, in commit order.
  void FinishAsyncWrites() ABSL_LOCKS_EXCLUDED(finish_mu_);
  // The inserts of Create, inside a write transaction.
  absl::Status InsertToken(const TokenRecord& record, const AuditEntry& audit,
                           int64_t* revision)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::StatusOr<TokenRecord> ReadToken(const std::string& id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<int64_t> ReadRevision() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Logs the current row of `id` as an upsert that revoked `revoked`; returns
  // its revision.
  absl::StatusOr<int64_t> LogUpsert(const std::string& id,
                                    const std::vector<RevokedValue>& revoked)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After an update or rotation of `id`: logs the row as an upsert, appends
  // `audit`, and returns the row as it now is.
  absl::StatusOr<TokenRecord> LogUpsertAndAudit(
      const std::string& id, const AuditEntry& audit,
      const std::vector<RevokedValue>& revoked)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<int64_t> LogDelete(const std::string& id,
                                    const std::string& deployment_id,
                                    const std::vector<RevokedValue>& revoked)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The digests and deployment of `id` (NotFound when it does not exist).
  absl::StatusOr<HeldValues> ReadHeldValues(const std::string& id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After a rotation or deletion of `token_id` at `now`: prunes revoked
  // values past the retention, remembers `revoked` (those still inside it)
  // and clears the token's expiry notices.
  absl::Status RememberRevoked(const std::string& token_id,
                               const std::vector<RevokedValue>& revoked,
                               absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops change-log rows older than the retention window ending at `revision`.
  absl::Status TrimChanges(int64_t revision) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends `audit`, queued in the outbox when that is on and it is notified.
  absl::Status InsertAudit(const AuditEntry& audit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Guards the queue of writes waiting for the next group commit. Never held
  // while waiting for mu_ or the database.
  absl::Mutex batch_mu_;
  std::vector<PendingWrite*> pending_ ABSL_GUARDED_BY(batch_mu_);
  bool committing_ ABSL_GUARDED_BY(batch_mu_) = false;
  // Asynchronous writes in pending_, and the thread that commits them.
  int async_pending_ ABSL_GUARDED_BY(batch_mu_) = 0;
  bool committer_stopping_ ABSL_GUARDED_BY(batch_mu_) = false;
  std::thread committer_;
  // Committed asynchronous writes whose `finish` is still to run, and the
  // thread that runs them (finishing a call costs gRPC work and a log line;
  // the committer starts the next batch meanwhile).
  absl::Mutex finish_mu_;
  std::vector<PendingWrite*> to_finish_ ABSL_GUARDED_BY(finish_mu_);
  bool finisher_stopping_ ABSL_GUARDED_BY(finish_mu_) = false;
  std::thread finisher_;

  absl::Mutex mu_;
  sqlite3* const db_;  // Owned; closed in the destructor.
  const int64_t change_retention_;
  const absl::Duration revoked_retention_;
  const bool notification_outbox_;
  const absl::Duration external_commit_poll_;

  absl::Mutex poll_mu_;
  bool stopping_ ABSL_GUARDED_BY(poll_mu_) = false;
  std::thread poller_;
  absl::flat_hash_map<std::string, sqlite3_stmt*> statements_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace tokens

#endif  // STORAGE_SQLITE_TOKEN_STORE_H_
