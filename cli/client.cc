#include "cli/client.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"

namespace tokens::cli {
namespace {

gpr_timespec ToDeadline(absl::Duration timeout) {
  return gpr_time_add(
      gpr_now(GPR_CLOCK_MONOTONIC),
      gpr_time_from_millis(absl::ToInt64Milliseconds(timeout), GPR_TIMESPAN));
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(
    const std::string& what, const std::string& address, absl::Duration timeout,
    const ClientTlsFiles& tls) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      ChannelCredentialsFrom(tls);
  if (!credentials.ok()) return credentials.status();
  grpc::ChannelArguments args;
  // Fail fast: do not wait minutes between reconnect attempts.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(address, *credentials, args);
  const gpr_timespec deadline = ToDeadline(timeout);
  grpc_connectivity_state state = channel->GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY) {
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE ||
        state == GRPC_CHANNEL_SHUTDOWN) {
      return absl::UnavailableError(absl::StrCat(
          "cannot reach ", what, " at ", address,
          tls.enabled() ? " (connection or TLS handshake failed; is it "
                          "running, and does --ca-file trust its certificate?)"
                        : " (connection failed; is it running?)"));
    }
    if (!channel->WaitForStateChange(state, deadline)) {
      return absl::UnavailableError(
          absl::StrCat("cannot reach ", what, " at ", address, " within ",
                       absl::FormatDuration(timeout), " (is it running?)"));
    }
    state = channel->GetState(/*try_to_connect=*/true);
  }
  return channel;
}

std::unique_ptr<grpc::ClientContext> NewContext(absl::Duration timeout,
                                                const std::string& bearer) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(ToDeadline(timeout));
  if (!bearer.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", bearer));
  }
  return context;
}

absl::Status FromGrpc(const grpc::Status& status, const std::string& what,
                      const std::string& address) {
  absl::Status converted = FromGrpcStatus(status);
  if (absl::IsDeadlineExceeded(converted) || absl::IsUnavailable(converted)) {
    // Say where: the usual cause is a wrong --server or a service not up.
    return absl::Status(
        converted.code(),
        absl::StrCat(what, " at ", address, ": ", converted.message()));
  }
  return converted;
}

}  // namespace tokens::cli
