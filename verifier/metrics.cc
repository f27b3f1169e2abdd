#include "verifier/metrics.h"

#include <cmath>

#include "common/prometheus_text.h"
#include "fmt/format.h"

namespace tokens {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

// A sample value as Prometheus reads it: integers plainly, infinities as
// +Inf/-Inf.
std::string FormatValue(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::isnan(value)) return "NaN";
  return fmt::format("{}", value);
}

}  // namespace

void Metrics::RecordCheck(CheckReason reason, absl::Duration latency) {
  checks_[static_cast<int>(reason)].fetch_add(1, kRelaxed);
  const double seconds = absl::ToDoubleSeconds(latency);
  size_t bucket = 0;
  while (bucket < kLatencyBucketsSeconds.size() &&
         seconds > kLatencyBucketsSeconds[bucket]) {
    ++bucket;
  }
  latency_buckets_[bucket].fetch_add(1, kRelaxed);
  latency_sum_ns_.fetch_add(
      static_cast<uint64_t>(absl::ToInt64Nanoseconds(latency)), kRelaxed);
}

void Metrics::RecordReconnect() { reconnects_.fetch_add(1, kRelaxed); }
void Metrics::RecordSnapshot() { snapshots_.fetch_add(1, kRelaxed); }
void Metrics::RecordRevisionGap() { revision_gaps_.fetch_add(1, kRelaxed); }
void Metrics::RecordUsageReport(bool ok) {
  (ok ? usage_reports_ok_ : usage_reports_failed_).fetch_add(1, kRelaxed);
}

void Metrics::RecordReuseSightingsDropped(int64_t count) {
  reuse_sightings_dropped_.fetch_add(static_cast<uint64_t>(count), kRelaxed);
}

uint64_t Metrics::checks(CheckReason reason) const {
  return checks_[static_cast<int>(reason)].load(kRelaxed);
}
uint64_t Metrics::reconnects() const { return reconnects_.load(kRelaxed); }
uint64_t Metrics::snapshots() const { return snapshots_.load(kRelaxed); }
uint64_t Metrics::revision_gaps() const {
  return revision_gaps_.load(kRelaxed);
}
uint64_t Metrics::reuse_sightings_dropped() const {
  return reuse_sightings_dropped_.load(kRelaxed);
}

std::string Metrics::Render(const Gauges& gauges) const {
  std::string out;
  out.reserve(4096);

  AppendPrometheusHeader(&out, "token_verifier_checks_total", "counter",
                         "Check decisions, by decision and reason.");
  for (int i = 0; i < kCheckReasonCount; ++i) {
    const auto reason = static_cast<CheckReason>(i);
    out += fmt::format(
        "token_verifier_checks_total{{decision=\"{}\",reason=\"{}\"}} {}\n",
        reason == CheckReason::kAllowed ? "allowed" : "denied",
        CheckReasonName(reason), checks_[i].load(kRelaxed));
  }

  AppendPrometheusHeader(&out, "token_verifier_check_duration_seconds",
                         "histogram", "Time to decide one check.");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < latency_buckets_.size(); ++i) {
    cumulative += latency_buckets_[i].load(kRelaxed);
    const std::string le = i < kLatencyBucketsSeconds.size()
                               ? FormatValue(kLatencyBucketsSeconds[i])
                               : "+Inf";
    out += fmt::format(
        "token_verifier_check_duration_seconds_bucket{{le=\"{}\"}} {}\n", le,
        cumulative);
  }
  out += fmt::format(
      "token_verifier_check_duration_seconds_sum {}\n",
      FormatValue(static_cast<double>(latency_sum_ns_.load(kRelaxed)) / 1e9));
  out += fmt::format("token_verifier_check_duration_seconds_count {}\n",
                     cumulative);

  AppendPrometheusHeader(&out, "token_verifier_ready", "gauge",
                         "1 when synced and fresh enough to answer checks.");
  out += fmt::format("token_verifier_ready {}\n", gauges.ready ? 1 : 0);
  AppendPrometheusHeader(&out, "token_verifier_cached_tokens", "gauge",
                         "Tokens held in the cache.");
  out += fmt::format("token_verifier_cached_tokens {}\n", gauges.cached_tokens);
  AppendPrometheusHeader(&out, "token_verifier_revision", "gauge",
                         "Change feed revision the cache reflects.");
  out += fmt::format("token_verifier_revision {}\n", gauges.revision);
  AppendPrometheusHeader(&out, "token_verifier_seconds_since_heartbeat",
                         "gauge",
                         "Seconds since the last change feed message.");
  out += fmt::format("token_verifier_seconds_since_heartbeat {}\n",
                     FormatValue(gauges.seconds_since_heartbeat));
  AppendPrometheusHeader(&out, "token_verifier_reconnects_total", "counter",
                         "Change feed streams that ended and were retried.");
  out += fmt::format("token_verifier_reconnects_total {}\n",
                     reconnects_.load(kRelaxed));
  AppendPrometheusHeader(&out, "token_verifier_snapshots_total", "counter",
                         "Complete snapshots swapped into the cache.");
  out += fmt::format("token_verifier_snapshots_total {}\n",
                     snapshots_.load(kRelaxed));
  AppendPrometheusHeader(
      &out, "token_verifier_feed_revision_gaps_total", "counter",
      "Changes of an unfiltered feed that did not carry the next "
      "revision (should stay 0).");
  out += fmt::format("token_verifier_feed_revision_gaps_total {}\n",
                     revision_gaps_.load(kRelaxed));
  AppendPrometheusHeader(&out, "token_verifier_usage_reports_total", "counter",
                         "ReportUsage calls, by result.");
  out += fmt::format(
      "token_verifier_usage_reports_total{{result=\"ok\"}} {}\n"
      "token_verifier_usage_reports_total{{result=\"error\"}} {}\n",
      usage_reports_ok_.load(kRelaxed), usage_reports_failed_.load(kRelaxed));
  AppendPrometheusHeader(
      &out, "token_verifier_revoked_values", "gauge",
      "Revoked (rotated-away or deleted) values remembered, answered "
      "REVOKED_TOKEN within --revoked-retention.");
  out +=
      fmt::format("token_verifier_revoked_values {}\n", gauges.revoked_values);
  AppendPrometheusHeader(
      &out, "token_verifier_revoked_evicted_total", "counter",
      "Revoked values forgotten early because --revoked-max was "
      "reached (oldest first).");
  out += fmt::format("token_verifier_revoked_evicted_total {}\n",
                     gauges.revoked_evicted);
  AppendPrometheusHeader(
      &out, "token_verifier_reuse_sightings_dropped_total", "counter",
      "Reuses of revoked values not reported because too many "
      "(token, client) pairs were pending.");
  out += fmt::format("token_verifier_reuse_sightings_dropped_total {}\n",
                     reuse_sightings_dropped_.load(kRelaxed));
  return out;
}

}  // namespace tokens
