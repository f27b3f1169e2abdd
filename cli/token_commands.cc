// `tokenctl token ...`: the management commands, over TokenService with the
// admin key.
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "common/json_log.h"
#include "common/proto_time.h"
#include "common/validation.h"

namespace tokens::cli {
namespace {

const std::vector<std::string> kSecretOutputs = {"table", "json", "value",
                                                 "id"};
const std::vector<std::string> kTokenOutputs = {"table", "json", "id"};

std::vector<FlagSpec> With(std::vector<FlagSpec> own,
                           const std::vector<std::string>& outputs) {
  for (FlagSpec& flag : ServiceFlags(outputs)) own.push_back(std::move(flag));
  return own;
}

// The block that shows a secret once, for create and rotate.
std::string SecretBlock(const std::string& secret) {
  return absl::StrCat(
      "\nToken value (shown only now; it cannot be retrieved again, so store "
      "it safely,\nfor example as the CI secret ASTRO_API_TOKEN):\n\n    ",
      secret, "\n\n");
}

// Prints a token for get/update/create/rotate in the chosen format.
void PrintToken(CliContext& context, OutputFormat format,
                const v1::Token& token) {
  if (format == OutputFormat::kJson) {
    Print(context, ToJson(token));
  } else if (format == OutputFormat::kId) {
    Print(context, token.id() + "\n");
  } else {
    Print(context, TokenDetails(token, context.now()));
  }
}

// Prints a token and its value, shown only now (CreateToken and RotateToken
// responses share the `token` and `secret` fields); `headline` opens the table
// form.
template <typename IssuedResponse>
void PrintIssued(CliContext& context, OutputFormat format,
                 const IssuedResponse& response, const std::string& headline) {
  switch (format) {
    case OutputFormat::kValue:
      Print(context, response.secret() + "\n");
      break;
    case OutputFormat::kJson:
      Print(context, ToJson(response));
      break;
    case OutputFormat::kId:
      Print(context, response.token().id() + "\n");
      break;
    case OutputFormat::kTable:
      Print(context,
            absl::StrCat(headline, SecretBlock(response.secret()),
                         TokenDetails(response.token(), context.now())));
      break;
  }
}

int Create(const ParsedArgs& args, CliContext& context) {
  absl::StatusOr<OutputFormat> format = OutputOf(args, kSecretOutputs);
  if (!format.ok()) return Fail(context, format.status());
  v1::CreateTokenRequest request;
  request.set_deployment_id(*args.Get("deployment"));
  request.set_name(*args.Get("name"));
  request.set_description(args.Get("description").value_or(""));
  request.set_self_rotate(args.Has("self-rotate"));
  if (std::optional<std::string> days = args.Get("expiration-days")) {
    absl::StatusOr<int> parsed =
        ParseInt("expiration-days", *days, 0, kMaxExpirationDays);
    if (!parsed.ok()) return Fail(context, parsed.status());
    request.set_expiration_days(*parsed);
  }
  absl::StatusOr<AdminSession> session = AdminSession::Open(args, context);
  if (!session.ok()) return Fail(context, session.status());
  v1::CreateTokenResponse response;
  absl::Status status = session->Convert(session->stub().CreateToken(
      session->NewCall().get(), request, &response));
  if (!status.ok()) return Fail(context, status);
  PrintIssued(
      context, *format, response,
      absl::StrCat("Created token ", response.token().id(), " for Deployment ",
                   response.token().deployment_id(), ".\n"));
  return kExitOk;
}

int List(const ParsedArgs& args, CliContext& context) {
  absl::StatusOr<OutputFormat> format = OutputOf(args, kTokenOutputs);
  if (!format.ok()) return Fail(context, format.status());
  absl::StatusOr<AdminSession> session = AdminSession::Open(args, context);
  if (!session.ok()) return Fail(context, session.status());
  v1::ListTokensResponse all;
  v1::ListTokensRequest request;
  request.set_deployment_id(*args.Get("deployment"));
  request.set_page_size(1000);
  request.set_order_by(args.Get("order-by").value_or(""));
  if (std::optional<std::string> within = args.Get("expiring-within")) {
    absl::StatusOr<int64_t> seconds =
        ParseSpanSeconds("expiring-within", *within);
    if (!seconds.ok()) return Fail(context, seconds.status());
    TimeToProto(context.now() + absl::Seconds(*seconds),
                request.mutable_expire_before());
  }
  do {
    v1::ListTokensResponse page;
    absl::Status status = session->Convert(
        session->stub().ListTokens(session->NewCall().get(), request, &page));
    if (!status.ok()) return Fail(context, status);
    for (v1::Token& token : *page.mutable_tokens()) {
      *all.add_tokens() = std::move(token);
    }
    all.set_total_size(page.total_size());
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());

  if (*format == OutputFormat::kJson) {
    Print(context, ToJson(all));
  } else if (*format == OutputFormat::kId) {
    for (const v1::Token& token : all.tokens()) {
      Print(context, token.id() + "\n");
    }
  } else if (all.tokens().empty()) {
    Print(context, absl::StrCat("No tokens for Deployment ",
                                request.deployment_id(), ".\n"));
  } else {
    std::vector<v1::Token> tokens(all.tokens().begin(), all.tokens().end());
    Print(context, TokenTable(tokens, context.now()));
  }
  return kExitOk;
}

int Get(const ParsedArgs& args, CliContext& context) {
  absl::StatusOr<OutputFormat> format = OutputOf(args, kTokenOutputs);
  if (!format.ok()) return Fail(context, format.status());
  absl::StatusOr<AdminSession> session = AdminSession::Open(args, context);
  if (!session.ok()) return Fail(context, session.status());
  v1::GetTokenRequest request;
  request.set_id(args.positional()[0]);
  v1::Token token;
  absl::Status status = session->Convert(
      session->stub().GetToken(session->NewCall().get(), request, &token));
  if (!status.ok()) return Fail(context, status);
  PrintToken(context, *format, token);
  return kExitOk;
}

int Update(const ParsedArgs& args, CliContext& context) {
  absl::StatusOr<OutputFormat> format = OutputOf(args, kTokenOutputs);
  if (!format.ok()) return Fail(context, format.status());
  v1::UpdateTokenRequest request;
  request.set_id(args.positional()[0]);
  // The mask names exactly the flags given, so --description "" clears it.
  if (std::optional<std::string> name = args.Get("name")) {
    request.set_name(*name);
    request.mutable_update_mask()->add_paths("name");
  }
  if (std::optional<std::string> description = args.Get("description")) {
    request.set_description(*description);
    request.mutable_update_mask()->add_paths("description");
  }
  if (request.update_mask().paths().empty()) {
    return Fail(context, absl::InvalidArgumentError(
                             "nothing to update: pass --name and/or "
                             "--description"));
  }
  absl::StatusOr<AdminSession> session = AdminSession::Open(args, context);
  if (!session.ok()) return Fail(context, session.status());
  v1::Token token;
  absl::Status status = session->Convert(
      session->stub().UpdateToken(session->NewCall().get(), request, &token));
  if (!status.ok()) return Fail(context, status);
  if (*format == OutputFormat::kTable) {
    Print(context, absl::StrCat("Updated token ", token.id(), ".\n"));
  }
  PrintToken(context, *format, token);
  return kExitOk;
}

int Rotate(const ParsedArgs& args, CliContext& context) {
  if (args.Has("self")) {
    if (!args.positional().empty()) {
      return Fail(context, absl::InvalidArgumentError(
                               "--self rotates the token in ASTRO_API_TOKEN: "
                               "give no ID"));
    }
    return RotateSelf(args, context);
  }
  if (args.positional().empty()) {
    return Fail(context,
                absl::InvalidArgumentError("missing argument ID (or --self)"));
  }
  absl::StatusOr<OutputFormat> format = OutputOf(args, kSecretOutputs);
  if (!format.ok()) return Fail(context, format.status());
  v1::RotateTokenRequest request;
  request.set_id(args.positional()[0]);
  absl::StatusOr<int64_t> grace = GracePeriodOf(args, kMaxGracePeriodSeconds);
  if (!grace.ok()) return Fail(context, grace.status());
  request.set_grace_period_seconds(static_cast<int32_t>(*grace));
  absl::StatusOr<AdminSession> session = AdminSession::Open(args, context);
  if (!session.ok()) return Fail(context, session.status());
  v1::RotateTokenResponse response;
  absl::Status status = session->Convert(session->stub().RotateToken(
      session->NewCall().get(), request, &response));
  if (!status.ok()) return Fail(context, status);
  PrintRotated(context, *format, response, *grace);
  return kExitOk;
}

// Reads one line from `in`; false at end of input.
bool ReadLine(FILE* in, std::string* line) {
  line->clear();
  int c;
  while ((c = std::fgetc(in)) != EOF && c != '\n') line->push_back(char(c));
  return c != EOF || !line->empty();
}

int Delete(const ParsedArgs& args, CliContext& context) {
  absl::StatusOr<OutputFormat> format = OutputOf(args, {"table", "json"});
  if (!format.ok()) return Fail(context, format.status());
  const std::string id = args.positional()[0];
  const bool confirmed_by_flag = args.Has("yes");
  if (!confirmed_by_flag && !context.stdin_is_tty) {
    return Fail(context,
                absl::InvalidArgumentError(absl::StrCat(
                    "not deleting ", id,
                    ": stdin is not a terminal, so nobody can type Delete to "
                    "confirm; pass --yes to delete from a script")));
  }
  absl::StatusOr<AdminSession> session = AdminSession::Open(args, context);
  if (!session.ok()) return Fail(context, session.status());
  // Look the token up first: the prompt names it, and an unknown id fails
  // before anyone is asked to confirm.
  v1::GetTokenRequest get;
  get.set_id(id);
  v1::Token token;
  absl::Status status = session->Convert(
      session->stub().GetToken(session->NewCall().get(), get, &token));
  if (!status.ok()) return Fail(context, status);
  if (!confirmed_by_flag) {
    std::fprintf(context.err,
                 "Deleting token %s \"%s\" of Deployment %s cannot be undone; "
                 "workflows using it\nwill stop working. Type Delete to "
                 "confirm: ",
                 token.id().c_str(), token.name().c_str(),
                 token.deployment_id().c_str());
    std::fflush(context.err);
    std::string answer;
    ReadLine(context.in, &answer);
    answer = std::string(absl::StripAsciiWhitespace(answer));
    if (answer != "Delete") {
      std::fprintf(context.err, "Not deleted (you did not type Delete).\n");
      return kExitDenied;
    }
  }
  v1::DeleteTokenRequest request;
  request.set_id(id);
  google::protobuf::Empty empty;
  status = session->Convert(
      session->stub().DeleteToken(session->NewCall().get(), request, &empty));
  if (!status.ok()) return Fail(context, status);
  if (*format == OutputFormat::kJson) {
    Print(context, absl::StrCat("{\n  \"id\": \"", JsonEscape(id),
                                "\",\n  \"deleted\": true\n}\n"));
  } else {
    Print(context,
          absl::StrCat("Deleted token ", id, " \"", token.name(), "\".\n"));
  }
  return kExitOk;
}

}  // namespace

absl::StatusOr<int64_t> GracePeriodOf(const ParsedArgs& args,
                                      int64_t max_seconds) {
  std::optional<std::string> text = args.Get("grace-period");
  if (!text.has_value()) return 0;
  absl::StatusOr<int64_t> seconds = ParseSeconds("grace-period", *text);
  if (!seconds.ok()) return seconds.status();
  if (*seconds > max_seconds) {
    return absl::InvalidArgumentError(
        absl::StrCat("--grace-period must be at most ",
                     absl::FormatDuration(absl::Seconds(max_seconds))));
  }
  return *seconds;
}

void PrintRotated(CliContext& context, OutputFormat format,
                  const v1::RotateTokenResponse& response,
                  int64_t grace_seconds) {
  const absl::Time now = context.now();
  const absl::Time until = now + absl::Seconds(grace_seconds);
  const std::string old_value =
      grace_seconds == 0
          ? std::string("The old value stopped verifying now.")
          : absl::StrCat("The old value keeps verifying until ", Rfc3339(until),
                         " (", RelativeTime(until, now), ").");
  PrintIssued(context, format, response,
              absl::StrCat("Rotated token ", response.token().id(), ". ",
                           old_value, "\n"));
}

std::vector<Command> TokenCommands() {
  std::vector<Command> commands;
  commands.push_back(
      {{"token create", "", 0, 0,
        "Create a Deployment API token and print its value, the only time it "
        "is shown.",
        "The value is printed once and cannot be retrieved again. To capture "
        "only the value\nin a script:\n"
        "  export ASTRO_API_TOKEN=$(tokenctl token create --deployment D "
        "--name N -o value)\n",
        With(
            {{"deployment", "", "ID", "the Deployment the token acts on", true},
             {"name", "", "NAME", "a name people recognise (1-256 characters)",
              true},
             {"description", "", "TEXT", "optional free text"},
             {"expiration-days", "", "N",
              absl::StrCat("days until the token expires, 1-",
                           kMaxExpirationDays, "; 0 or absent = never")},
             {"self-rotate", "", "",
              "let the token rotate itself with its own value (token rotate "
              "--self)"}},
            kSecretOutputs)},
       Create});
  commands.push_back(
      {{"token list", "", 0, 0,
        "List the tokens of a Deployment, oldest first.",
        "-o id prints only the ids, one a line. --expiring-within 7d lists "
        "only the tokens\nthat expire in the next 7 days (or have expired); "
        "--order-by expire_time puts\nthe soonest first.\n",
        With({{"deployment", "", "ID", "the Deployment", true},
              {"expiring-within", "", "DURATION",
               "only tokens that expire within it, e.g. 7d, 30d, 12h"},
              {"order-by", "", "FIELD",
               "create_time (default), expire_time, name or last_used_time"}},
             kTokenOutputs)},
       List});
  commands.push_back(
      {{"token get", "ID", 1, 1, "Show one token (never its value).", "",
        With({}, kTokenOutputs)},
       Get});
  commands.push_back(
      {{"token update", "ID", 1, 1, "Rename a token or change its description.",
        "Only the flags given change; --description \"\" clears the "
        "description.\n",
        With({{"name", "", "NAME", "the new name"},
              {"description", "", "TEXT", "the new description"}},
             kTokenOutputs)},
       Update});
  commands.push_back(
      {{"token rotate", "ID", 0, 1,
        "Issue a new value for a token, keeping its id, name, description and "
        "Deployment.",
        "The old value stops verifying at once, or after --grace-period, so "
        "that CI secrets\ncan be updated without downtime. The expiry is "
        "renewed. -o value prints only the\nnew value.\n\n"
        "--self (no ID, no admin key) rotates the token in ASTRO_API_TOKEN "
        "with that value\nitself, for a token created with --self-rotate: "
        "a pipeline renews its own token.\nIts --grace-period is at most "
        "1h.\n",
        With({{"self", "", "",
               "rotate the token in ASTRO_API_TOKEN, authenticated by its "
               "value"},
              {"grace-period", "", "DURATION",
               "keep the old value valid this long: 0 (default) to 24h (1h "
               "with --self), e.g. 1h, 30m, 90s"}},
             kSecretOutputs)},
       Rotate});
  commands.push_back(
      {{"token delete", "ID", 1, 1,
        "Delete a token for good; its value stops verifying at once.",
        "Asks you to type Delete to confirm (as the UI does). --yes skips the "
        "question for\nscripts; without --yes and without a terminal on stdin "
        "nothing is deleted (exit 2).\nA wrong answer deletes nothing (exit "
        "1).\n",
        With({{"yes", "y", "", "delete without asking"}}, {"table", "json"})},
       Delete});
  return commands;
}

}  // namespace tokens::cli
