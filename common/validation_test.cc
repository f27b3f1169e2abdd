#include "common/validation.h"

#include <string>

#include "gtest/gtest.h"

namespace tokens {
namespace {

void ExpectInvalid(const absl::Status& status, const std::string& field) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(std::string(status.message()).rfind(field + ":", 0), 0u)
      << "message should start with the field name: " << status;
}

TEST(ValidationTest, NameMustBeOneTo256Characters) {
  ExpectInvalid(ValidateName(""), "name");
  EXPECT_TRUE(ValidateName(std::string(256, 'a')).ok());
  ExpectInvalid(ValidateName(std::string(257, 'a')), "name");
}

TEST(ValidationTest, NameCountsCharactersNotBytes) {
  std::string name;
  for (int i = 0; i < 256; ++i) name += "\xc3\xa9";  // é, 2 bytes each
  EXPECT_TRUE(ValidateName(name).ok());
  ExpectInvalid(ValidateName(name + "\xc3\xa9"), "name");
}

TEST(ValidationTest, NameRejectsControlCharacters) {
  ExpectInvalid(ValidateName("a\nb"), "name");
  ExpectInvalid(ValidateName(std::string("a\0b", 3)), "name");
  ExpectInvalid(ValidateName("a\x7f"), "name");
  ExpectInvalid(ValidateName("a\xc2\x85"), "name");  // U+0085, C1 control
}

TEST(ValidationTest, NameRejectsInvalidUtf8) {
  ExpectInvalid(ValidateName("\xff"), "name");
  ExpectInvalid(ValidateName("\xc3"), "name");              // truncated
  ExpectInvalid(ValidateName("\xc0\xaf"), "name");          // overlong
  ExpectInvalid(ValidateName("\xed\xa0\x80"), "name");      // surrogate
  ExpectInvalid(ValidateName("\xf4\x90\x80\x80"), "name");  // > U+10FFFF
}

TEST(ValidationTest, DescriptionAtMost1024Characters) {
  EXPECT_TRUE(ValidateDescription("").ok());
  EXPECT_TRUE(ValidateDescription(std::string(1024, 'd')).ok());
  EXPECT_TRUE(ValidateDescription("line one\nline two\tend").ok());
  ExpectInvalid(ValidateDescription(std::string(1025, 'd')), "description");
  ExpectInvalid(ValidateDescription("\xfe"), "description");
}

TEST(ValidationTest, DeploymentIdIsLowercaseAlphanumericAndDash) {
  EXPECT_TRUE(ValidateDeploymentId("prod-42").ok());
  ExpectInvalid(ValidateDeploymentId(""), "deployment_id");
  ExpectInvalid(ValidateDeploymentId("Prod"), "deployment_id");
  ExpectInvalid(ValidateDeploymentId("a_b"), "deployment_id");
  ExpectInvalid(ValidateDeploymentId("a b"), "deployment_id");
  ExpectInvalid(ValidateDeploymentId("x'; DROP TABLE tokens;--"),
                "deployment_id");
  EXPECT_TRUE(ValidateDeploymentId(std::string(64, 'a')).ok());
  ExpectInvalid(ValidateDeploymentId(std::string(65, 'a')), "deployment_id");
}

TEST(ValidationTest, ExpirationDaysZeroOrOneTo365AndServerMax) {
  EXPECT_TRUE(ValidateExpirationDays(0, 365).ok());
  EXPECT_TRUE(ValidateExpirationDays(365, 365).ok());
  ExpectInvalid(ValidateExpirationDays(-1, 365), "expiration_days");
  ExpectInvalid(ValidateExpirationDays(366, 365), "expiration_days");
  ExpectInvalid(ValidateExpirationDays(91, 90), "expiration_days");
  ExpectInvalid(ValidateExpirationDays(INT64_MIN, 365), "expiration_days");
}

TEST(ValidationTest, PageSizeAtMost1000) {
  EXPECT_TRUE(ValidatePageSize(0).ok());
  EXPECT_TRUE(ValidatePageSize(1000).ok());
  ExpectInvalid(ValidatePageSize(1001), "page_size");
  ExpectInvalid(ValidatePageSize(-1), "page_size");
}

TEST(ValidationTest, GracePeriodAtMostOneDay) {
  EXPECT_TRUE(ValidateGracePeriodSeconds(86400).ok());
  ExpectInvalid(ValidateGracePeriodSeconds(86401), "grace_period_seconds");
  ExpectInvalid(ValidateGracePeriodSeconds(-5), "grace_period_seconds");
}

TEST(ValidationTest, TokenIdRequiredAndPrintable) {
  ExpectInvalid(ValidateTokenId(""), "id");
  ExpectInvalid(ValidateTokenId(std::string(65, 'a')), "id");
  ExpectInvalid(ValidateTokenId("tok_\x01"), "id");
  EXPECT_TRUE(ValidateTokenId("tok_abc").ok());
}

TEST(ValidationTest, UsageLabelsArePrintableAndBounded) {
  EXPECT_TRUE(ValidateUsageLabel("verifier_name", "", 253).ok());
  EXPECT_TRUE(ValidateUsageLabel("verifier_name", "pod-7.ns", 253).ok());
  EXPECT_TRUE(ValidateUsageLabel("client_address", "[2001:db8::1]", 64).ok());
  ExpectInvalid(ValidateUsageLabel("verifier_name", std::string(254, 'a'), 253),
                "verifier_name");
  ExpectInvalid(ValidateUsageLabel("client_address", "10.0.0.1 x", 64),
                "client_address");
  ExpectInvalid(ValidateUsageLabel("client_address", "a\nb", 64),
                "client_address");
}

TEST(ValidationTest, ExpireBeforeNotBefore1970) {
  EXPECT_TRUE(ValidateExpireBefore(0).ok());
  ExpectInvalid(ValidateExpireBefore(-1), "expire_before");
}

}  // namespace
}  // namespace tokens
