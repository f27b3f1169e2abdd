#include "tests/testing/sqlite_integrity.h"

#include <sqlite3.h>

#include "absl/strings/str_cat.h"

namespace tokens::testing {

std::string SqliteIntegrityCheck(const std::string& path, bool read_only) {
  sqlite3* db = nullptr;
  const int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    std::string error = absl::StrCat("cannot open: ", sqlite3_errmsg(db));
    sqlite3_close(db);
    return error;
  }
  std::string result;
  sqlite3_exec(
      db, "PRAGMA integrity_check",
      [](void* out, int columns, char** values, char**) {
        for (int i = 0; i < columns; ++i) {
          absl::StrAppend(static_cast<std::string*>(out),
                          values[i] ? values[i] : "NULL");
        }
        return 0;
      },
      &result, nullptr);
  sqlite3_close(db);
  return result;
}

}  // namespace tokens::testing
