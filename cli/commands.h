// tokenctl's commands: `token create|list|get|update|rotate|delete`, `check`,
// `audit` and `scan`, plus RunTokenctl, which dispatches a command line to
// them.
//
// A command is a CommandSpec (its flags and --help) and a function that runs
// it against a CliContext (streams, environment, clock), so everything a
// command touches besides the network comes in through the context. Each
// function returns the process exit code (cli/exit_codes.h) and prints errors
// as one line on the context's stderr. Thread-compatible.
#ifndef CLI_COMMANDS_H_
#define CLI_COMMANDS_H_

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cli/args.h"
#include "cli/credentials.h"
#include "cli/output.h"
#include "common/tls_files.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"

namespace tokens::cli {

struct CliContext {
  EnvLookup env;
  FILE* out = stdout;
  FILE* err = stderr;
  FILE* in = stdin;
  // Whether `in` is a terminal a person can type a confirmation into.
  bool stdin_is_tty = false;
  std::function<absl::Time()> now;
};

struct Command {
  CommandSpec spec;
  std::function<int(const ParsedArgs&, CliContext&)> run;
};

// Runs the command line `args` (without the program name). Returns the exit
// code.
int RunTokenctl(const std::vector<std::string>& args, CliContext& context);

// The command groups, each defined in its own file.
std::vector<Command> TokenCommands();  // token_commands.cc
Command CheckCommand();                // check_command.cc
Command AuditCommand();                // audit_command.cc
Command ScanCommand();                 // scan_command.cc

// `token rotate --self` (rotate_self_command.cc), run by `token rotate`.
int RotateSelf(const ParsedArgs& args, CliContext& context);

// --grace-period in seconds (0 when absent). InvalidArgument when it is not
// a duration or is over `max_seconds`.
absl::StatusOr<int64_t> GracePeriodOf(const ParsedArgs& args,
                                      int64_t max_seconds);
// Prints a rotation's answer in `format` (the new value shown once, and
// until when the old one verifies); token_commands.cc.
void PrintRotated(CliContext& context, OutputFormat format,
                  const v1::RotateTokenResponse& response,
                  int64_t grace_seconds);

// --- Shared by the commands (command_support.cc). ---

// Prints "tokenctl: <message>" on stderr and returns the exit code for the
// status's code.
int Fail(CliContext& context, const absl::Status& status);

// Prints `text` on stdout.
void Print(CliContext& context, const std::string& text);

// Flags every TokenService command takes: --service, --admin-key-file,
// --timeout, and -o with the given formats (the first is the default).
std::vector<FlagSpec> ServiceFlags(const std::vector<std::string>& outputs);
// -o with the given formats; --timeout.
FlagSpec OutputFlag(const std::vector<std::string>& outputs);
FlagSpec TimeoutFlag();

// The -o format chosen (the first of `outputs` when -o is absent).
absl::StatusOr<OutputFormat> OutputOf(const ParsedArgs& args,
                                      const std::vector<std::string>& outputs);
// --ca-file, --client-cert, --client-key (each also from the environment:
// TOKENS_CA_FILE, TOKENS_CLIENT_CERT, TOKENS_CLIENT_KEY).
std::vector<FlagSpec> TlsFlags();
// The TLS files chosen by those flags or the environment; plain text when
// none is set.
ClientTlsFiles TlsFilesOf(const ParsedArgs& args, const CliContext& context);
// --timeout, default 5 s. InvalidArgument when not a positive duration.
absl::StatusOr<absl::Duration> TimeoutOf(const ParsedArgs& args);

// A connected TokenService stub acting with the admin key.
class AdminSession {
 public:
  // Resolves the address and key file (flag, environment, default), reads
  // the key and connects. Unauthenticated when the key cannot be read,
  // Unavailable when the service cannot be reached. `key_flag` names the
  // flag giving the key file (`scan` calls it --key-file: a reporter key
  // works there too).
  static absl::StatusOr<AdminSession> Open(
      const ParsedArgs& args, const CliContext& context,
      const std::string& key_flag = "admin-key-file");

  v1::TokenService::Stub& stub() { return *stub_; }
  // A context with the deadline and the admin key.
  std::unique_ptr<grpc::ClientContext> NewCall() const;
  // grpc::Status as absl::Status, naming the service where useful.
  absl::Status Convert(const grpc::Status& status) const;

 private:
  std::string address_;
  std::string key_;
  absl::Duration timeout_;
  std::unique_ptr<v1::TokenService::Stub> stub_;
};

}  // namespace tokens::cli

#endif  // CLI_COMMANDS_H_
