// The verifier sidecar against a real TokenService: tokens are created, rotated
// and deleted over gRPC with the admin key, and the verifier learns of it
// through the change feed.
#include <string>

#include "absl/strings/str_cat.h"
#include "common/token_value.h"
#include "gtest/gtest.h"
#include "tests/testing/raw_grpc.h"
#include "tests/testing/server_process.h"
#include "tests/verifier/verifier_fixture.h"

namespace tokens::testing {
namespace {

constexpr char kDeployment[] = "dep-1";
constexpr char kOther[] = "dep-2";

class VerifierE2eTest : public VerifierTest {
 protected:
  // For tests that move the fake clock by more than max-staleness: heartbeats
  // must not go stale meanwhile.
  VerifierOptions PatientVerifierOptions() const {
    VerifierOptions options = DefaultVerifierOptions();
    options.max_staleness = absl::Hours(48);
    return options;
  }

  // Creates a token and waits until the verifier allows it.
  v1::CreateTokenResponse CreateAndSync(const std::string& deployment,
                                        int expiration_days = 0) {
    v1::CreateTokenResponse created =
        Create(deployment, "ci token", expiration_days);
    EXPECT_EQ(WaitForReason(created.secret(), deployment, "deployment.get",
                            v1::ALLOWED)
                  .reason(),
              v1::ALLOWED);
    return created;
  }

  v1::RotateTokenResponse Rotate(const std::string& id, int grace_seconds) {
    v1::RotateTokenRequest request;
    request.set_id(id);
    request.set_grace_period_seconds(grace_seconds);
    v1::RotateTokenResponse response;
    grpc::Status status =
        stub_->RotateToken(AsAdmin().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  void Delete(const std::string& id) {
    v1::DeleteTokenRequest request;
    request.set_id(id);
    google::protobuf::Empty empty;
    grpc::Status status = stub_->DeleteToken(AsAdmin().get(), request, &empty);
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
};

TEST_F(VerifierE2eTest, DecisionTableAgainstRealTokenService) {
  StartVerifier();
  ASSERT_TRUE(WaitUntilReady());
  v1::CreateTokenResponse token = CreateAndSync(kDeployment, 30);
  const std::string& value = token.secret();

  for (const char* op :
       {"deployment.get", "deployment.update", "deployment.delete",
        "deployment.logs.get", "deployment.metrics.get",
        "deployment.deploys.get", "deployment.deploys.create",
        "deployment.deploys.update", "deployment.envVars.get",
        "deployment.envVars.create", "deployment.envVars.update",
        "deployment.envVars.delete", "deployment.hibernation.update",
        "deployment.airflow.connections.create",
        "deployment.airflow.variables.update",
        "deployment.airflow.pools.delete"}) {
    v1::CheckResponse r = Check(value, kDeployment, op);
    EXPECT_TRUE(r.allowed()) << op;
    EXPECT_EQ(r.reason(), v1::ALLOWED) << op;
    EXPECT_EQ(r.token_id(), token.token().id()) << op;
    EXPECT_EQ(r.expire_time().seconds(), token.token().expire_time().seconds());
  }
  for (const char* op :
       {"workspace.alerts.create", "workspace.update",
        "workspace.members.create", "deployment.create",
        "deployment.apiTokens.create", "deployment.apiTokens.update",
        "deployment.apiTokens.delete", "deployment.apiTokens.rotate",
        "organization.update"}) {
    v1::CheckResponse r = Check(value, kDeployment, op);
    EXPECT_FALSE(r.allowed()) << op;
    EXPECT_EQ(r.reason(), v1::OPERATION_NOT_PERMITTED) << op;
  }
  EXPECT_EQ(Check(value, kDeployment, "deployment.selfDestruct").reason(),
            v1::UNKNOWN_OPERATION);
  v1::CheckResponse wrong = Check(value, kOther, "deployment.get");
  EXPECT_EQ(wrong.reason(), v1::WRONG_DEPLOYMENT);
  EXPECT_EQ(wrong.token_id(), token.token().id());
  std::string tampered = value;
  tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
  EXPECT_EQ(Check(tampered, kDeployment, "deployment.get").reason(),
            v1::MALFORMED_TOKEN);
  EXPECT_EQ(Check("", kDeployment, "deployment.get").reason(),
            v1::MALFORMED_TOKEN);
  // Well-formed, but TokenService never issued it.
  EXPECT_EQ(
      Check(*GenerateTokenValue(), kDeployment, "deployment.get").reason(),
      v1::UNKNOWN_TOKEN);

  // The same decisions through HTTP forward-auth.
  HttpResult allowed =
      ForwardAuth(value, kDeployment, "deployment.envVars.create");
  EXPECT_EQ(allowed.status, 200) << allowed.error;
  EXPECT_EQ(allowed.headers["x-token-id"], token.token().id());
  EXPECT_EQ(ForwardAuth(value, kDeployment, "workspace.alerts.create").status,
            403);
  EXPECT_EQ(ForwardAuth(value, kOther, "deployment.get").status, 403);
  EXPECT_EQ(ForwardAuth(tampered, kDeployment, "deployment.get").status, 401);
  EXPECT_EQ(
      Http("/v1/authorize", {{"Authorization", "Bearer " + value}}).status,
      400);
}

TEST_F(VerifierE2eTest, DeletedTokenIsDeniedSoonAfterDeleteReturns) {
  StartVerifier();
  v1::CreateTokenResponse token = CreateAndSync(kDeployment);
  Delete(token.token().id());
  const absl::Time returned = absl::Now();
  v1::CheckResponse r = WaitForReason(token.secret(), kDeployment,
                                      "deployment.get", v1::REVOKED_TOKEN);
  const absl::Duration lag = absl::Now() - returned;
  EXPECT_EQ(r.reason(), v1::REVOKED_TOKEN);
  EXPECT_EQ(r.token_id(), token.token().id());
  EXPECT_FALSE(r.allowed());
  RecordProperty("revocation_lag_us",
                 std::to_string(absl::ToInt64Microseconds(lag)));
  EXPECT_EQ(ForwardAuth(token.secret(), kDeployment, "deployment.get").status,
            401);
}

TEST_F(VerifierE2eTest, RotatedValueStopsVerifyingSoonAfterRotateReturns) {
  StartVerifier();
  v1::CreateTokenResponse token = CreateAndSync(kDeployment, 7);
  v1::RotateTokenResponse rotated = Rotate(token.token().id(), 0);
  v1::CheckResponse old_value = WaitForReason(
      token.secret(), kDeployment, "deployment.get", v1::REVOKED_TOKEN);
  EXPECT_EQ(old_value.reason(), v1::REVOKED_TOKEN);
  EXPECT_EQ(old_value.token_id(), token.token().id());
  v1::CheckResponse fresh = WaitForReason(rotated.secret(), kDeployment,
                                          "deployment.get", v1::ALLOWED);
  EXPECT_TRUE(fresh.allowed());
  EXPECT_EQ(fresh.token_id(), token.token().id());
}

TEST_F(VerifierE2eTest, RotatedValueVerifiesDuringGracePeriodOnly) {
  StartVerifier(PatientVerifierOptions());
  v1::CreateTokenResponse token = CreateAndSync(kDeployment);
  v1::RotateTokenResponse rotated = Rotate(token.token().id(), 60);
  ASSERT_EQ(WaitForReason(rotated.secret(), kDeployment, "deployment.get",
                          v1::ALLOWED)
                .reason(),
            v1::ALLOWED);
  // Within the grace period both values verify, as the same token.
  v1::CheckResponse old_value =
      Check(token.secret(), kDeployment, "deployment.get");
  EXPECT_TRUE(old_value.allowed());
  EXPECT_EQ(old_value.token_id(), token.token().id());

  clock_.Advance(absl::Seconds(59));
  EXPECT_TRUE(Check(token.secret(), kDeployment, "deployment.get").allowed());
  clock_.Advance(absl::Seconds(1));
  v1::CheckResponse after =
      Check(token.secret(), kDeployment, "deployment.get");
  EXPECT_EQ(after.reason(), v1::REVOKED_TOKEN);
  EXPECT_EQ(after.token_id(), token.token().id());
  EXPECT_TRUE(Check(rotated.secret(), kDeployment, "deployment.get").allowed());
}

TEST_F(VerifierE2eTest, ExpiredTokenIsDeniedAsExpired) {
  StartVerifier(PatientVerifierOptions());
  v1::CreateTokenResponse token = CreateAndSync(kDeployment, 1);
  clock_.Advance(absl::Hours(24) - absl::Seconds(1));
  EXPECT_TRUE(Check(token.secret(), kDeployment, "deployment.get").allowed());
  clock_.Advance(absl::Seconds(1));
  v1::CheckResponse r = Check(token.secret(), kDeployment, "deployment.get");
  EXPECT_EQ(r.reason(), v1::EXPIRED);
  EXPECT_FALSE(r.allowed());
  EXPECT_EQ(r.token_id(), token.token().id());
  EXPECT_EQ(ForwardAuth(token.secret(), kDeployment, "deployment.get").status,
            401);
}

TEST_F(VerifierE2eTest,
       LastUsedTimeReachesTokenServiceWithinTwoReportIntervals) {
  constexpr absl::Duration kInterval = absl::Seconds(1);
  VerifierOptions options = PatientVerifierOptions();
  options.usage_report_interval = kInterval;
  StartVerifier(options);
  v1::CreateTokenResponse token = CreateAndSync(kDeployment);
  clock_.Advance(absl::Minutes(3));
  const absl::Time used_at = clock_.Now();
  ASSERT_TRUE(Check(token.secret(), kDeployment, "deployment.get").allowed());
  v1::Token stored;
  EXPECT_TRUE(WaitFor(
      [&] {
        stored = GetToken(token.token().id());
        return stored.has_last_used_time() &&
               stored.last_used_time().seconds() >=
                   absl::ToUnixSeconds(used_at);
      },
      2 * kInterval))
      << stored.DebugString();
  EXPECT_EQ(stored.last_used_time().seconds(), absl::ToUnixSeconds(used_at));
}

TEST_F(VerifierE2eTest, DeploymentFlagLimitsTheCacheToOneDeployment) {
  v1::CreateTokenResponse mine = Create(kDeployment, "mine");
  v1::CreateTokenResponse theirs = Create(kOther, "theirs");
  VerifierOptions options = DefaultVerifierOptions();
  options.deployment = kDeployment;
  StartVerifier(options);
  ASSERT_EQ(
      WaitForReason(mine.secret(), kDeployment, "deployment.get", v1::ALLOWED)
          .reason(),
      v1::ALLOWED);
  EXPECT_EQ(Check(theirs.secret(), kOther, "deployment.get").reason(),
            v1::UNKNOWN_TOKEN);
  EXPECT_EQ(verifier_->cache().state().token_count, 1u);
  // Changes to other Deployments are filtered out of the live feed too.
  v1::CreateTokenResponse later = Create(kOther, "later");
  v1::CreateTokenResponse mine_later = Create(kDeployment, "mine later");
  ASSERT_EQ(WaitForReason(mine_later.secret(), kDeployment, "deployment.get",
                          v1::ALLOWED)
                .reason(),
            v1::ALLOWED);
  EXPECT_EQ(Check(later.secret(), kOther, "deployment.get").reason(),
            v1::UNKNOWN_TOKEN);
  EXPECT_EQ(verifier_->cache().state().token_count, 2u);
}

TEST_F(VerifierE2eTest, StaleVerifierFailsClosedAndRecovers) {
  StartVerifier();
  v1::CreateTokenResponse token = CreateAndSync(kDeployment);
  // The fake clock runs past max-staleness before the next heartbeat can
  // arrive.
  clock_.Advance(absl::Seconds(31));
  EXPECT_EQ(Check(token.secret(), kDeployment, "deployment.get").reason(),
            v1::NOT_READY);
  EXPECT_EQ(Http("/readyz").status, 503);
  EXPECT_EQ(ForwardAuth(token.secret(), kDeployment, "deployment.get").status,
            503);
  // The next heartbeat (about a second later) makes it fresh again.
  EXPECT_TRUE(WaitUntilReady());
  EXPECT_EQ(Http("/readyz").status, 200);
  EXPECT_TRUE(Check(token.secret(), kDeployment, "deployment.get").allowed());
}

TEST_F(VerifierE2eTest, GrpcHealthFollowsReadinessAndReflectionListsVerifier) {
  StartVerifier();
  ASSERT_TRUE(WaitUntilReady());
  EXPECT_TRUE(WaitFor(
      [&] {
        auto all = HealthCheck(verifier_channel_, "");
        auto verifier = HealthCheck(verifier_channel_, "tokens.v1.Verifier");
        return all.ok() && *all == 1 && verifier.ok() && *verifier == 1;
      },
      kPropagationBound));
  auto services = ReflectionListServices(verifier_channel_);
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_NE(std::find(services->begin(), services->end(), "tokens.v1.Verifier"),
            services->end());
  EXPECT_EQ(Http("/healthz").status, 200);
}

TEST_F(VerifierE2eTest, NeverSyncedVerifierIsNotReady) {
  VerifierOptions options = DefaultVerifierOptions();
  StopServer();  // nothing to sync from
  StartVerifier(options);
  EXPECT_EQ(
      Check(*GenerateTokenValue(), kDeployment, "deployment.get").reason(),
      v1::NOT_READY);
  EXPECT_EQ(Http("/readyz").status, 503);
  EXPECT_EQ(Http("/healthz").status, 200);
  auto health = HealthCheck(verifier_channel_, "tokens.v1.Verifier");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, 2);  // NOT_SERVING
}

TEST_F(VerifierE2eTest, ResumesFromItsRevisionAfterTokenServiceRestart) {
  StartVerifier();
  v1::CreateTokenResponse kept = CreateAndSync(kDeployment);
  v1::CreateTokenResponse deleted = CreateAndSync(kDeployment);
  ASSERT_EQ(verifier_->metrics().snapshots(), 1u);
  const int64_t revision_before = verifier_->cache().state().revision;

  v1::CreateTokenResponse added;
  ChangeWhileVerifierIsAway([&] {
    Delete(deleted.token().id());
    added = Create(kDeployment, "added");
  });

  EXPECT_EQ(
      WaitForReason(added.secret(), kDeployment, "deployment.get", v1::ALLOWED)
          .reason(),
      v1::ALLOWED);
  EXPECT_EQ(WaitForReason(deleted.secret(), kDeployment, "deployment.get",
                          v1::REVOKED_TOKEN)
                .reason(),
            v1::REVOKED_TOKEN);
  EXPECT_TRUE(Check(kept.secret(), kDeployment, "deployment.get").allowed());
  EXPECT_GE(verifier_->metrics().reconnects(), 1u);
  EXPECT_EQ(verifier_->metrics().snapshots(), 1u) << "resumed, no new snapshot";
  EXPECT_GT(verifier_->cache().state().revision, revision_before);
}

TEST_F(VerifierE2eTest, FreshSnapshotWhenItsRevisionIsNoLongerRetained) {
  TokenServerOptions short_memory = options_;
  short_memory.change_retention = 1;
  RestartServerOnSamePort(short_memory);
  StartVerifier();
  v1::CreateTokenResponse first = CreateAndSync(kDeployment);
  ASSERT_EQ(verifier_->metrics().snapshots(), 1u);

  // While the verifier is away, enough changes happen to push its revision out
  // of the log.
  v1::CreateTokenResponse second, third;
  ChangeWhileVerifierIsAway([&] {
    Delete(first.token().id());
    second = Create(kDeployment, "second");
    third = Create(kDeployment, "third");
  });

  EXPECT_EQ(
      WaitForReason(third.secret(), kDeployment, "deployment.get", v1::ALLOWED)
          .reason(),
      v1::ALLOWED);
  EXPECT_TRUE(Check(second.secret(), kDeployment, "deployment.get").allowed());
  // The snapshot carries the revoked values too.
  v1::CheckResponse revoked =
      Check(first.secret(), kDeployment, "deployment.get");
  EXPECT_EQ(revoked.reason(), v1::REVOKED_TOKEN);
  EXPECT_EQ(revoked.token_id(), first.token().id());
  EXPECT_EQ(verifier_->metrics().snapshots(), 2u);
}

// A verifier that starts after the revocations learns of them from its first
// snapshot; past its --revoked-retention they are UNKNOWN_TOKEN.
TEST_F(VerifierE2eTest, VerifierStartedAfterRevocationsRecognisesThem) {
  v1::CreateTokenResponse deleted = Create(kDeployment, "deleted");
  v1::CreateTokenResponse rotated = Create(kDeployment, "rotated");
  Delete(deleted.token().id());
  v1::RotateTokenResponse fresh = Rotate(rotated.token().id(), 0);
  VerifierOptions options = PatientVerifierOptions();
  options.revoked.retention = absl::Hours(24);
  StartVerifier(options);
  ASSERT_TRUE(WaitUntilReady());
  for (const auto& [value, id] :
       {std::pair{deleted.secret(), deleted.token().id()},
        std::pair{rotated.secret(), rotated.token().id()}}) {
    v1::CheckResponse r = Check(value, kDeployment, "deployment.get");
    EXPECT_EQ(r.reason(), v1::REVOKED_TOKEN);
    EXPECT_EQ(r.token_id(), id);
    EXPECT_EQ(ForwardAuth(value, kDeployment, "deployment.get").status, 401);
  }
  EXPECT_TRUE(Check(fresh.secret(), kDeployment, "deployment.get").allowed());
  EXPECT_EQ(
      Check(*GenerateTokenValue(), kDeployment, "deployment.get").reason(),
      v1::UNKNOWN_TOKEN);

  clock_.Advance(absl::Hours(24) + absl::Seconds(1));
  EXPECT_EQ(Check(deleted.secret(), kDeployment, "deployment.get").reason(),
            v1::UNKNOWN_TOKEN);
}

// A reuse reaches TokenService: the token shows when one of its revoked
// values was last presented.
TEST_F(VerifierE2eTest, ReuseOfARotatedAwayValueIsReportedToTokenService) {
  VerifierOptions options = DefaultVerifierOptions();
  options.usage_report_interval = absl::Milliseconds(50);
  options.name = "e2e-verifier";
  StartVerifier(options);
  v1::CreateTokenResponse token = CreateAndSync(kDeployment);
  Rotate(token.token().id(), 0);
  ASSERT_EQ(WaitForReason(token.secret(), kDeployment, "deployment.get",
                          v1::REVOKED_TOKEN)
                .reason(),
            v1::REVOKED_TOKEN);
  EXPECT_TRUE(WaitFor(
      [&] { return GetToken(token.token().id()).has_last_reuse_time(); },
      kPropagationBound));
}

}  // namespace
}  // namespace tokens::testing
