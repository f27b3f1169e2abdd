// VerifierCore: one check as both front ends (gRPC Check and HTTP forward-auth)
// perform it: validate the request, ask the Authorizer, count the decision and
// its latency, and note the token as used when allowed. Also renders /metrics.
// Plain C++, no gRPC types.
//
// Thread-safe. Holds pointers only; everything passed in must outlive it.
#ifndef VERIFIER_VERIFIER_CORE_H_
#define VERIFIER_VERIFIER_CORE_H_

#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "verifier/authorizer.h"
#include "verifier/metrics.h"
#include "verifier/peer_throttle.h"
#include "verifier/token_cache.h"
#include "verifier/usage_reporter.h"

namespace tokens {

// deployment_id and operation may not be longer than this many bytes.
inline constexpr size_t kMaxCheckFieldBytes = 256;

class VerifierCore {
 public:
  // `usage` may be null (no usage reporting).
  VerifierCore(const TokenCache* cache, const Authorizer* authorizer,
               Metrics* metrics, UsageReporter* usage, const Clock* clock);

  // InvalidArgument naming the field when deployment_id or operation is empty
  // or longer than kMaxCheckFieldBytes.
  static absl::Status ValidateRequest(std::string_view deployment_id,
                                      std::string_view operation);

  // Decides (see Authorizer), counts, and records usage. Does not validate.
  Decision Check(std::string_view token, std::string_view deployment_id,
                 std::string_view operation);

  // Check on behalf of `peer` (a client address; see PeerHost). When a
  // throttle is set, a MALFORMED_TOKEN, UNKNOWN_TOKEN or EXPIRED decision is
  // charged to the peer, and once the peer is out of failed checks such a
  // decision becomes ResourceExhausted. Other decisions are never throttled.
  absl::StatusOr<Decision> CheckFromPeer(std::string_view peer,
                                         std::string_view token,
                                         std::string_view deployment_id,
                                         std::string_view operation);
  // The same, asking for the peer only when a bad token must be charged (the
  // gRPC peer string costs an allocation per call).
  absl::StatusOr<Decision> CheckFromPeer(absl::FunctionRef<std::string()> peer,
                                         std::string_view token,
                                         std::string_view deployment_id,
                                         std::string_view operation);

  // Throttles repeated failed checks per peer (nullptr = never). Not owned;
  // set before serving.
  void SetThrottle(PeerThrottle* throttle) { throttle_ = throttle; }

  bool IsReady() const { return authorizer_->IsReady(); }

  // The Prometheus text exposition of every metric.
  std::string RenderMetrics() const;

 private:
  const TokenCache* const cache_;
  const Authorizer* const authorizer_;
  Metrics* const metrics_;
  UsageReporter* const usage_;
  const Clock* const clock_;
  PeerThrottle* throttle_ = nullptr;
};

}  // namespace tokens

#endif  // VERIFIER_VERIFIER_CORE_H_
