#include "common/prometheus_text.h"

#include <string>

#include "gtest/gtest.h"

namespace tokens {
namespace {

TEST(PrometheusTextTest, HeaderIsHelpThenType) {
  std::string out = "x\n";
  AppendPrometheusHeader(&out, "a_total", "counter", "Things counted.");
  EXPECT_EQ(out, "x\n# HELP a_total Things counted.\n# TYPE a_total counter\n");
}

TEST(PrometheusTextTest, MetricIsTheHeaderAndOneSample) {
  std::string out;
  AppendPrometheusMetric(&out, "b", "gauge", "A level.", -1);
  AppendPrometheusMetric(&out, "c", "gauge", "Big.", int64_t{1} << 40);
  EXPECT_EQ(out,
            "# HELP b A level.\n# TYPE b gauge\nb -1\n"
            "# HELP c Big.\n# TYPE c gauge\nc 1099511627776\n");
}

TEST(PrometheusTextTest, LabelValuesAreEscaped) {
  EXPECT_EQ(PrometheusLabelValue("host:1"), "host:1");
  EXPECT_EQ(PrometheusLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(PrometheusLabelValue(""), "");
}

}  // namespace
}  // namespace tokens
