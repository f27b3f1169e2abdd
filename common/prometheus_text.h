// The Prometheus text exposition format (version 0.0.4) as every /metrics page
// of the project writes it (TokenService: services/token_server.h and
// services/notifier.h; the verifier: verifier/metrics.h and
// verifier/token_service_targets.h): the # HELP and # TYPE lines of a family,
// one unlabelled integer sample, and label value escaping. Pure functions,
// thread-safe.
#ifndef COMMON_PROMETHEUS_TEXT_H_
#define COMMON_PROMETHEUS_TEXT_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace tokens {

// Appends "# HELP <name> <help>\n# TYPE <name> <type>\n". `type` is counter,
// gauge or histogram; `help` must not hold a newline or backslash.
void AppendPrometheusHeader(std::string* out, absl::string_view name,
                            absl::string_view type, absl::string_view help);

// Appends the header and the family's one sample, "<name> <value>\n".
void AppendPrometheusMetric(std::string* out, absl::string_view name,
                            absl::string_view type, absl::string_view help,
                            int64_t value);

// `value` as a label value goes between its double quotes: backslash, double
// quote and newline escaped.
std::string PrometheusLabelValue(absl::string_view value);

}  // namespace tokens

#endif  // COMMON_PROMETHEUS_TEXT_H_
