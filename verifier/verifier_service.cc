#include "verifier/verifier_service.h"

#include <string>

#include "verifier/proto_time.h"

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
  }
  return v1::REASON_UNSPECIFIED;
}

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

}  // namespace

std::string_view BearerCredential(std::string_view value) {
  while (!value.empty() && IsBlank(value.front())) value.remove_prefix(1);
  while (!value.empty() && IsBlank(value.back())) value.remove_suffix(1);
  constexpr std::string_view kScheme = "bearer";
  if (value.size() <= kScheme.size() || !IsBlank(value[kScheme.size()])) {
    return {};
  }
  for (size_t i = 0; i < kScheme.size(); ++i) {
    const char c = value[i];
    if ((c | 0x20) != kScheme[i]) return {};
  }
  value.remove_prefix(kScheme.size());
  while (!value.empty() && IsBlank(value.front())) value.remove_prefix(1);
  return value;
}

grpc::ServerUnaryReactor* VerifierService::Check(
    grpc::CallbackServerContext* context, const v1::CheckRequest* request,
    v1::CheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status valid = VerifierCore::ValidateRequest(request->deployment_id(),
                                                     request->operation());
  if (!valid.ok()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 std::string(valid.message())));
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
  absl::StatusOr<Decision> checked =
      core_->CheckFromPeer([context] { return context->peer(); }, token,
                           request->deployment_id(), request->operation());
  if (!checked.ok()) {  // throttled: this peer made too many failed checks
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 std::string(checked.status().message())));
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
