// Fuzzes the HTTP side as a connection sees it: raw bytes are parsed by
// Boost.Beast with the server's limits and routed (forward-auth, health,
// readiness, metrics). Invariants: the answer is one of the documented
// statuses; 200 on /v1/authorize only for a known value on its Deployment.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fuzz/fuzz_world.h"
#include "verifier/http_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tokens::fuzz::FuzzWorld& world = tokens::fuzz::FuzzWorld::Get();
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  const tokens::RawHttpAnswer answer =
      tokens::AnswerRawHttpRequest(raw, &world.core);
  switch (answer.status) {
    case 200:
    case 400:
    case 401:
    case 403:
    case 404:
    case 405:
    case 413:
    case 431:
    case 503:
      break;
    default:
      std::abort();
  }
  if (answer.status == 200 && answer.auth_reason == "ALLOWED") {
    if (answer.token_id != "tok_prod" && answer.token_id != "tok_stage") {
      std::abort();
    }
    const bool has_value =
        raw.find(world.prod_value) != std::string_view::npos ||
        raw.find(world.stage_value) != std::string_view::npos;
    if (!has_value) std::abort();
  }
  return 0;
}
