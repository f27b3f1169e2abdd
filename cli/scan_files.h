// ScanPaths: the file side of `tokenctl scan`. Reads files, standard input
// (`-`) and directory trees, and hands every token value found (via
// TokenStream) to a callback with its path, line and byte column.
//
// Walking: directories are read recursively, entries in byte order of their
// names; `.git` directories are skipped unless include_git. Symbolic links
// met while walking are followed to files (scanned under the link's path) but
// never to directories (a warning says so), so a link loop cannot recurse; a
// dangling or looping link is a warning. Fifos, sockets and devices met while
// walking are skipped with a warning (a path given by name is read whatever
// it is, as `-` is). Each file is read in 1 MiB pieces with read(2).
//
// Nothing stops the walk but the end: each unreadable file or directory,
// read error, binary file (a NUL byte in its first 1 MiB), file that is not
// valid UTF-8 (judged on the same first 1 MiB) and line over 1 MiB is one
// warning, and the scan goes on; binary and invalid-UTF-8 files are scanned
// like the others, columns counting bytes. Values never reach a warning.
// Thread-compatible.
#ifndef CLI_SCAN_FILES_H_
#define CLI_SCAN_FILES_H_

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace tokens::cli {

struct FileFinding {
  const std::string& path;  // as given, or joined under it; `-` for stdin
  uint64_t line = 0;        // 1-based
  uint64_t column = 0;      // 1-based, in bytes
  std::string_view value;   // valid only during the callback
};

struct ScanFilesOptions {
  bool include_git = false;
  FILE* stdin_file = stdin;  // what `-` reads
  std::function<void(const FileFinding&)> on_value;
  // One line of text naming the path, never containing a value.
  std::function<void(const std::string& warning)> on_warning;
};

struct ScanTotals {
  uint64_t files = 0;
  uint64_t bytes = 0;
};

// InvalidArgument naming the first of `paths` that does not exist (a
// mistyped path must not pass as clean); nothing is scanned then.
absl::Status CheckPathsExist(const std::vector<std::string>& paths);

// Scans `paths` in order. Returns what was read.
ScanTotals ScanPaths(const std::vector<std::string>& paths,
                     const ScanFilesOptions& options);

}  // namespace tokens::cli

#endif  // CLI_SCAN_FILES_H_
