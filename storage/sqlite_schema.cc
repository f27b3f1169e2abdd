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
    // v3: token hygiene (issue 14). Who used a token last and when one of its
    // revoked values was last presented; the revoked values of each change
    // (storage/token_hygiene.h encodes them) and those remembered for
    // snapshots; expiry notices sent; the notification outbox; indexes for
    // every List order (NULL keys as the sentinels token_store.h implies:
    // never-expiring last, never-used first) and for the expiry sweep.
    R"sql(
ALTER TABLE tokens ADD COLUMN last_used_verifier TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN last_used_client TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN last_reuse_time INTEGER;
ALTER TABLE changes ADD COLUMN revoked BLOB;
CREATE TABLE revoked_values (
  digest BLOB PRIMARY KEY NOT NULL,
  token_id TEXT NOT NULL,
  deployment_id TEXT NOT NULL,
  revoke_time INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX revoked_values_by_token ON revoked_values (token_id);
CREATE INDEX revoked_values_by_deployment
  ON revoked_values (deployment_id, digest);
CREATE INDEX revoked_values_by_revoke_time ON revoked_values (revoke_time);
CREATE TABLE expiry_notices (
  token_id TEXT NOT NULL,
  days INTEGER NOT NULL,
  PRIMARY KEY (token_id, days)
) WITHOUT ROWID;
CREATE TABLE notification_outbox (
  audit_id INTEGER PRIMARY KEY NOT NULL REFERENCES audit (id),
  next_attempt INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX notification_outbox_by_next_attempt
  ON notification_outbox (next_attempt);
CREATE INDEX tokens_by_deployment_expire_time ON tokens
  (deployment_id, COALESCE(expire_time, 9223372036854775807), id);
CREATE INDEX tokens_by_deployment_name ON tokens (deployment_id, name, id);
CREATE INDEX tokens_by_deployment_last_used_time ON tokens
  (deployment_id, COALESCE(last_used_time, -9223372036854775807 - 1), id);
CREATE INDEX tokens_by_expire_time ON tokens (expire_time);
)sql",
    // v4: leaked tokens (issue 24). Whether a token may rotate itself, and an
    // index to find a leaked value that is a previous value inside its grace
    // period (only rows with one are indexed).
    R"sql(
ALTER TABLE tokens ADD COLUMN self_rotate INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tokens_by_previous_digest ON tokens (previous_digest)
  WHERE previous_digest IS NOT NULL;
)sql",
};

}  // namespace tokens
