// RunTokenctl: finds the command a command line names and runs it.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"

namespace tokens::cli {
namespace {

std::vector<Command> AllCommands() {
  std::vector<Command> all = TokenCommands();
  all.push_back(CheckCommand());
  all.push_back(AuditCommand());
  all.push_back(ScanCommand());
  return all;
}

std::string CommandList(const std::vector<Command>& commands,
                        const std::string& prefix) {
  std::string out;
  for (const Command& command : commands) {
    if (command.spec.path.rfind(prefix, 0) != 0) continue;
    std::string usage = command.spec.path;
    if (!command.spec.positional.empty()) {
      absl::StrAppend(&usage, " ", command.spec.positional);
    }
    absl::StrAppend(
        &out, absl::StrFormat("  %-20s %s\n", usage, command.spec.summary));
  }
  return out;
}

std::string TopHelp(const std::vector<Command>& commands) {
  return absl::StrCat(
      "tokenctl: manage Deployment API tokens and check what they may do.\n\n"
      "Usage: tokenctl <command> [flags]    (tokenctl <command> --help for "
      "its flags)\n\nCommands:\n",
      CommandList(commands, ""),
      "\nOutput: a table for people by default; -o json prints one JSON "
      "document with the\nAPI's field names for scripts; times are RFC 3339 "
      "(UTC).\n\n"
      "Environment:\n"
      "  TOKENS_SERVICE_ADDR    TokenService address (default "
      "127.0.0.1:50051; --service)\n"
      "  TOKENS_VERIFIER_ADDR   verifier address (default 127.0.0.1:50061; "
      "--verifier)\n"
      "  TOKENS_ADMIN_KEY_FILE  admin key for token commands (default "
      "./var/admin.key;\n"
      "                         --admin-key-file)\n"
      "  TOKENS_CA_FILE         connect over TLS trusting this CA (--ca-file)\n"
      "  TOKENS_CLIENT_CERT, TOKENS_CLIENT_KEY\n"
      "                         client certificate and key for mutual TLS\n"
      "                         (--client-cert, --client-key)\n"
      "  ASTRO_API_TOKEN        the Deployment API token `check` acts with\n"
      "  ASTRONOMER_KEY_ID, ASTRONOMER_KEY_SECRET\n"
      "                         deprecated; read by `check` only when "
      "ASTRO_API_TOKEN is unset\n\n",
      kExitCodeHelp);
}

int UsageError(CliContext& context, const std::string& message,
               const std::string& help_command) {
  std::fprintf(context.err, "tokenctl: %s\nRun '%s --help' for usage.\n",
               message.c_str(), help_command.c_str());
  return kExitUsage;
}

}  // namespace

int RunTokenctl(const std::vector<std::string>& args, CliContext& context) {
  const std::vector<Command> commands = AllCommands();
  if (args.empty()) {
    std::fputs(TopHelp(commands).c_str(), context.err);
    return kExitUsage;
  }
  const std::string& first = args[0];
  if (first == "-h" || first == "--help" || first == "help") {
    Print(context, TopHelp(commands));
    return kExitOk;
  }
  // Commands are one word ("check") or a group and a word ("token create").
  size_t words = 1;
  std::string path = first;
  if (first == "token") {
    if (args.size() < 2 || args[1] == "-h" || args[1] == "--help") {
      std::string help = absl::StrCat(
          "Manage the tokens of a Deployment.\n\nUsage: tokenctl token "
          "<command> [flags]\n\nCommands:\n",
          CommandList(commands, "token "), "\n", kExitCodeHelp);
      if (args.size() < 2) {
        std::fputs(help.c_str(), context.err);
        return kExitUsage;
      }
      Print(context, help);
      return kExitOk;
    }
    words = 2;
    path = absl::StrCat("token ", args[1]);
  }
  auto command =
      std::find_if(commands.begin(), commands.end(),
                   [&](const Command& c) { return c.spec.path == path; });
  if (command == commands.end()) {
    return UsageError(context, absl::StrCat("unknown command '", path, "'"),
                      words == 2 ? "tokenctl token" : "tokenctl");
  }
  std::vector<std::string> rest(args.begin() + words, args.end());
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(command->spec, rest);
  if (!parsed.ok()) {
    return UsageError(context, std::string(parsed.status().message()),
                      absl::StrCat("tokenctl ", path));
  }
  if (parsed->help()) {
    Print(context, HelpText(command->spec));
    return kExitOk;
  }
  return command->run(*parsed, context);
}

}  // namespace tokens::cli
