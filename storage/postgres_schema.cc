#include "storage/postgres_schema.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tokens {

const char* const kPostgresMigrations[kPostgresSchemaVersion] = {
    // v1: tokens, the change log for the verifier feed, the audit log, and the
    // revision counter that orders every replica's writes. trimmed_through is
    // the highest revision dropped from change_log by retention.
    R"sql(
CREATE TABLE tokens (
  id text COLLATE "C" PRIMARY KEY,
  deployment_id text COLLATE "C" NOT NULL,
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  short_token text NOT NULL DEFAULT '',
  expiration_days integer NOT NULL DEFAULT 0,
  secret_digest bytea NOT NULL UNIQUE,
  previous_digest bytea,
  previous_valid_until bigint,
  create_time bigint NOT NULL,
  update_time bigint,
  expire_time bigint,
  last_rotate_time bigint,
  last_used_time bigint,
  created_by text NOT NULL DEFAULT '',
  updated_by text NOT NULL DEFAULT ''
);
CREATE INDEX tokens_by_deployment ON tokens (deployment_id, create_time, id);
CREATE TABLE change_log (
  revision bigint PRIMARY KEY,
  type text NOT NULL CHECK (type IN ('upsert', 'delete')),
  token_id text COLLATE "C" NOT NULL,
  deployment_id text COLLATE "C" NOT NULL,
  secret_digest bytea,
  expire_time bigint,
  previous_digest bytea,
  previous_valid_until bigint
);
CREATE INDEX change_log_by_deployment ON change_log (deployment_id, revision);
CREATE TABLE audit_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  time bigint,
  principal text NOT NULL,
  action text NOT NULL,
  token_id text NOT NULL,
  deployment_id text COLLATE "C" NOT NULL,
  outcome text NOT NULL,
  detail text NOT NULL
);
CREATE INDEX audit_log_by_deployment ON audit_log (deployment_id, id);
CREATE TABLE revision_counter (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  value bigint NOT NULL,
  trimmed_through bigint NOT NULL
);
INSERT INTO revision_counter (value, trimmed_through) VALUES (0, 0);
)sql",
    // v2: what replicas share besides tokens (ClusterState): secrets and
    // settings, and the callers of TokenService.
    R"sql(
CREATE TABLE settings (
  name text COLLATE "C" PRIMARY KEY,
  value bytea NOT NULL
);
CREATE TABLE callers (
  name text COLLATE "C" PRIMARY KEY,
  role text NOT NULL CHECK (role IN ('admin', 'verifier')),
  key_digest text NOT NULL UNIQUE
);
)sql",
    // v3: token hygiene (issue 14), as SQLite's v3: who used a token last and
    // when one of its revoked values was last presented; the revoked values
    // of each change (storage/token_hygiene.h encodes them) and those
    // remembered for snapshots; expiry notices sent; the notification
    // outbox; indexes for every List order (NULL keys as sentinels:
    // never-expiring last, never-used first) and for the expiry sweep. Names
    // sort bytewise from now on, as in SQLite.
    R"sql(
ALTER TABLE tokens
  ADD COLUMN last_used_verifier text NOT NULL DEFAULT '',
  ADD COLUMN last_used_client text NOT NULL DEFAULT '',
  ADD COLUMN last_reuse_time bigint,
  ALTER COLUMN name TYPE text COLLATE "C";
ALTER TABLE change_log ADD COLUMN revoked bytea;
CREATE TABLE revoked_values (
  digest bytea PRIMARY KEY,
  token_id text COLLATE "C" NOT NULL,
  deployment_id text COLLATE "C" NOT NULL,
  revoke_time bigint NOT NULL
);
CREATE INDEX revoked_values_by_token ON revoked_values (token_id);
CREATE INDEX revoked_values_by_deployment
  ON revoked_values (deployment_id, digest);
CREATE INDEX revoked_values_by_revoke_time ON revoked_values (revoke_time);
CREATE TABLE expiry_notices (
  token_id text COLLATE "C" NOT NULL,
  days integer NOT NULL,
  PRIMARY KEY (token_id, days)
);
CREATE TABLE notification_outbox (
  audit_id bigint PRIMARY KEY REFERENCES audit_log (id),
  next_attempt bigint NOT NULL,
  attempts integer NOT NULL DEFAULT 0
);
CREATE INDEX notification_outbox_by_next_attempt
  ON notification_outbox (next_attempt);
CREATE INDEX tokens_by_deployment_expire_time ON tokens
  (deployment_id, (COALESCE(expire_time, 9223372036854775807)), id);
CREATE INDEX tokens_by_deployment_name ON tokens (deployment_id, name, id);
CREATE INDEX tokens_by_deployment_last_used_time ON tokens
  (deployment_id, (COALESCE(last_used_time, -9223372036854775807 - 1)), id);
CREATE INDEX tokens_by_expire_time ON tokens (expire_time)
  WHERE expire_time IS NOT NULL;
)sql",
    // v4: leaked tokens (issue 24), as SQLite's v4: whether a token may rotate
    // itself, the `reporter` caller role, and an index to find a leaked value
    // that is a previous value inside its grace period (only rows with one are
    // indexed).
    R"sql(
ALTER TABLE tokens ADD COLUMN self_rotate boolean NOT NULL DEFAULT false;
ALTER TABLE callers DROP CONSTRAINT callers_role_check;
ALTER TABLE callers ADD CONSTRAINT callers_role_check
  CHECK (role IN ('admin', 'verifier', 'reporter'));
CREATE INDEX tokens_by_previous_digest ON tokens (previous_digest)
  WHERE previous_digest IS NOT NULL;
)sql",
};

namespace {

constexpr char kCreateVersionTable[] =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), "
    "version integer NOT NULL)";

constexpr PgStatement kLockMigrations = {
    "lock_migrations", "SELECT pg_advisory_xact_lock($1::bigint)"};

constexpr PgStatement kSelectVersion = {"select_schema_version",
                                        "SELECT version FROM schema_version"};

constexpr PgStatement kTableExists = {
    "schema_version_exists",
    "SELECT to_regclass('schema_version') IS NOT NULL"};

constexpr PgStatement kSetVersion = {
    "set_schema_version",
    "INSERT INTO schema_version (version) VALUES ($1::integer) "
    "ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version"};

absl::StatusOr<int> VersionInTransaction(PgConnection& conn) {
  ASSIGN_OR_RETURN(PgResult version, conn.Exec(kSelectVersion));
  if (version.rows() == 0) return 0;
  ASSIGN_OR_RETURN(int64_t value, version.Int(0, 0));
  return static_cast<int>(value);
}

// One step (or none, when another replica got there first) in a transaction
// of its own. Sets *done when the database is current.
absl::Status MigrateOneStep(PgConnection& conn, bool* done) {
  RETURN_IF_ERROR(conn.ExecScript("BEGIN", "migration"));
  absl::Status status = [&]() -> absl::Status {
    RETURN_IF_ERROR(
        conn.Exec(kLockMigrations, {PgParam::Int(kMigrationLockKey)}).status());
    RETURN_IF_ERROR(conn.ExecScript(kCreateVersionTable, "migration"));
    ASSIGN_OR_RETURN(int version, VersionInTransaction(conn));
    if (version > kPostgresSchemaVersion || version < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("database schema version ", version,
                       " is not supported by this binary (which knows up to ",
                       kPostgresSchemaVersion, "); upgrade the binary"));
    }
    if (version == kPostgresSchemaVersion) {
      *done = true;
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(conn.ExecScript(
        kPostgresMigrations[version],
        absl::StrCat("migration to schema version ", version + 1)));
    return conn.Exec(kSetVersion, {PgParam::Int(version + 1)}).status();
  }();
  if (status.ok()) status = conn.ExecScript("COMMIT", "migration commit");
  if (!status.ok() && conn.ok()) {
    conn.ExecScript("ROLLBACK", "migration rollback").IgnoreError();
  }
  return status;
}

}  // namespace

absl::Status MigratePostgresSchema(PgConnection& conn) {
  // At most one step per round, plus the round that finds the schema current.
  for (int round = 0; round <= kPostgresSchemaVersion; ++round) {
    bool done = false;
    RETURN_IF_ERROR(MigrateOneStep(conn, &done));
    if (done) return absl::OkStatus();
  }
  return absl::InternalError("schema migration did not converge");
}

absl::StatusOr<int> ReadPostgresSchemaVersion(PgConnection& conn) {
  ASSIGN_OR_RETURN(PgResult exists, conn.Exec(kTableExists));
  if (exists.rows() != 1 || exists.Text(0, 0) != "t") return 0;
  return VersionInTransaction(conn);
}

}  // namespace tokens
