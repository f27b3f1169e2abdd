// echo_server: the gRPC-limit reference. The same gRPC library, threading model
// (callback API, DefaultReactor, finished inline) and server options (default
// health service, reflection, insecure credentials, default ServerBuilder) as
// the verifier, answering a fixed response of the same size as an allowed
// Check answer. Nothing serving a gRPC Check on this machine can be faster.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "bench/bench_server.h"
#include "bench/echo.grpc.pb.h"
#include "common/shutdown_signal.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "gRPC address");

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

}  // namespace tokens::bench

int main(int argc, char** argv) {
  tokens::BlockShutdownSignals();
  absl::ParseCommandLine(argc, argv);
  tokens::bench::EchoService service;
  // The verifier's server options: default health service and reflection.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  return tokens::bench::ServeUntilShutdown(&service,
                                           absl::GetFlag(FLAGS_listen));
}
