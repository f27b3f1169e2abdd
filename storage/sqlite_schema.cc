#include "storage/sqlite_schema.h"

namespace tokens {

// Each entry takes the schema from version i to i + 1. Never edit a released
// entry: files written by older binaries are upgraded by replaying the entries
// they lack.
const char* const kSqliteMigrations[kSqliteSchemaVersion] = {
    // v1: tokens, the change log for the verifier feed, the audit log.
    R"sql(
CREATE TABLE tokens (
  id TEXT PRIMARY KEY NOT NULL,
  deployment_id TEXT NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  short_token TEXT NOT NULL DEFAULT '',
  expiration_days INTEGER NOT NULL DEFAULT 0,
  secret_digest BLOB UNIQUE NOT NULL,
  create_time INTEGER NOT NULL,
  update_time INTEGER,
  expire_time INTEGER,
  last_rotate_time INTEGER,
  created_by TEXT NOT NULL DEFAULT '',
  updated_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX tokens_by_deployment ON tokens (deployment_id, create_time, id);
CREATE TABLE changes (
  revision INTEGER PRIMARY KEY AUTOINCREMENT,
  type TEXT NOT NULL CHECK (type IN ('upsert', 'delete')),
  token_id TEXT NOT NULL,
  deployment_id TEXT NOT NULL,
  secret_digest BLOB,
  expire_time INTEGER
);
CREATE INDEX changes_by_deployment ON changes (deployment_id, revision);
CREATE TABLE audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time INTEGER,
  principal TEXT NOT NULL,
  action TEXT NOT NULL,
  token_id TEXT NOT NULL,
  deployment_id TEXT NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX audit_by_deployment ON audit (deployment_id, id);
)sql",
    // v2: grace period after rotation, last use, change-log retention. The trim
    // mark starts
    // below the oldest retained change so that readers of an untrimmed log stay
    // complete.
    R"sql(
ALTER TABLE tokens ADD COLUMN previous_digest BLOB;
ALTER TABLE tokens ADD COLUMN previous_valid_until INTEGER;
ALTER TABLE tokens ADD COLUMN last_used_time INTEGER;
ALTER TABLE changes ADD COLUMN previous_digest BLOB;
ALTER TABLE changes ADD COLUMN previous_valid_until INTEGER;
CREATE TABLE meta (
  key TEXT PRIMARY KEY NOT NULL,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('changes_trimmed_through', COALESCE(
  (SELECT MIN(revision) - 1 FROM changes),
  (SELECT seq FROM sqlite_sequence WHERE name = 'changes'),
  0));
)sql",
};

}  // namespace tokens
