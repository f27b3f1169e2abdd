#include "tests/testing/service_and_verifier.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/grpc_status.h"

namespace tokens::testing {

absl::StatusOr<std::unique_ptr<ServiceAndVerifier>> ServiceAndVerifier::Start(
    const std::string& data_dir, std::vector<std::string> service_args,
    std::vector<std::string> verifier_args) {
  auto system = std::unique_ptr<ServiceAndVerifier>(new ServiceAndVerifier());
  system->data_dir_ = data_dir;
  std::vector<std::string> service_argv = {"--listen", "127.0.0.1:0",
                                           "--data-dir", data_dir};
  service_argv.insert(service_argv.end(), service_args.begin(),
                      service_args.end());
  auto service =
      ServerProcess::Start(RunfilePath("services/token_service"), service_argv);
  if (!service.ok()) return service.status();
  system->service_ = *std::move(service);

  absl::StatusOr<std::string> admin_key = ReadKeyFile(data_dir + "/admin.key");
  if (!admin_key.ok()) return admin_key.status();
  system->admin_key_ = *std::move(admin_key);

  std::vector<std::string> verifier_argv = {
      "--listen",        "127.0.0.1:0",
      "--http-listen",   "127.0.0.1:0",
      "--token-service", system->service_->address(),
      "--key-file",      data_dir + "/verifier.key"};
  verifier_argv.insert(verifier_argv.end(), verifier_args.begin(),
                       verifier_args.end());
  auto verifier = ServerProcess::Start(RunfilePath("verifier/token_verifier"),
                                       verifier_argv, /*listen_lines=*/2);
  if (!verifier.ok()) return verifier.status();
  system->verifier_ = *std::move(verifier);

  system->admin_ = v1::TokenService::NewStub(grpc::CreateChannel(
      system->service_->address(), grpc::InsecureChannelCredentials()));
  system->check_ = v1::Verifier::NewStub(grpc::CreateChannel(
      system->verifier_->address(), grpc::InsecureChannelCredentials()));
  return system;
}

void ServiceAndVerifier::AuthorizeAdmin(grpc::ClientContext* ctx) const {
  ctx->AddMetadata("authorization", "Bearer " + admin_key_);
}

absl::StatusOr<v1::CreateTokenResponse> ServiceAndVerifier::CreateToken(
    const std::string& deployment_id, const std::string& name) {
  v1::CreateTokenRequest request;
  request.set_deployment_id(deployment_id);
  request.set_name(name);
  v1::CreateTokenResponse response;
  grpc::ClientContext ctx;
  AuthorizeAdmin(&ctx);
  if (grpc::Status status = admin_->CreateToken(&ctx, request, &response);
      !status.ok()) {
    return FromGrpcStatus(status);
  }
  return response;
}

}  // namespace tokens::testing
