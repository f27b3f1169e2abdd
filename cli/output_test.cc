#include "cli/output.h"

#include "gtest/gtest.h"

namespace tokens::cli {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1800000000);  // 2027-01-15

google::protobuf::Timestamp At(absl::Time time) {
  google::protobuf::Timestamp timestamp;
  timestamp.set_seconds(absl::ToUnixSeconds(time));
  return timestamp;
}

TEST(OutputTest, Rfc3339IsUtcWholeSeconds) {
  EXPECT_EQ(Rfc3339(kNow + absl::Milliseconds(700)), "2027-01-15T08:00:00Z");
}

TEST(OutputTest, RelativeTimeRoundsToTheNearestUnit) {
  EXPECT_EQ(RelativeTime(kNow + absl::Hours(24 * 30) - absl::Seconds(2), kNow),
            "in 30 days");
  EXPECT_EQ(RelativeTime(kNow + absl::Hours(24 * 29), kNow), "in 29 days");
  EXPECT_EQ(RelativeTime(kNow - absl::Hours(48), kNow), "2 days ago");
  EXPECT_EQ(RelativeTime(kNow + absl::Hours(5), kNow), "in 5 hours");
  EXPECT_EQ(RelativeTime(kNow - absl::Minutes(1), kNow), "1 minute ago");
  EXPECT_EQ(RelativeTime(kNow + absl::Hours(1), kNow), "in 1 hour");
  EXPECT_EQ(RelativeTime(kNow - absl::Seconds(3), kNow), "just now");
}

TEST(OutputTest, ExpiryShowsNeverFutureAndPast) {
  v1::Token token;
  EXPECT_EQ(ExpiryText(token, kNow), "never");
  *token.mutable_expire_time() = At(kNow + absl::Hours(24 * 29));
  EXPECT_EQ(ExpiryText(token, kNow), "2027-02-13T08:00:00Z (in 29 days)");
  *token.mutable_expire_time() = At(kNow - absl::Hours(24 * 2));
  EXPECT_EQ(ExpiryText(token, kNow),
            "2027-01-13T08:00:00Z (expired 2 days ago)");
}

TEST(OutputTest, TableAlignsColumnsByCharactersNotBytes) {
  EXPECT_EQ(RenderTable({"ID", "NAME"}, {{"tok_1", "caf\xc3\xa9"}, {"t", "x"}}),
            "ID     NAME\n"
            "tok_1  caf\xc3\xa9\n"
            "t      x\n");
}

TEST(OutputTest, FieldsAreAligned) {
  EXPECT_EQ(RenderFields({{"id", "tok_1"}, {"expires", "never"}}),
            "id:       tok_1\n"
            "expires:  never\n");
}

TEST(OutputTest, JsonUsesProtoFieldNamesAndPrintsEveryScalar) {
  v1::Token token;
  token.set_id("tok_1");
  token.set_deployment_id("dep-1");
  *token.mutable_expire_time() = At(kNow);
  const std::string json = ToJson(token);
  EXPECT_NE(json.find("\"deployment_id\": \"dep-1\""), std::string::npos);
  EXPECT_NE(json.find("\"description\": \"\""), std::string::npos);
  EXPECT_NE(json.find("\"expiration_days\": 0"), std::string::npos);
  EXPECT_NE(json.find("\"expire_time\": \"2027-01-15T08:00:00Z\""),
            std::string::npos);
  EXPECT_EQ(json.back(), '\n');
}

TEST(OutputTest, JsonPrintsReasonByName) {
  v1::CheckResponse response;
  response.set_reason(v1::UNKNOWN_TOKEN);
  const std::string json = ToJson(response);
  EXPECT_NE(json.find("\"reason\": \"UNKNOWN_TOKEN\""), std::string::npos);
  EXPECT_NE(json.find("\"allowed\": false"), std::string::npos);
}

TEST(OutputTest, OutputFormatMustBeOneTheCommandAllows) {
  EXPECT_EQ(*ParseOutputFormat("json", {"table", "json"}), OutputFormat::kJson);
  auto bad = ParseOutputFormat("value", {"table", "json"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "-o must be one of: table, json");
}

TEST(OutputTest, TokenTableHasOneRowPerToken) {
  v1::Token token;
  token.set_id("tok_1");
  token.set_name("ci");
  token.set_short_token("dpt_Ab12...9xYz");
  *token.mutable_create_time() = At(kNow);
  const std::string table = TokenTable({token}, kNow);
  EXPECT_NE(table.find("ID"), std::string::npos);
  EXPECT_NE(table.find("tok_1  ci"), std::string::npos);
  EXPECT_NE(table.find("never"), std::string::npos);
}

}  // namespace
}  // namespace tokens::cli
