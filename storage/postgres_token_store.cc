#include "storage/postgres_token_store.h"

#include <postgresql/libpq-fe.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/memory/memory.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/postgres_commit_watcher.h"
#include "storage/postgres_group_commit.h"
#include "storage/postgres_rows.h"
#include "storage/postgres_status.h"
#include "storage/store_rules.h"
#include "storage/stored_time.h"
#include "storage/token_hygiene.h"

namespace tokens {
namespace {

// The token columns in the order of AppendTokenParams and TokenFromRow.
#define PG_TOKEN_COLUMNS                                                     \
  "id, deployment_id, name, description, short_token, expiration_days, "     \
  "secret_digest, previous_digest, previous_valid_until, create_time, "      \
  "update_time, expire_time, last_rotate_time, last_used_time, created_by, " \
  "updated_by, last_used_verifier, last_used_client, last_reuse_time, "      \
  "self_rotate"
#define PG_TOKEN_VALUES                                             \
  "$1::text, $2::text, $3::text, $4::text, $5::text, $6::integer, " \
  "$7::bytea, $8::bytea, $9::bigint, $10::bigint, $11::bigint, "    \
  "$12::bigint, $13::bigint, $14::bigint, $15::text, $16::text, "   \
  "$17::text, $18::text, $19::bigint, $20::boolean"
// An audit row from parameters $first..$first+6 (time .. detail), for the
// INSERT ... SELECT of the write statements.
#define PG_AUDIT_COLUMNS \
  "time, principal, action, token_id, deployment_id, outcome, detail"
#define PG_CHANGE_COLUMNS                                                 \
  "revision, type, token_id, deployment_id, secret_digest, expire_time, " \
  "previous_digest, previous_valid_until, revoked"
// The smallest bigint (a literal -9223372036854775808 would be numeric).
#define PG_MIN_BIGINT "(-9223372036854775807 - 1)"
// Queues the audit rows of CTE `a` (RETURNING id, time) in the notification
// outbox when the boolean parameter `flag` is true.
#define PG_QUEUE_AUDIT(flag)                                        \
  "q AS (INSERT INTO notification_outbox (audit_id, next_attempt) " \
  "SELECT id, COALESCE(time, " PG_MIN_BIGINT ") FROM a WHERE " flag \
  "::boolean) "
// After a rotation or deletion: CTE `v` (ord, digest, revoke_time) holds the
// revoked values and `h` (h_id, h_deployment_id) the token. Prunes revoked
// values older than `cutoff` (a bigint parameter) except those remembered
// again here, remembers those not older (a digest seen before takes the
// latest revocation) and removes the token's expiry notices.
#define PG_REMEMBER_REVOKED(cutoff)                                          \
  "k AS (SELECT digest FROM v WHERE revoke_time >= " cutoff                  \
  "::bigint), "                                                              \
  "p AS (DELETE FROM revoked_values WHERE revoke_time < " cutoff             \
  "::bigint "                                                                \
  "AND EXISTS (SELECT 1 FROM h) AND digest NOT IN (SELECT digest FROM k)), " \
  "i AS (INSERT INTO revoked_values (digest, token_id, deployment_id, "      \
  "revoke_time) SELECT v.digest, h.h_id, h.h_deployment_id, v.revoke_time "  \
  "FROM v CROSS JOIN h WHERE v.revoke_time >= " cutoff                       \
  "::bigint "                                                                \
  "ON CONFLICT (digest) DO UPDATE SET token_id = EXCLUDED.token_id, "        \
  "deployment_id = EXCLUDED.deployment_id, "                                 \
  "revoke_time = EXCLUDED.revoke_time), "                                    \
  "n AS (DELETE FROM expiry_notices WHERE token_id IN "                      \
  "(SELECT h_id FROM h)), "

constexpr PgStatement kSelectToken = {
    "select_token", "SELECT " PG_TOKEN_COLUMNS " FROM tokens WHERE id = $1"};

// The token whose current value, or previous value inside its grace period
// ($2 = now), has digest $1 (schema v4 indexes previous_digest).
constexpr PgStatement kSelectTokenByDigest = {
    "select_token_by_digest",
    "(SELECT " PG_TOKEN_COLUMNS
    " FROM tokens WHERE secret_digest = $1::bytea) UNION ALL "
    "(SELECT " PG_TOKEN_COLUMNS
    " FROM tokens WHERE previous_digest = $1::bytea AND "
    "previous_valid_until > $2::bigint) LIMIT 1"};

// The count and the page in one statement (one snapshot); the count row is
// there even when the page is empty. `key` is the order's sort key (the
// indexes of schema v3 use the same expressions): $1 deployment, $2 and $3
// the cursor's key and id, $4 the limit, $5 expire_before (NULL: no filter).
#define PG_LIST_TOKENS(name, key, key_type)                               \
  {                                                                       \
    name,                                                                 \
        "SELECT n.total, t.* FROM (SELECT count(*) AS total FROM tokens " \
        "WHERE deployment_id = $1::text AND ($5::bigint IS NULL OR "      \
        "expire_time < $5::bigint)) n LEFT JOIN LATERAL "                 \
        "(SELECT " PG_TOKEN_COLUMNS ", " key                              \
        " AS sort_key FROM tokens "                                       \
        "WHERE deployment_id = $1::text AND ($5::bigint IS NULL OR "      \
        "expire_time < $5::bigint) AND (" key ", id) > ($2::" key_type    \
        ", $3::text) ORDER BY " key                                       \
        ", id LIMIT $4::bigint) t ON true "                               \
        "ORDER BY t.sort_key, t.id"                                       \
  }
constexpr PgStatement kListByCreateTime =
    PG_LIST_TOKENS("list_by_create_time", "create_time", "bigint");
constexpr PgStatement kListByExpireTime =
    PG_LIST_TOKENS("list_by_expire_time",
                   "COALESCE(expire_time, 9223372036854775807)", "bigint");
constexpr PgStatement kListByName =
    PG_LIST_TOKENS("list_by_name", "name", "text");
constexpr PgStatement kListByLastUsedTime = PG_LIST_TOKENS(
    "list_by_last_used_time",
    "COALESCE(last_used_time, -9223372036854775807 - 1)", "bigint");
#undef PG_LIST_TOKENS

// Each write statement changes the token row and appends its audit row (only
// when the row changed; queued in the outbox when its flag says so);
// PgGroupCommit adds the change-log row. A taken id or digest makes Create
// insert nothing (ON CONFLICT DO NOTHING) rather than fail, so that it fails
// alone inside a batch.
constexpr PgStatement kCreateToken = {
    "create_token",
    "WITH t AS (INSERT INTO tokens (" PG_TOKEN_COLUMNS
    ") VALUES (" PG_TOKEN_VALUES
    ") ON CONFLICT DO NOTHING RETURNING id), "
    "a AS (INSERT INTO audit_log (" PG_AUDIT_COLUMNS
    ") SELECT $21::bigint, $22::text, $23::text, $24::text, $25::text, "
    "$26::text, $27::text FROM t RETURNING id, time), " PG_QUEUE_AUDIT(
        "$28") "SELECT 1 FROM t"};

constexpr PgStatement kUpdateToken = {
    "update_token",
    "WITH u AS (UPDATE tokens SET name = COALESCE($2::text, name), "
    "description = COALESCE($3::text, description), update_time = "
    "$4::bigint, updated_by = $5::text WHERE id = $1::text "
    "RETURNING " PG_TOKEN_COLUMNS
    "), a AS (INSERT INTO audit_log (" PG_AUDIT_COLUMNS
    ") SELECT $6::bigint, $7::text, $8::text, $9::text, $10::text, "
    "$11::text, $12::text FROM u RETURNING id, time), " PG_QUEUE_AUDIT(
        "$13") "SELECT " PG_TOKEN_COLUMNS " FROM u"};

// `h` locks the row and holds its values before the rotation (HeldValues);
// the update takes them from there. The revoked values (token_hygiene.h):
// the current digest at $17 (the end of the grace period, or now), a previous
// one at the earlier of now ($18) and its own end. $19 is the retention
// cutoff. Returns the row as it now is once per revoked value, with it.
constexpr PgStatement kRotateToken = {
    "rotate_token",
    "WITH h AS (SELECT id AS h_id, deployment_id AS h_deployment_id, "
    "secret_digest AS h_digest, previous_digest AS h_previous, "
    "previous_valid_until AS h_valid_until FROM tokens WHERE id = $1::text "
    "FOR UPDATE), "
    "r AS (UPDATE tokens t SET "
    "previous_digest = CASE WHEN $2::boolean THEN h.h_digest ELSE NULL END, "
    "previous_valid_until = $3::bigint, secret_digest = $4::bytea, "
    "short_token = $5::text, expire_time = $6::bigint, "
    "last_rotate_time = $7::bigint, update_time = $7::bigint, "
    "updated_by = $8::text FROM h WHERE t.id = h.h_id RETURNING "
    "t.id, t.deployment_id, t.name, t.description, t.short_token, "
    "t.expiration_days, t.secret_digest, t.previous_digest, "
    "t.previous_valid_until, t.create_time, t.update_time, t.expire_time, "
    "t.last_rotate_time, t.last_used_time, t.created_by, t.updated_by, "
    "t.last_used_verifier, t.last_used_client, t.last_reuse_time, "
    "t.self_rotate), "
    "v AS (SELECT 1 AS ord, h_digest AS digest, $17::bigint AS revoke_time "
    "FROM h UNION ALL SELECT 2, h_previous, LEAST($18::bigint, "
    "COALESCE(h_valid_until, " PG_MIN_BIGINT
    ")) FROM h "
    "WHERE h_previous IS NOT NULL AND h_previous <> "
    "h_digest), " PG_REMEMBER_REVOKED(
        "$19") "a AS (INSERT INTO audit_log (" PG_AUDIT_COLUMNS
               ") SELECT $9::bigint, $10::text, $11::text, $12::text, "
               "$13::text, "
               "$14::text, $15::text FROM r RETURNING id, "
               "time), " PG_QUEUE_AUDIT("$16") "SELECT " PG_TOKEN_COLUMNS
                                               ", v.digest, v.revoke_time FROM "
                                               "r CROSS JOIN v ORDER BY v.ord"};

// The audit row takes the deployment from the deleted row. The revoked
// values: the current digest at now ($9), a previous one at the earlier of
// now and its own end; $10 is the retention cutoff. Returns the deployment
// once per revoked value, with it.
constexpr PgStatement kDeleteToken = {
    "delete_token",
    "WITH h AS (DELETE FROM tokens WHERE id = $1::text RETURNING "
    "id AS h_id, deployment_id AS h_deployment_id, secret_digest, "
    "previous_digest, previous_valid_until), "
    "v AS (SELECT 1 AS ord, secret_digest AS digest, $9::bigint AS "
    "revoke_time FROM h UNION ALL SELECT 2, previous_digest, "
    "LEAST($9::bigint, COALESCE(previous_valid_until, " PG_MIN_BIGINT "))"
    " FROM h WHERE previous_digest IS NOT NULL AND "
    "previous_digest <> secret_digest), " PG_REMEMBER_REVOKED("$10")
    "a AS (INSERT INTO audit_log (" PG_AUDIT_COLUMNS
    ") SELECT $2::bigint, $3::text, $4::text, $5::text, h.h_deployment_id, "
    "$6::text, $7::text FROM h RETURNING id, time), " PG_QUEUE_AUDIT("$8")
    "SELECT h.h_deployment_id, v.digest, v.revoke_time FROM h CROSS JOIN v "
    "ORDER BY v.ord"};

constexpr PgStatement kRecordUsage = {
    "record_usage",
    "UPDATE tokens t SET last_used_time = u.time, "
    "last_used_verifier = u.verifier, last_used_client = u.client "
    "FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) "
    "AS u(id, time, verifier, client) "
    "WHERE t.id = u.id AND (t.last_used_time IS NULL OR "
    "t.last_used_time < u.time)"};

constexpr PgStatement kInsertAudit = {
    "insert_audit",
    "WITH a AS (INSERT INTO audit_log (" PG_AUDIT_COLUMNS
    ") VALUES ($1::bigint, $2::text, $3::text, $4::text, $5::text, "
    "$6::text, $7::text) RETURNING id, time) "
    "INSERT INTO notification_outbox (audit_id, next_attempt) "
    "SELECT id, COALESCE(time, " PG_MIN_BIGINT
    ") FROM a "
    "WHERE $8::boolean"};

// The token's deployment (and last_reuse_time moved forward) when it exists,
// else that of one of its revoked values; the audit row only when either was
// found. $1 token id, $2 sighting time, $3..$8 the audit row without its
// deployment, $9 the outbox flag.
constexpr PgStatement kRecordReuse = {
    "record_reuse",
    "WITH u AS (UPDATE tokens SET last_reuse_time = "
    "GREATEST(last_reuse_time, $2::bigint) WHERE id = $1::text "
    "RETURNING deployment_id), "
    "d AS (SELECT deployment_id, true AS token_exists FROM u UNION ALL "
    "(SELECT deployment_id, false FROM revoked_values WHERE token_id = "
    "$1::text AND NOT EXISTS (SELECT 1 FROM u) LIMIT 1)), "
    "a AS (INSERT INTO audit_log (" PG_AUDIT_COLUMNS
    ") SELECT $3::bigint, $4::text, $5::text, $6::text, d.deployment_id, "
    "$7::text, $8::text FROM d RETURNING id, time), " PG_QUEUE_AUDIT(
        "$9") "SELECT deployment_id, token_exists FROM d"};

// Tokens that crossed a threshold, with their lowest notice so far.
constexpr PgStatement kSelectExpiring = {
    "select_expiring",
    "SELECT t.id, t.deployment_id, t.expire_time, "
    "(SELECT min(n.days) FROM expiry_notices n WHERE n.token_id = t.id) "
    "FROM tokens t WHERE t.expire_time IS NOT NULL AND "
    "t.expire_time <= $1::bigint ORDER BY t.id"};

// Records the notices whose token still has the expiry they were computed
// for; a notice another sweep recorded first is skipped (the primary key).
constexpr PgStatement kInsertNotices = {
    "insert_notices",
    "INSERT INTO expiry_notices (token_id, days) SELECT u.token_id, u.days "
    "FROM unnest($1::text[], $2::integer[], $3::bigint[]) WITH ORDINALITY "
    "AS u(token_id, days, expire_time, ord) JOIN tokens t ON "
    "t.id = u.token_id AND t.expire_time = u.expire_time ORDER BY u.ord "
    "ON CONFLICT DO NOTHING RETURNING token_id, days"};

constexpr PgStatement kCountExpiring = {
    "count_expiring",
    "SELECT count(*) FROM tokens WHERE expire_time < $1::bigint"};

// Claims due rows: locked ones (another notifier claiming them right now)
// are skipped, and a row claimed meanwhile is no longer due when re-checked.
constexpr PgStatement kClaimNotifications = {
    "claim_notifications",
    "WITH c AS (UPDATE notification_outbox SET next_attempt = $2::bigint "
    "WHERE audit_id IN (SELECT audit_id FROM notification_outbox "
    "WHERE next_attempt <= $1::bigint ORDER BY audit_id LIMIT $3::bigint "
    "FOR UPDATE SKIP LOCKED) RETURNING audit_id, attempts) "
    "SELECT a.id, a.time, a.principal, a.action, a.token_id, "
    "a.deployment_id, a.outcome, a.detail, c.attempts FROM c "
    "JOIN audit_log a ON a.id = c.audit_id ORDER BY a.id"};

constexpr PgStatement kCompleteNotification = {
    "complete_notification",
    "DELETE FROM notification_outbox WHERE audit_id = $1::bigint"};

constexpr PgStatement kRetryNotification = {
    "retry_notification",
    "UPDATE notification_outbox SET attempts = attempts + 1, "
    "next_attempt = $2::bigint WHERE audit_id = $1::bigint"};

constexpr PgStatement kListAudit = {
    "list_audit",
    "SELECT id, " PG_AUDIT_COLUMNS
    " FROM audit_log WHERE deployment_id = $1::text AND id < $2::bigint "
    "ORDER BY id DESC LIMIT $3::bigint"};

constexpr PgStatement kSelectRevision = {"select_revision",
                                         "SELECT value FROM revision_counter"};

// The counter, the trim mark and the changes in one statement (one snapshot).
// No rows come back when the reader cannot catch up. Two statements so that
// the filtered one uses the deployment index and the other the primary key.
constexpr PgStatement kSelectChanges = {
    "select_changes",
    "SELECT c.value, c.trimmed_through, l.* FROM revision_counter c "
    "LEFT JOIN LATERAL (SELECT " PG_CHANGE_COLUMNS
    " FROM change_log WHERE revision > $1::bigint "
    "AND $1::bigint >= c.trimmed_through AND $1::bigint <= c.value "
    "ORDER BY revision LIMIT $2::bigint) l ON true ORDER BY l.revision"};

constexpr PgStatement kSelectDeploymentChanges = {
    "select_deployment_changes",
    "SELECT c.value, c.trimmed_through, l.* FROM revision_counter c "
    "LEFT JOIN LATERAL (SELECT " PG_CHANGE_COLUMNS
    " FROM change_log WHERE deployment_id = $3::text AND revision > $1::bigint "
    "AND $1::bigint >= c.trimmed_through AND $1::bigint <= c.value "
    "ORDER BY revision LIMIT $2::bigint) l ON true ORDER BY l.revision"};

// The revision and the tokens in one statement; the revoked values in a second
// one of the same (REPEATABLE READ) transaction.
#define PG_SNAPSHOT_COLUMNS                                     \
  "c.value, 'upsert', t.id, t.deployment_id, t.secret_digest, " \
  "t.expire_time, t.previous_digest, t.previous_valid_until, NULL::bytea"
constexpr PgStatement kSelectSnapshot = {
    "select_snapshot", "SELECT " PG_SNAPSHOT_COLUMNS
                       " FROM revision_counter c LEFT JOIN tokens t ON true "
                       "ORDER BY t.id"};

constexpr PgStatement kSelectDeploymentSnapshot = {
    "select_deployment_snapshot",
    "SELECT " PG_SNAPSHOT_COLUMNS
    " FROM revision_counter c LEFT JOIN tokens t "
    "ON t.deployment_id = $1::text ORDER BY t.id"};

constexpr PgStatement kSelectRevoked = {
    "select_revoked",
    "SELECT digest, token_id, deployment_id, revoke_time FROM revoked_values "
    "ORDER BY digest"};

constexpr PgStatement kSelectDeploymentRevoked = {
    "select_deployment_revoked",
    "SELECT digest, token_id, deployment_id, revoke_time FROM revoked_values "
    "WHERE deployment_id = $1::text ORDER BY digest"};

constexpr PgStatement kStoreRetention = {
    "store_retention",
    "INSERT INTO settings (name, value) VALUES ($1::text, $2::bytea) "
    "ON CONFLICT (name) DO NOTHING"};

constexpr PgStatement kSelectSetting = {
    "select_setting", "SELECT value FROM settings WHERE name = $1::text"};

#undef PG_SNAPSHOT_COLUMNS
#undef PG_REMEMBER_REVOKED
#undef PG_QUEUE_AUDIT
#undef PG_MIN_BIGINT
#undef PG_CHANGE_COLUMNS
#undef PG_AUDIT_COLUMNS
#undef PG_TOKEN_VALUES
#undef PG_TOKEN_COLUMNS

// A revoked value returned by kRotateToken or kDeleteToken: its digest and
// revoke_time at `column`, `column` + 1.
absl::StatusOr<RevokedValue> RevokedFromResult(
    const PgResult& rows, int row, int column, const std::string& token_id,
    const std::string& deployment_id) {
  RevokedValue value;
  RETURN_IF_ERROR(ReadDigest(rows, row, column, &value.digest));
  ASSIGN_OR_RETURN(int64_t micros, rows.Int(row, column + 1));
  value.revoke_time = DecodeTime(micros);
  value.token_id = token_id;
  value.deployment_id = deployment_id;
  return value;
}

// A password in a libpq message would be quoted: never show quoted parts.
std::string RedactQuoted(const std::string& message) {
  std::string out;
  bool quoted = false;
  for (char c : message) {
    if (c == '"') {
      out.append(quoted ? "\"" : "\"...");
      quoted = !quoted;
    } else if (!quoted && c != '\n') {
      out.push_back(c);
    }
  }
  return out;
}

absl::Status CheckUrl(const std::string& url) {
  if (url.empty()) {
    return absl::InvalidArgumentError(
        "--database is empty: give a PostgreSQL URL such as "
        "postgresql://user@host:5432/dbname");
  }
  char* error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(url.c_str(), &error);
  if (parsed == nullptr) {
    std::string reason = error != nullptr ? RedactQuoted(error) : "";
    PQfreemem(error);
    return absl::InvalidArgumentError(absl::StrCat(
        "--database is not a valid PostgreSQL URL or connection string",
        reason.empty() ? "" : ": ", reason));
  }
  PQconninfoFree(parsed);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresTokenStore>> PostgresTokenStore::Open(
    const PostgresTokenStoreOptions& options) {
  RETURN_IF_ERROR(CheckUrl(options.url));
  if (options.pool_size < 1) {
    return absl::InvalidArgumentError("pool_size must be at least 1");
  }
  if (options.change_retention < 1) {
    return absl::InvalidArgumentError("change_retention must be at least 1");
  }
  if (options.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("connect_timeout must be positive");
  }
  if (options.poll_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("poll_interval must be positive");
  }
  if (options.revoked_retention < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("revoked_retention must not be negative");
  }
  auto store = absl::WrapUnique(new PostgresTokenStore(options));
  // One attempt now; an unreachable server leaves the store lazy.
  absl::StatusOr<PgPool::Lease> lease = store->pool_->Acquire();
  if (!lease.ok() && lease.status().code() != absl::StatusCode::kUnavailable) {
    return lease.status();
  }
  return store;
}

PostgresTokenStore::PostgresTokenStore(const PostgresTokenStoreOptions& options)
    : options_(options), change_retention_(options.change_retention) {
  PgConnectOptions connect;
  connect.url = options.url;
  connect.connect_timeout = options.connect_timeout;
  pool_ = std::make_unique<PgPool>(
      connect, options.pool_size,
      [this](PgConnection& conn) { return SetUpConnection(conn); });
  group_commit_ = std::make_unique<PgGroupCommit>(
      [this](const std::function<absl::Status(PgConnection&, bool*)>& fn) {
        return Run(fn);
      },
      [this] { return change_retention_.load(std::memory_order_relaxed); },
      std::min(kMaxBatchesInFlight, options.pool_size));
}

PostgresTokenStore::~PostgresTokenStore() {
  {
    absl::MutexLock lock(&watch_mu_);
    watcher_.reset();
  }
  group_commit_.reset();
  pool_.reset();
}

absl::Status PostgresTokenStore::SetUpConnection(PgConnection& conn) {
  if (ready_.load(std::memory_order_acquire)) return absl::OkStatus();
  absl::MutexLock lock(&init_mu_);
  if (ready_.load(std::memory_order_relaxed)) return absl::OkStatus();
  RETURN_IF_ERROR(MigratePostgresSchema(conn));
  RETURN_IF_ERROR(LoadRetention(conn));
  ready_.store(true, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status PostgresTokenStore::LoadRetention(PgConnection& conn) {
  RETURN_IF_ERROR(
      conn.Exec(kStoreRetention,
                {PgParam::Text(kRetentionSetting),
                 PgParam::Bytes(absl::StrCat(options_.change_retention))})
          .status());
  ASSIGN_OR_RETURN(
      PgResult stored,
      conn.Exec(kSelectSetting, {PgParam::Text(kRetentionSetting)}));
  int64_t retention = 0;
  if (stored.rows() != 1) return absl::InternalError("no change_retention");
  ASSIGN_OR_RETURN(std::string text, stored.Bytes(0, 0));
  if (!absl::SimpleAtoi(text, &retention) || retention < 1) {
    return absl::InternalError("malformed change_retention in database");
  }
  change_retention_.store(retention, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status PostgresTokenStore::Run(
    const std::function<absl::Status(PgConnection&, bool*)>& fn) {
  absl::Status status;
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<PgPool::Lease> lease = pool_->Acquire();
    if (!lease.ok()) {
      // Whatever kept the connection from being made (unreachable, a refused
      // login, a newer schema) is a fault of the database for this call.
      if (lease.status().code() == absl::StatusCode::kUnavailable) {
        return lease.status();
      }
      return absl::UnavailableError(
          absl::StrCat("database not usable: ", lease.status().message()));
    }
    bool in_doubt = false;
    status = fn(**lease, &in_doubt);
    if (status.ok()) return status;
    if (!(*lease)->ok()) {
      // The connection broke: its idle siblings are likely stale too (a
      // server restart). Retry on a fresh one unless the commit is in doubt.
      const bool reused = lease->reused();
      pool_->DropIdle();
      if (in_doubt) {
        return absl::UnavailableError(absl::StrCat(
            status.message(),
            "; the connection broke during COMMIT, so the change may or may "
            "not have been committed"));
      }
      if (reused && attempt < kMaxAttempts) continue;
      return status;
    }
    if (IsRetryableStatus(status)) {
      if (attempt < kMaxAttempts) continue;
      return RetriesExhausted(status, attempt);
    }
    return status;
  }
}

bool PostgresTokenStore::Queues(const AuditEntry& audit) const {
  return options_.notification_outbox &&
         QueuesNotification(audit.action, audit.outcome);
}

absl::Status PostgresTokenStore::InTransaction(
    const std::function<absl::Status(PgConnection&)>& body, const char* begin) {
  return Run([&](PgConnection& conn, bool* in_doubt) -> absl::Status {
    RETURN_IF_ERROR(conn.ExecScript(begin, "begin"));
    absl::Status status = body(conn);
    if (status.ok()) {
      *in_doubt = true;
      status = conn.ExecScript("COMMIT", "commit");
    }
    if (!status.ok() && conn.ok() &&
        PQtransactionStatus(conn.raw()) != PQTRANS_IDLE) {
      // The caller needs the first error; if ROLLBACK fails too, the
      // connection is not reusable and the pool closes it.
      conn.ExecScript("ROLLBACK", "rollback").IgnoreError();
    }
    return status;
  });
}

absl::StatusOr<int64_t> PostgresTokenStore::Create(const TokenRecord& record,
                                                   const AuditEntry& audit) {
  if (IsInfinite(record.create_time)) {
    return absl::InvalidArgumentError("create_time must be set");
  }
  PgWrite write;
  write.statement = kCreateToken;
  AppendTokenParams(record, &write.params);
  AppendAuditParams(audit, &write.params);
  write.notify = Queues(audit);
  write.params.push_back(PgParam::Bool(write.notify));
  write.create = &record;
  write.create_audit = &audit;
  write.on_create = [&](bool inserted) -> absl::StatusOr<TokenChange> {
    if (!inserted) {
      return absl::AlreadyExistsError(
          absl::StrCat("token ", record.id, " or its digest already exists"));
    }
    return UpsertChange(record);
  };
  write.on_result = [&](const PgResult& rows) {
    return write.on_create(rows.rows() > 0);
  };
  return group_commit_->Write(write);
}

absl::StatusOr<TokenRecord> PostgresTokenStore::Get(const std::string& id) {
  TokenRecord token;
  RETURN_IF_ERROR(Run([&](PgConnection& conn, bool*) -> absl::Status {
    ASSIGN_OR_RETURN(PgResult row,
                     conn.Exec(kSelectToken, {PgParam::Text(id)}));
    if (row.rows() == 0) return TokenNotFound(id);
    ASSIGN_OR_RETURN(token, TokenFromRow(row, 0, 0));
    return absl::OkStatus();
  }));
  return token;
}

absl::StatusOr<TokenRecord> PostgresTokenStore::FindByDigest(
    const Digest& digest, absl::Time now) {
  TokenRecord token;
  RETURN_IF_ERROR(Run([&](PgConnection& conn, bool*) -> absl::Status {
    ASSIGN_OR_RETURN(
        PgResult row,
        conn.Exec(kSelectTokenByDigest,
                  {DigestParam(digest), TimeParam(now, absl::InfinitePast())}));
    if (row.rows() == 0) return DigestNotFound();
    ASSIGN_OR_RETURN(token, TokenFromRow(row, 0, 0));
    return absl::OkStatus();
  }));
  return token;
}

absl::StatusOr<TokenPage> PostgresTokenStore::List(const ListQuery& query) {
  RETURN_IF_ERROR(CheckLimit(query.limit));
  const PgStatement* statement = nullptr;
  switch (query.order) {
    case TokenOrder::kCreateTime:
      statement = &kListByCreateTime;
      break;
    case TokenOrder::kExpireTime:
      statement = &kListByExpireTime;
      break;
    case TokenOrder::kName:
      statement = &kListByName;
      break;
    case TokenOrder::kLastUsedTime:
      statement = &kListByLastUsedTime;
      break;
  }
  if (statement == nullptr) {
    return absl::InvalidArgumentError("unknown list order");
  }
  // An empty cursor id starts before every key.
  const bool start = query.after.id.empty();
  std::vector<PgParam> params = {
      PgParam::Text(query.deployment_id),
      query.order == TokenOrder::kName
          ? PgParam::Text(start ? std::string() : query.after.name)
          : PgParam::Int(start ? std::numeric_limits<int64_t>::min()
                               : EncodeTime(query.after.time)),
      PgParam::Text(query.after.id),
      // One extra row tells whether another page follows.
      PgParam::Int(static_cast<int64_t>(query.limit) + 1),
      TimeParam(query.expire_before, absl::InfiniteFuture())};
  TokenPage page;
  RETURN_IF_ERROR(Run([&](PgConnection& conn, bool*) -> absl::Status {
    page = TokenPage();
    ASSIGN_OR_RETURN(PgResult rows, conn.Exec(*statement, params));
    if (rows.rows() == 0) return absl::InternalError("no token count");
    ASSIGN_OR_RETURN(int64_t total, rows.Int(0, 0));
    page.total_size = static_cast<int32_t>(total);
    for (int i = 0; i < rows.rows(); ++i) {
      if (rows.IsNull(i, 1)) continue;  // The count row of an empty page.
      if (page.tokens.size() == static_cast<size_t>(query.limit)) {
        page.more = true;
        break;
      }
      ASSIGN_OR_RETURN(TokenRecord token, TokenFromRow(rows, i, 1));
      page.tokens.push_back(std::move(token));
    }
    return absl::OkStatus();
  }));
  return page;
}

absl::StatusOr<TokenRecord> PostgresTokenStore::Update(
    const std::string& id, const TokenUpdate& update, const AuditEntry& audit) {
  PgWrite write;
  write.statement = kUpdateToken;
  write.params = {PgParam::Text(id), PgParam::OptionalText(update.name),
                  PgParam::OptionalText(update.description),
                  TimeParam(update.now, absl::InfinitePast()),
                  PgParam::Text(update.updated_by)};
  AppendAuditParams(audit, &write.params);
  write.params.push_back(PgParam::Bool(Queues(audit)));
  TokenRecord result;
  write.on_result = [&](const PgResult& row) -> absl::StatusOr<TokenChange> {
    if (row.rows() == 0) return TokenNotFound(id);
    ASSIGN_OR_RETURN(result, TokenFromRow(row, 0, 0));
    return UpsertChange(result);
  };
  RETURN_IF_ERROR(group_commit_->Write(write).status());
  return result;
}

absl::StatusOr<TokenRecord> PostgresTokenStore::Rotate(
    const std::string& id, const Rotation& rotation, const AuditEntry& audit) {
  const bool grace = rotation.previous_valid_until.has_value();
  PgWrite write;
  write.statement = kRotateToken;
  write.params = {
      PgParam::Text(id),
      PgParam::Bool(grace),
      grace ? TimeParam(*rotation.previous_valid_until, absl::InfinitePast())
            : PgParam::Null(),
      DigestParam(rotation.new_digest),
      PgParam::Text(rotation.short_token),
      TimeParam(rotation.expire_time, absl::InfiniteFuture()),
      TimeParam(rotation.now, absl::InfinitePast()),
      PgParam::Text(rotation.updated_by)};
  AppendAuditParams(audit, &write.params);
  write.params.push_back(PgParam::Bool(Queues(audit)));
  // The rule of RevokedByRotation (token_hygiene.h), in kRotateToken.
  write.params.push_back(PgParam::Int(
      EncodeTime(rotation.previous_valid_until.value_or(rotation.now))));
  write.params.push_back(PgParam::Int(EncodeTime(rotation.now)));
  write.params.push_back(
      PgParam::Int(EncodeTime(rotation.now - options_.revoked_retention)));
  TokenRecord result;
  write.on_result = [&](const PgResult& rows) -> absl::StatusOr<TokenChange> {
    if (rows.rows() == 0) return TokenNotFound(id);
    ASSIGN_OR_RETURN(result, TokenFromRow(rows, 0, 0));
    TokenChange change = UpsertChange(result);
    for (int i = 0; i < rows.rows(); ++i) {
      ASSIGN_OR_RETURN(RevokedValue value,
                       RevokedFromResult(rows, i, kPgTokenColumnCount,
                                         result.id, result.deployment_id));
      change.revoked.push_back(std::move(value));
    }
    return change;
  };
  write.on_error = [](const absl::Status& error) -> absl::Status {
    if (error.code() == absl::StatusCode::kAlreadyExists) {
      return absl::AlreadyExistsError(
          "the new digest of the rotation is already taken");
    }
    return error;
  };
  RETURN_IF_ERROR(group_commit_->Write(write).status());
  return result;
}

absl::StatusOr<int64_t> PostgresTokenStore::Delete(const std::string& id,
                                                   const AuditEntry& audit) {
  PgWrite write;
  write.statement = kDeleteToken;
  write.params = {
      PgParam::Text(id), TimeParam(audit.time, absl::InfinitePast()),
      PgParam::Text(audit.principal), PgParam::Text(audit.action),
      PgParam::Text(audit.token_id), PgParam::Text(audit.outcome),
      PgParam::Text(audit.detail), PgParam::Bool(Queues(audit)),
      // A deletion happens at its audit row's time.
      PgParam::Int(EncodeTime(audit.time)),
      PgParam::Int(EncodeTime(audit.time - options_.revoked_retention))};
  write.on_result = [&](const PgResult& rows) -> absl::StatusOr<TokenChange> {
    if (rows.rows() == 0) return TokenNotFound(id);
    TokenChange change = DeleteChange(id, rows.Text(0, 0));
    for (int i = 0; i < rows.rows(); ++i) {
      ASSIGN_OR_RETURN(
          RevokedValue value,
          RevokedFromResult(rows, i, 1, change.token_id, change.deployment_id));
      change.revoked.push_back(std::move(value));
    }
    return change;
  };
  return group_commit_->Write(write);
}

absl::Status PostgresTokenStore::RecordAudit(const AuditEntry& audit) {
  std::vector<PgParam> params;
  AppendAuditParams(audit, &params);
  params.push_back(PgParam::Bool(Queues(audit)));
  return Run([&](PgConnection& conn, bool* in_doubt) -> absl::Status {
    *in_doubt = true;  // Autocommit: the statement is its own COMMIT.
    return conn.Exec(kInsertAudit, params).status();
  });
}

absl::StatusOr<std::vector<AuditEntry>> PostgresTokenStore::ListAudit(
    const std::string& deployment_id, int64_t before_id, int32_t limit) {
  RETURN_IF_ERROR(CheckLimit(limit));
  std::vector<AuditEntry> entries;
  RETURN_IF_ERROR(Run([&](PgConnection& conn, bool*) -> absl::Status {
    entries.clear();
    ASSIGN_OR_RETURN(
        PgResult rows,
        conn.Exec(
            kListAudit,
            {PgParam::Text(deployment_id),
             PgParam::Int(before_id > 0 ? before_id
                                        : std::numeric_limits<int64_t>::max()),
             PgParam::Int(limit)}));
    for (int i = 0; i < rows.rows(); ++i) {
      ASSIGN_OR_RETURN(AuditEntry entry, AuditFromRow(rows, i, 0));
      entries.push_back(std::move(entry));
    }
    return absl::OkStatus();
  }));
  return entries;
}

absl::StatusOr<ChangeBatch> PostgresTokenStore::ReadChanges(
    int64_t since_revision, const std::string& deployment_id, int32_t limit) {
  RETURN_IF_ERROR(CheckLimit(limit));
  if (since_revision < 0) {
    return absl::InvalidArgumentError("since_revision must not be negative");
  }
  ChangeBatch batch;
  RETURN_IF_ERROR(Run([&](PgConnection& conn, bool*) -> absl::Status {
    batch = ChangeBatch();
    std::vector<PgParam> params = {
        PgParam::Int(since_revision),
        // One extra row tells how far the reader is up to date when the batch
        // is full.
        PgParam::Int(static_cast<int64_t>(limit) + 1)};
    if (!deployment_id.empty()) params.push_back(PgParam::Text(deployment_id));
    ASSIGN_OR_RETURN(PgResult rows,
                     conn.Exec(deployment_id.empty() ? kSelectChanges
                                                     : kSelectDeploymentChanges,
                               params));
    if (rows.rows() == 0) return absl::InternalError("no revision counter row");
    ASSIGN_OR_RETURN(int64_t current, rows.Int(0, 0));
    ASSIGN_OR_RETURN(int64_t trimmed_through, rows.Int(0, 1));
    batch.up_to_revision = current;
    // Changes in (since_revision, trimmed_through] are gone: the reader
    // cannot catch up.
    if (since_revision > current || since_revision < trimmed_through) {
      batch.complete = false;
      return absl::OkStatus();
    }
    for (int i = 0; i < rows.rows(); ++i) {
      if (rows.IsNull(i, 2)) continue;  // No change after since_revision.
      if (batch.changes.size() == static_cast<size_t>(limit)) {
        // Nothing the reader wants lies between the last change and this one.
        ASSIGN_OR_RETURN(int64_t next, rows.Int(i, 2));
        batch.up_to_revision = next - 1;
        break;
      }
      ASSIGN_OR_RETURN(TokenChange change, ChangeFromRow(rows, i, 2));
      batch.changes.push_back(std::move(change));
    }
    return absl::OkStatus();
  }));
  return batch;
}

absl::StatusOr<Snapshot> PostgresTokenStore::ReadSnapshot(
    const std::string& deployment_id) {
  Snapshot snapshot;
  RETURN_IF_ERROR(InTransaction(
      [&](PgConnection& conn) -> absl::Status {
        snapshot = Snapshot();
        std::vector<PgParam> params;
        if (!deployment_id.empty())
          params.push_back(PgParam::Text(deployment_id));
        ASSIGN_OR_RETURN(
            PgResult rows,
            conn.Exec(deployment_id.empty() ? kSelectSnapshot
                                            : kSelectDeploymentSnapshot,
                      params));
        if (rows.rows() == 0)
          return absl::InternalError("no revision counter row");
        ASSIGN_OR_RETURN(snapshot.revision, rows.Int(0, 0));
        snapshot.tokens.reserve(static_cast<size_t>(rows.rows()));
        for (int i = 0; i < rows.rows(); ++i) {
          if (rows.IsNull(i, 2))
            continue;  // The counter row of an empty store.
          ASSIGN_OR_RETURN(TokenChange token, ChangeFromRow(rows, i, 0));
          snapshot.tokens.push_back(std::move(token));
        }
        ASSIGN_OR_RETURN(
            PgResult revoked,
            conn.Exec(deployment_id.empty() ? kSelectRevoked
                                            : kSelectDeploymentRevoked,
                      params));
        snapshot.revoked.reserve(static_cast<size_t>(revoked.rows()));
        for (int i = 0; i < revoked.rows(); ++i) {
          ASSIGN_OR_RETURN(RevokedValue value, RevokedFromRow(revoked, i, 0));
          snapshot.revoked.push_back(std::move(value));
        }
        return absl::OkStatus();
      },
      "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
  return snapshot;
}

absl::StatusOr<int64_t> PostgresTokenStore::CurrentRevision() {
  int64_t revision = 0;
  RETURN_IF_ERROR(Run([&](PgConnection& conn, bool*) -> absl::Status {
    ASSIGN_OR_RETURN(PgResult row, conn.Exec(kSelectRevision));
    if (row.rows() != 1) return absl::InternalError("no revision counter row");
    ASSIGN_OR_RETURN(revision, row.Int(0, 0));
    return absl::OkStatus();
  }));
  return revision;
}

absl::Status PostgresTokenStore::RecordUsage(
    const std::vector<TokenUsageRecord>& usages) {
  // The latest use per id (the first of equal ones, as applying them in
  // order would keep), in id order.
  std::map<std::string, const TokenUsageRecord*> latest;
  for (const TokenUsageRecord& usage : usages) {
    if (IsInfinite(usage.last_used_time)) continue;
    auto [it, inserted] = latest.emplace(usage.token_id, &usage);
    if (!inserted && it->second->last_used_time < usage.last_used_time) {
      it->second = &usage;
    }
  }
  if (latest.empty()) return absl::OkStatus();
  PgArrayLiteral ids, times, verifiers, clients;
  for (const auto& [id, usage] : latest) {
    ids.AddText(id);
    times.AddInt(EncodeTime(usage->last_used_time));
    verifiers.AddText(usage->verifier_name);
    clients.AddText(usage->client_address);
  }
  const std::vector<PgParam> params = {ids.Param(), times.Param(),
                                       verifiers.Param(), clients.Param()};
  // One statement: retried as a whole after a deadlock with another
  // RecordUsage; moving a time forward twice is harmless.
  return Run([&](PgConnection& conn, bool*) -> absl::Status {
    return conn.Exec(kRecordUsage, params).status();
  });
}

absl::StatusOr<ReuseOutcome> PostgresTokenStore::RecordReuse(
    const ReuseSighting& sighting, const AuditEntry& audit) {
  const std::vector<PgParam> params = {
      PgParam::Text(sighting.token_id),
      PgParam::Int(EncodeTime(sighting.time)),
      TimeParam(audit.time, absl::InfinitePast()),
      PgParam::Text(audit.principal),
      PgParam::Text(audit.action),
      PgParam::Text(audit.token_id),
      PgParam::Text(audit.outcome),
      PgParam::Text(audit.detail),
      PgParam::Bool(Queues(audit))};
  ReuseOutcome outcome;
  RETURN_IF_ERROR(Run([&](PgConnection& conn, bool* in_doubt) -> absl::Status {
    *in_doubt = true;  // Autocommit: the statement is its own COMMIT.
    ASSIGN_OR_RETURN(PgResult row, conn.Exec(kRecordReuse, params));
    if (row.rows() == 0) return TokenNotFound(sighting.token_id);
    outcome.deployment_id = row.Text(0, 0);
    outcome.token_exists = row.Text(0, 1) == "t";
    return absl::OkStatus();
  }));
  return outcome;
}

absl::StatusOr<std::vector<ExpiryNotice>>
PostgresTokenStore::RecordExpiryNotices(
    absl::Time now, const std::vector<int32_t>& thresholds_days,
    const std::string& principal) {
  RETURN_IF_ERROR(CheckExpiryThresholds(thresholds_days));
  std::vector<ExpiryNotice> recorded;
  RETURN_IF_ERROR(InTransaction([&](PgConnection& conn) -> absl::Status {
    recorded.clear();
    ASSIGN_OR_RETURN(
        PgResult rows,
        conn.Exec(
            kSelectExpiring,
            {PgParam::Int(EncodeTime(ExpiryHorizon(now, thresholds_days)))}));
    std::map<std::string, ExpiryNotice> due;
    PgArrayLiteral ids, days, expire_times;
    for (int i = 0; i < rows.rows(); ++i) {
      ExpiryNotice notice;
      notice.token_id = rows.Text(i, 0);
      notice.deployment_id = rows.Text(i, 1);
      ASSIGN_OR_RETURN(notice.expire_time,
                       ReadTime(rows, i, 2, absl::InfiniteFuture()));
      std::optional<int32_t> crossed =
          CrossedExpiryThreshold(notice.expire_time, now, thresholds_days);
      if (!crossed.has_value()) continue;
      if (!rows.IsNull(i, 3)) {
        // A notice of this threshold or a later one was already sent.
        ASSIGN_OR_RETURN(int64_t lowest, rows.Int(i, 3));
        if (lowest <= *crossed) continue;
      }
      notice.days = *crossed;
      ids.AddText(notice.token_id);
      days.AddInt(notice.days);
      expire_times.AddInt(EncodeTime(notice.expire_time));
      due.emplace(notice.token_id, std::move(notice));
    }
    if (due.empty()) return absl::OkStatus();
    ASSIGN_OR_RETURN(PgResult inserted,
                     conn.Exec(kInsertNotices, {ids.Param(), days.Param(),
                                                expire_times.Param()}));
    std::vector<std::string> won;
    for (int i = 0; i < inserted.rows(); ++i)
      won.push_back(inserted.Text(i, 0));
    std::sort(won.begin(), won.end());
    for (const std::string& id : won) {
      auto it = due.find(id);
      if (it == due.end()) return absl::InternalError("unexpected notice");
      const AuditEntry audit = ExpiryNoticeAudit(it->second, now, principal);
      std::vector<PgParam> params;
      AppendAuditParams(audit, &params);
      params.push_back(PgParam::Bool(Queues(audit)));
      RETURN_IF_ERROR(conn.Exec(kInsertAudit, params).status());
      recorded.push_back(it->second);
    }
    return absl::OkStatus();
  }));
  return recorded;
}

absl::StatusOr<int64_t> PostgresTokenStore::CountTokensExpiringBefore(
    absl::Time before) {
  int64_t count = 0;
  RETURN_IF_ERROR(Run([&](PgConnection& conn, bool*) -> absl::Status {
    ASSIGN_OR_RETURN(
        PgResult row,
        conn.Exec(kCountExpiring, {PgParam::Int(EncodeTime(before))}));
    if (row.rows() != 1) return absl::InternalError("no count row");
    ASSIGN_OR_RETURN(count, row.Int(0, 0));
    return absl::OkStatus();
  }));
  return count;
}

absl::StatusOr<std::vector<PendingNotification>>
PostgresTokenStore::ClaimNotifications(absl::Time now, absl::Duration lease,
                                       int32_t limit) {
  RETURN_IF_ERROR(CheckLimit(limit));
  const std::vector<PgParam> params = {PgParam::Int(EncodeTime(now)),
                                       PgParam::Int(EncodeTime(now + lease)),
                                       PgParam::Int(limit)};
  std::vector<PendingNotification> claimed;
  RETURN_IF_ERROR(Run([&](PgConnection& conn, bool* in_doubt) -> absl::Status {
    claimed.clear();
    *in_doubt = true;  // Autocommit: the statement is its own COMMIT.
    ASSIGN_OR_RETURN(PgResult rows, conn.Exec(kClaimNotifications, params));
    for (int i = 0; i < rows.rows(); ++i) {
      PendingNotification pending;
      ASSIGN_OR_RETURN(pending.event, AuditFromRow(rows, i, 0));
      ASSIGN_OR_RETURN(int64_t attempts, rows.Int(i, 8));
      pending.attempts = static_cast<int32_t>(attempts);
      claimed.push_back(std::move(pending));
    }
    return absl::OkStatus();
  }));
  return claimed;
}

absl::Status PostgresTokenStore::CompleteNotification(int64_t audit_id) {
  return Run([&](PgConnection& conn, bool*) -> absl::Status {
    return conn.Exec(kCompleteNotification, {PgParam::Int(audit_id)}).status();
  });
}

absl::Status PostgresTokenStore::RetryNotification(int64_t audit_id,
                                                   absl::Time next_attempt) {
  return Run([&](PgConnection& conn, bool* in_doubt) -> absl::Status {
    *in_doubt = true;  // Autocommit: the statement is its own COMMIT.
    return conn
        .Exec(kRetryNotification,
              {PgParam::Int(audit_id), PgParam::Int(EncodeTime(next_attempt))})
        .status();
  });
}

absl::Status PostgresTokenStore::WatchExternalCommits(
    std::function<void()> wake) {
  absl::MutexLock lock(&watch_mu_);
  if (watcher_ != nullptr) {
    return absl::FailedPreconditionError(
        "WatchExternalCommits may be called only once");
  }
  PgConnectOptions connect;
  connect.url = options_.url;
  connect.connect_timeout = options_.connect_timeout;
  watcher_ = std::make_unique<PgCommitWatcher>(
      connect, kNotifyChannel, options_.poll_interval, std::move(wake));
  return absl::OkStatus();
}

}  // namespace tokens
