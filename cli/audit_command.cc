// `tokenctl audit`: the audit log of a Deployment, newest first.
#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"

namespace tokens::cli {
namespace {

const std::vector<std::string> kOutputs = {"table", "json"};

int Audit(const ParsedArgs& args, CliContext& context) {
  absl::StatusOr<OutputFormat> format = OutputOf(args, kOutputs);
  if (!format.ok()) return Fail(context, format.status());
  v1::ListAuditEventsRequest request;
  request.set_deployment_id(*args.Get("deployment"));
  request.set_page_size(50);
  if (std::optional<std::string> limit = args.Get("limit")) {
    absl::StatusOr<int> parsed = ParseInt("limit", *limit, 1, 1000);
    if (!parsed.ok()) return Fail(context, parsed.status());
    request.set_page_size(*parsed);
  }
  absl::StatusOr<AdminSession> session = AdminSession::Open(args, context);
  if (!session.ok()) return Fail(context, session.status());
  v1::ListAuditEventsResponse response;
  absl::Status status = session->Convert(session->stub().ListAuditEvents(
      session->NewCall().get(), request, &response));
  if (!status.ok()) return Fail(context, status);
  if (*format == OutputFormat::kJson) {
    Print(context, ToJson(response));
  } else if (response.events().empty()) {
    Print(context, absl::StrCat("No audit events for Deployment ",
                                request.deployment_id(), ".\n"));
  } else {
    Print(context,
          AuditTable({response.events().begin(), response.events().end()}));
  }
  return kExitOk;
}

}  // namespace

Command AuditCommand() {
  return {
      {"audit", "", 0, 0, "Show the audit log of a Deployment, newest first.",
       "Every create, update, rotate and delete, including refused ones, "
       "with who did it.\nNo event carries a token value.\n",
       [] {
         std::vector<FlagSpec> flags = {
             {"deployment", "", "ID", "the Deployment", true},
             {"limit", "", "N", "show at most N events, 1-1000 (default 50)"}};
         for (FlagSpec& flag : ServiceFlags(kOutputs)) {
           flags.push_back(std::move(flag));
         }
         return flags;
       }()},
      Audit};
}

}  // namespace tokens::cli
