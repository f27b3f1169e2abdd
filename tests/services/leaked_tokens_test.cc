// Leaked tokens over real gRPC on a real SQLite file, with a fake clock:
// ReportLeakedTokens (revokes at once, audited as token.leaked, a reporter's
// answers byte-identical whatever it sent, the reporter's rate limit, every
// bad input), LookupTokens, and RotateSelf (allowed, denied, grace period,
// the bad-value throttle).
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/token_value.h"
#include "services/caller_registry.h"
#include "tests/services/token_service_fixture.h"

namespace tokens::testing {
namespace {

class LeakedTokensTest : public TokenServiceTest {
 protected:
  void SetUp() override {
    TokenServiceTest::SetUp();
    // A secret scanner's key, as an operator adds it to the credentials file.
    reporter_key_ = *CallerRegistry::GenerateKey();
    const std::string path = data_dir_ + "/credentials";
    const std::string text = *ReadFile(path);
    ASSERT_TRUE(
        WritePrivateFile(
            path,
            absl::StrCat(text, "scanner reporter ",
                         CallerRegistry::KeyDigestHex(reporter_key_), "\n"))
            .ok());
    StopServer();
    StartServer(options_);
  }

  v1::CreateTokenResponse CreateSelfRotating(const std::string& name) {
    v1::CreateTokenRequest request;
    request.set_deployment_id("prod");
    request.set_name(name);
    request.set_expiration_days(30);
    request.set_self_rotate(true);
    v1::CreateTokenResponse response;
    grpc::Status status =
        stub_->CreateToken(AsAdmin().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  grpc::Status Report(const std::string& key,
                      const v1::ReportLeakedTokensRequest& request,
                      v1::ReportLeakedTokensResponse* response) {
    return stub_->ReportLeakedTokens(As(key).get(), request, response);
  }

  grpc::Status RotateSelf(const std::string& value, int grace_seconds,
                          v1::RotateTokenResponse* response) {
    v1::RotateSelfRequest request;
    request.set_grace_period_seconds(grace_seconds);
    return stub_->RotateSelf(As(value).get(), request, response);
  }

  grpc::Status Get(const std::string& id, v1::Token* token = nullptr) {
    v1::GetTokenRequest request;
    request.set_id(id);
    v1::Token got;
    return stub_->GetToken(AsAdmin().get(), request, token ? token : &got);
  }

  std::vector<v1::AuditEvent> Audit(const std::string& deployment) {
    v1::ListAuditEventsRequest request;
    request.set_deployment_id(deployment);
    request.set_page_size(1000);
    v1::ListAuditEventsResponse response;
    EXPECT_TRUE(
        stub_->ListAuditEvents(AsAdmin().get(), request, &response).ok());
    return {response.events().begin(), response.events().end()};
  }

  std::string reporter_key_;
};

std::string Lookalike() {
  std::string value = *GenerateTokenValue();
  value.back() = value.back() == 'A' ? 'B' : 'A';  // Breaks the checksum.
  return value;
}

TEST_F(LeakedTokensTest, AReportedValueIsRevokedAtOnceAndAudited) {
  v1::CreateTokenResponse leaked = Create("prod", "leaked");
  v1::CreateTokenResponse kept = Create("prod", "kept");
  v1::ReportLeakedTokensRequest request;
  request.add_values(leaked.secret());
  request.set_location(
      absl::StrCat("https://example.com/ci.log line 7: ", leaked.secret()));
  v1::ReportLeakedTokensResponse response;
  grpc::Status status = Report(reporter_key_, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.received(), 1);
  EXPECT_EQ(response.results_size(), 0);  // A reporter learns nothing.

  EXPECT_EQ(Get(leaked.token().id()).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(Get(kept.token().id()).ok());
  // The feed no longer carries its digest.
  auto digests = SnapshotDigests();
  EXPECT_EQ(digests.count(leaked.token().id()), 0u);
  EXPECT_EQ(digests.count(kept.token().id()), 1u);

  std::vector<v1::AuditEvent> audit = Audit("prod");
  ASSERT_FALSE(audit.empty());
  const v1::AuditEvent& event = audit.front();  // newest first
  EXPECT_EQ(event.action(), "token.leaked");
  EXPECT_EQ(event.principal(), "scanner");
  EXPECT_EQ(event.token_id(), leaked.token().id());
  EXPECT_EQ(event.outcome(), "OK");
  EXPECT_TRUE(absl::StrContains(event.detail(), "https://example.com/ci.log"))
      << event.detail();
  // The value pasted into the location is stored as its hint only.
  EXPECT_FALSE(absl::StrContains(event.detail(), leaked.secret()));
  EXPECT_TRUE(absl::StrContains(event.detail(), leaked.token().short_token()))
      << event.detail();
}

TEST_F(LeakedTokensTest, AReportersAnswersAreByteIdenticalWhateverItSent) {
  v1::CreateTokenResponse live = Create("prod", "live");
  auto answer = [&](const std::vector<std::string>& values) {
    v1::ReportLeakedTokensRequest request;
    for (const std::string& value : values) request.add_values(value);
    request.set_location("repo");
    v1::ReportLeakedTokensResponse response;
    grpc::Status status = Report(reporter_key_, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.SerializeAsString();
  };
  const std::string for_live = answer({live.secret(), "x"});
  const std::string for_unknown = answer({*GenerateTokenValue(), "x"});
  const std::string for_lookalikes = answer({Lookalike(), live.secret()});
  EXPECT_EQ(for_live, for_unknown);
  EXPECT_EQ(for_live, for_lookalikes);  // live.secret() is revoked by now
  EXPECT_FALSE(for_live.empty());
  EXPECT_EQ(Get(live.token().id()).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(LeakedTokensTest, AnAdminGetsOneResultPerEntryValuesThenDigests) {
  v1::CreateTokenResponse by_value = Create("prod", "by-value");
  v1::CreateTokenResponse by_digest = Create("staging", "by-digest");
  v1::ReportLeakedTokensRequest request;
  request.add_values(by_value.secret());
  request.add_values(Lookalike());
  request.add_digests(DigestToBytes(DigestOf(by_digest.secret())));
  request.add_digests(DigestToBytes(DigestOf(*GenerateTokenValue())));
  v1::ReportLeakedTokensResponse response;
  ASSERT_TRUE(Report(admin_key_, request, &response).ok());
  EXPECT_EQ(response.received(), 4);
  ASSERT_EQ(response.results_size(), 4);
  EXPECT_EQ(response.results(0).outcome(), v1::LeakResult::REVOKED);
  EXPECT_EQ(response.results(0).token_id(), by_value.token().id());
  EXPECT_EQ(response.results(0).deployment_id(), "prod");
  EXPECT_EQ(response.results(1).outcome(), v1::LeakResult::NOT_LIVE);
  EXPECT_EQ(response.results(2).outcome(), v1::LeakResult::REVOKED);
  EXPECT_EQ(response.results(2).deployment_id(), "staging");
  EXPECT_EQ(response.results(3).outcome(), v1::LeakResult::NOT_LIVE);
  // Reported again: nothing is live any more.
  ASSERT_TRUE(Report(admin_key_, request, &response).ok());
  for (const v1::LeakResult& result : response.results()) {
    EXPECT_EQ(result.outcome(), v1::LeakResult::NOT_LIVE);
  }
}

TEST_F(LeakedTokensTest, AValueInsideItsGracePeriodIsLiveAndRevoked) {
  v1::CreateTokenResponse created = Create("prod", "graceful", 30);
  v1::RotateTokenRequest rotate;
  rotate.set_id(created.token().id());
  rotate.set_grace_period_seconds(3600);
  v1::RotateTokenResponse rotated;
  ASSERT_TRUE(stub_->RotateToken(AsAdmin().get(), rotate, &rotated).ok());
  v1::ReportLeakedTokensRequest request;
  request.add_values(created.secret());  // the old value, still verifying
  v1::ReportLeakedTokensResponse response;
  ASSERT_TRUE(Report(admin_key_, request, &response).ok());
  ASSERT_EQ(response.results_size(), 1);
  EXPECT_EQ(response.results(0).outcome(), v1::LeakResult::REVOKED);
  EXPECT_EQ(Get(created.token().id()).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(LeakedTokensTest, AnExpiredValueIsNotLive) {
  v1::CreateTokenResponse created = Create("prod", "old", 1);
  clock_.Advance(absl::Hours(25));
  v1::LookupTokensRequest lookup;
  lookup.add_digests(DigestToBytes(DigestOf(created.secret())));
  v1::LookupTokensResponse found;
  ASSERT_TRUE(stub_->LookupTokens(AsAdmin().get(), lookup, &found).ok());
  ASSERT_EQ(found.results_size(), 1);
  EXPECT_FALSE(found.results(0).live());
}

TEST_F(LeakedTokensTest, LookupTellsLiveFromDeadByDigest) {
  v1::CreateTokenResponse live = Create("prod", "live one");
  v1::LookupTokensRequest request;
  request.add_digests(DigestToBytes(DigestOf(live.secret())));
  request.add_digests(DigestToBytes(DigestOf(*GenerateTokenValue())));
  v1::LookupTokensResponse response;
  ASSERT_TRUE(stub_->LookupTokens(AsAdmin().get(), request, &response).ok());
  ASSERT_EQ(response.results_size(), 2);
  EXPECT_TRUE(response.results(0).live());
  EXPECT_EQ(response.results(0).token_id(), live.token().id());
  EXPECT_EQ(response.results(0).deployment_id(), "prod");
  EXPECT_EQ(response.results(0).name(), "live one");
  EXPECT_FALSE(response.results(1).live());
  EXPECT_TRUE(response.results(1).token_id().empty());
  // Admin only: a reporter may not ask.
  EXPECT_EQ(stub_->LookupTokens(As(reporter_key_).get(), request, &response)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

struct BadReport {
  const char* name;
  std::function<void(v1::ReportLeakedTokensRequest*)> fill;
  const char* field;
};

TEST_F(LeakedTokensTest, BadReportsAreInvalidArgumentNamingTheField) {
  const std::string value = *GenerateTokenValue();
  const std::vector<BadReport> cases = {
      {"empty", [](v1::ReportLeakedTokensRequest*) {}, "values"},
      {"101 values",
       [&](v1::ReportLeakedTokensRequest* r) {
         for (int i = 0; i < 101; ++i) r->add_values(value);
       },
       "values"},
      {"60 values and 41 digests",
       [&](v1::ReportLeakedTokensRequest* r) {
         for (int i = 0; i < 60; ++i) r->add_values(value);
         for (int i = 0; i < 41; ++i) r->add_digests(std::string(32, 'd'));
       },
       "values"},
      {"short digest",
       [](v1::ReportLeakedTokensRequest* r) {
         r->add_digests(std::string(31, 'd'));
       },
       "digests"},
      {"location over 1 KiB",
       [&](v1::ReportLeakedTokensRequest* r) {
         r->add_values(value);
         r->set_location(std::string(1025, 'l'));
       },
       "location"},
      {"location with a control character",
       [&](v1::ReportLeakedTokensRequest* r) {
         r->add_values(value);
         r->set_location("a\x01z");
       },
       "location"},
  };
  for (const BadReport& bad : cases) {
    for (const std::string* key : {&admin_key_, &reporter_key_}) {
      v1::ReportLeakedTokensRequest request;
      bad.fill(&request);
      v1::ReportLeakedTokensResponse response;
      grpc::Status status = Report(*key, request, &response);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
          << bad.name;
      EXPECT_TRUE(absl::StartsWith(status.error_message(), bad.field))
          << bad.name << ": " << status.error_message();
      EXPECT_FALSE(absl::StrContains(status.error_message(), value));
    }
    clock_.Advance(absl::Seconds(10));  // refills the reporter's bucket
  }
  // Exactly 100 entries is fine.
  v1::ReportLeakedTokensRequest hundred;
  for (int i = 0; i < 100; ++i) hundred.add_values(Lookalike());
  hundred.set_location(std::string(1024, 'l'));
  v1::ReportLeakedTokensResponse response;
  EXPECT_TRUE(Report(reporter_key_, hundred, &response).ok());
  EXPECT_EQ(response.received(), 100);
}

TEST_F(LeakedTokensTest, ReportsNeedAReporterOrAdminKey) {
  v1::ReportLeakedTokensRequest request;
  request.add_values(*GenerateTokenValue());
  v1::ReportLeakedTokensResponse response;
  grpc::Status as_verifier = Report(verifier_key_, request, &response);
  EXPECT_EQ(as_verifier.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(as_verifier.error_message(),
                                "needs role reporter or admin"))
      << as_verifier.error_message();
  EXPECT_EQ(Report("", request, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // A reporter key cannot manage tokens.
  v1::GetTokenRequest get;
  get.set_id("tok_x");
  v1::Token token;
  EXPECT_EQ(stub_->GetToken(As(reporter_key_).get(), get, &token).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(LeakedTokensTest, AReporterIsRateLimitedAndAnAdminIsNot) {
  v1::ReportLeakedTokensRequest request;
  request.add_values(*GenerateTokenValue());
  v1::ReportLeakedTokensResponse response;
  int accepted = 0;
  grpc::Status status;
  while ((status = Report(reporter_key_, request, &response)).ok()) {
    ASSERT_LT(++accepted, 100);
  }
  EXPECT_EQ(accepted, 10);  // the burst; the fake clock does not move
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(Report(admin_key_, request, &response).ok());
  }
  clock_.Advance(absl::Seconds(1));  // earns one back
  EXPECT_TRUE(Report(reporter_key_, request, &response).ok());
  EXPECT_EQ(Report(reporter_key_, request, &response).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(LeakedTokensTest, RotateSelfRenewsTheTokenAsItself) {
  v1::CreateTokenResponse created = CreateSelfRotating("pipeline");
  EXPECT_TRUE(created.token().self_rotate());
  clock_.Advance(absl::Hours(24 * 20));
  v1::RotateTokenResponse rotated;
  grpc::Status status = RotateSelf(created.secret(), 0, &rotated);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(rotated.token().id(), created.token().id());
  EXPECT_NE(rotated.secret(), created.secret());
  EXPECT_TRUE(IsWellFormedTokenValue(rotated.secret()));
  EXPECT_EQ(rotated.token().updated_by(),
            absl::StrCat("token:", created.token().id()));
  // Renewed: 30 days from now.
  EXPECT_EQ(rotated.token().expire_time().seconds(),
            absl::ToUnixSeconds(clock_.Now() + absl::Hours(24 * 30)));
  // The old value is dead: it can neither rotate nor verify.
  EXPECT_EQ(RotateSelf(created.secret(), 0, &rotated).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  auto digests = SnapshotDigests()[created.token().id()];
  EXPECT_EQ(digests, std::vector<std::string>{DigestHex(rotated.secret())});

  std::vector<v1::AuditEvent> audit = Audit("prod");
  bool found = false;
  for (const v1::AuditEvent& event : audit) {
    if (event.action() == "token.rotate" && event.outcome() == "OK") {
      EXPECT_EQ(event.principal(),
                absl::StrCat("token:", created.token().id()));
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(LeakedTokensTest,
       RotateSelfWithAGracePeriodKeepsTheOldValueUntilItEnds) {
  v1::CreateTokenResponse created = CreateSelfRotating("pipeline");
  v1::RotateTokenResponse rotated;
  ASSERT_TRUE(RotateSelf(created.secret(), 3600, &rotated).ok());
  auto digests = SnapshotDigests()[created.token().id()];
  EXPECT_EQ(digests, (std::vector<std::string>{DigestHex(rotated.secret()),
                                               DigestHex(created.secret())}));
  // The old value verifies during the grace, but may not rotate again.
  v1::RotateTokenResponse again;
  grpc::Status status = RotateSelf(created.secret(), 0, &again);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "grace period"));
  // The new one may.
  EXPECT_TRUE(RotateSelf(rotated.secret(), 0, &again).ok());
}

TEST_F(LeakedTokensTest, RotateSelfIsRefusedWithTheRightCode) {
  v1::CreateTokenResponse plain = Create("prod", "no self rotation");
  v1::CreateTokenResponse allowed = CreateSelfRotating("pipeline");
  v1::CreateTokenResponse expiring = CreateSelfRotating("expiring");
  v1::RotateTokenResponse response;

  grpc::Status status = RotateSelf(plain.secret(), 0, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "self_rotate"));

  status = RotateSelf(allowed.secret(), 3601, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(status.error_message(), "grace_period_seconds"))
      << status.error_message();
  EXPECT_EQ(RotateSelf(allowed.secret(), -1, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // Malformed, look-alike, unknown, a caller key, nothing at all.
  for (const std::string& bad :
       {std::string("dpt_short"), Lookalike(), *GenerateTokenValue(),
        admin_key_, std::string()}) {
    status = RotateSelf(bad, 0, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << bad;
    EXPECT_FALSE(!bad.empty() &&
                 absl::StrContains(status.error_message(), bad));
  }
  // Deleted (revoked).
  v1::DeleteTokenRequest del;
  del.set_id(allowed.token().id());
  google::protobuf::Empty empty;
  ASSERT_TRUE(stub_->DeleteToken(AsAdmin().get(), del, &empty).ok());
  EXPECT_EQ(RotateSelf(allowed.secret(), 0, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // Expired.
  clock_.Advance(absl::Hours(24 * 31));
  EXPECT_EQ(RotateSelf(expiring.secret(), 0, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // None of them changed the token that was refused for its flag.
  v1::Token token;
  ASSERT_TRUE(Get(plain.token().id(), &token).ok());
  EXPECT_EQ(token.short_token(), plain.token().short_token());
}

TEST_F(LeakedTokensTest, BadValuesToRotateSelfAreThrottledPerClient) {
  v1::CreateTokenResponse allowed = CreateSelfRotating("pipeline");
  v1::RotateTokenResponse response;
  int refused = 0;
  grpc::Status status;
  while (
      (status = RotateSelf(*GenerateTokenValue(), 0, &response)).error_code() ==
      grpc::StatusCode::UNAUTHENTICATED) {
    ASSERT_LT(++refused, 100);
  }
  EXPECT_EQ(refused, 20);  // the default burst; the fake clock does not move
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // While throttled even a good value waits; time refills the bucket.
  EXPECT_EQ(RotateSelf(allowed.secret(), 0, &response).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  clock_.Advance(absl::Seconds(1));
  EXPECT_TRUE(RotateSelf(allowed.secret(), 0, &response).ok());
}

}  // namespace
}  // namespace tokens::testing
