// `tokenctl token rotate --self`: the token in ASTRO_API_TOKEN rotates itself
// (RotateSelf), authenticated by its own value instead of a caller key, so a
// CI pipeline renews its token without holding an admin key.
#include "absl/strings/str_cat.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "common/validation.h"

namespace tokens::cli {
namespace {

// RotateSelfRequest.grace_period_seconds' limit.

}  // namespace

int RotateSelf(const ParsedArgs& args, CliContext& context) {
  absl::StatusOr<OutputFormat> format =
      OutputOf(args, {"table", "json", "value", "id"});
  if (!format.ok()) return Fail(context, format.status());
  absl::StatusOr<int64_t> grace =
      GracePeriodOf(args, kMaxSelfRotateGraceSeconds);
  if (!grace.ok()) return Fail(context, grace.status());
  absl::StatusOr<absl::Duration> timeout = TimeoutOf(args);
  if (!timeout.ok()) return Fail(context, timeout.status());
  // Only ASTRO_API_TOKEN: the deprecated key pair cannot rotate itself.
  std::optional<std::string> value = context.env("ASTRO_API_TOKEN");
  if (!value.has_value() || value->empty()) {
    return Fail(context, absl::UnauthenticatedError(
                             "--self rotates the token in ASTRO_API_TOKEN, "
                             "which is not set"));
  }
  absl::StatusOr<ApiToken> token = ResolveApiToken(context.env);
  if (!token.ok()) return Fail(context, token.status());  // malformed
  const std::string address =
      FlagEnvOrDefault(args.Get("service"), context.env, "TOKENS_SERVICE_ADDR",
                       kDefaultServiceAddress);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      Connect("TokenService", address, *timeout, TlsFilesOf(args, context));
  if (!channel.ok()) return Fail(context, channel.status());
  v1::RotateSelfRequest request;
  request.set_grace_period_seconds(static_cast<int32_t>(*grace));
  v1::RotateTokenResponse response;
  auto call = NewContext(*timeout, token->value);
  absl::Status status =
      FromGrpc(v1::TokenService::NewStub(*channel)->RotateSelf(
                   call.get(), request, &response),
               "TokenService", address);
  if (!status.ok()) return Fail(context, status);
  PrintRotated(context, *format, response, *grace);
  return kExitOk;
}

}  // namespace tokens::cli
