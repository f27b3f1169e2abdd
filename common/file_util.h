// Small file helpers for keys and data directories. Thread-compatible.
#ifndef COMMON_FILE_UTIL_H_
#define COMMON_FILE_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tokens {

// Reads a whole file. Internal (naming the path) when it cannot.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Reads a key file and strips surrounding whitespace. Errors name the path,
// never the key.
absl::StatusOr<std::string> ReadKeyFile(const std::string& path);

// Writes `content` to `path` with mode 0600 (atomically: temp file, fsync,
// rename).
absl::Status WritePrivateFile(const std::string& path,
                              const std::string& content);

// Creates `dir` (and parents) with mode 0700 if absent, and tightens an
// existing one to 0700.
absl::Status MakePrivateDirectory(const std::string& dir);

}  // namespace tokens

#endif  // COMMON_FILE_UTIL_H_
