// Metrics: the verifier's counters and histogram, rendered in the Prometheus
// text exposition format (version 0.0.4) for GET /metrics. Every name starts
// with `token_verifier_`.
//
// Thread-safe and lock-free: every Record* is a few relaxed atomic increments,
// cheap enough for the Check path. Values that belong to other components
// (cache size, revision, heartbeat age) are passed to Render as a Gauges
// snapshot.
#ifndef VERIFIER_METRICS_H_
#define VERIFIER_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "verifier/authorizer.h"

namespace tokens {

class Metrics {
 public:
  // Upper bounds of the check latency histogram, in seconds (+Inf is implicit).
  static constexpr std::array<double, 11> kLatencyBucketsSeconds = {
      0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025,
      0.0005,   0.001,   0.005,    0.025,   0.1};

  // Point-in-time values owned by other components.
  struct Gauges {
    bool ready = false;
    size_t cached_tokens = 0;
    int64_t revision = 0;
    // Seconds since the last feed message; +Inf before the first.
    double seconds_since_heartbeat = 0;
    // Revoked values remembered (RevokedSet), and those forgotten because
    // --revoked-max was reached (a counter, owned by the cache).
    size_t revoked_values = 0;
    uint64_t revoked_evicted = 0;
  };

  Metrics() = default;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void RecordCheck(CheckReason reason, absl::Duration latency);
  // The feed stream ended and the client is about to connect again.
  void RecordReconnect();
  // A complete snapshot was swapped into the cache.
  void RecordSnapshot();
  // An unfiltered feed delivered a change whose revision was not the next one
  // (revisions are gapless across replicas, so this is a bug or a store that
  // broke the invariant).
  void RecordRevisionGap();
  void RecordUsageReport(bool ok);
  // Reuse sightings the usage reporter could not keep (its bound was
  // reached).
  void RecordReuseSightingsDropped(int64_t count);

  uint64_t checks(CheckReason reason) const;
  uint64_t reconnects() const;
  uint64_t snapshots() const;
  uint64_t revision_gaps() const;
  uint64_t reuse_sightings_dropped() const;

  std::string Render(const Gauges& gauges) const;

 private:
  std::array<std::atomic<uint64_t>, kCheckReasonCount> checks_{};
  std::array<std::atomic<uint64_t>, kLatencyBucketsSeconds.size() + 1>
      latency_buckets_{};
  std::atomic<uint64_t> latency_sum_ns_{0};
  std::atomic<uint64_t> reconnects_{0};
  std::atomic<uint64_t> snapshots_{0};
  std::atomic<uint64_t> revision_gaps_{0};
  std::atomic<uint64_t> usage_reports_ok_{0};
  std::atomic<uint64_t> usage_reports_failed_{0};
  std::atomic<uint64_t> reuse_sightings_dropped_{0};
};

}  // namespace tokens

#endif  // VERIFIER_METRICS_H_
