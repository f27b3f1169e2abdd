// JsonLog: one structured log line (a JSON object) written to stderr when the
// builder goes out of scope. Thread-safe: each line is written with a single
// write(2).
//
//   JsonLog("rpc").Str("method", "CreateToken").Int("latency_us", 120);
//
// Never pass a secret: callers log ids, digest prefixes and principals only.
#ifndef COMMON_JSON_LOG_H_
#define COMMON_JSON_LOG_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace tokens {

class JsonLog {
 public:
  // `event` names what happened (`rpc`, `listening`, `sync.snapshot`...).
  explicit JsonLog(std::string_view event, std::string_view level = "info");
  ~JsonLog();
  JsonLog(const JsonLog&) = delete;
  JsonLog& operator=(const JsonLog&) = delete;

  JsonLog& Str(std::string_view key, std::string_view value);
  JsonLog& Int(std::string_view key, int64_t value);
  JsonLog& Double(std::string_view key, double value);
  JsonLog& Bool(std::string_view key, bool value);

  // Lines go to stderr unless disabled (benchmarks and fuzzers switch logging
  // off).
  static void SetEnabled(bool enabled);

 private:
  std::string line_;
};

// Escapes `s` as the inside of a JSON string. Well-formed UTF-8 is copied as
// is ("é" stays "é"); quotes and backslashes are escaped, \n, \r and \t by
// name, other control characters (below 0x20, and DEL) as \u00XX. Each byte
// that is not part of a well-formed UTF-8 sequence (a stray continuation
// byte, a truncated sequence, an overlong form, a surrogate, past U+10FFFF)
// becomes \u00XX of its value, so the line stays valid JSON.
std::string JsonEscape(std::string_view s);

}  // namespace tokens

#endif  // COMMON_JSON_LOG_H_
