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
// REVOKED VALUES. Rotate and Delete remember the values they revoke, for the
// store's revoked_retention after revoke_time (pruned by later writes), so
// that snapshots carry them to verifiers that start later.
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
  // Who made the most recent use (with last_used_time): the verifier's
  // --name and the end client's address as its throttle saw it. Empty when
  // unknown.
  std::string last_used_verifier;
  std::string last_used_client;
  // The most recent use of one of its revoked values (InfinitePast = none).
  absl::Time last_reuse_time = absl::InfinitePast();
  std::string created_by;
  std::string updated_by;
  // May rotate itself with its own value (RotateSelf). Set at creation.
  bool self_rotate = false;
};

// One audit log row. Never carries a secret or a digest.
struct AuditEntry {
  int64_t id = 0;  // Assigned by the store.
  absl::Time time;
  std::string principal;
  // token.create, token.update, token.delete, token.rotate, token.expiring,
  // token.expired, token.reuse_detected, token.leaked (store_rules.h names
  // them).
  std::string action;
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

// Every live token (as kUpsert changes, their `revoked` empty) and every
// retained revoked value, at one revision, read in one transaction.
struct Snapshot {
  int64_t revision = 0;
  std::vector<TokenChange> tokens;
  std::vector<RevokedValue> revoked;
};

// A page of ListTokens.
struct TokenPage {
  std::vector<TokenRecord> tokens;
  int32_t total_size = 0;  // Matching tokens, all pages.
  bool more = false;       // Another page follows.
};

// How List orders tokens: always ascending by the key, then by id.
//   kCreateTime    create_time.
//   kExpireTime    expire_time; tokens that never expire come last.
//   kName          name (byte order).
//   kLastUsedTime  last_used_time; tokens never used come first.
enum class TokenOrder { kCreateTime, kExpireTime, kName, kLastUsedTime };

// The sort key and id of the last row of the previous page. `time` is the key
// of the time orders (InfiniteFuture for a token that never expires,
// InfinitePast for one never used), `name` the key of kName.
struct ListCursor {
  absl::Time time = absl::InfinitePast();
  std::string name;
  std::string id;  // Empty: start from the beginning.
};

struct ListQuery {
  std::string deployment_id;
  TokenOrder order = TokenOrder::kCreateTime;
  // Only tokens with expire_time < expire_before (never-expiring tokens never
  // match); InfiniteFuture = no filter.
  absl::Time expire_before = absl::InfiniteFuture();
  // Rows strictly after this cursor in `order`.
  ListCursor after;
  int32_t limit = 100;
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
  // Who used it (TokenRecord::last_used_verifier/_client); stored together
  // with last_used_time, only when that moves forward.
  std::string verifier_name;
  std::string client_address;
};

// A verifier saw a revoked value presented `count` times, the last at `time`.
struct ReuseSighting {
  std::string token_id;
  absl::Time time;
  std::string verifier_name;
  std::string client_address;
  int32_t count = 1;
};

// What RecordReuse found.
struct ReuseOutcome {
  std::string deployment_id;
  // The token still exists (its current value verifies): what
  // `--on-reuse revoke` deletes.
  bool token_exists = false;
};

// One expiry warning recorded by RecordExpiryNotices.
struct ExpiryNotice {
  std::string token_id;
  std::string deployment_id;
  // The threshold crossed: 30, 7, 1 (token.expiring) or 0 (token.expired).
  int32_t days = 0;
  absl::Time expire_time;
};

// A notification waiting for delivery: the audit row it reports.
struct PendingNotification {
  AuditEntry event;
  int32_t attempts = 0;  // Failed deliveries so far.
};

class TokenStore {
 public:
  virtual ~TokenStore() = default;

  // Inserts `record` and logs an upsert change and `audit`. Returns the new
  // revision.
  virtual absl::StatusOr<int64_t> Create(const TokenRecord& record,
                                         const AuditEntry& audit) = 0;

  // Create without waiting: `done` gets what Create would return, once the
  // transaction holding the write committed (or failed), on a thread of the
  // store's (possibly this one, before CreateAsync returns), with no store
  // lock held. A group-committing store finishes every write of a batch from
  // a thread of its own, so a caller's thread is free meanwhile and no thread
  // is woken per write. The default calls Create, then `done`.
  using CreateDone = std::function<void(absl::StatusOr<int64_t> revision)>;
  virtual void CreateAsync(TokenRecord record, AuditEntry audit,
                           CreateDone done) {
    done(Create(record, audit));
  }
  // True when CreateAsync only queues the write and returns (it never waits
  // for the database), so that it may be called from a thread that must not
  // block (a gRPC callback thread). False for the default.
  virtual bool CreateAsyncNeverBlocks() const { return false; }

  virtual absl::StatusOr<TokenRecord> Get(const std::string& id) = 0;

  // The token whose current value has `digest`, or whose previous value has
  // it while that value is inside its grace period (previous_valid_until >
  // now). Expiry is the caller's to check. NotFound (DigestNotFound) when no
  // token has it.
  virtual absl::StatusOr<TokenRecord> FindByDigest(const Digest& digest,
                                                   absl::Time now) = 0;

  // Tokens of query.deployment_id matching query.expire_before, in
  // query.order, strictly after query.after, at most query.limit.
  virtual absl::StatusOr<TokenPage> List(const ListQuery& query) = 0;

  // Applies `update` (bumping update_time/updated_by), logs a change and
  // `audit`.
  virtual absl::StatusOr<TokenRecord> Update(const std::string& id,
                                             const TokenUpdate& update,
                                             const AuditEntry& audit) = 0;

  // Replaces the digest (keeping the old one until previous_valid_until when
  // set), renews expire_time, sets last_rotate_time/update_time/updated_by;
  // logs a change and `audit`. Fails with AlreadyExists if the new digest is
  // taken. The replaced value (and a previous value it drops) is remembered as
  // a RevokedValue, revoked at previous_valid_until or now, and listed in the
  // change's `revoked`; the token's expiry notices are cleared.
  virtual absl::StatusOr<TokenRecord> Rotate(const std::string& id,
                                             const Rotation& rotation,
                                             const AuditEntry& audit) = 0;

  // Removes the token; logs a delete change and `audit` (whose deployment_id
  // the store fills from the row). Returns the revision. Every value of the
  // token is remembered as a RevokedValue (revoked now, or at the end of a
  // grace period that ends sooner) and listed in the change's `revoked`.
  virtual absl::StatusOr<int64_t> Delete(const std::string& id,
                                         const AuditEntry& audit) = 0;

  // Appends an audit row on its own (denied or rejected requests).
  virtual absl::Status RecordAudit(const AuditEntry& audit) = 0;
  // RecordAudit without waiting: `done` gets its status once the row
  // committed (or failed), on a thread of the store's (possibly this one),
  // like CreateAsync's. A group-committing store queues the row for its next
  // batch, so a thread that must not wait for a commit (the one finishing
  // creates) can audit. The default calls RecordAudit, then `done`.
  using AuditDone = std::function<void(const absl::Status& status)>;
  virtual void RecordAuditAsync(AuditEntry audit, AuditDone done) {
    done(RecordAudit(audit));
  }

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

  // Moves last_used_time forward (never back) for each known id, with
  // last_used_verifier/_client; unknown ids are ignored. Creates no revision.
  virtual absl::Status RecordUsage(
      const std::vector<TokenUsageRecord>& usages) = 0;

  // Records the sighting of one of token_id's revoked values: moves the
  // token's last_reuse_time forward when the token still exists, and appends
  // `audit` (token.reuse_detected) with its deployment_id filled from the
  // token or the revoked value. NotFound (nothing recorded) when the store
  // holds neither the token nor a revoked value of it. Creates no revision.
  virtual absl::StatusOr<ReuseOutcome> RecordReuse(
      const ReuseSighting& sighting, const AuditEntry& audit) = 0;

  // The expiry sweep. `thresholds_days` is descending and ends with 0 (for
  // example 30, 7, 1, 0). For each token with a finite expire_time, T is the
  // smallest threshold with expire_time <= now + T days; when the token has no
  // notice of a threshold <= T yet, records notice T and an audit row
  // (token.expiring, or token.expired for T == 0, principal `principal`, the
  // days and expire time in `detail`), all in one transaction. So each token
  // gets each notice at most once, however many processes sweep at once, and
  // a token created 5 days before it expires gets 7, 1 and 0 but never 30.
  // Rotate clears a token's notices (its new expiry starts over); Delete
  // removes them. Returns the notices recorded by this call.
  virtual absl::StatusOr<std::vector<ExpiryNotice>> RecordExpiryNotices(
      absl::Time now, const std::vector<int32_t>& thresholds_days,
      const std::string& principal) = 0;

  // How many tokens (of every Deployment) have expire_time < `before`.
  virtual absl::StatusOr<int64_t> CountTokensExpiringBefore(
      absl::Time before) = 0;

  // The notification outbox. When the store was opened with the outbox on,
  // every audit row whose action store_rules.h IsNotifiedAction() and whose
  // outcome is OK is queued in the transaction that writes it, and stays
  // until CompleteNotification. ClaimNotifications returns up to `limit` rows
  // due at `now`, oldest first, and moves each one's next attempt to
  // now + lease, so that another replica's notifier skips it meanwhile.
  virtual absl::StatusOr<std::vector<PendingNotification>> ClaimNotifications(
      absl::Time now, absl::Duration lease, int32_t limit) = 0;
  // Delivered: removes it (unknown ids are ignored).
  virtual absl::Status CompleteNotification(int64_t audit_id) = 0;
  // Failed: counts the attempt and makes it due again at `next_attempt`.
  virtual absl::Status RetryNotification(int64_t audit_id,
                                         absl::Time next_attempt) = 0;

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
