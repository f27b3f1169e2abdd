// Health and reflection clients without generated code: the requests are tiny,
// hand-encoded protobuf, and responses are read with UnknownFieldSet. (Debian
// ships libgrpc++_reflection with the reflection descriptors built in; linking
// a second generated copy would abort.)
#ifndef TESTS_TESTING_RAW_GRPC_H_
#define TESTS_TESTING_RAW_GRPC_H_

#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tokens::testing {

// grpc.health.v1.Health/Check; returns the ServingStatus number (1 = SERVING,
// 2 = NOT_SERVING), or the RPC's error.
absl::StatusOr<int> HealthCheck(const std::shared_ptr<grpc::Channel>& channel,
                                const std::string& service);

// grpc.reflection.v1alpha.ServerReflection: the services the server lists.
absl::StatusOr<std::vector<std::string>> ReflectionListServices(
    const std::shared_ptr<grpc::Channel>& channel);

// grpc.reflection: the names of the files (with dependencies) that define
// `symbol`.
absl::StatusOr<std::vector<std::string>> ReflectionFileNamesContaining(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& symbol);

}  // namespace tokens::testing

#endif  // TESTS_TESTING_RAW_GRPC_H_
