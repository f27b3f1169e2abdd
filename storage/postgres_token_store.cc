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

namespace tokens {
namespace {

// The token columns in the order of AppendTokenParams and TokenFromRow.
#define PG_TOKEN_COLUMNS                                                     \
  "id, deployment_id, name, description, short_token, expiration_days, "     \
  "secret_digest, previous_digest, previous_valid_until, create_time, "      \
  "update_time, expire_time, last_rotate_time, last_used_time, created_by, " \
  "updated_by"
#define PG_TOKEN_VALUES                                             \
  "$1::text, $2::text, $3::text, $4::text, $5::text, $6::integer, " \
  "$7::bytea, $8::bytea, $9::bigint, $10::bigint, $11::bigint, "    \
  "$12::bigint, $13::bigint, $14::bigint, $15::text, $16::text"
// An audit row from parameters $first..$first+6 (time .. detail), for the
// INSERT ... SELECT of the write statements.
#define PG_AUDIT_COLUMNS \
  "time, principal, action, token_id, deployment_id, outcome, detail"
#define PG_CHANGE_COLUMNS                                                 \
  "revision, type, token_id, deployment_id, secret_digest, expire_time, " \
  "previous_digest, previous_valid_until"

constexpr PgStatement kSelectToken = {
    "select_token", "SELECT " PG_TOKEN_COLUMNS " FROM tokens WHERE id = $1"};

// The count and the page in one statement (one snapshot); the count row is
// there even when the page is empty.
constexpr PgStatement kListTokens = {
    "list_tokens",
    "SELECT n.total, t.* FROM "
    "(SELECT count(*) AS total FROM tokens WHERE deployment_id = $1::text) n "
    "LEFT JOIN LATERAL (SELECT " PG_TOKEN_COLUMNS
    " FROM tokens WHERE deployment_id = $1::text "
    "AND (create_time, id) > ($2::bigint, $3::text) "
    "ORDER BY create_time, id LIMIT $4::bigint) t ON true "
    "ORDER BY t.create_time, t.id"};

// Each write statement changes the token row and appends its audit row (only
// when the row changed); PgGroupCommit adds the change-log row. A taken id or
// digest makes Create insert nothing (ON CONFLICT DO NOTHING) rather than
// fail, so that it fails alone inside a batch.
constexpr PgStatement kCreateToken = {
    "create_token",
    "WITH t AS (INSERT INTO tokens (" PG_TOKEN_COLUMNS
    ") VALUES (" PG_TOKEN_VALUES
    ") ON CONFLICT DO NOTHING RETURNING id), "
    "a AS (INSERT INTO audit_log (" PG_AUDIT_COLUMNS
    ") SELECT $17::bigint, $18::text, $19::text, $20::text, $21::text, "
    "$22::text, $23::text FROM t) "
    "SELECT 1 FROM t"};

constexpr PgStatement kUpdateToken = {
    "update_token",
    "WITH u AS (UPDATE tokens SET name = COALESCE($2::text, name), "
    "description = COALESCE($3::text, description), update_time = "
    "$4::bigint, updated_by = $5::text WHERE id = $1::text "
    "RETURNING " PG_TOKEN_COLUMNS
    "), a AS (INSERT INTO audit_log (" PG_AUDIT_COLUMNS
    ") SELECT $6::bigint, $7::text, $8::text, $9::text, $10::text, "
    "$11::text, $12::text FROM u) "
    "SELECT " PG_TOKEN_COLUMNS " FROM u"};

// The right-hand sides see the row as it was, so previous_digest takes the old
// digest.
constexpr PgStatement kRotateToken = {
    "rotate_token",
    "WITH r AS (UPDATE tokens SET "
    "previous_digest = CASE WHEN $2::boolean THEN secret_digest ELSE NULL END, "
    "previous_valid_until = $3::bigint, secret_digest = $4::bytea, "
    "short_token = $5::text, expire_time = $6::bigint, "
    "last_rotate_time = $7::bigint, update_time = $7::bigint, "
    "updated_by = $8::text WHERE id = $1::text RETURNING " PG_TOKEN_COLUMNS
    "), a AS (INSERT INTO audit_log (" PG_AUDIT_COLUMNS
    ") SELECT $9::bigint, $10::text, $11::text, $12::text, $13::text, "
    "$14::text, $15::text FROM r) "
    "SELECT " PG_TOKEN_COLUMNS " FROM r"};

// The audit row takes the deployment from the deleted row.
constexpr PgStatement kDeleteToken = {
    "delete_token",
    "WITH d AS (DELETE FROM tokens WHERE id = $1::text RETURNING "
    "deployment_id), "
    "a AS (INSERT INTO audit_log (" PG_AUDIT_COLUMNS
    ") SELECT $2::bigint, $3::text, $4::text, $5::text, d.deployment_id, "
    "$6::text, $7::text FROM d) "
    "SELECT deployment_id FROM d"};

constexpr PgStatement kRecordUsage = {
    "record_usage",
    "UPDATE tokens t SET last_used_time = u.time "
    "FROM unnest($1::text[], $2::bigint[]) AS u(id, time) "
    "WHERE t.id = u.id AND (t.last_used_time IS NULL OR "
    "t.last_used_time < u.time)"};

constexpr PgStatement kInsertAudit = {
    "insert_audit",
    "INSERT INTO audit_log (" PG_AUDIT_COLUMNS
    ") VALUES ($1::bigint, $2::text, $3::text, $4::text, $5::text, "
    "$6::text, $7::text)"};

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

// The revision and the tokens in one statement (one snapshot).
#define PG_SNAPSHOT_COLUMNS                                     \
  "c.value, 'upsert', t.id, t.deployment_id, t.secret_digest, " \
  "t.expire_time, t.previous_digest, t.previous_valid_until"
constexpr PgStatement kSelectSnapshot = {
    "select_snapshot", "SELECT " PG_SNAPSHOT_COLUMNS
                       " FROM revision_counter c LEFT JOIN tokens t ON true "
                       "ORDER BY t.id"};

constexpr PgStatement kSelectDeploymentSnapshot = {
    "select_deployment_snapshot",
    "SELECT " PG_SNAPSHOT_COLUMNS
    " FROM revision_counter c LEFT JOIN tokens t "
    "ON t.deployment_id = $1::text ORDER BY t.id"};

constexpr PgStatement kStoreRetention = {
    "store_retention",
    "INSERT INTO settings (name, value) VALUES ($1::text, $2::bytea) "
    "ON CONFLICT (name) DO NOTHING"};

constexpr PgStatement kSelectSetting = {
    "select_setting", "SELECT value FROM settings WHERE name = $1::text"};

#undef PG_SNAPSHOT_COLUMNS
#undef PG_CHANGE_COLUMNS
#undef PG_AUDIT_COLUMNS
#undef PG_TOKEN_VALUES
#undef PG_TOKEN_COLUMNS

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

absl::Status PostgresTokenStore::InTransaction(
    const std::function<absl::Status(PgConnection&)>& body) {
  return Run([&](PgConnection& conn, bool* in_doubt) -> absl::Status {
    RETURN_IF_ERROR(conn.ExecScript("BEGIN", "begin"));
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

absl::StatusOr<TokenPage> PostgresTokenStore::List(
    const std::string& deployment_id, const ListCursor& after, int32_t limit) {
  RETURN_IF_ERROR(CheckLimit(limit));
  TokenPage page;
  RETURN_IF_ERROR(Run([&](PgConnection& conn, bool*) -> absl::Status {
    page = TokenPage();
    // One extra row tells whether another page follows.
    ASSIGN_OR_RETURN(
        PgResult rows,
        conn.Exec(kListTokens,
                  {PgParam::Text(deployment_id),
                   PgParam::Int(EncodeTime(after.create_time)),
                   PgParam::Text(after.id),
                   PgParam::Int(static_cast<int64_t>(limit) + 1)}));
    if (rows.rows() == 0) return absl::InternalError("no token count");
    ASSIGN_OR_RETURN(int64_t total, rows.Int(0, 0));
    page.total_size = static_cast<int32_t>(total);
    for (int i = 0; i < rows.rows(); ++i) {
      if (rows.IsNull(i, 1)) continue;  // The count row of an empty page.
      if (page.tokens.size() == static_cast<size_t>(limit)) {
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
  TokenRecord result;
  write.on_result = [&](const PgResult& row) -> absl::StatusOr<TokenChange> {
    if (row.rows() == 0) return TokenNotFound(id);
    ASSIGN_OR_RETURN(result, TokenFromRow(row, 0, 0));
    return UpsertChange(result);
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
  write.params = {PgParam::Text(id),
                  TimeParam(audit.time, absl::InfinitePast()),
                  PgParam::Text(audit.principal),
                  PgParam::Text(audit.action),
                  PgParam::Text(audit.token_id),
                  PgParam::Text(audit.outcome),
                  PgParam::Text(audit.detail)};
  write.on_result = [&](const PgResult& row) -> absl::StatusOr<TokenChange> {
    if (row.rows() == 0) return TokenNotFound(id);
    return DeleteChange(id, row.Text(0, 0));
  };
  return group_commit_->Write(write);
}

absl::Status PostgresTokenStore::RecordAudit(const AuditEntry& audit) {
  std::vector<PgParam> params;
  AppendAuditParams(audit, &params);
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
  RETURN_IF_ERROR(Run([&](PgConnection& conn, bool*) -> absl::Status {
    snapshot = Snapshot();
    std::vector<PgParam> params;
    if (!deployment_id.empty()) params.push_back(PgParam::Text(deployment_id));
    ASSIGN_OR_RETURN(PgResult rows, conn.Exec(deployment_id.empty()
                                                  ? kSelectSnapshot
                                                  : kSelectDeploymentSnapshot,
                                              params));
    if (rows.rows() == 0) return absl::InternalError("no revision counter row");
    ASSIGN_OR_RETURN(snapshot.revision, rows.Int(0, 0));
    snapshot.tokens.reserve(static_cast<size_t>(rows.rows()));
    for (int i = 0; i < rows.rows(); ++i) {
      if (rows.IsNull(i, 2)) continue;  // The counter row of an empty store.
      ASSIGN_OR_RETURN(TokenChange token, ChangeFromRow(rows, i, 0));
      snapshot.tokens.push_back(std::move(token));
    }
    return absl::OkStatus();
  }));
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
  // The latest use per id, in id order.
  std::map<std::string, int64_t> latest;
  for (const TokenUsageRecord& usage : usages) {
    if (IsInfinite(usage.last_used_time)) continue;
    const int64_t micros = EncodeTime(usage.last_used_time);
    auto [it, inserted] = latest.emplace(usage.token_id, micros);
    if (!inserted) it->second = std::max(it->second, micros);
  }
  if (latest.empty()) return absl::OkStatus();
  PgArrayLiteral ids, times;
  for (const auto& [id, micros] : latest) {
    ids.AddText(id);
    times.AddInt(micros);
  }
  const std::vector<PgParam> params = {ids.Param(), times.Param()};
  // One statement: retried as a whole after a deadlock with another
  // RecordUsage; moving a time forward twice is harmless.
  return Run([&](PgConnection& conn, bool*) -> absl::Status {
    return conn.Exec(kRecordUsage, params).status();
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
