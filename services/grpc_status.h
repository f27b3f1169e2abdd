// The one place where absl::Status becomes grpc::Status.
#ifndef SERVICES_GRPC_STATUS_H_
#define SERVICES_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace tokens {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

}  // namespace tokens

#endif  // SERVICES_GRPC_STATUS_H_
