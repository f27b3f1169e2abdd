// The PostgreSQL schema of PostgresTokenStore as versioned migrations, and the
// one function that applies them.
//
// Entry i of kPostgresMigrations takes a database from schema version i to
// i + 1; the version lives in the one-row table `schema_version`. Never edit a
// released entry: databases written by older binaries are upgraded by
// replaying the entries they lack.
//
// Tables: tokens, change_log (the feed; `revision` is the primary key),
// audit_log, revision_counter (one row: the latest revision and the
// change-log trim mark, see postgres_token_store.h), settings (shared secrets
// and store settings such as change_retention), callers (ClusterState);
// since v3 (token hygiene) revoked_values, expiry_notices and
// notification_outbox.
// Times are bigint microseconds since the epoch, NULL for "none" (as in
// SQLite); ids and names sort bytewise (COLLATE "C") so that pages and
// snapshots come in the same order as from SQLite.
#ifndef STORAGE_POSTGRES_SCHEMA_H_
#define STORAGE_POSTGRES_SCHEMA_H_

#include <cstdint>

#include "absl/status/status.h"
#include "storage/postgres_connection.h"

namespace tokens {

inline constexpr int kPostgresSchemaVersion = 4;
extern const char* const kPostgresMigrations[kPostgresSchemaVersion];

// The key of the transaction-level advisory lock that serialises migrations
// (pg_advisory_xact_lock), so several replicas starting on one empty database
// at once are safe.
inline constexpr int64_t kMigrationLockKey = 0x746f6b656e730001;  // "tokens"

// Brings the database behind `conn` up to kPostgresSchemaVersion: each missing
// step in a transaction of its own, under the advisory lock, re-reading the
// version after taking it. FailedPrecondition when the database is newer than
// this binary; errors of postgres_status.h otherwise.
absl::Status MigratePostgresSchema(PgConnection& conn);

// The schema version of the database (0 before any migration).
absl::StatusOr<int> ReadPostgresSchemaVersion(PgConnection& conn);

}  // namespace tokens

#endif  // STORAGE_POSTGRES_SCHEMA_H_
