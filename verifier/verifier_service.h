// VerifierService: the tokens.v1.Verifier gRPC service on the callback API. A
// thin layer: it takes the token from the request (or from `authorization:
// Bearer <token>` metadata when the field is empty), validates the request, and
// hands the decision to VerifierCore.
//
// Thread-safe. Does not own the core, which must outlive the server.
#ifndef VERIFIER_VERIFIER_SERVICE_H_
#define VERIFIER_VERIFIER_SERVICE_H_

#include <string_view>

#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "verifier/verifier_core.h"

namespace tokens {

class VerifierService final : public v1::Verifier::CallbackService {
 public:
  explicit VerifierService(VerifierCore* core) : core_(core) {}

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const v1::CheckRequest* request,
                                  v1::CheckResponse* response) override;

 private:
  VerifierCore* const core_;
};

}  // namespace tokens

#endif  // VERIFIER_VERIFIER_SERVICE_H_
