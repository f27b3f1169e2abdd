// ServiceAndVerifier: what most end-to-end tests start from. A real
// token_service on a fresh data directory and a real token_verifier fed by it
// (each on a free port of 127.0.0.1, the verifier with its HTTP port too), the
// admin key TokenService wrote, and stubs for both. The processes stop when
// it goes.
#ifndef TESTS_TESTING_SERVICE_AND_VERIFIER_H_
#define TESTS_TESTING_SERVICE_AND_VERIFIER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "tests/testing/server_process.h"

namespace tokens::testing {

class ServiceAndVerifier {
 public:
  // `data_dir`: where TokenService keeps its files (made if missing).
  // `service_args` and `verifier_args` follow the listen, data-dir, feed
  // and key arguments.
  static absl::StatusOr<std::unique_ptr<ServiceAndVerifier>> Start(
      const std::string& data_dir, std::vector<std::string> service_args = {},
      std::vector<std::string> verifier_args = {});

  const std::string& data_dir() const { return data_dir_; }
  const std::string& admin_key() const { return admin_key_; }
  ServerProcess& service() { return *service_; }
  ServerProcess& verifier() { return *verifier_; }
  v1::TokenService::Stub& admin() { return *admin_; }
  v1::Verifier::Stub& check() { return *check_; }

  // Adds the admin key to `ctx`, for calls through admin().
  void AuthorizeAdmin(grpc::ClientContext* ctx) const;
  // CreateToken as the admin.
  absl::StatusOr<v1::CreateTokenResponse> CreateToken(
      const std::string& deployment_id, const std::string& name);

 private:
  ServiceAndVerifier() = default;

  std::string data_dir_;
  std::string admin_key_;
  std::unique_ptr<ServerProcess> service_;
  std::unique_ptr<ServerProcess> verifier_;
  std::unique_ptr<v1::TokenService::Stub> admin_;
  std::unique_ptr<v1::Verifier::Stub> check_;
};

}  // namespace tokens::testing

#endif  // TESTS_TESTING_SERVICE_AND_VERIFIER_H_
