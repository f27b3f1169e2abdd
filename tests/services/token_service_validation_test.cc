// What bad input and bad callers get from TokenService: INVALID_ARGUMENT naming
// the field, NOT_FOUND, UNAUTHENTICATED, PERMISSION_DENIED; and a rejected
// request changes nothing but leaves an audit entry.
#include "absl/strings/str_cat.h"
#include "tests/services/token_service_fixture.h"

namespace tokens::testing {
namespace {

using ::grpc::StatusCode;

struct BadCreate {
  std::string label;
  std::string deployment_id;
  std::string name;
  std::string description;
  int expiration_days;
  std::string field;
};

class CreateValidationTest : public TokenServiceTest,
                             public ::testing::WithParamInterface<BadCreate> {};

TEST_P(CreateValidationTest, IsInvalidArgumentNamingTheFieldAndChangesNothing) {
  const BadCreate& bad = GetParam();
  StopServer();
  TokenServerOptions options;
  options.max_expiration_days = 90;
  StartServer(options);
  const int64_t revision = CurrentRevision();
  const int audits = AuditCount("prod");

  v1::CreateTokenRequest request;
  request.set_deployment_id(bad.deployment_id);
  request.set_name(bad.name);
  request.set_description(bad.description);
  request.set_expiration_days(bad.expiration_days);
  v1::CreateTokenResponse response;
  grpc::Status status = stub_->CreateToken(AsAdmin().get(), request, &response);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message().rfind(bad.field + ":", 0), 0u)
      << status.error_message();
  EXPECT_TRUE(response.secret().empty());
  EXPECT_EQ(CurrentRevision(), revision);
  v1::ListTokensRequest list;
  list.set_deployment_id("prod");
  v1::ListTokensResponse listed;
  ASSERT_TRUE(stub_->ListTokens(AsAdmin().get(), list, &listed).ok());
  EXPECT_EQ(listed.total_size(), 0);
  if (bad.deployment_id == "prod") {
    EXPECT_EQ(AuditCount("prod"), audits + 1) << "the denial is audited";
  }
}

INSTANTIATE_TEST_SUITE_P(
    BadFields, CreateValidationTest,
    ::testing::Values(
        BadCreate{"EmptyName", "prod", "", "", 0, "name"},
        BadCreate{"Name257", "prod", std::string(257, 'n'), "", 0, "name"},
        BadCreate{"NameControl", "prod", "bad\x01name", "", 0, "name"},
        BadCreate{"NameNewline", "prod", "bad\nname", "", 0, "name"},
        BadCreate{"NameNul", "prod", std::string("a\0b", 3), "", 0, "name"},
        BadCreate{"Description1025", "prod", "n", std::string(1025, 'd'), 0,
                  "description"},
        BadCreate{"EmptyDeployment", "", "n", "", 0, "deployment_id"},
        BadCreate{"UpperDeployment", "Prod", "n", "", 0, "deployment_id"},
        BadCreate{"SqlDeployment", "x';drop table tokens;--", "n", "", 0,
                  "deployment_id"},
        BadCreate{"LongDeployment", std::string(65, 'a'), "n", "", 0,
                  "deployment_id"},
        BadCreate{"ExpirationNegative", "prod", "n", "", -1, "expiration_days"},
        BadCreate{"Expiration366", "prod", "n", "", 366, "expiration_days"},
        BadCreate{"ExpirationAboveServerMax", "prod", "n", "", 91,
                  "expiration_days"}),
    [](const auto& info) { return info.param.label; });

// Invalid UTF-8 cannot be sent in a proto3 `string` by a conforming client; raw
// bytes on the wire must still get INVALID_ARGUMENT naming the field, not
// INTERNAL.
TEST_F(TokenServiceTest, InvalidUtf8NameOnTheWireIsInvalidArgument) {
  const int64_t revision = CurrentRevision();
  v1::CreateTokenRequest request;
  request.set_deployment_id("prod");
  request.set_name("caf\xe9");  // Latin-1, not UTF-8.
  v1::CreateTokenResponse response;
  grpc::Status status = stub_->CreateToken(AsAdmin().get(), request, &response);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT)
      << status.error_message();
  EXPECT_NE(status.error_message().find("name"), std::string::npos)
      << status.error_message();
  EXPECT_EQ(CurrentRevision(), revision);
}

TEST_F(TokenServiceTest, PageSize1001IsInvalidArgument) {
  v1::ListTokensRequest list;
  list.set_deployment_id("prod");
  list.set_page_size(1001);
  v1::ListTokensResponse listed;
  grpc::Status status = stub_->ListTokens(AsAdmin().get(), list, &listed);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message().rfind("page_size:", 0), 0u);
}

TEST_F(TokenServiceTest, GarbagePageTokenIsInvalidArgument) {
  for (const char* garbage : {"garbage", "AAAA", "%%%", "dGFtcGVyZWQ"}) {
    v1::ListTokensRequest list;
    list.set_deployment_id("prod");
    list.set_page_token(garbage);
    v1::ListTokensResponse listed;
    grpc::Status status = stub_->ListTokens(AsAdmin().get(), list, &listed);
    EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT) << garbage;
    EXPECT_EQ(status.error_message().rfind("page_token:", 0), 0u);
    v1::ListAuditEventsRequest audit;
    audit.set_deployment_id("prod");
    audit.set_page_token(garbage);
    v1::ListAuditEventsResponse events;
    status = stub_->ListAuditEvents(AsAdmin().get(), audit, &events);
    EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT) << garbage;
  }
}

TEST_F(TokenServiceTest,
       UnknownFieldMaskPathIsInvalidArgumentAndChangesNothing) {
  v1::CreateTokenResponse created = Create("prod", "kept");
  const int64_t revision = CurrentRevision();
  v1::UpdateTokenRequest update;
  update.set_id(created.token().id());
  update.set_name("changed");
  update.mutable_update_mask()->add_paths("name");
  update.mutable_update_mask()->add_paths("deployment_id");
  v1::Token token;
  grpc::Status status = stub_->UpdateToken(AsAdmin().get(), update, &token);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message().rfind("update_mask:", 0), 0u);
  EXPECT_EQ(CurrentRevision(), revision);
  v1::GetTokenRequest get;
  get.set_id(created.token().id());
  ASSERT_TRUE(stub_->GetToken(AsAdmin().get(), get, &token).ok());
  EXPECT_EQ(token.name(), "kept");
}

TEST_F(TokenServiceTest, BadUpdateValuesNameTheField) {
  v1::CreateTokenResponse created = Create("prod", "kept");
  v1::UpdateTokenRequest update;
  update.set_id(created.token().id());
  update.mutable_update_mask()->add_paths("name");  // name empty
  v1::Token token;
  grpc::Status status = stub_->UpdateToken(AsAdmin().get(), update, &token);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message().rfind("name:", 0), 0u);
  update.clear_update_mask();
  update.set_description(std::string(1025, 'x'));
  status = stub_->UpdateToken(AsAdmin().get(), update, &token);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message().rfind("description:", 0), 0u);
}

TEST_F(TokenServiceTest, GracePeriodOutOfRangeIsInvalidArgument) {
  v1::CreateTokenResponse created = Create("prod", "t");
  for (int grace : {-1, 86401}) {
    v1::RotateTokenRequest rotate;
    rotate.set_id(created.token().id());
    rotate.set_grace_period_seconds(grace);
    v1::RotateTokenResponse rotated;
    grpc::Status status = stub_->RotateToken(AsAdmin().get(), rotate, &rotated);
    EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message().rfind("grace_period_seconds:", 0), 0u);
  }
}

TEST_F(TokenServiceTest, UnknownIdIsNotFoundForEveryRpc) {
  const std::string id = "tok_doesnotexist";
  v1::GetTokenRequest get;
  get.set_id(id);
  v1::Token token;
  EXPECT_EQ(stub_->GetToken(AsAdmin().get(), get, &token).error_code(),
            StatusCode::NOT_FOUND);
  v1::UpdateTokenRequest update;
  update.set_id(id);
  update.set_name("x");
  EXPECT_EQ(stub_->UpdateToken(AsAdmin().get(), update, &token).error_code(),
            StatusCode::NOT_FOUND);
  v1::RotateTokenRequest rotate;
  rotate.set_id(id);
  v1::RotateTokenResponse rotated;
  EXPECT_EQ(stub_->RotateToken(AsAdmin().get(), rotate, &rotated).error_code(),
            StatusCode::NOT_FOUND);
  v1::DeleteTokenRequest del;
  del.set_id(id);
  google::protobuf::Empty empty;
  EXPECT_EQ(stub_->DeleteToken(AsAdmin().get(), del, &empty).error_code(),
            StatusCode::NOT_FOUND);
  get.set_id("");
  EXPECT_EQ(stub_->GetToken(AsAdmin().get(), get, &token).error_code(),
            StatusCode::INVALID_ARGUMENT);
}

TEST_F(TokenServiceTest, MissingOrWrongKeyIsUnauthenticatedAndAudited) {
  v1::CreateTokenRequest request;
  request.set_deployment_id("prod");
  request.set_name("n");
  v1::CreateTokenResponse response;
  const int audits = AuditCount("prod");
  for (const std::string& key : {std::string(), std::string("tkk_wrong")}) {
    grpc::Status status = stub_->CreateToken(As(key).get(), request, &response);
    EXPECT_EQ(status.error_code(), StatusCode::UNAUTHENTICATED);
  }
  auto ctx = AsAdmin();
  grpc::ClientContext raw;
  raw.AddMetadata("authorization", "Basic " + admin_key_);
  EXPECT_EQ(stub_->CreateToken(&raw, request, &response).error_code(),
            StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(AuditCount("prod"), audits + 3);
  v1::ListAuditEventsRequest list;
  list.set_deployment_id("prod");
  v1::ListAuditEventsResponse events;
  ASSERT_TRUE(stub_->ListAuditEvents(AsAdmin().get(), list, &events).ok());
  EXPECT_EQ(events.events(0).outcome(), "UNAUTHENTICATED");
  EXPECT_EQ(events.events(0).principal(), "anonymous");
  EXPECT_EQ(CurrentRevision(), 0);
}

TEST_F(TokenServiceTest, VerifierKeyCannotManageTokens) {
  v1::CreateTokenRequest request;
  request.set_deployment_id("prod");
  request.set_name("n");
  v1::CreateTokenResponse response;
  grpc::Status status =
      stub_->CreateToken(As(verifier_key_).get(), request, &response);
  EXPECT_EQ(status.error_code(), StatusCode::PERMISSION_DENIED);
  v1::ListTokensRequest list;
  list.set_deployment_id("prod");
  v1::ListTokensResponse listed;
  EXPECT_EQ(
      stub_->ListTokens(As(verifier_key_).get(), list, &listed).error_code(),
      StatusCode::PERMISSION_DENIED);
}

TEST_F(TokenServiceTest, AdminKeyCannotWatchTheFeed) {
  auto ctx = AsAdmin();
  v1::WatchTokensRequest request;
  auto reader = stub_->WatchTokens(ctx.get(), request);
  v1::WatchTokensResponse message;
  EXPECT_FALSE(reader->Read(&message));
  EXPECT_EQ(reader->Finish().error_code(), StatusCode::PERMISSION_DENIED);
}

TEST_F(TokenServiceTest, DeploymentApiTokenIsNeverACallerCredential) {
  v1::CreateTokenResponse created = Create("prod", "automation");
  v1::ListTokensRequest list;
  list.set_deployment_id("prod");
  v1::ListTokensResponse listed;
  grpc::Status status =
      stub_->ListTokens(As(created.secret()).get(), list, &listed);
  EXPECT_EQ(status.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message().find(created.secret()), std::string::npos);
  v1::DeleteTokenRequest del;
  del.set_id(created.token().id());
  google::protobuf::Empty empty;
  EXPECT_EQ(
      stub_->DeleteToken(As(created.secret()).get(), del, &empty).error_code(),
      StatusCode::PERMISSION_DENIED);
  v1::GetTokenRequest get;
  get.set_id(created.token().id());
  v1::Token token;
  EXPECT_TRUE(stub_->GetToken(AsAdmin().get(), get, &token).ok());
}

TEST_F(TokenServiceTest, NegativeSinceRevisionIsInvalidArgument) {
  auto ctx = As(verifier_key_);
  v1::WatchTokensRequest request;
  request.set_since_revision(-1);
  auto reader = stub_->WatchTokens(ctx.get(), request);
  v1::WatchTokensResponse message;
  EXPECT_FALSE(reader->Read(&message));
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("since_revision"), std::string::npos);
}

}  // namespace
}  // namespace tokens::testing
