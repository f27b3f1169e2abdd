// PRAGMA integrity_check on a database file, for tests that crash, starve or
// attack the store.
#ifndef TESTS_TESTING_SQLITE_INTEGRITY_H_
#define TESTS_TESTING_SQLITE_INTEGRITY_H_

#include <string>

namespace tokens::testing {

// "ok" for a sound file; SQLite's findings otherwise, or "cannot open: ..."
// when the file cannot be opened. `read_only` opens it without write access
// (safe next to a running server; a read-write open would also recover a WAL
// left by a crash, as a restart does).
std::string SqliteIntegrityCheck(const std::string& path, bool read_only);

}  // namespace tokens::testing

#endif  // TESTS_TESTING_SQLITE_INTEGRITY_H_
