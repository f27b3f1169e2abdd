#include "bench/bench_server.h"

#include <cstdio>
#include <memory>

#include "common/shutdown_signal.h"

namespace tokens::bench {

int ServeUntilShutdown(grpc::Service* service, const std::string& listen) {
  return ServeUntilShutdown(std::vector<grpc::Service*>{service}, listen);
}

int ServeUntilShutdown(const std::vector<grpc::Service*>& services,
                       const std::string& listen) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "cannot listen\n");
    return 1;
  }
  std::printf("listening on 127.0.0.1:%d\n", port);
  std::fflush(stdout);
  WaitForShutdownSignal();
  server->Shutdown();
  return 0;
}

}  // namespace tokens::bench
