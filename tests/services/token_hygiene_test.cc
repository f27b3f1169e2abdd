// Token hygiene over real gRPC on a real SQLite file, with a fake clock:
// ListTokens' order_by and expire_before, where a token was used, reuse
// sightings (audit, last_reuse_time, --on-reuse revoke) and the expiry
// sweeper's warnings, each exactly once, also across a restart.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/proto_time.h"
#include "tests/services/token_service_fixture.h"

namespace tokens::testing {
namespace {

class TokenHygieneTest : public TokenServiceTest {
 protected:
  grpc::Status List(const v1::ListTokensRequest& request,
                    v1::ListTokensResponse* response) {
    return stub_->ListTokens(AsAdmin().get(), request, response);
  }

  // Every page of `request` with page_size 2: the ids in order.
  std::vector<std::string> ListAllIds(v1::ListTokensRequest request) {
    request.set_page_size(2);
    std::vector<std::string> ids;
    do {
      v1::ListTokensResponse page;
      grpc::Status status = List(request, &page);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      for (const v1::Token& token : page.tokens()) ids.push_back(token.id());
      request.set_page_token(page.next_page_token());
    } while (!request.page_token().empty());
    return ids;
  }

  grpc::Status Report(const v1::ReportUsageRequest& request) {
    google::protobuf::Empty empty;
    return stub_->ReportUsage(As(verifier_key_).get(), request, &empty);
  }

  v1::Token Get(const std::string& id, grpc::Status* status = nullptr) {
    v1::GetTokenRequest request;
    request.set_id(id);
    v1::Token token;
    grpc::Status got = stub_->GetToken(AsAdmin().get(), request, &token);
    if (status != nullptr) *status = got;
    return token;
  }

  std::vector<v1::AuditEvent> Audit(const std::string& deployment) {
    v1::ListAuditEventsRequest request;
    request.set_deployment_id(deployment);
    request.set_page_size(1000);
    v1::ListAuditEventsResponse response;
    grpc::Status status =
        stub_->ListAuditEvents(AsAdmin().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.events().begin(), response.events().end()};
  }

  // action -> how many times, for `deployment`.
  std::map<std::string, int> ActionCounts(const std::string& deployment) {
    std::map<std::string, int> counts;
    for (const v1::AuditEvent& event : Audit(deployment)) {
      ++counts[event.action()];
    }
    return counts;
  }

  v1::ReuseSighting Sighting(const std::string& token_id,
                             const std::string& client) {
    v1::ReuseSighting sighting;
    sighting.set_token_id(token_id);
    TimeToProto(clock_.Now(), sighting.mutable_time());
    sighting.set_client_address(client);
    sighting.set_count(3);
    return sighting;
  }
};

void ExpectInvalid(const grpc::Status& status, const std::string& field) {
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_TRUE(absl::StrContains(status.error_message(), field))
      << status.error_message();
}

TEST_F(TokenHygieneTest, ListTokensInEveryOrderAcrossPages) {
  // Created one second apart: c (never expires), a (30 days), b (5 days),
  // d (60 days).
  const std::string c = Create("dep-a", "charlie", 0).token().id();
  clock_.Advance(absl::Seconds(1));
  const std::string a = Create("dep-a", "alpha", 30).token().id();
  clock_.Advance(absl::Seconds(1));
  const std::string b = Create("dep-a", "bravo", 5).token().id();
  clock_.Advance(absl::Seconds(1));
  const std::string d = Create("dep-a", "delta", 60).token().id();
  Create("dep-b", "other deployment", 1);

  v1::ListTokensRequest request;
  request.set_deployment_id("dep-a");
  EXPECT_EQ(ListAllIds(request), (std::vector<std::string>{c, a, b, d}));
  request.set_order_by("create_time");
  EXPECT_EQ(ListAllIds(request), (std::vector<std::string>{c, a, b, d}));
  request.set_order_by("name");
  EXPECT_EQ(ListAllIds(request), (std::vector<std::string>{a, b, c, d}));
  request.set_order_by("expire_time");  // Never-expiring last.
  EXPECT_EQ(ListAllIds(request), (std::vector<std::string>{b, a, d, c}));

  // Used tokens by last use; never-used first.
  v1::ReportUsageRequest usage;
  usage.set_verifier_name("verifier-1");
  for (const auto& [id, seconds_ago] :
       std::vector<std::pair<std::string, int>>{{d, 10}, {a, 20}}) {
    v1::TokenUsage* entry = usage.add_usages();
    entry->set_token_id(id);
    TimeToProto(clock_.Now() - absl::Seconds(seconds_ago),
                entry->mutable_last_used_time());
  }
  ASSERT_TRUE(Report(usage).ok());
  request.set_order_by("last_used_time");  // Ties (never used) by id.
  EXPECT_EQ(ListAllIds(request),
            (std::vector<std::string>{std::min(b, c), std::max(b, c), a, d}));
}

TEST_F(TokenHygieneTest, ExpireBeforeFiltersAndCounts) {
  const std::string soon = Create("dep-a", "soon", 5).token().id();
  Create("dep-a", "later", 60);
  Create("dep-a", "never", 0);
  const std::string tomorrow = Create("dep-a", "tomorrow", 1).token().id();

  v1::ListTokensRequest request;
  request.set_deployment_id("dep-a");
  request.set_order_by("expire_time");
  TimeToProto(clock_.Now() + absl::Hours(24 * 7),
              request.mutable_expire_before());
  v1::ListTokensResponse response;
  ASSERT_TRUE(List(request, &response).ok());
  ASSERT_EQ(response.tokens_size(), 2);
  EXPECT_EQ(response.tokens(0).id(), tomorrow);
  EXPECT_EQ(response.tokens(1).id(), soon);
  EXPECT_EQ(response.total_size(), 2);
  EXPECT_EQ(ListAllIds(request), (std::vector<std::string>{tomorrow, soon}));
}

TEST_F(TokenHygieneTest, BadListArgumentsNameTheField) {
  Create("dep-a", "one", 5);
  v1::ListTokensRequest request;
  request.set_deployment_id("dep-a");
  v1::ListTokensResponse response;

  request.set_order_by("color");
  ExpectInvalid(List(request, &response), "order_by");
  request.set_order_by("");
  request.mutable_expire_before()->set_seconds(-1);
  ExpectInvalid(List(request, &response), "expire_before");

  // A page token continues only the listing it was made for.
  for (int i = 0; i < 3; ++i) Create("dep-a", "more", 5);
  request.clear_expire_before();
  request.set_page_size(2);
  request.set_order_by("name");
  ASSERT_TRUE(List(request, &response).ok());
  ASSERT_FALSE(response.next_page_token().empty());
  request.set_page_token(response.next_page_token());
  request.set_order_by("expire_time");
  ExpectInvalid(List(request, &response), "page_token");
  request.set_order_by("name");
  TimeToProto(clock_.Now() + absl::Hours(24), request.mutable_expire_before());
  ExpectInvalid(List(request, &response), "page_token");
  request.clear_expire_before();
  EXPECT_TRUE(List(request, &response).ok());
}

TEST_F(TokenHygieneTest, LastUsedByShowsVerifierAndClient) {
  const std::string id = Create("dep-a", "ci", 30).token().id();
  v1::ReportUsageRequest usage;
  usage.set_verifier_name("pod-7.payments");
  v1::TokenUsage* entry = usage.add_usages();
  entry->set_token_id(id);
  TimeToProto(clock_.Now(), entry->mutable_last_used_time());
  entry->set_client_address("203.0.113.9");
  ASSERT_TRUE(Report(usage).ok());
  const v1::Token token = Get(id);
  ASSERT_TRUE(token.has_last_used_time());
  EXPECT_EQ(token.last_used_by().verifier(), "pod-7.payments");
  EXPECT_EQ(token.last_used_by().client_address(), "203.0.113.9");
}

TEST_F(TokenHygieneTest, BadUsageReportsNameTheFieldAndRecordNothing) {
  const std::string id = Create("dep-a", "ci", 30).token().id();
  v1::ReportUsageRequest usage;
  usage.set_verifier_name("has space");
  ExpectInvalid(Report(usage), "verifier_name");
  usage.set_verifier_name(std::string(254, 'v'));
  ExpectInvalid(Report(usage), "verifier_name");

  usage.set_verifier_name("verifier-1");
  v1::TokenUsage* entry = usage.add_usages();
  entry->set_token_id(id);
  TimeToProto(clock_.Now(), entry->mutable_last_used_time());
  entry->set_client_address(std::string(65, '1'));
  ExpectInvalid(Report(usage), "usages.client_address");
  EXPECT_FALSE(Get(id).has_last_used_time());

  usage.clear_usages();
  *usage.add_reuse_sightings() = Sighting("", "10.0.0.1");
  ExpectInvalid(Report(usage), "reuse_sightings.token_id");
  usage.mutable_reuse_sightings(0)->set_token_id(id);
  usage.mutable_reuse_sightings(0)->set_client_address("10.0.0.1\n");
  ExpectInvalid(Report(usage), "reuse_sightings.client_address");
  usage.mutable_reuse_sightings(0)->set_client_address("10.0.0.1");
  usage.mutable_reuse_sightings(0)->set_count(-1);
  ExpectInvalid(Report(usage), "reuse_sightings.count");
  EXPECT_EQ(ActionCounts("dep-a").count("token.reuse_detected"), 0u);
}

TEST_F(TokenHygieneTest, ReuseIsAuditedWithVerifierAndClient) {
  const std::string rotated = Create("dep-a", "rotated", 30).token().id();
  const std::string deleted = Create("dep-a", "deleted", 30).token().id();
  v1::RotateTokenRequest rotate;
  rotate.set_id(rotated);
  v1::RotateTokenResponse rotated_response;
  ASSERT_TRUE(
      stub_->RotateToken(AsAdmin().get(), rotate, &rotated_response).ok());
  v1::DeleteTokenRequest remove;
  remove.set_id(deleted);
  google::protobuf::Empty empty;
  ASSERT_TRUE(stub_->DeleteToken(AsAdmin().get(), remove, &empty).ok());

  clock_.Advance(absl::Minutes(5));
  v1::ReportUsageRequest report;
  report.set_verifier_name("pod-7.payments");
  *report.add_reuse_sightings() = Sighting(rotated, "203.0.113.9");
  *report.add_reuse_sightings() = Sighting(deleted, "198.51.100.4");
  // A token the service never knew is ignored, not an error.
  *report.add_reuse_sightings() = Sighting("tok_never", "198.51.100.5");
  ASSERT_TRUE(Report(report).ok());

  std::map<std::string, std::string> detail_by_token;
  for (const v1::AuditEvent& event : Audit("dep-a")) {
    if (event.action() != "token.reuse_detected") continue;
    EXPECT_EQ(event.principal(), "verifier");
    EXPECT_EQ(event.outcome(), "OK");
    detail_by_token[event.token_id()] = event.detail();
  }
  ASSERT_EQ(detail_by_token.size(), 2u);
  EXPECT_TRUE(
      absl::StrContains(detail_by_token[rotated], "verifier=pod-7.payments"));
  EXPECT_TRUE(
      absl::StrContains(detail_by_token[rotated], "client=203.0.113.9"));
  EXPECT_TRUE(
      absl::StrContains(detail_by_token[deleted], "client=198.51.100.4"));
  EXPECT_TRUE(absl::StrContains(detail_by_token[deleted], "count=3"));

  // The rotated token still exists: it shows the reuse and keeps verifying.
  grpc::Status status;
  const v1::Token token = Get(rotated, &status);
  ASSERT_TRUE(status.ok());
  ASSERT_TRUE(token.has_last_reuse_time());
  EXPECT_EQ(TimeFromProto(token.last_reuse_time()), clock_.Now());
  EXPECT_TRUE(absl::StrContains(server_->RenderMetrics(),
                                "token_service_reuse_detected_total 2\n"));
}

TEST_F(TokenHygieneTest, OnReuseRevokeDeletesTheCurrentValue) {
  TokenServerOptions options = options_;
  options.on_reuse = ReusePolicy::kRevoke;
  StopServer();
  StartServer(options);
  const std::string id = Create("dep-a", "leaked", 30).token().id();
  v1::RotateTokenRequest rotate;
  rotate.set_id(id);
  v1::RotateTokenResponse rotated;
  ASSERT_TRUE(stub_->RotateToken(AsAdmin().get(), rotate, &rotated).ok());

  v1::ReportUsageRequest report;
  report.set_verifier_name("pod-1");
  *report.add_reuse_sightings() = Sighting(id, "203.0.113.9");
  ASSERT_TRUE(Report(report).ok());

  grpc::Status status;
  Get(id, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  bool deleted_by_policy = false;
  for (const v1::AuditEvent& event : Audit("dep-a")) {
    if (event.action() == "token.delete" &&
        event.principal() == "policy:on-reuse") {
      deleted_by_policy = true;
    }
  }
  EXPECT_TRUE(deleted_by_policy);
  // The feed carries the deletion: the current value stops verifying.
  const auto snapshot = SnapshotDigests();
  EXPECT_EQ(snapshot.count(id), 0u);
  EXPECT_TRUE(absl::StrContains(server_->RenderMetrics(),
                                "token_service_reuse_revoked_total 1\n"));
}

TEST_F(TokenHygieneTest, ExpiryWarningsOncePerThresholdAcrossRestarts) {
  const std::string id = Create("dep-a", "pipeline", 10).token().id();
  Create("dep-a", "forever", 0);
  auto sweep_twice = [this] {
    ASSERT_TRUE(server_->expiry_sweeper().SweepOnce().ok());
    ASSERT_TRUE(server_->expiry_sweeper().SweepOnce().ok());
  };
  auto expiring = [this](int days) {
    int n = 0;
    for (const v1::AuditEvent& event : Audit("dep-a")) {
      if (event.action() == "token.expiring" &&
          absl::StrContains(event.detail(), absl::StrCat("days=", days))) {
        ++n;
      }
    }
    return n;
  };

  sweep_twice();  // 10 days left: within 30.
  EXPECT_EQ(expiring(30), 1);
  EXPECT_EQ(expiring(7), 0);
  EXPECT_TRUE(absl::StrContains(server_->RenderMetrics(),
                                "token_service_tokens_expiring{within=\"30d\"} "
                                "1\n"));
  EXPECT_TRUE(
      absl::StrContains(server_->RenderMetrics(),
                        "token_service_tokens_expiring{within=\"7d\"} 0\n"));

  clock_.Advance(absl::Hours(24 * 4));  // 6 days left.
  sweep_twice();
  EXPECT_EQ(expiring(7), 1);
  EXPECT_TRUE(
      absl::StrContains(server_->RenderMetrics(),
                        "token_service_tokens_expiring{within=\"7d\"} 1\n"));

  // A restart forgets nothing: no second notice.
  StopServer();
  StartServer(options_);
  sweep_twice();
  EXPECT_EQ(expiring(30), 1);
  EXPECT_EQ(expiring(7), 1);

  clock_.Advance(absl::Hours(24 * 5) + absl::Hours(12));  // 12 hours left.
  sweep_twice();
  EXPECT_EQ(expiring(1), 1);
  clock_.Advance(absl::Hours(13));  // Expired.
  sweep_twice();
  StopServer();
  StartServer(options_);
  sweep_twice();
  const std::map<std::string, int> counts = ActionCounts("dep-a");
  EXPECT_EQ(counts.at("token.expiring"), 3);
  EXPECT_EQ(counts.at("token.expired"), 1);
  for (const v1::AuditEvent& event : Audit("dep-a")) {
    if (absl::StartsWith(event.action(), "token.expir")) {
      EXPECT_EQ(event.token_id(), id);
      EXPECT_EQ(event.principal(), "system:expiry-sweeper");
    }
  }
}

}  // namespace
}  // namespace tokens::testing
