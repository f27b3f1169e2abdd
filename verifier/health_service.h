// HealthService: grpc.health.v1.Health for the verifier, answered from
// VerifierCore::IsReady, the same source as GET /readyz, so a Kubernetes gRPC
// probe and an HTTP probe of the same pod never disagree.
//
//   Check  SERVING or NOT_SERVING for "" and each service the verifier
//          serves (tokens.v1.Verifier, envoy.service.auth.v3.Authorization),
//          evaluated at the call; SERVING for "liveness" while the process
//          answers (a liveness probe must not restart a sidecar that only
//          waits for TokenService); NOT_FOUND for any other name.
//   Watch  the current status at once, then every change Publish reports.
//
// Thread-safe. The core is not owned and must outlive the server.
#ifndef VERIFIER_HEALTH_SERVICE_H_
#define VERIFIER_HEALTH_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "verifier/verifier_core.h"

namespace tokens {

class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  explicit HealthService(const VerifierCore* core) : core_(core) {}
  ~HealthService() override;

  grpc::ServerUnaryReactor* Check(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request,
      grpc::health::v1::HealthCheckResponse* response) override;

  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request) override;

  // Re-reads readiness and sends it to every Watch stream whose last status
  // differs. Called by the verifier when its state may have changed.
  void Publish();

  // Ends every Watch stream (shutdown); later ones end at once.
  void Shutdown();

  class Watcher;

 private:
  friend class Watcher;
  void Remove(Watcher* watcher);

  const VerifierCore* const core_;
  absl::Mutex mu_;
  absl::flat_hash_set<Watcher*> watchers_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace tokens

#endif  // VERIFIER_HEALTH_SERVICE_H_
