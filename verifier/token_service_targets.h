// TokenServiceTargets: the TokenService replicas a verifier talks to (the
// comma-separated gRPC targets of --token-service), with one channel and stub
// each, made once and shared by the change feed and the usage reports, and
// which one the feed is on now.
//
// The feed client moves `current` when it fails over (FeedClient); the usage
// sender tries the current one first. Render gives their metrics. The
// addresses are fixed at construction; current() and the failover count are
// atomics. Thread-safe.
#ifndef VERIFIER_TOKEN_SERVICE_TARGETS_H_
#define VERIFIER_TOKEN_SERVICE_TARGETS_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"

namespace tokens {

// The entries of a --token-service value: split on commas, surrounding
// whitespace trimmed. Each is any gRPC target (host:port, dns:///host:port,
// ipv6:[::1]:50051, unix:/path, ...). InvalidArgument starting with
// "--token-service" for an empty entry, one with whitespace, quotes or
// backslashes inside, or one listed twice.
absl::StatusOr<std::vector<std::string>> ParseTokenServiceTargets(
    absl::string_view value);

class TokenServiceTargets {
 public:
  struct Target {
    std::string address;
    std::shared_ptr<grpc::Channel> channel;
  };

  // One channel per address with `credentials` (the same TLS for each) and a
  // reconnect backoff short enough for the feed (see the .cc).
  static std::unique_ptr<TokenServiceTargets> Connect(
      const std::vector<std::string>& addresses,
      const std::shared_ptr<grpc::ChannelCredentials>& credentials);

  // `targets` must not be empty.
  explicit TokenServiceTargets(std::vector<Target> targets);
  TokenServiceTargets(const TokenServiceTargets&) = delete;
  TokenServiceTargets& operator=(const TokenServiceTargets&) = delete;

  size_t size() const { return targets_.size(); }
  const std::string& address(size_t i) const { return targets_[i].address; }
  v1::TokenService::Stub* stub(size_t i) const { return stubs_[i].get(); }

  // The address the feed is on (or trying), 0 at start.
  size_t current() const { return current_.load(std::memory_order_acquire); }
  // Makes `i` current; a change counts as a failover.
  void MoveTo(size_t i);
  uint64_t failovers() const {
    return failovers_.load(std::memory_order_relaxed);
  }

  // Prometheus text: token_verifier_feed_target_info{target="..."} 1 for the
  // current address and token_verifier_feed_failovers_total.
  std::string Render() const;

 private:
  const std::vector<Target> targets_;
  std::vector<std::unique_ptr<v1::TokenService::Stub>> stubs_;
  std::atomic<size_t> current_{0};
  std::atomic<uint64_t> failovers_{0};
};

}  // namespace tokens

#endif  // VERIFIER_TOKEN_SERVICE_TARGETS_H_
