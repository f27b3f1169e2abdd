// End-to-end fixture: a real TokenService (in-process, real port, real SQLite
// file) and a real verifier sidecar (VerifierServer, in-process, real ports),
// both on the same FakeClock, so that expiry, grace periods and staleness are
// moved by the test instead of waited for. Test-only.
#ifndef TESTS_VERIFIER_VERIFIER_FIXTURE_H_
#define TESTS_VERIFIER_VERIFIER_FIXTURE_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "tests/services/token_service_fixture.h"
#include "tests/testing/http_client.h"
#include "verifier/verifier_server.h"

namespace tokens::testing {

// How long a test waits for something that should happen within ~100 ms (a
// revocation reaching the verifier) or a few seconds (a reconnect). Generous:
// CI machines are slow and busy.
inline constexpr absl::Duration kPropagationBound = absl::Seconds(10);

// Check over `stub`; a failed RPC fails the test.
v1::CheckResponse CheckWith(v1::Verifier::Stub* stub, const std::string& token,
                            const std::string& deployment,
                            const std::string& operation);

class VerifierTest : public TokenServiceTest {
 protected:
  void TearDown() override;

  // Options pointing at the fixture's TokenService, with ports 0 and its
  // verifier key.
  VerifierOptions DefaultVerifierOptions() const;
  // Starts the verifier; fails the test on error.
  void StartVerifier(VerifierOptions options);
  void StartVerifier() { StartVerifier(DefaultVerifierOptions()); }
  void StopVerifier();
  // Stops the TokenService and starts it again on the same port and data
  // directory.
  void RestartServerOnSamePort(TokenServerOptions options);
  // Stops the TokenService, runs `changes` against it on another port (out of
  // the verifier's sight), then brings it back on its original port.
  void ChangeWhileVerifierIsAway(const std::function<void()>& changes);

  void StartServerOnPort(int port, TokenServerOptions options);

  // Check over gRPC; a failed RPC fails the test.
  v1::CheckResponse Check(const std::string& token,
                          const std::string& deployment,
                          const std::string& operation);
  // Polls Check until it answers `want` or kPropagationBound passes; returns
  // the last answer.
  v1::CheckResponse WaitForReason(const std::string& token,
                                  const std::string& deployment,
                                  const std::string& operation,
                                  v1::Reason want);
  // Waits until the verifier reports ready.
  bool WaitUntilReady();

  HttpResult Http(
      const std::string& target,
      const std::vector<std::pair<std::string, std::string>>& headers = {});
  HttpResult ForwardAuth(const std::string& token,
                         const std::string& deployment,
                         const std::string& operation);

  v1::Token GetToken(const std::string& id);

  std::unique_ptr<VerifierServer> verifier_;
  std::shared_ptr<grpc::Channel> verifier_channel_;
  std::unique_ptr<v1::Verifier::Stub> verifier_stub_;
};

}  // namespace tokens::testing

#endif  // TESTS_VERIFIER_VERIFIER_FIXTURE_H_
