#include "verifier/verifier_service.h"

#include <string>

#include "common/bearer.h"
#include "common/grpc_status.h"
#include "common/proto_time.h"

namespace tokens {
namespace {

v1::Reason ToProto(CheckReason reason) {
  switch (reason) {
    case CheckReason::kAllowed:
      return v1::ALLOWED;
    case CheckReason::kMalformedToken:
      return v1::MALFORMED_TOKEN;
    case CheckReason::kUnknownToken:
      return v1::UNKNOWN_TOKEN;
    case CheckReason::kExpired:
      return v1::EXPIRED;
    case CheckReason::kWrongDeployment:
      return v1::WRONG_DEPLOYMENT;
    case CheckReason::kOperationNotPermitted:
      return v1::OPERATION_NOT_PERMITTED;
    case CheckReason::kUnknownOperation:
      return v1::UNKNOWN_OPERATION;
    case CheckReason::kNotReady:
      return v1::NOT_READY;
    case CheckReason::kRevokedToken:
      return v1::REVOKED_TOKEN;
  }
  return v1::REASON_UNSPECIFIED;
}

}  // namespace

grpc::ServerUnaryReactor* VerifierService::Check(
    grpc::CallbackServerContext* context, const v1::CheckRequest* request,
    v1::CheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status valid = VerifierCore::ValidateRequest(request->deployment_id(),
                                                     request->operation());
  if (!valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  std::string_view token = request->token();
  if (token.empty()) {
    const auto& metadata = context->client_metadata();
    auto it = metadata.find("authorization");
    if (it != metadata.end()) {
      token = BearerCredential(
          std::string_view(it->second.data(), it->second.size()));
    }
  }
  absl::StatusOr<Decision> checked = core_->CheckFrom(
      {[context] { return context->peer(); },
       [context] {
         // A trusted caller (the sidecar's app) names its own end client.
         std::string forwarded;
         const auto range =
             context->client_metadata().equal_range("x-forwarded-for");
         for (auto it = range.first; it != range.second; ++it) {
           if (!forwarded.empty()) forwarded += ',';
           forwarded.append(it->second.data(), it->second.size());
         }
         return forwarded;
       }},
      token, request->deployment_id(), request->operation());
  if (!checked.ok()) {  // throttled: the end client made too many failed checks
    reactor->Finish(ToGrpcStatus(checked.status()));
    return reactor;
  }
  const Decision& decision = *checked;
  response->set_allowed(decision.allowed());
  response->set_reason(ToProto(decision.reason));
  response->set_token_id(decision.token_id);
  if (decision.expire_time.has_value()) {
    TimeToProto(*decision.expire_time, response->mutable_expire_time());
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace tokens
