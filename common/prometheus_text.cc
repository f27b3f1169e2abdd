#include "common/prometheus_text.h"

#include "absl/strings/str_cat.h"

namespace tokens {

void AppendPrometheusHeader(std::string* out, absl::string_view name,
                            absl::string_view type, absl::string_view help) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type,
                  "\n");
}

void AppendPrometheusMetric(std::string* out, absl::string_view name,
                            absl::string_view type, absl::string_view help,
                            int64_t value) {
  AppendPrometheusHeader(out, name, type, help);
  absl::StrAppend(out, name, " ", value, "\n");
}

std::string PrometheusLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace tokens
