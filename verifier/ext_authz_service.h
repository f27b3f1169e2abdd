// ExtAuthzService: Envoy's external authorization API v3
// (envoy.service.auth.v3.Authorization/Check) on the verifier's gRPC port, so
// Envoy, Istio and Envoy Gateway ask the sidecar directly (docs/envoy.md).
//
// Inputs, from the CheckRequest Envoy sends:
//   token       `authorization: Bearer <token>` of the HTTP request (the
//               scheme in any case); Envoy lower-cases header names, and the
//               raw header_map form is read too.
//   Deployment  attributes.context_extensions["deployment_id"], else the
//               `x-deployment-id` header, else the sidecar's --deployment.
//   operation   attributes.context_extensions["operation"], else the
//               `x-operation` header.
//   end client  attributes.source.address when the direct peer (Envoy) is a
//               trusted proxy (TrustedProxies), for the failed-check throttle.
//
// clang-format off
// Answers (DenialFor, verifier/denial.h): every decision is a successful RPC
// (Envoy treats a failed RPC as an error, not a denial):
//   allowed                      status 0, ok_response.headers x-token-id
//   malformed, unknown, revoked  UNAUTHENTICATED (16), denied 401
//     or expired token
//   wrong Deployment, operation  PERMISSION_DENIED (7), denied 403
//     not permitted or unknown,
//     no Deployment or operation
//   not ready                    UNAVAILABLE (14), denied 503
//   throttled bad token          UNAUTHENTICATED (16) and 401, or
//                                RESOURCE_EXHAUSTED (8) and 429
//                                (VerifierCore::throttled_http_status), with
//                                Retry-After
// clang-format on
// A denied response carries `x-token-reason` (the tokens.v1.Reason name, or
// INVALID_REQUEST, THROTTLED). Headers the verifier sets overwrite any the
// client sent. The token value appears in no response.
//
// Thread-safe. The core is not owned and must outlive the server.
#ifndef VERIFIER_EXT_AUTHZ_SERVICE_H_
#define VERIFIER_EXT_AUTHZ_SERVICE_H_

#include <string>

#include "envoy/service/auth/v3/external_auth.grpc.pb.h"
#include "grpcpp/support/message_allocator.h"
#include "verifier/verifier_core.h"

namespace tokens {

// The answer to one CheckRequest from `peer` (a gRPC peer string). Plain
// function so that tests and the fuzzer drive it without a server.
void AnswerExtAuthz(VerifierCore* core, const std::string& default_deployment,
                    const envoy::service::auth::v3::CheckRequest& request,
                    absl::FunctionRef<std::string()> peer,
                    envoy::service::auth::v3::CheckResponse* response);

// Gives each Check call's request and response one protobuf arena with its
// first block inline, so parsing Envoy's header map and building the answer
// allocate nothing from the heap but that block (about 30 mallocs and frees
// fewer per call). Thread-safe.
class ArenaCheckAllocator
    : public grpc::MessageAllocator<envoy::service::auth::v3::CheckRequest,
                                    envoy::service::auth::v3::CheckResponse> {
 public:
  grpc::MessageHolder<envoy::service::auth::v3::CheckRequest,
                      envoy::service::auth::v3::CheckResponse>*
  AllocateMessages() override;
};

class ExtAuthzService final
    : public envoy::service::auth::v3::Authorization::CallbackService {
 public:
  // `default_deployment`: the sidecar's --deployment (may be empty).
  ExtAuthzService(VerifierCore* core, std::string default_deployment)
      : core_(core), default_deployment_(std::move(default_deployment)) {
    SetMessageAllocatorFor_Check(&allocator_);
  }

  grpc::ServerUnaryReactor* Check(
      grpc::CallbackServerContext* context,
      const envoy::service::auth::v3::CheckRequest* request,
      envoy::service::auth::v3::CheckResponse* response) override;

 private:
  VerifierCore* const core_;
  const std::string default_deployment_;
  ArenaCheckAllocator allocator_;
};

}  // namespace tokens

#endif  // VERIFIER_EXT_AUTHZ_SERVICE_H_
