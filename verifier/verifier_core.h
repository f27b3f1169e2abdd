// VerifierCore: one check as both front ends (gRPC Check and HTTP forward-auth)
// perform it: validate the request, ask the Authorizer, count the decision and
// its latency, and note the token as used when allowed. Also renders /metrics.
// Plain C++, no gRPC types.
//
// Thread-safe. Holds pointers only; everything passed in must outlive it.
#ifndef VERIFIER_VERIFIER_CORE_H_
#define VERIFIER_VERIFIER_CORE_H_

#include <functional>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/peer_throttle.h"
#include "verifier/authorizer.h"
#include "verifier/denial.h"
#include "verifier/metrics.h"
#include "verifier/token_cache.h"
#include "verifier/trusted_proxies.h"
#include "verifier/usage_reporter.h"

namespace tokens {

// Where a check came from. Read only when its end client is needed: a bad
// token charged to the throttle, an allowed token's use or a revoked value's
// reuse noted for TokenService.
struct CheckOrigin {
  // The direct peer: a gRPC peer string ("ipv4:10.1.2.3:5678") or an address.
  absl::FunctionRef<std::string()> peer;
  // What the peer, when it is a trusted proxy, says about the end client: a
  // comma-separated list of addresses (X-Forwarded-For); empty for nothing.
  absl::FunctionRef<std::string()> forwarded;
};

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

  // Decides (see Authorizer), counts, and records usage (and a revoked
  // value's reuse) without a client address. Does not validate.
  Decision Check(std::string_view token, std::string_view deployment_id,
                 std::string_view operation);

  // Check on behalf of the end client of `origin` (see TrustedProxies). An
  // allowed use and a revoked value's reuse (REVOKED_TOKEN) are noted for
  // the usage reporter with that client's address. When a throttle is set, a
  // bad token (IsBadToken: MALFORMED_TOKEN, UNKNOWN_TOKEN, REVOKED_TOKEN or
  // EXPIRED) is charged to the end client, and once that client is out of
  // failed checks such a decision becomes ResourceExhausted (the reuse is
  // still noted). A check with no end client (a trusted proxy that names
  // none) is never charged, nor is any other decision. `origin` is read only
  // when its end client is needed (the gRPC peer string costs an allocation
  // per call), at most once per check.
  absl::StatusOr<Decision> CheckFrom(const CheckOrigin& origin,
                                     std::string_view token,
                                     std::string_view deployment_id,
                                     std::string_view operation);
  // The same for a direct peer that forwards nothing.
  absl::StatusOr<Decision> CheckFromPeer(std::string_view peer,
                                         std::string_view token,
                                         std::string_view deployment_id,
                                         std::string_view operation);

  // Throttles repeated failed checks per end client (nullptr = never), whose
  // proxies are `trusted` (nullptr = none: the direct peer is always the end
  // client; the usage reporter's client addresses follow the same rule). Not
  // owned; set before serving.
  void SetThrottle(PeerThrottle* throttle, const TrustedProxies* trusted) {
    throttle_ = throttle;
    trusted_ = trusted;
  }

  // The HTTP status a throttled bad token gets from forward-auth and
  // ext_authz (ThrottledDenial): 401 (default) or 429, one that
  // ValidateThrottledHttpStatus accepts. Set before serving.
  void SetThrottledHttpStatus(int status) { throttled_http_status_ = status; }
  int throttled_http_status() const { return throttled_http_status_; }

  bool IsReady() const { return authorizer_->IsReady(); }

  // The Prometheus text exposition of every metric.
  std::string RenderMetrics() const;
  // Prometheus text of another part (the feed's TokenService targets) that
  // RenderMetrics appends. Set before serving.
  void SetExtraMetrics(std::function<std::string()> render) {
    extra_metrics_ = std::move(render);
  }

 private:
  // Check, with the end client of `origin` (null: none known).
  absl::StatusOr<Decision> Decide(const CheckOrigin* origin,
                                  std::string_view token,
                                  std::string_view deployment_id,
                                  std::string_view operation);
  // The end client of `origin`: empty when a trusted proxy names none.
  std::string EndClient(const CheckOrigin& origin) const;

  const TokenCache* const cache_;
  const Authorizer* const authorizer_;
  Metrics* const metrics_;
  UsageReporter* const usage_;
  const Clock* const clock_;
  PeerThrottle* throttle_ = nullptr;
  std::function<std::string()> extra_metrics_;
  const TrustedProxies* trusted_ = nullptr;
  int throttled_http_status_ = 401;
};

}  // namespace tokens

#endif  // VERIFIER_VERIFIER_CORE_H_
