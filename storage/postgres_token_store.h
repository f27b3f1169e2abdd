// PostgresTokenStore: the TokenStore and ClusterState on PostgreSQL (libpq),
// so that several stateless TokenService replicas share one database.
//
// Opening. Open() checks the options and the URL (PQconninfoParse; a bad one
// is InvalidArgument naming --database, never echoing a password) and tries to
// connect once. A refused login or a database that does not exist (SQLSTATE
// 28P01, 28000, 3D000) is PermissionDenied with a one-line message; a schema
// newer than this binary is FailedPrecondition. A server that cannot be
// reached at all (refused, timed out, starting up) does not fail Open: the
// store is "lazy", every call returns Unavailable ("database unreachable: ...")
// until a connection succeeds, and the first successful connection runs the
// migrations. So TokenService can start, report NOT_SERVING and recover by
// itself when the database appears. Likewise when the server goes away later:
// broken connections are dropped from the pool, calls return Unavailable, and
// the next call reconnects. Problems found on a lazy first connection (a
// refused login, a newer schema) are Unavailable from calls too, with the
// reason in the message.
//
// Schema (storage/postgres_schema.h): versioned migrations in a
// `schema_version` table, applied in order, each in its own transaction under
// a transaction-level advisory lock, so replicas starting at once on an empty
// database are safe.
//
// ONE REVISION ORDER FOR ALL REPLICAS. Revisions form a single strictly
// increasing, gapless sequence equal to commit order, whichever replica
// writes:
//   1. A writing transaction first changes its token row and appends its audit
//      row, then, as its last statement before COMMIT, takes the one row of
//      `revision_counter` with UPDATE ... SET value = value + n RETURNING value
//      and in the same statement writes its change-log rows, trims the log and
//      queues pg_notify('token_changes', revision).
//   2. That row lock is held until COMMIT (or ROLLBACK). Another writer's
//      UPDATE of the row blocks until then and re-reads the committed value
//      (READ COMMITTED), so it gets the next number; after a rollback it gets
//      the same number again, so there are no gaps.
//   3. Hence revision order == commit order, and a transaction is visible to
//      new snapshots before the writer it blocked can continue: a reader (one
//      statement, one snapshot) that sees revision N sees every revision below
//      N, and ReadChanges reads the counter and the log in that one snapshot.
// The lock is held only for that last statement and COMMIT, never while the
// token rows are written, and it is always the last lock a transaction takes,
// so writers cannot deadlock on it.
//
// Writes. Every mutating method commits the token row, its change-log row, its
// audit row and the change-log trimming (change_retention) in one
// transaction, with the NOTIFY (delivered at commit; the payload is the
// revision, never a row). Deleted and rotated-away digests behave as in
// SqliteTokenStore (a rotated-away digest without grace is free again).
// Concurrent writes are group-committed (storage/postgres_group_commit.h):
// batched into one transaction in pipeline mode, two round trips and one
// commit per batch, each write still succeeding or failing alone, every caller
// returning after its write committed. A write whose id or digest is taken
// changes nothing (AlreadyExists); a failed write uses no revision.
// Deadlocks and serialization failures (40P01, 40001) are retried up to
// kMaxAttempts times, then Unavailable; a pooled connection found broken on
// first use is replaced and the call retried, unless COMMIT had been sent: then
// the call returns Unavailable and the outcome is in doubt (it may have
// committed), the one case where Unavailable does not mean "nothing changed".
// change_retention is stored in `settings` by the first store that opens the
// database; later stores use the stored value.
//
// Token hygiene (schema v3). Rotate and Delete stay one statement each in the
// group commit: it locks the token row (SELECT ... FOR UPDATE, so concurrent
// rotations each revoke the value the previous one installed), remembers the
// revoked values in `revoked_values` (ON CONFLICT DO UPDATE; those past
// revoked_retention are pruned in the same statement), clears the token's
// expiry notices and returns the revoked values for the change-log row's
// `revoked` column. RecordExpiryNotices inserts into `expiry_notices` (primary
// key token and threshold) with ON CONFLICT DO NOTHING and writes audit rows
// only for the notices it inserted, in one transaction, so several stores
// sweeping at once record each notice exactly once. With notification_outbox
// on, every statement that appends a notified OK audit row queues it in
// `notification_outbox` too; ClaimNotifications takes due rows with FOR UPDATE
// SKIP LOCKED, so concurrent claimers never get the same row. None of these
// (nor RecordUsage or RecordReuse) takes the revision counter, so they create
// no revision. ReadSnapshot reads tokens, revision and revoked values in one
// REPEATABLE READ transaction.
//
// WatchExternalCommits(wake): a dedicated connection (not from the pool) on the
// store's own thread LISTENs on `token_changes` and calls wake() for every
// batch of notifications, after every poll_interval without one (the fallback
// poll), and after every (re)connect; it reconnects with backoff. The thread is
// joined in the destructor; wake() is never called after that.
//
// No call blocks forever: connecting is bounded by connect_timeout, statements
// by statement_timeout (30 s), a vanished server by TCP keepalives.
// Thread-safe; up to pool_size calls run at once, the rest wait for a
// connection.
//
// Errors beyond those of TokenStore and ClusterState: Open returns
// InvalidArgument for bad options; List/ListAudit/ReadChanges/
// ClaimNotifications return InvalidArgument for limit <= 0,
// RecordExpiryNotices for thresholds that are not strictly descending to 0;
// Create returns InvalidArgument for a record without create_time. Error
// mapping: storage/postgres_status.h.
#ifndef STORAGE_POSTGRES_TOKEN_STORE_H_
#define STORAGE_POSTGRES_TOKEN_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/cluster_state.h"
#include "storage/postgres_connection.h"
#include "storage/postgres_schema.h"
#include "storage/token_store.h"

namespace tokens {

class PgCommitWatcher;  // storage/postgres_commit_watcher.h
class PgGroupCommit;    // storage/postgres_group_commit.h

struct PostgresTokenStoreOptions {
  // A libpq URI (postgresql://user@host:port/dbname?sslmode=...) or key=value
  // string: the --database flag.
  std::string url;
  // Connections kept open, and the most calls running at once (>= 1).
  int pool_size = 8;
  // How many of the most recent change-log rows are kept (>= 1). The first
  // store that opens a database stores it there; later ones use that value.
  int64_t change_retention = 100000;
  // How long one connection attempt may take (> 0).
  absl::Duration connect_timeout = absl::Seconds(5);
  // WatchExternalCommits wakes at least this often, even without a
  // notification (> 0).
  absl::Duration poll_interval = absl::Seconds(1);
  // How long revoked values are remembered after their revoke_time (>= 0);
  // each Rotate and Delete prunes those older.
  absl::Duration revoked_retention = absl::Hours(24 * 30);
  // Queue notified audit rows in the notification outbox (token_store.h).
  bool notification_outbox = false;
};

class PostgresTokenStore : public TokenStore, public ClusterState {
 public:
  // The schema version a successful migration leaves in `schema_version`.
  static constexpr int kSchemaVersion = kPostgresSchemaVersion;
  // Tries of a transaction that hits a deadlock or serialization failure.
  static constexpr int kMaxAttempts = 5;
  // Group-commit batches committing at once (each on its own connection).
  // One: batches of every replica serialize on the revision counter anyway, so
  // a second batch in flight only waits on the counter's row lock, and it
  // splits the writers queued meanwhile into two smaller batches (two WAL
  // flushes and two lock hand-offs where one would do). With one, every write
  // queued while a batch commits goes in the next one (CreateToken with 32
  // clients: ~1.5x the throughput of two, docs/benchmarks.md).
  static constexpr int kMaxBatchesInFlight = 1;
  // The LISTEN/NOTIFY channel; the payload is the committed revision.
  static constexpr char kNotifyChannel[] = "token_changes";
  // The settings row holding change_retention; not usable as a secret name.
  static constexpr char kRetentionSetting[] = "change_retention";

  static absl::StatusOr<std::unique_ptr<PostgresTokenStore>> Open(
      const PostgresTokenStoreOptions& options);

  ~PostgresTokenStore() override;
  PostgresTokenStore(const PostgresTokenStore&) = delete;
  PostgresTokenStore& operator=(const PostgresTokenStore&) = delete;

  // TokenStore.
  absl::StatusOr<int64_t> Create(const TokenRecord& record,
                                 const AuditEntry& audit) override;
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
  // FailedPrecondition when called a second time.
  absl::Status WatchExternalCommits(std::function<void()> wake) override;

  // ClusterState.
  absl::StatusOr<std::string> GetOrCreateSecret(
      const std::string& name, const std::string& candidate) override;
  absl::StatusOr<bool> InitializeCallers(
      const std::vector<CallerRecord>& callers) override;
  absl::StatusOr<std::vector<CallerRecord>> ListCallers() override;
  absl::Status AddCaller(const CallerRecord& caller) override;
  absl::Status RemoveCaller(const std::string& name) override;

 private:
  explicit PostgresTokenStore(const PostgresTokenStoreOptions& options);

  // Runs once per new pooled connection: the migrations and settings on the
  // first one that succeeds.
  absl::Status SetUpConnection(PgConnection& conn)
      ABSL_LOCKS_EXCLUDED(init_mu_);
  absl::Status LoadRetention(PgConnection& conn);

  // Runs `fn(conn, &in_doubt)` on a pooled connection, retrying as described
  // above; `fn` sets in_doubt once COMMIT was sent.
  absl::Status Run(const std::function<absl::Status(PgConnection&, bool*)>& fn);
  // Runs `body` between `begin` and COMMIT (rolled back when it fails), with
  // Run's retries.
  absl::Status InTransaction(
      const std::function<absl::Status(PgConnection&)>& body,
      const char* begin = "BEGIN");
  // Whether `audit` goes to the notification outbox.
  bool Queues(const AuditEntry& audit) const;
  const PostgresTokenStoreOptions options_;
  std::unique_ptr<PgPool> pool_;
  std::unique_ptr<PgGroupCommit> group_commit_;

  absl::Mutex init_mu_;
  std::atomic<bool> ready_{false};
  std::atomic<int64_t> change_retention_;

  absl::Mutex watch_mu_;
  std::unique_ptr<PgCommitWatcher> watcher_ ABSL_GUARDED_BY(watch_mu_);
};

}  // namespace tokens

#endif  // STORAGE_POSTGRES_TOKEN_STORE_H_
