// echo_server: the gRPC-limit reference. The same gRPC library, threading model
// (callback API, DefaultReactor, finished inline) and server options (default
// health service, reflection, insecure credentials, default ServerBuilder) as
// the verifier, answering a fixed response of the same size as an allowed
// Check answer. Nothing serving a gRPC Check on this machine can be faster.
//
// It serves Envoy's envoy.service.auth.v3.Authorization/Check as well, for the
// ext_authz reference: every CheckRequest, whatever it holds, gets the same
// allowed CheckResponse the verifier builds (status code 0, one `x-token-id`
// header set with OVERWRITE_IF_EXISTS_OR_ADD), with a --token_id of the
// benchmark's token id length, so the serialized answers have the same size.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "bench/bench_server.h"
#include "bench/echo.grpc.pb.h"
#include "common/shutdown_signal.h"
#include "envoy/service/auth/v3/external_auth.grpc.pb.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "gRPC address");
ABSL_FLAG(std::string, token_id, "tok_bench00000000000000000",
          "ext_authz: the x-token-id of the fixed answer (the length of the "
          "benchmark's token ids, bench_loader's tok_bench%017d)");

namespace tokens::bench {

class EchoService : public Echo::CallbackService {
  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const EchoCheckRequest* request,
                                  EchoCheckResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    response->set_allowed(!request->token().empty());
    response->set_reason(1);
    response->set_token_id("tok_abcdefghijklmnopqrstuvwxyz");
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

namespace auth = envoy::service::auth::v3;

class ExtAuthzEchoService : public auth::Authorization::CallbackService {
 public:
  explicit ExtAuthzEchoService(const std::string& token_id) {
    allowed_.mutable_status()->set_code(0);
    auto* option = allowed_.mutable_ok_response()->add_headers();
    option->mutable_header()->set_key("x-token-id");
    option->mutable_header()->set_value(token_id);
    option->set_append_action(
        envoy::config::core::v3::HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD);
  }

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const auth::CheckRequest* request,
                                  auth::CheckResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    *response = allowed_;
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  auth::CheckResponse allowed_;
};

}  // namespace tokens::bench

int main(int argc, char** argv) {
  tokens::BlockShutdownSignals();
  absl::ParseCommandLine(argc, argv);
  tokens::bench::EchoService service;
  tokens::bench::ExtAuthzEchoService ext_authz(absl::GetFlag(FLAGS_token_id));
  // The verifier's server options: default health service and reflection.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  return tokens::bench::ServeUntilShutdown({&service, &ext_authz},
                                           absl::GetFlag(FLAGS_listen));
}
