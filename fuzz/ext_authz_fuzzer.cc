// Fuzzes Envoy's ext_authz request path: the bytes are a CheckRequest as
// Envoy would send it, answered by AnswerExtAuthz. Invariants: every answer is
// a decision with one of the documented codes and HTTP statuses; an allowance
// names a known token and only when its value was in the request; no answer
// ever carries a token value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fuzz/fuzz_world.h"
#include "verifier/ext_authz_service.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tokens::fuzz::FuzzWorld& world = tokens::fuzz::FuzzWorld::Get();
  envoy::service::auth::v3::CheckRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  envoy::service::auth::v3::CheckResponse response;
  tokens::AnswerExtAuthz(
      &world.core, "", request, [] { return std::string("ipv4:127.0.0.1:1"); },
      &response);
  const int code = response.status().code();
  const std::string bytes = response.SerializeAsString();
  if (bytes.find(world.prod_value) != std::string::npos ||
      bytes.find(world.stage_value) != std::string::npos) {
    std::abort();  // a token value in a response
  }
  if (code == 0) {
    if (!response.has_ok_response()) std::abort();
    const std::string& id = response.ok_response().headers(0).header().value();
    const std::string& value = id == "tok_prod"    ? world.prod_value
                               : id == "tok_stage" ? world.stage_value
                                                   : std::string();
    if (value.empty()) std::abort();
    if (request.SerializeAsString().find(value) == std::string::npos) {
      std::abort();
    }
    return 0;
  }
  if (!response.has_denied_response()) std::abort();
  const int status = response.denied_response().status().code();
  const bool documented =
      (code == 16 && status == 401) || (code == 7 && status == 403) ||
      (code == 14 && status == 503) || (code == 8 && status == 429);
  if (!documented) std::abort();
  return 0;
}
