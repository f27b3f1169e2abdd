#include "common/json_log.h"

#include <unistd.h>

#include <atomic>
#include <boost/locale/utf.hpp>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fmt/format.h"

namespace tokens {
namespace {
std::atomic<bool> g_enabled{true};

// One ASCII byte as JSON string content: quotes, backslashes and control
// characters (DEL included) escaped.
void AppendAsciiEscaped(unsigned char c, std::string* out) {
  switch (c) {
    case '"':
      *out += "\\\"";
      break;
    case '\\':
      *out += "\\\\";
      break;
    case '\n':
      *out += "\\n";
      break;
    case '\r':
      *out += "\\r";
      break;
    case '\t':
      *out += "\\t";
      break;
    default:
      if (c < 0x20 || c == 0x7f) {
        *out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
      } else {
        *out += static_cast<char>(c);
      }
  }
}

}  // namespace

std::string JsonEscape(std::string_view s) {
  using Utf8 = boost::locale::utf::utf_traits<char>;
  std::string out;
  out.reserve(s.size());
  for (auto it = s.begin(); it != s.end();) {
    const unsigned char c = *it;
    if (c >= 0x80) {
      // A whole well-formed sequence (no overlong form, surrogate or code
      // point past U+10FFFF) is copied; any other byte is escaped alone.
      auto end = it;
      const boost::locale::utf::code_point decoded = Utf8::decode(end, s.end());
      if (decoded == boost::locale::utf::illegal ||
          decoded == boost::locale::utf::incomplete) {
        out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        ++it;
      } else {
        out.append(it, end);
        it = end;
      }
      continue;
    }
    AppendAsciiEscaped(c, &out);
    ++it;
  }
  return out;
}

JsonLog::JsonLog(std::string_view event, std::string_view level) {
  line_ = fmt::format(
      R"({{"time":"{}","level":"{}","event":"{}")",
      absl::FormatTime(absl::RFC3339_full, absl::Now(), absl::UTCTimeZone()),
      JsonEscape(level), JsonEscape(event));
}

JsonLog::~JsonLog() {
  if (!g_enabled.load(std::memory_order_relaxed)) return;
  line_ += "}\n";
  ssize_t unused = write(STDERR_FILENO, line_.data(), line_.size());
  (void)unused;
}

JsonLog& JsonLog::Str(std::string_view key, std::string_view value) {
  line_ += fmt::format(R"(,"{}":"{}")", JsonEscape(key), JsonEscape(value));
  return *this;
}

JsonLog& JsonLog::Int(std::string_view key, int64_t value) {
  line_ += fmt::format(R"(,"{}":{})", JsonEscape(key), value);
  return *this;
}

JsonLog& JsonLog::Double(std::string_view key, double value) {
  line_ += fmt::format(R"(,"{}":{:.3f})", JsonEscape(key), value);
  return *this;
}

JsonLog& JsonLog::Bool(std::string_view key, bool value) {
  line_ +=
      fmt::format(R"(,"{}":{})", JsonEscape(key), value ? "true" : "false");
  return *this;
}

void JsonLog::SetEnabled(bool enabled) { g_enabled.store(enabled); }

}  // namespace tokens
