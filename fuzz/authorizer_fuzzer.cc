// Fuzzes the Check request path: request validation, then the Authorizer
// against a synced cache holding two known tokens. The input is split at the
// first two NUL bytes into token, deployment_id and operation. Invariant: a
// request is ALLOWED only for a known value on its own Deployment with an
// operation a Deployment API token may perform, and REVOKED_TOKEN only for the
// one revoked value, naming its token.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fuzz/fuzz_world.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tokens::fuzz::FuzzWorld& world = tokens::fuzz::FuzzWorld::Get();
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::string_view parts[3];
  for (int i = 0; i < 2; ++i) {
    const size_t cut = rest.find('\0');
    parts[i] = rest.substr(0, cut);
    rest = cut == std::string_view::npos ? std::string_view()
                                         : rest.substr(cut + 1);
  }
  parts[2] = rest;
  const std::string_view token = parts[0];
  const std::string_view deployment = parts[1];
  const std::string_view operation = parts[2];

  if (!tokens::VerifierCore::ValidateRequest(deployment, operation).ok()) {
    return 0;
  }
  const tokens::Decision decision =
      world.core.Check(token, deployment, operation);
  if (decision.allowed()) {
    const bool known = (token == world.prod_value && deployment == "prod" &&
                        decision.token_id == "tok_prod") ||
                       (token == world.stage_value && deployment == "stage" &&
                        decision.token_id == "tok_stage");
    if (!known) std::abort();
    if (operation.substr(0, 11) != "deployment.") std::abort();
  }
  if (decision.reason == tokens::CheckReason::kRevokedToken &&
      (token != world.gone_value || decision.token_id != "tok_gone")) {
    std::abort();
  }
  if (token == world.gone_value &&
      decision.reason != tokens::CheckReason::kRevokedToken) {
    std::abort();
  }
  if (!tokens::IsWellFormedTokenValue(token) &&
      decision.reason != tokens::CheckReason::kMalformedToken) {
    std::abort();
  }
  return 0;
}
