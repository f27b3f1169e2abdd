// SqliteStatement and the one place where SQLite result codes become
// absl::Status. Used only inside storage/. Not thread-safe: a statement is used
// under its store's lock.
#ifndef STORAGE_SQLITE_STATEMENT_H_
#define STORAGE_SQLITE_STATEMENT_H_

#include <sqlite3.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/token_value.h"
#include "storage/stored_time.h"

namespace tokens {

// The one place where SQLite result codes become absl::Status: BUSY, LOCKED,
// READONLY, FULL, IOERR and CANTOPEN are Unavailable; a unique or primary-key
// violation is AlreadyExists; the rest Internal. Messages carry SQLite's
// description and the (value-free) statement; never a bound value.
absl::Status StatusFromSqlite(int rc, sqlite3* db, const std::string& what);

// Times are INTEGER microseconds since the epoch (see sqlite_statement.cc).

// Internal error for a row whose `what` column does not hold what we wrote.
absl::Status RowDataError(const char* what);

// A cached prepared statement, borrowed for one use: binding, stepping, reading
// columns. Resets the statement (and clears its bindings) when it goes out of
// scope.
class SqliteStatement {
 public:
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  SqliteStatement(SqliteStatement&& other) noexcept
      : db_(other.db_),
        stmt_(std::exchange(other.stmt_, nullptr)),
        bind_status_(std::move(other.bind_status_)) {}
  SqliteStatement& operator=(SqliteStatement&&) = delete;
  ~SqliteStatement() {
    if (stmt_ != nullptr) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }

  void BindText(int index, const std::string& value) {
    Check(sqlite3_bind_text(stmt_, index, value.data(),
                            static_cast<int>(value.size()), SQLITE_TRANSIENT));
  }
  void BindOptionalText(int index, const std::optional<std::string>& value) {
    if (value.has_value()) {
      BindText(index, *value);
    } else {
      BindNull(index);
    }
  }
  void BindInt(int index, int64_t value) {
    Check(sqlite3_bind_int64(stmt_, index, value));
  }
  void BindNull(int index) { Check(sqlite3_bind_null(stmt_, index)); }
  void BindDigest(int index, const Digest& digest) {
    Check(sqlite3_bind_blob(stmt_, index, digest.data(),
                            static_cast<int>(digest.size()), SQLITE_TRANSIENT));
  }
  // Binds NULL for empty bytes.
  void BindBlobOrNull(int index, const std::string& bytes) {
    if (bytes.empty()) {
      BindNull(index);
      return;
    }
    Check(sqlite3_bind_blob(stmt_, index, bytes.data(),
                            static_cast<int>(bytes.size()), SQLITE_TRANSIENT));
  }
  void BindOptionalDigest(int index, const std::optional<Digest>& digest) {
    if (digest.has_value()) {
      BindDigest(index, *digest);
    } else {
      BindNull(index);
    }
  }
  // Binds NULL when `t` is the column's "none" value.
  void BindTime(int index, absl::Time t, absl::Time none) {
    if (t == none) {
      BindNull(index);
    } else {
      BindInt(index, EncodeTime(t));
    }
  }

  // True with a row to read, false when done. For a statement read for at
  // most one row; ForEachRow() reads them all.
  absl::StatusOr<bool> Step() {
    if (!bind_status_.ok()) return bind_status_;
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return StatusFromSqlite(rc, db_, Description());
  }
  // Steps through every row, calling `on_row` for each; `on_row` reads the
  // current row with the column accessors below. Returns the first error of a
  // step or of `on_row` (stepping stops there), or OK after the last row. To
  // stop early, bound the rows in the SQL (LIMIT).
  absl::Status ForEachRow(absl::FunctionRef<absl::Status()> on_row) {
    while (true) {
      absl::StatusOr<bool> row = Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::OkStatus();
      absl::Status status = on_row();
      if (!status.ok()) return status;
    }
  }
  // Runs to completion, ignoring rows.
  absl::Status Run() {
    return ForEachRow([] { return absl::OkStatus(); });
  }

  bool IsNull(int column) {
    return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
  }
  int64_t Int(int column) { return sqlite3_column_int64(stmt_, column); }
  std::string Text(int column) {
    const unsigned char* text = sqlite3_column_text(stmt_, column);
    if (text == nullptr) return std::string();
    return std::string(reinterpret_cast<const char*>(text),
                       sqlite3_column_bytes(stmt_, column));
  }
  // Empty for NULL.
  std::string Blob(int column) {
    const void* blob = sqlite3_column_blob(stmt_, column);
    if (blob == nullptr) return std::string();
    return std::string(
        static_cast<const char*>(blob),
        static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
  }
  absl::Time Time(int column, absl::Time none) {
    return IsNull(column) ? none : DecodeTime(Int(column));
  }
  absl::Status ReadDigest(int column, Digest* digest) {
    const void* blob = sqlite3_column_blob(stmt_, column);
    if (blob == nullptr || sqlite3_column_bytes(stmt_, column) !=
                               static_cast<int>(digest->size())) {
      return RowDataError("digest");
    }
    std::memcpy(digest->data(), blob, digest->size());
    return absl::OkStatus();
  }
  absl::Status ReadOptionalDigest(int column, std::optional<Digest>* digest) {
    if (IsNull(column)) {
      digest->reset();
      return absl::OkStatus();
    }
    Digest value{};
    absl::Status status = ReadDigest(column, &value);
    if (status.ok()) *digest = value;
    return status;
  }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK && bind_status_.ok()) {
      bind_status_ = StatusFromSqlite(rc, db_, Description());
    }
  }
  std::string Description() {
    const char* sql = sqlite3_sql(stmt_);
    return std::string(sql == nullptr ? "statement" : sql);
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  absl::Status bind_status_;
};

}  // namespace tokens

#endif  // STORAGE_SQLITE_STATEMENT_H_
