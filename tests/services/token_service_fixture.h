// A TokenServer on a real port and a real database file under TEST_TMPDIR, with
// a FakeClock, plus stubs and helpers that tests of TokenService share.
// Test-only.
#ifndef TESTS_SERVICES_TOKEN_SERVICE_FIXTURE_H_
#define TESTS_SERVICES_TOKEN_SERVICE_FIXTURE_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/fake_clock.h"
#include "gtest/gtest.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "services/token_server.h"

namespace tokens::testing {

class TokenServiceTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Starts (or restarts) the server on the same data directory.
  void StartServer(TokenServerOptions options = {});
  void StopServer();

  // A context carrying `authorization: Bearer <key>`.
  std::unique_ptr<grpc::ClientContext> As(const std::string& key) const;
  std::unique_ptr<grpc::ClientContext> AsAdmin() const {
    return As(admin_key_);
  }

  // Creates a token as admin; fails the test on error.
  v1::CreateTokenResponse Create(const std::string& deployment,
                                 const std::string& name,
                                 int expiration_days = 0);

  // Opens WatchTokens as the verifier and reads messages until `until` holds
  // for the last one (or 10 s pass). Returns all messages read.
  std::vector<v1::WatchTokensResponse> Watch(
      int64_t since_revision, const std::string& deployment,
      const std::function<bool(const v1::WatchTokensResponse&)>& until);
  // The revision of a fresh snapshot.
  int64_t CurrentRevision();
  // The digests (hex) of a full snapshot, by token id.
  std::map<std::string, std::vector<std::string>> SnapshotDigests();
  int AuditCount(const std::string& deployment);

  std::string data_dir_;
  FakeClock clock_{absl::FromUnixSeconds(1800000000)};
  std::unique_ptr<TokenServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TokenService::Stub> stub_;
  std::string admin_key_;
  std::string verifier_key_;
  TokenServerOptions options_;
};

// Digest of a value as hex, as the feed carries it (in bytes).
std::string DigestHex(const std::string& value);
std::string BytesHex(const std::string& bytes);

}  // namespace tokens::testing

#endif  // TESTS_SERVICES_TOKEN_SERVICE_FIXTURE_H_
