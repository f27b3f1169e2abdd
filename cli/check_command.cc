// `tokenctl check`: asks the verifier whether the token in the environment may
// perform an operation on a Deployment.
#include "absl/strings/str_cat.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"

namespace tokens::cli {
namespace {

const std::vector<std::string> kOutputs = {"table", "json"};

std::string Explain(v1::Reason reason) {
  switch (reason) {
    case v1::ALLOWED:
      return "the token may perform this operation on this Deployment";
    case v1::MALFORMED_TOKEN:
      return "the value is not a token (wrong prefix, length or checksum)";
    case v1::UNKNOWN_TOKEN:
      return "no such token: never issued, or revoked long ago";
    case v1::REVOKED_TOKEN:
      return "this value was rotated away or its token deleted; the reuse is "
             "reported to TokenService";
    case v1::EXPIRED:
      return "the token has expired";
    case v1::WRONG_DEPLOYMENT:
      return "the token belongs to another Deployment";
    case v1::OPERATION_NOT_PERMITTED:
      return "a Deployment API token may not perform this operation";
    case v1::UNKNOWN_OPERATION:
      return "the operation is not in the catalog";
    case v1::NOT_READY:
      return "the verifier has not synced with TokenService yet; try again";
    default:
      return "no reason given";
  }
}

int Check(const ParsedArgs& args, CliContext& context) {
  absl::StatusOr<OutputFormat> format = OutputOf(args, kOutputs);
  if (!format.ok()) return Fail(context, format.status());
  absl::StatusOr<absl::Duration> timeout = TimeoutOf(args);
  if (!timeout.ok()) return Fail(context, timeout.status());
  absl::StatusOr<ApiToken> token = ResolveApiToken(context.env);
  if (!token.ok()) return Fail(context, token.status());
  for (const std::string& warning : token->warnings) {
    std::fprintf(context.err, "tokenctl: %s\n", warning.c_str());
  }
  const std::string address =
      FlagEnvOrDefault(args.Get("verifier"), context.env,
                       "TOKENS_VERIFIER_ADDR", kDefaultVerifierAddress);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      Connect("the verifier", address, *timeout, TlsFilesOf(args, context));
  if (!channel.ok()) return Fail(context, channel.status());

  v1::CheckRequest request;
  request.set_token(token->value);
  request.set_deployment_id(*args.Get("deployment"));
  request.set_operation(*args.Get("operation"));
  v1::CheckResponse response;
  auto call = NewContext(*timeout, "");
  absl::Status status = FromGrpc(
      v1::Verifier::NewStub(*channel)->Check(call.get(), request, &response),
      "the verifier", address);
  if (!status.ok()) return Fail(context, status);

  if (*format == OutputFormat::kJson) {
    Print(context, ToJson(response));
  } else {
    std::string line = absl::StrCat(response.allowed() ? "allowed" : "denied",
                                    ": ", v1::Reason_Name(response.reason()),
                                    " (", Explain(response.reason()), ")\n");
    std::vector<std::pair<std::string, std::string>> fields = {
        {"deployment", request.deployment_id()},
        {"operation", request.operation()},
        {"token", response.token_id().empty() ? "-" : response.token_id()}};
    if (response.has_expire_time()) {
      const absl::Time expire = TimeFromProto(response.expire_time());
      const absl::Time now = context.now();
      fields.push_back(
          {"expires",
           absl::StrCat(Rfc3339(expire), " (", expire <= now ? "expired " : "",
                        RelativeTime(expire, now), ")")});
    }
    Print(context, line + RenderFields(fields));
  }
  return response.allowed() ? kExitOk : kExitDenied;
}

}  // namespace

Command CheckCommand() {
  return {{"check",
           "",
           0,
           0,
           "Ask the verifier whether the token in ASTRO_API_TOKEN may perform "
           "an operation.",
           "Exits 0 when allowed and 1 when denied, printing the reason "
           "(REVOKED_TOKEN,\nUNKNOWN_TOKEN, EXPIRED, WRONG_DEPLOYMENT, "
           "OPERATION_NOT_PERMITTED, "
           "UNKNOWN_OPERATION, ...).\n\n"
           "Environment:\n"
           "  ASTRO_API_TOKEN        the Deployment API token to check\n"
           "  ASTRONOMER_KEY_ID      deprecated Deployment API key pair: used "
           "only when\n"
           "  ASTRONOMER_KEY_SECRET  ASTRO_API_TOKEN is unset; the secret is "
           "checked as the\n"
           "                         token value (a warning is printed). "
           "ASTRO_API_TOKEN wins\n"
           "                         when both are set.\n"
           "  TOKENS_VERIFIER_ADDR   the verifier's address (default "
           "127.0.0.1:50061)\n"
           "A missing or malformed token exits 3 without contacting the "
           "verifier; its value is\nnever printed.\n",
           {{"deployment", "", "ID", "the Deployment acted on", true},
            {"operation", "", "OP",
             "the operation, e.g. deployment.envVars.create", true},
            OutputFlag(kOutputs),
            {"verifier", "", "ADDR",
             "verifier address (default $TOKENS_VERIFIER_ADDR, else "
             "127.0.0.1:50061)"},
            TimeoutFlag(),
            TlsFlags()[0],
            TlsFlags()[1],
            TlsFlags()[2]}},
          Check};
}

}  // namespace tokens::cli
