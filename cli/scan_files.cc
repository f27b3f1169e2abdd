#include "cli/scan_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "cli/token_stream.h"
#include "common/validation.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tokens::cli {
namespace {

constexpr size_t kReadSize = 1 << 20;

std::string Join(const std::string& dir, const std::string& name) {
  if (!dir.empty() && dir.back() == '/') return dir + name;
  return absl::StrCat(dir, "/", name);
}

// True when no byte has its high bit set (most source files): then the
// bytes are valid UTF-8 without decoding them.
bool IsAscii(std::string_view bytes) {
  size_t i = 0;
#if defined(__SSE2__)
  __m128i any = _mm_setzero_si128();
  for (; i + 16 <= bytes.size(); i += 16) {
    any = _mm_or_si128(
        any,
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes.data() + i)));
  }
  if (_mm_movemask_epi8(any) != 0) return false;
#endif
  for (; i < bytes.size(); ++i) {
    if (static_cast<unsigned char>(bytes[i]) >= 0x80) return false;
  }
  return true;
}

// Why the first bytes read from a file deserve a warning, or "" when they do
// not. A character cut short at their end (by the read) is not an error.
std::string Oddity(std::string_view first) {
  if (std::memchr(first.data(), '\0', first.size()) != nullptr) {
    return "binary file (NUL bytes); scanned anyway, columns count bytes";
  }
  if (IsAscii(first)) return "";
  for (size_t cut = 0; cut <= 3 && cut < first.size(); ++cut) {
    if (Utf8Length(std::string(first.substr(0, first.size() - cut))) >= 0) {
      return "";
    }
  }
  return first.empty() ? ""
                       : "not valid UTF-8; scanned anyway, columns count "
                         "bytes";
}

class Walker {
 public:
  explicit Walker(const ScanFilesOptions& options) : options_(options) {}

  void Path(const std::string& path) {
    if (path == "-") {
      ReadFd(path, fileno(options_.stdin_file));
      return;
    }
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return Warn(path, Error("cannot read"));
    if (S_ISDIR(st.st_mode)) return Directory(path);
    File(path, /*named=*/true);
  }

  const ScanTotals& totals() const { return totals_; }

 private:
  static std::string Error(const char* what) {
    return absl::StrCat(what, ": ", std::strerror(errno));
  }

  void Warn(const std::string& path, const std::string& message) {
    if (options_.on_warning) options_.on_warning(path + ": " + message);
  }

  void Directory(const std::string& path) {
    DIR* dir = opendir(path.c_str());
    if (dir == nullptr) return Warn(path, Error("cannot read directory"));
    std::vector<std::string> names;
    while (dirent* entry = readdir(dir)) {
      const std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    closedir(dir);
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) Entry(Join(path, name), name);
  }

  void Entry(const std::string& path, const std::string& name) {
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) return Warn(path, Error("cannot read"));
    if (S_ISDIR(st.st_mode)) {
      if (name == ".git" && !options_.include_git) return;
      return Directory(path);
    }
    if (S_ISLNK(st.st_mode)) {
      if (stat(path.c_str(), &st) != 0) {
        return Warn(path, Error("cannot follow symbolic link"));
      }
      if (S_ISDIR(st.st_mode)) {
        return Warn(path, "symbolic link to a directory, not followed");
      }
    }
    if (!S_ISREG(st.st_mode)) {
      return Warn(path, "not a regular file (fifo, socket or device), skipped");
    }
    File(path, /*named=*/false);
  }

  void File(const std::string& path, bool named) {
    // O_NONBLOCK: opening a fifo that appeared since the stat must not hang.
    const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return Warn(path, Error("cannot read"));
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) && !named) {
      close(fd);
      return Warn(path, "not a regular file, skipped");
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    ReadFd(path, fd);
    close(fd);
  }

  void ReadFd(const std::string& path, int fd);

  const ScanFilesOptions& options_;
  ScanTotals totals_;
};

void Walker::ReadFd(const std::string& path, int fd) {
  TokenStream stream(
      {[&](const StreamFinding& found) {
         if (options_.on_value) {
           options_.on_value({path, found.line, found.column, found.value});
         }
       },
       [&](uint64_t line) {
         Warn(path, absl::StrCat("line ", line,
                                 " is longer than 1 MiB (minified or binary?); "
                                 "scanned anyway"));
       }},
      kReadSize);
  bool first = true;
  for (;;) {
    const ssize_t n = read(fd, stream.space(), stream.space_size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Warn(path, Error("read error (the rest of the file is not scanned)"));
      break;
    }
    if (first) {
      const std::string oddity = Oddity(std::string_view(stream.space(), n));
      if (!oddity.empty()) Warn(path, oddity);
      first = false;
    }
    if (n == 0) break;
    stream.Commit(static_cast<size_t>(n));
  }
  stream.Finish();
  ++totals_.files;
  totals_.bytes += stream.bytes();
}

}  // namespace

absl::Status CheckPathsExist(const std::vector<std::string>& paths) {
  for (const std::string& path : paths) {
    struct stat st;
    if (path != "-" && lstat(path.c_str(), &st) != 0 && errno == ENOENT) {
      return absl::InvalidArgumentError(
          absl::StrCat("no such file or directory: ", path));
    }
  }
  return absl::OkStatus();
}

ScanTotals ScanPaths(const std::vector<std::string>& paths,
                     const ScanFilesOptions& options) {
  Walker walker(options);
  for (const std::string& path : paths) walker.Path(path);
  return walker.totals();
}

}  // namespace tokens::cli
