// The serving loop shared by the bench-only reference servers (echo, naive
// verifier).
#ifndef BENCH_BENCH_SERVER_H_
#define BENCH_BENCH_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

namespace tokens::bench {

// Serves `service` on `listen` (plain text), prints `listening on
// 127.0.0.1:PORT` on stdout, and returns 0 after SIGINT or SIGTERM (1 when it
// cannot listen). Call tokens::BlockShutdownSignals() first thing in main, as
// the real servers do.
int ServeUntilShutdown(grpc::Service* service, const std::string& listen);

// The same with several services on the one server.
int ServeUntilShutdown(const std::vector<grpc::Service*>& services,
                       const std::string& listen);

}  // namespace tokens::bench

#endif  // BENCH_BENCH_SERVER_H_
