// PgGroupCommit: the write path of PostgresTokenStore. Concurrent writes are
// batched into one transaction (as SqliteTokenStore's group commit does), sent
// in pipeline mode, and get their revisions from the revision counter in the
// last statement before COMMIT (see postgres_token_store.h for why that
// orders every replica's writes). Used only inside storage/.
//
// A batch is two round trips and one commit, whatever its size:
//   1. BEGIN, then each write's statement (its token row and audit row;
//      consecutive creates share one multi-row INSERT);
//   2. the change-log statement (takes the revision counter row, writes the
//      batch's change-log rows with consecutive revisions in batch order,
//      trims the log, queues one pg_notify with the last revision), COMMIT.
// A write whose statement finds nothing to change (NotFound, or a Create
// whose id or digest is taken: ON CONFLICT DO NOTHING) fails alone and logs
// nothing. When a statement of a batch of several raises an error, the
// transaction is rolled back and each of the batch's writes is run again in
// a transaction of its own, so every write still succeeds or fails alone.
// Every caller returns after the transaction holding its write committed.
//
// Up to `max_leaders` batches are in flight at once (each on its own
// connection; PostgresTokenStore uses one, see kMaxBatchesInFlight): a writer
// that arrives while they are all in flight queues, and the first batch to
// finish hands the queue, up to kMaxBatch writes, to the next leader. A lone
// writer never waits for anyone.
#ifndef STORAGE_POSTGRES_GROUP_COMMIT_H_
#define STORAGE_POSTGRES_GROUP_COMMIT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/token_change.h"
#include "storage/postgres_connection.h"
#include "storage/token_store.h"

namespace tokens {

// One write: a single statement that changes a token row and appends its
// audit row (queued in the notification outbox when the statement says so),
// and for a rotation or deletion the revoked values it remembers.
struct PgWrite {
  PgStatement statement;
  std::vector<PgParam> params;
  // What the statement's rows mean: the change to log, or this write's own
  // error (NotFound, AlreadyExists); nothing is logged for an error.
  std::function<absl::StatusOr<TokenChange>(const PgResult&)> on_result;
  // Turns the statement's error into the caller's (may be null).
  std::function<absl::Status(const absl::Status&)> on_error;
  // Set for a Create (with `statement` and `params` for sending it alone):
  // creates next to each other in a batch go as one multi-row INSERT, and
  // `on_create(inserted)` says what that meant for this one.
  const TokenRecord* create = nullptr;
  const AuditEntry* create_audit = nullptr;
  std::function<absl::StatusOr<TokenChange>(bool inserted)> on_create;
  // The create's audit row goes to the notification outbox (its own
  // `statement` carries the same in `params`).
  bool notify = false;
};

class PgGroupCommit {
 public:
  // Runs `fn(conn, &in_doubt)` on a pooled connection with the store's
  // retries (PostgresTokenStore::Run).
  using Runner = std::function<absl::Status(
      const std::function<absl::Status(PgConnection&, bool*)>&)>;

  // `retention` gives the change-log retention (read at each commit).
  PgGroupCommit(Runner run, std::function<int64_t()> retention,
                int max_leaders);

  // Commits `write`; returns the revision of its change.
  absl::StatusOr<int64_t> Write(const PgWrite& write) ABSL_LOCKS_EXCLUDED(mu_);

  // The most writes in one batch.
  static constexpr int kMaxBatch = 64;

 private:
  struct Pending;

  // Commits `batch` as one transaction (falling back to one transaction per
  // write when a statement fails) and sets each write's outcome.
  void Commit(const std::vector<Pending*>& batch);
  // One attempt at `batch` on `conn`. Sets *split when a statement failed in a
  // batch of several (nothing was committed; run them one by one).
  absl::Status Execute(PgConnection& conn, const std::vector<Pending*>& batch,
                       bool* in_doubt, bool* split);

  const Runner run_;
  const std::function<int64_t()> retention_;
  const int max_leaders_;

  absl::Mutex mu_;
  std::vector<Pending*> queue_ ABSL_GUARDED_BY(mu_);
  int leaders_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tokens

#endif  // STORAGE_POSTGRES_GROUP_COMMIT_H_
