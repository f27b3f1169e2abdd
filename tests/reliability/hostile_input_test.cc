// Hostile values on every field of every RPC (TokenService and the verifier's
// Check): huge strings, NUL bytes, invalid UTF-8, SQL and format
// metacharacters, control characters, negative and overflowing numbers, and
// messages over 4 MiB. Every answer must be a decision, INVALID_ARGUMENT,
// NOT_FOUND or RESOURCE_EXHAUSTED (never INTERNAL, UNKNOWN, UNIMPLEMENTED or
// UNAVAILABLE); a value that is accepted is stored and returned byte for byte;
// and after every case the server still serves and the database is intact.
#include <google/protobuf/stubs/logging.h>

#include <climits>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/services/token_service_fixture.h"
#include "tests/testing/server_process.h"
#include "tests/testing/sqlite_integrity.h"
#include "verifier/verifier_server.h"

namespace tokens::testing {
namespace {

using ::grpc::StatusCode;

struct HostileString {
  std::string label;
  std::string value;
};

std::vector<HostileString> HostileStrings() {
  return {
      {"empty", ""},
      {"nul", std::string("a\0b", 3)},
      {"only_nul", std::string(1, '\0')},
      {"invalid_utf8", "\xff\xfe\xfd"},
      {"overlong_utf8", "\xc0\xaf"},
      {"surrogate_utf8", "\xed\xa0\x80"},
      {"truncated_utf8", "abc\xe2\x82"},
      {"sql_quote", "x'; DROP TABLE tokens; --"},
      {"sql_like", "%_%\\"},
      {"format", "%s%n%x{}{0}"},
      {"path", "../../../../etc/passwd"},
      {"control", "a\x01\x1b[31m\x7f"},
      {"newline_json", "a\n\"}{\"level\":\"error\""},
      {"rtl_override",
       "\xe2\x80\xae"
       "abc"},
      {"token_lookalike",
       "dpt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA000000"},
      {"1k", std::string(1025, 'a')},
      {"64k", std::string(64 * 1024, 'b')},
      {"1m_utf8",
       [] {
         std::string s;
         for (int i = 0; i < 256 * 1024; ++i) s += "\xe2\x82\xac";  // €
         return s;
       }()},
      {"over_4m", std::string(4 * 1024 * 1024 + 16, 'c')},
  };
}

std::vector<int64_t> HostileNumbers() {
  return {-1,      INT32_MIN, INT32_MAX, INT32_MAX - 1, 366, 86401,
          1000000, INT64_MIN, INT64_MAX, -86400,        0};
}

bool Acceptable(StatusCode code) {
  return code == StatusCode::OK || code == StatusCode::INVALID_ARGUMENT ||
         code == StatusCode::NOT_FOUND ||
         code == StatusCode::RESOURCE_EXHAUSTED;
}

class HostileInputTest : public TokenServiceTest {
 protected:
  void SetUp() override {
    // The client serializes invalid UTF-8 on purpose; silence protobuf's
    // complaint about each one.
    google::protobuf::SetLogHandler(nullptr);
    TokenServiceTest::SetUp();
    canary_ = Create("canary", "canary");
  }

  // The server still answers a good request, and the database is intact.
  void ExpectStillHealthy(const std::string& what) {
    v1::GetTokenRequest request;
    request.set_id(canary_.token().id());
    v1::Token token;
    grpc::Status status = stub_->GetToken(AsAdmin().get(), request, &token);
    EXPECT_TRUE(status.ok()) << what << ": " << status.error_message();
    EXPECT_EQ(token.name(), "canary") << what;
  }

  void Expect(const std::string& what, const grpc::Status& status) {
    ++tried_;
    EXPECT_TRUE(Acceptable(status.error_code()))
        << what << " -> " << status.error_code() << " "
        << status.error_message().substr(0, 200);
    if (!status.ok()) {
      // Errors never echo a huge or binary input back.
      EXPECT_LE(status.error_message().size(), 1024u) << what;
    }
  }

  std::string IntegrityCheck() {
    return SqliteIntegrityCheck(data_dir_ + "/tokens.db", /*read_only=*/true);
  }

  v1::CreateTokenResponse canary_;
  int tried_ = 0;
};

TEST_F(HostileInputTest, EveryStringFieldOfEveryRpc) {
  const std::string id = canary_.token().id();
  using Call = std::function<grpc::Status(const std::string&)>;
  std::vector<std::pair<std::string, Call>> fields = {
      {"CreateToken.deployment_id",
       [&](const std::string& v) {
         v1::CreateTokenRequest r;
         r.set_deployment_id(v);
         r.set_name("n");
         v1::CreateTokenResponse out;
         return stub_->CreateToken(AsAdmin().get(), r, &out);
       }},
      {"CreateToken.name",
       [&](const std::string& v) {
         v1::CreateTokenRequest r;
         r.set_deployment_id("hostile");
         r.set_name(v);
         v1::CreateTokenResponse out;
         grpc::Status s = stub_->CreateToken(AsAdmin().get(), r, &out);
         if (s.ok()) {
           EXPECT_EQ(out.token().name(), v) << "stored byte for byte";
           v1::GetTokenRequest get;
           get.set_id(out.token().id());
           v1::Token back;
           EXPECT_TRUE(stub_->GetToken(AsAdmin().get(), get, &back).ok());
           EXPECT_EQ(back.name(), v);
         }
         return s;
       }},
      {"CreateToken.description",
       [&](const std::string& v) {
         v1::CreateTokenRequest r;
         r.set_deployment_id("hostile");
         r.set_name("n");
         r.set_description(v);
         v1::CreateTokenResponse out;
         grpc::Status s = stub_->CreateToken(AsAdmin().get(), r, &out);
         if (s.ok()) {
           EXPECT_EQ(out.token().description(), v);
         }
         return s;
       }},
      {"GetToken.id",
       [&](const std::string& v) {
         v1::GetTokenRequest r;
         r.set_id(v);
         v1::Token out;
         return stub_->GetToken(AsAdmin().get(), r, &out);
       }},
      {"ListTokens.deployment_id",
       [&](const std::string& v) {
         v1::ListTokensRequest r;
         r.set_deployment_id(v);
         v1::ListTokensResponse out;
         return stub_->ListTokens(AsAdmin().get(), r, &out);
       }},
      {"ListTokens.page_token",
       [&](const std::string& v) {
         v1::ListTokensRequest r;
         r.set_deployment_id("canary");
         r.set_page_token(v);
         v1::ListTokensResponse out;
         return stub_->ListTokens(AsAdmin().get(), r, &out);
       }},
      {"UpdateToken.id",
       [&](const std::string& v) {
         v1::UpdateTokenRequest r;
         r.set_id(v);
         r.set_name("n");
         v1::Token out;
         return stub_->UpdateToken(AsAdmin().get(), r, &out);
       }},
      {"UpdateToken.name",
       [&](const std::string& v) {
         v1::UpdateTokenRequest r;
         r.set_id(id);
         r.set_name(v);
         r.mutable_update_mask()->add_paths("name");
         v1::Token out;
         grpc::Status s = stub_->UpdateToken(AsAdmin().get(), r, &out);
         if (s.ok()) {
           EXPECT_EQ(out.name(), v);
         }
         // Put the canary's name back for ExpectStillHealthy.
         v1::UpdateTokenRequest back;
         back.set_id(id);
         back.set_name("canary");
         stub_->UpdateToken(AsAdmin().get(), back, &out);
         return s;
       }},
      {"UpdateToken.description",
       [&](const std::string& v) {
         v1::UpdateTokenRequest r;
         r.set_id(id);
         r.set_description(v);
         r.mutable_update_mask()->add_paths("description");
         v1::Token out;
         return stub_->UpdateToken(AsAdmin().get(), r, &out);
       }},
      {"UpdateToken.update_mask",
       [&](const std::string& v) {
         v1::UpdateTokenRequest r;
         r.set_id(id);
         r.set_name("canary");
         r.mutable_update_mask()->add_paths(v);
         v1::Token out;
         return stub_->UpdateToken(AsAdmin().get(), r, &out);
       }},
      {"DeleteToken.id",
       [&](const std::string& v) {
         v1::DeleteTokenRequest r;
         r.set_id(v);
         google::protobuf::Empty out;
         return stub_->DeleteToken(AsAdmin().get(), r, &out);
       }},
      {"RotateToken.id",
       [&](const std::string& v) {
         v1::RotateTokenRequest r;
         r.set_id(v);
         v1::RotateTokenResponse out;
         return stub_->RotateToken(AsAdmin().get(), r, &out);
       }},
      {"ListAuditEvents.deployment_id",
       [&](const std::string& v) {
         v1::ListAuditEventsRequest r;
         r.set_deployment_id(v);
         v1::ListAuditEventsResponse out;
         return stub_->ListAuditEvents(AsAdmin().get(), r, &out);
       }},
      {"ListAuditEvents.page_token",
       [&](const std::string& v) {
         v1::ListAuditEventsRequest r;
         r.set_deployment_id("canary");
         r.set_page_token(v);
         v1::ListAuditEventsResponse out;
         return stub_->ListAuditEvents(AsAdmin().get(), r, &out);
       }},
      {"WatchTokens.deployment_id",
       [&](const std::string& v) {
         auto ctx = As(verifier_key_);
         v1::WatchTokensRequest r;
         r.set_deployment_id(v);
         auto reader = stub_->WatchTokens(ctx.get(), r);
         v1::WatchTokensResponse m;
         while (reader->Read(&m)) {
           if (m.snapshot_complete()) {
             ctx->TryCancel();
             break;
           }
         }
         grpc::Status s = reader->Finish();
         return s.error_code() == StatusCode::CANCELLED ? grpc::Status::OK : s;
       }},
      {"ReportUsage.token_id",
       [&](const std::string& v) {
         v1::ReportUsageRequest r;
         r.add_usages()->set_token_id(v);
         google::protobuf::Empty out;
         return stub_->ReportUsage(As(verifier_key_).get(), r, &out);
       }},
  };

  for (const auto& [field, call] : fields) {
    for (const HostileString& hostile : HostileStrings()) {
      const std::string what = absl::StrCat(field, " = ", hostile.label);
      grpc::Status status = call(hostile.value);
      Expect(what, status);
      // Invalid UTF-8 in update_mask.paths is an ordinary bad value too: the
      // field is named, not answered UNIMPLEMENTED by the parser.
      if (field == "UpdateToken.update_mask" &&
          absl::StrContains(hostile.label, "utf8") &&
          hostile.label != "1m_utf8") {
        EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT) << what;
        EXPECT_NE(status.error_message().find("update_mask"), std::string::npos)
            << what << ": " << status.error_message();
      }
      if (hostile.value.size() > 4 * 1024 * 1024) {
        EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED) << what;
      }
      ExpectStillHealthy(what);
    }
  }
  EXPECT_EQ(IntegrityCheck(), "ok");
  std::printf("hostile input summary: string cases tried=%d\n", tried_);
}

TEST_F(HostileInputTest, EveryNumberField) {
  const std::string id = canary_.token().id();
  for (int64_t n : HostileNumbers()) {
    const std::string label = absl::StrCat(n);
    {
      v1::CreateTokenRequest r;
      r.set_deployment_id("hostile");
      r.set_name("n");
      r.set_expiration_days(static_cast<int32_t>(n));
      v1::CreateTokenResponse out;
      grpc::Status s = stub_->CreateToken(AsAdmin().get(), r, &out);
      Expect("CreateToken.expiration_days = " + label, s);
      const int32_t days = static_cast<int32_t>(n);
      EXPECT_EQ(s.ok(), days >= 0 && days <= 365) << label;
    }
    for (int which = 0; which < 2; ++which) {
      grpc::Status s;
      if (which == 0) {
        v1::ListTokensRequest r;
        r.set_deployment_id("canary");
        r.set_page_size(static_cast<int32_t>(n));
        v1::ListTokensResponse out;
        s = stub_->ListTokens(AsAdmin().get(), r, &out);
      } else {
        v1::ListAuditEventsRequest r;
        r.set_deployment_id("canary");
        r.set_page_size(static_cast<int32_t>(n));
        v1::ListAuditEventsResponse out;
        s = stub_->ListAuditEvents(AsAdmin().get(), r, &out);
      }
      Expect("page_size = " + label, s);
      const int32_t size = static_cast<int32_t>(n);
      EXPECT_EQ(s.ok(), size >= 0 && size <= 1000) << label;
    }
    {
      // A throwaway token so an accepted rotation does not disturb the canary.
      auto victim = Create("hostile", "victim");
      v1::RotateTokenRequest r;
      r.set_id(victim.token().id());
      r.set_grace_period_seconds(static_cast<int32_t>(n));
      v1::RotateTokenResponse out;
      grpc::Status s = stub_->RotateToken(AsAdmin().get(), r, &out);
      Expect("RotateToken.grace_period_seconds = " + label, s);
      const int32_t grace = static_cast<int32_t>(n);
      EXPECT_EQ(s.ok(), grace >= 0 && grace <= 86400) << label;
    }
    {
      auto ctx = As(verifier_key_);
      v1::WatchTokensRequest r;
      r.set_since_revision(n);
      auto reader = stub_->WatchTokens(ctx.get(), r);
      v1::WatchTokensResponse m;
      bool first = reader->Read(&m);
      if (first) {
        // Ahead of the service or never seen: a fresh snapshot, never a
        // partial replay.
        if (n > CurrentRevision() || n < 0) {
          EXPECT_EQ(m.kind(), v1::WatchTokensResponse::SNAPSHOT) << label;
        }
        ctx->TryCancel();
      }
      grpc::Status s = reader->Finish();
      if (s.error_code() == StatusCode::CANCELLED) s = grpc::Status::OK;
      Expect("WatchTokens.since_revision = " + label, s);
      if (n < 0) {
        EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
      }
    }
    {
      v1::ReportUsageRequest r;
      auto* usage = r.add_usages();
      usage->set_token_id(id);
      usage->mutable_last_used_time()->set_seconds(n);
      usage->mutable_last_used_time()->set_nanos(
          static_cast<int32_t>(n % 2 == 0 ? -1 : INT32_MAX));
      google::protobuf::Empty out;
      Expect("ReportUsage.last_used_time = " + label,
             stub_->ReportUsage(As(verifier_key_).get(), r, &out));
    }
    ExpectStillHealthy(label);
  }
  {
    // More usages than allowed in one report.
    v1::ReportUsageRequest r;
    for (int i = 0; i < 10001; ++i) r.add_usages()->set_token_id(id);
    google::protobuf::Empty out;
    grpc::Status s = stub_->ReportUsage(As(verifier_key_).get(), r, &out);
    Expect("ReportUsage.usages = 10001", s);
    EXPECT_EQ(s.error_code(), StatusCode::INVALID_ARGUMENT);
  }
  EXPECT_EQ(IntegrityCheck(), "ok");
  std::printf("hostile input summary: number cases tried=%d\n", tried_);
}

TEST_F(HostileInputTest, HostileCallerKeys) {
  for (const std::string& key :
       {std::string("'; DROP TABLE callers; --"),
        std::string("dpt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA000000"),
        canary_.secret(), std::string(4000, 'k')}) {
    v1::GetTokenRequest r;
    r.set_id(canary_.token().id());
    v1::Token out;
    grpc::Status s = stub_->GetToken(As(key).get(), r, &out);
    EXPECT_TRUE(s.error_code() == StatusCode::UNAUTHENTICATED ||
                s.error_code() == StatusCode::PERMISSION_DENIED)
        << s.error_code();
    ++tried_;
  }
  {
    // A 64 KiB header is over gRPC's metadata limit: the transport refuses it
    // (RESOURCE_EXHAUSTED, or UNAVAILABLE when it resets the connection)
    // before our code runs. Its own channel, so the reset touches nothing else.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // no shared socket
    auto stub = v1::TokenService::NewStub(
        grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                  grpc::InsecureChannelCredentials(), args));
    v1::GetTokenRequest r;
    r.set_id(canary_.token().id());
    v1::Token out;
    grpc::Status s =
        stub->GetToken(As(std::string(64 * 1024, 'k')).get(), r, &out);
    EXPECT_TRUE(s.error_code() == StatusCode::RESOURCE_EXHAUSTED ||
                s.error_code() == StatusCode::UNAVAILABLE)
        << s.error_code();
    ++tried_;
  }
  ExpectStillHealthy("caller keys");
}

TEST_F(HostileInputTest, VerifierCheckFields) {
  VerifierOptions options;
  options.feed_wait_clock = RealClock();
  options.listen = "127.0.0.1:0";
  options.http_listen = "127.0.0.1:0";
  options.token_service = absl::StrCat("127.0.0.1:", server_->port());
  options.key_file = data_dir_ + "/verifier.key";
  auto verifier = VerifierServer::BuildAndStart(options, &clock_);
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  ASSERT_TRUE(
      WaitFor([&] { return (*verifier)->IsReady(); }, absl::Seconds(10)));
  auto stub = v1::Verifier::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*verifier)->grpc_port()),
                          grpc::InsecureChannelCredentials()));
  for (int field = 0; field < 3; ++field) {
    for (const HostileString& hostile : HostileStrings()) {
      v1::CheckRequest r;
      r.set_token(canary_.secret());
      r.set_deployment_id("canary");
      r.set_operation("deployment.get");
      if (field == 0) r.set_token(hostile.value);
      if (field == 1) r.set_deployment_id(hostile.value);
      if (field == 2) r.set_operation(hostile.value);
      v1::CheckResponse out;
      grpc::ClientContext ctx;
      grpc::Status s = stub->Check(&ctx, r, &out);
      const std::string what =
          absl::StrCat("Check field ", field, " = ", hostile.label);
      Expect(what, s);
      EXPECT_FALSE(s.ok() && out.allowed()) << what << " must not allow";
      // The good request still succeeds.
      v1::CheckRequest good;
      good.set_token(canary_.secret());
      good.set_deployment_id("canary");
      good.set_operation("deployment.get");
      grpc::ClientContext ctx2;
      ASSERT_TRUE(stub->Check(&ctx2, good, &out).ok()) << what;
      EXPECT_TRUE(out.allowed()) << what;
    }
  }
  (*verifier)->Shutdown(absl::Seconds(1));
  std::printf("hostile input summary: Check cases tried=%d\n", tried_);
}

}  // namespace
}  // namespace tokens::testing
