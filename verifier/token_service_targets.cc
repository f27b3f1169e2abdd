#include "verifier/token_service_targets.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/prometheus_text.h"

namespace tokens {
namespace {

std::shared_ptr<grpc::Channel> MakeChannel(
    const std::string& target,
    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  // The channel's own reconnect backoff must not outlast the feed client's
  // (default max 120s), or a restarted TokenService would stay unnoticed for
  // minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return grpc::CreateCustomChannel(target, std::move(credentials), args);
}

bool IsPlain(absl::string_view address) {
  for (const char c : address) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c)) ||
        absl::ascii_iscntrl(static_cast<unsigned char>(c)) || c == '"' ||
        c == '\\') {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseTokenServiceTargets(
    absl::string_view value) {
  std::vector<std::string> addresses;
  absl::flat_hash_set<std::string> seen;
  for (absl::string_view entry : absl::StrSplit(value, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    if (entry.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--token-service: empty address in \"", value,
          "\" (want one gRPC target, or several separated by commas)"));
    }
    if (!IsPlain(entry)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token-service: \"", entry,
                       "\" is not a gRPC target (whitespace, quote or "
                       "backslash inside)"));
    }
    if (!seen.insert(std::string(entry)).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--token-service: \"", entry, "\" is listed more than once"));
    }
    addresses.emplace_back(entry);
  }
  return addresses;
}

std::unique_ptr<TokenServiceTargets> TokenServiceTargets::Connect(
    const std::vector<std::string>& addresses,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  std::vector<Target> targets;
  targets.reserve(addresses.size());
  for (const std::string& address : addresses) {
    targets.push_back(Target{address, MakeChannel(address, credentials)});
  }
  return std::make_unique<TokenServiceTargets>(std::move(targets));
}

TokenServiceTargets::TokenServiceTargets(std::vector<Target> targets)
    : targets_(std::move(targets)) {
  stubs_.reserve(targets_.size());
  for (const Target& target : targets_) {
    stubs_.push_back(v1::TokenService::NewStub(target.channel));
  }
}

void TokenServiceTargets::MoveTo(size_t i) {
  if (current_.exchange(i, std::memory_order_acq_rel) != i) {
    failovers_.fetch_add(1, std::memory_order_relaxed);
  }
}

std::string TokenServiceTargets::Render() const {
  std::string out;
  AppendPrometheusHeader(
      &out, "token_verifier_feed_target_info", "gauge",
      "The TokenService address the change feed is on (or trying).");
  absl::StrAppend(&out, "token_verifier_feed_target_info{target=\"",
                  PrometheusLabelValue(address(current())), "\"} 1\n");
  AppendPrometheusMetric(
      &out, "token_verifier_feed_failovers_total", "counter",
      "Times the change feed moved to another TokenService address.",
      static_cast<int64_t>(failovers()));
  return out;
}

}  // namespace tokens
