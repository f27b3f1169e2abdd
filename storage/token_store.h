// TokenStore: persists tokens, the change log (revisions for the verifier
// feed) and the audit log. The only seam between TokenService and a database;
// SqliteTokenStore (one process, the default) and PostgresTokenStore (any
// number of stateless replicas) implement it, and
// storage/token_store_conformance_test.cc holds both to everything below.
//
// THE REVISION INVARIANT. Every committed change gets a revision, and the
// revisions of one database form a single strictly increasing sequence with no
// gaps, in commit order, whichever process (replica) wrote the change: if a
// reader sees revision N, it sees every revision below N. So a verifier's
// revision means the same on every replica, and it resumes from it anywhere
// without a snapshot. SQLite has one writer at a time on the file.
// PostgreSQL takes the one row of `revision_counter` (UPDATE ... RETURNING)
// as the last statement of each writing transaction: the row lock serializes
// numbering and commit, a rolled-back number is reused (see
// postgres_token_store.h). storage/postgres_token_store_test.cc proves it with
// concurrent writers on several stores and a reader that never misses one.
//
// Thread-safe: any method may be called from any thread. Every mutating method
// commits the token row, its change-log row and its audit row in one
// transaction, or nothing.
// The store never sees a token value, only SHA-256 digests. Time is passed in
// by the caller.
//
// Errors (absl::Status codes):
//   NotFound       the id does not exist (or was deleted).
//   AlreadyExists  the id or digest is taken (Create).
//   Unavailable    the database is busy, locked, read-only or full; nothing
//                  was changed.
//   Internal       anything else the database reports (corruption, misuse).
#ifndef STORAGE_TOKEN_STORE_H_
#define STORAGE_TOKEN_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/token_change.h"
#include "common/token_value.h"

namespace tokens {

// A token as stored. Times use absl::InfiniteFuture() for "never expires" and
// absl::InfinitePast() for "never happened" (last_rotate_time, last_used_time).
struct TokenRecord {
  std::string id;
  std::string deployment_id;
  std::string name;
  std::string description;
  std::string short_token;
  int32_t expiration_days = 0;
  Digest secret_digest{};
  // Set while a rotated-away value is inside its grace period (until
  // previous_valid_until).
  std::optional<Digest> previous_digest;
  absl::Time previous_valid_until = absl::InfinitePast();
  absl::Time create_time = absl::InfinitePast();
  absl::Time update_time = absl::InfinitePast();
  absl::Time expire_time = absl::InfiniteFuture();
  absl::Time last_rotate_time = absl::InfinitePast();
  absl::Time last_used_time = absl::InfinitePast();
  std::string created_by;
  std::string updated_by;
};

// One audit log row. Never carries a secret or a digest.
struct AuditEntry {
  int64_t id = 0;  // Assigned by the store.
  absl::Time time;
  std::string principal;
  std::string action;  // token.create, token.update, token.delete, token.rotate
  std::string token_id;
  std::string deployment_id;
  std::string outcome;  // OK or a status code name
  std::string detail;
};

// Changes after a revision, for the feed.
struct ChangeBatch {
  // False when changes after the asked revision are no longer all retained (or
  // the revision is ahead of the store): the reader must take a snapshot
  // instead.
  bool complete = true;
  // Matching changes in revision order (at most `limit`).
  std::vector<TokenChange> changes;
  // The reader is up to date through this revision after applying `changes`
  // (>= the revision of the last change; equals the store's revision when
  // fewer than `limit` were returned).
  int64_t up_to_revision = 0;
};

// Every live token (as kUpsert changes) at one revision, read in one
// transaction.
struct Snapshot {
  int64_t revision = 0;
  std::vector<TokenChange> tokens;
};

// A page of ListTokens. The cursor is the (create_time, id) of the last row
// returned.
struct TokenPage {
  std::vector<TokenRecord> tokens;
  int32_t total_size = 0;  // Tokens of the Deployment, all pages.
  bool more = false;       // Another page follows.
};

struct ListCursor {
  absl::Time create_time = absl::InfinitePast();
  std::string id;  // Empty: start from the beginning.
};

// What a rotation changes.
struct Rotation {
  Digest new_digest{};
  std::string short_token;
  absl::Time now;
  absl::Time expire_time = absl::InfiniteFuture();
  // When set, the old digest keeps verifying until then.
  std::optional<absl::Time> previous_valid_until;
  std::string updated_by;
};

// What an update changes; unset fields stay as they are.
struct TokenUpdate {
  std::optional<std::string> name;
  std::optional<std::string> description;
  absl::Time now;
  std::string updated_by;
};

struct TokenUsageRecord {
  std::string token_id;
  absl::Time last_used_time;
};

class TokenStore {
 public:
  virtual ~TokenStore() = default;

  // Inserts `record` and logs an upsert change and `audit`. Returns the new
  // revision.
  virtual absl::StatusOr<int64_t> Create(const TokenRecord& record,
                                         const AuditEntry& audit) = 0;

  virtual absl::StatusOr<TokenRecord> Get(const std::string& id) = 0;

  // Tokens of one Deployment ordered by (create_time, id), strictly after
  // `after`.
  virtual absl::StatusOr<TokenPage> List(const std::string& deployment_id,
                                         const ListCursor& after,
                                         int32_t limit) = 0;

  // Applies `update` (bumping update_time/updated_by), logs a change and
  // `audit`.
  virtual absl::StatusOr<TokenRecord> Update(const std::string& id,
                                             const TokenUpdate& update,
                                             const AuditEntry& audit) = 0;

  // Replaces the digest (keeping the old one until previous_valid_until when
  // set), renews expire_time, sets last_rotate_time/update_time/updated_by;
  // logs a change and `audit`. Fails with AlreadyExists if the new digest is
  // taken.
  virtual absl::StatusOr<TokenRecord> Rotate(const std::string& id,
                                             const Rotation& rotation,
                                             const AuditEntry& audit) = 0;

  // Removes the token; logs a delete change and `audit` (whose deployment_id
  // the store fills from the row). Returns the revision.
  virtual absl::StatusOr<int64_t> Delete(const std::string& id,
                                         const AuditEntry& audit) = 0;

  // Appends an audit row on its own (denied or rejected requests).
  virtual absl::Status RecordAudit(const AuditEntry& audit) = 0;

  // Audit rows of one Deployment, newest first, with id < before_id (0 = from
  // the newest).
  virtual absl::StatusOr<std::vector<AuditEntry>> ListAudit(
      const std::string& deployment_id, int64_t before_id, int32_t limit) = 0;

  // Changes with revision > since_revision (only those of `deployment_id` when
  // non-empty).
  virtual absl::StatusOr<ChangeBatch> ReadChanges(
      int64_t since_revision, const std::string& deployment_id,
      int32_t limit) = 0;

  // Every token (of `deployment_id` when non-empty) and the revision it
  // reflects.
  virtual absl::StatusOr<Snapshot> ReadSnapshot(
      const std::string& deployment_id) = 0;

  // The latest revision (0 for an empty store).
  virtual absl::StatusOr<int64_t> CurrentRevision() = 0;

  // Moves last_used_time forward (never back) for each known id; unknown ids
  // are ignored. Creates no revision.
  virtual absl::Status RecordUsage(
      const std::vector<TokenUsageRecord>& usages) = 0;

  // Calls `wake` (on a thread of the store's) whenever another process may
  // have committed a change through the same database, so this process's feed
  // reads it: a wake-up without a change is harmless. Call at most once,
  // before any other thread uses the store; `wake` must not block, and is not
  // called after the store is destroyed. The default never calls it (one
  // process owns the store and its writes already wake its feed).
  virtual absl::Status WatchExternalCommits(std::function<void()> wake) {
    return absl::OkStatus();
  }
};

}  // namespace tokens

#endif  // STORAGE_TOKEN_STORE_H_
