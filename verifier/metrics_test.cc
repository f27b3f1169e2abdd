#include "verifier/metrics.h"

#include <limits>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokens {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsTest, RendersCountersByDecisionAndReason) {
  Metrics metrics;
  metrics.RecordCheck(CheckReason::kAllowed, absl::Microseconds(3));
  metrics.RecordCheck(CheckReason::kAllowed, absl::Microseconds(3));
  metrics.RecordCheck(CheckReason::kUnknownToken, absl::Microseconds(3));
  const std::string text = metrics.Render({});
  EXPECT_THAT(text, HasSubstr("# TYPE token_verifier_checks_total counter\n"));
  EXPECT_THAT(text,
              HasSubstr("token_verifier_checks_total{decision=\"allowed\","
                        "reason=\"ALLOWED\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("token_verifier_checks_total{decision=\"denied\","
                              "reason=\"UNKNOWN_TOKEN\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("token_verifier_checks_total{decision=\"denied\","
                              "reason=\"NOT_READY\"} 0\n"));
  EXPECT_EQ(metrics.checks(CheckReason::kAllowed), 2u);
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  Metrics metrics;
  metrics.RecordCheck(CheckReason::kAllowed, absl::Microseconds(2));  // <= 5us
  metrics.RecordCheck(CheckReason::kAllowed,
                      absl::Microseconds(40));                   // <= 50us
  metrics.RecordCheck(CheckReason::kAllowed, absl::Seconds(1));  // +Inf
  const std::string text = metrics.Render({});
  EXPECT_THAT(text, HasSubstr("# TYPE token_verifier_check_duration_seconds "
                              "histogram\n"));
  EXPECT_THAT(text, HasSubstr("token_verifier_check_duration_seconds_bucket{le="
                              "\"5e-06\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("token_verifier_check_duration_seconds_bucket{le="
                              "\"2.5e-05\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("token_verifier_check_duration_seconds_bucket{le="
                              "\"5e-05\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("token_verifier_check_duration_seconds_bucket{le="
                              "\"0.1\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("token_verifier_check_duration_seconds_bucket{le="
                              "\"+Inf\"} 3\n"));
  EXPECT_THAT(text,
              HasSubstr("token_verifier_check_duration_seconds_count 3\n"));
  EXPECT_THAT(
      text, HasSubstr("token_verifier_check_duration_seconds_sum 1.000042\n"));
}

TEST(MetricsTest, RendersGaugesAndFeedCounters) {
  Metrics metrics;
  metrics.RecordReconnect();
  metrics.RecordReconnect();
  metrics.RecordSnapshot();
  metrics.RecordUsageReport(true);
  metrics.RecordUsageReport(false);
  Metrics::Gauges gauges;
  gauges.ready = true;
  gauges.cached_tokens = 7;
  gauges.revision = 1234;
  gauges.seconds_since_heartbeat = 0.5;
  const std::string text = metrics.Render(gauges);
  EXPECT_THAT(text, HasSubstr("token_verifier_ready 1\n"));
  EXPECT_THAT(text, HasSubstr("token_verifier_cached_tokens 7\n"));
  EXPECT_THAT(text, HasSubstr("token_verifier_revision 1234\n"));
  EXPECT_THAT(text, HasSubstr("token_verifier_seconds_since_heartbeat 0.5\n"));
  EXPECT_THAT(text, HasSubstr("token_verifier_reconnects_total 2\n"));
  EXPECT_THAT(text, HasSubstr("token_verifier_snapshots_total 1\n"));
  EXPECT_THAT(
      text, HasSubstr("token_verifier_usage_reports_total{result=\"ok\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("token_verifier_usage_reports_total{result="
                              "\"error\"} 1\n"));
}

TEST(MetricsTest, NeverHeardFromTheFeedRendersInfinity) {
  Metrics metrics;
  Metrics::Gauges gauges;
  gauges.seconds_since_heartbeat = std::numeric_limits<double>::infinity();
  EXPECT_THAT(metrics.Render(gauges),
              HasSubstr("token_verifier_seconds_since_heartbeat +Inf\n"));
}

TEST(MetricsTest, EveryLineIsACommentOrANamePrefixedSample) {
  Metrics metrics;
  const std::string text = metrics.Render({});
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    ASSERT_NE(end, std::string::npos) << "text must end with a newline";
    const std::string line = text.substr(start, end - start);
    if (line[0] != '#') {
      EXPECT_EQ(line.rfind("token_verifier_", 0), 0u) << line;
      EXPECT_THAT(line, Not(HasSubstr("  ")));
    }
    start = end + 1;
  }
}

}  // namespace
}  // namespace tokens
