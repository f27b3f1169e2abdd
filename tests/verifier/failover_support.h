// Helpers for the failover tests: an admin client of one TokenService
// replica, a wait that checks the verifier's readiness on every round, and
// the feed target a verifier's /metrics names. Test-only.
#ifndef TESTS_VERIFIER_FAILOVER_SUPPORT_H_
#define TESTS_VERIFIER_FAILOVER_SUPPORT_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"

namespace tokens::testing {

// Talks to one replica as admin; a failed call fails the test.
class ReplicaAdmin {
 public:
  ReplicaAdmin(const std::string& address, std::string key,
               std::shared_ptr<grpc::ChannelCredentials> credentials =
                   grpc::InsecureChannelCredentials());

  v1::CreateTokenResponse Create(const std::string& deployment,
                                 const std::string& name);
  void Delete(const std::string& id);
  v1::Token Get(const std::string& id);

 private:
  std::unique_ptr<grpc::ClientContext> Context() const;

  std::unique_ptr<v1::TokenService::Stub> stub_;
  std::string key_;
};

// Polls `condition` until it holds or `timeout` passes, calling `ready` (the
// verifier answers, and not NOT_READY) before each poll, so that a verifier
// that stops being ready at any point of the wait is seen.
struct ReadyWait {
  bool reached = false;  // `condition` held in time
  int polls = 0;
  int not_ready = 0;  // polls at which `ready` said no
};
ReadyWait WaitStayingReady(const std::function<bool()>& ready,
                           const std::function<bool()>& condition,
                           absl::Duration timeout);

// The target of token_verifier_feed_target_info in a /metrics text; empty
// when none.
std::string FeedTargetIn(const std::string& metrics);

}  // namespace tokens::testing

#endif  // TESTS_VERIFIER_FAILOVER_SUPPORT_H_
