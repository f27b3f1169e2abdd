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
