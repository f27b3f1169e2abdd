#include "storage/sqlite_statement.h"

#include <limits>

#include "absl/strings/str_cat.h"

namespace tokens {

absl::Status StatusFromSqlite(int rc, sqlite3* db, const std::string& what) {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) {
    return absl::OkStatus();
  }
  std::string message = absl::StrCat(what, ": ", sqlite3_errstr(rc));
  if (db != nullptr && sqlite3_errcode(db) == rc) {
    absl::StrAppend(&message, " (", sqlite3_errmsg(db), ")");
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_READONLY:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
      return absl::UnavailableError(message);
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE ||
          rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return absl::AlreadyExistsError(message);
      }
      return absl::InternalError(message);
    default:
      return absl::InternalError(message);
  }
}

// Times are INTEGER microseconds since the epoch. Each column has a "none"
// value (InfiniteFuture for expire_time, InfinitePast for the rest) stored as
// NULL; the other infinity saturates to the int64 limit and reads back as that
// infinity.
int64_t EncodeTime(absl::Time t) { return absl::ToUnixMicros(t); }

absl::Time DecodeTime(int64_t micros) {
  if (micros == std::numeric_limits<int64_t>::max()) {
    return absl::InfiniteFuture();
  }
  if (micros == std::numeric_limits<int64_t>::min()) {
    return absl::InfinitePast();
  }
  return absl::FromUnixMicros(micros);
}

absl::Status RowDataError(const char* what) {
  return absl::InternalError(absl::StrCat("malformed ", what, " in database"));
}

}  // namespace tokens
