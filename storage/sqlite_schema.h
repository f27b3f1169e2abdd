// The SQLite schema of SqliteTokenStore as a list of migrations. Entry i takes
// a file from schema version i to i + 1 (tracked in `PRAGMA user_version`).
// Never edit a released entry: files written by older binaries are upgraded by
// replaying the entries they lack.
#ifndef STORAGE_SQLITE_SCHEMA_H_
#define STORAGE_SQLITE_SCHEMA_H_

namespace tokens {

inline constexpr int kSqliteSchemaVersion = 4;
extern const char* const kSqliteMigrations[kSqliteSchemaVersion];

}  // namespace tokens

#endif  // STORAGE_SQLITE_SCHEMA_H_
