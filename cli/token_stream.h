// TokenStream: finds token values (cli/token_scanner.h) in an input that
// arrives in pieces, such as a file read with large buffers, and says where
// each one is as a 1-based line and a 1-based column in bytes.
//
// A value split across two reads is found: each window keeps the last bytes
// of the one before, and every start offset is decided exactly once (when the
// bytes on both sides of it are known). Memory is one buffer of the size
// given, whatever the length of the input or of its lines. Lines longer than
// kLongLineBytes are reported once each through on_long_line (minified or
// binary files) and scanned like any other. A line ends at `\n`; `\r` is an
// ordinary byte. Not thread-safe; one TokenStream per input.
#ifndef CLI_TOKEN_STREAM_H_
#define CLI_TOKEN_STREAM_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

namespace tokens::cli {

inline constexpr uint64_t kLongLineBytes = uint64_t{1} << 20;  // 1 MiB

struct StreamFinding {
  uint64_t offset = 0;     // of the `d`, from the start of the input
  uint64_t line = 0;       // 1-based
  uint64_t column = 0;     // 1-based, in bytes
  std::string_view value;  // valid only during the callback
};

class TokenStream {
 public:
  struct Callbacks {
    std::function<void(const StreamFinding&)> on_value;
    // The 1-based number of a line found to be longer than kLongLineBytes.
    std::function<void(uint64_t line)> on_long_line;
  };

  // `read_size`: how many bytes each Space() offers (at least 1).
  explicit TokenStream(Callbacks callbacks, size_t read_size = 1 << 20);

  // Where to put the next bytes: read up to space_size() bytes there, then
  // Commit how many were put.
  char* space() { return buffer_.get() + kept_; }
  size_t space_size() const { return read_size_; }
  // Scans the `n` bytes just put into space().
  void Commit(size_t n);
  // Copies `bytes` through space() and Commit.
  void Feed(std::string_view bytes);
  // The input has ended: decides the values at its very end. Call once, last.
  void Finish();

  uint64_t bytes() const { return total_; }

 private:
  void Scan(size_t length, bool at_end);
  // Counts the lines of the buffer's bytes up to absolute offset `to`.
  void CountTo(uint64_t to, uint64_t window_start);
  void CountBytes(const char* data, size_t size);
  void CheckLongLine(uint64_t line_end);

  Callbacks callbacks_;
  size_t read_size_;
  std::unique_ptr<char[]> buffer_;
  size_t kept_ = 0;         // bytes of the last window kept at the front
  uint64_t total_ = 0;      // bytes committed
  uint64_t undecided_ = 0;  // smallest start offset not yet decided
  uint64_t counted_ = 0;    // bytes whose newlines are counted
  uint64_t line_ = 1;
  uint64_t line_start_ = 0;  // offset of the current line's first byte
  bool long_reported_ = false;
};

}  // namespace tokens::cli

#endif  // CLI_TOKEN_STREAM_H_
