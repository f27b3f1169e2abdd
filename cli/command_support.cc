#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"

namespace tokens::cli {

int Fail(CliContext& context, const absl::Status& status) {
  std::fprintf(context.err, "tokenctl: %s\n",
               std::string(status.message()).c_str());
  return ExitCodeFor(status.code());
}

void Print(CliContext& context, const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), context.out);
}

FlagSpec OutputFlag(const std::vector<std::string>& outputs) {
  return {"output", "o", "FORMAT",
          absl::StrCat("output format: ", absl::StrJoin(outputs, ", "),
                       " (default ", outputs.front(), ")")};
}

FlagSpec TimeoutFlag() {
  return {"timeout", "", "DURATION",
          "give up connecting or waiting for an answer after this long "
          "(default 5s)"};
}

std::vector<FlagSpec> TlsFlags() {
  return {
      {"ca-file", "", "PEM",
       "connect over TLS, trusting the server certificates signed by this CA "
       "(default $TOKENS_CA_FILE; plain text when neither is set)"},
      {"client-cert", "", "PEM",
       "certificate to present for mutual TLS (default $TOKENS_CLIENT_CERT)"},
      {"client-key", "", "PEM",
       "key of --client-cert (default $TOKENS_CLIENT_KEY)"},
  };
}

ClientTlsFiles TlsFilesOf(const ParsedArgs& args, const CliContext& context) {
  ClientTlsFiles files;
  files.ca_file =
      FlagEnvOrDefault(args.Get("ca-file"), context.env, "TOKENS_CA_FILE", "");
  files.cert_file = FlagEnvOrDefault(args.Get("client-cert"), context.env,
                                     "TOKENS_CLIENT_CERT", "");
  files.key_file = FlagEnvOrDefault(args.Get("client-key"), context.env,
                                    "TOKENS_CLIENT_KEY", "");
  return files;
}

std::vector<FlagSpec> ServiceFlags(const std::vector<std::string>& outputs) {
  std::vector<FlagSpec> flags = {
      OutputFlag(outputs),
      {"service", "", "ADDR",
       "TokenService address (default $TOKENS_SERVICE_ADDR, else "
       "127.0.0.1:50051)"},
      {"admin-key-file", "", "PATH",
       "file holding the admin key (default $TOKENS_ADMIN_KEY_FILE, else "
       "./var/admin.key)"},
      TimeoutFlag(),
  };
  for (FlagSpec& flag : TlsFlags()) flags.push_back(std::move(flag));
  return flags;
}

absl::StatusOr<OutputFormat> OutputOf(const ParsedArgs& args,
                                      const std::vector<std::string>& outputs) {
  return ParseOutputFormat(args.Get("output").value_or(outputs.front()),
                           outputs);
}

absl::StatusOr<absl::Duration> TimeoutOf(const ParsedArgs& args) {
  std::optional<std::string> text = args.Get("timeout");
  if (!text.has_value()) return absl::Seconds(5);
  absl::Duration timeout;
  if (!absl::ParseDuration(*text, &timeout) ||
      timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--timeout must be a positive duration such as 5s or 500ms");
  }
  return timeout;
}

absl::StatusOr<AdminSession> AdminSession::Open(const ParsedArgs& args,
                                                const CliContext& context,
                                                const std::string& key_flag) {
  AdminSession session;
  absl::StatusOr<absl::Duration> timeout = TimeoutOf(args);
  if (!timeout.ok()) return timeout.status();
  session.timeout_ = *timeout;
  session.address_ =
      FlagEnvOrDefault(args.Get("service"), context.env, "TOKENS_SERVICE_ADDR",
                       kDefaultServiceAddress);
  const std::string key_file =
      FlagEnvOrDefault(args.Get(key_flag), context.env, "TOKENS_ADMIN_KEY_FILE",
                       kDefaultAdminKeyFile);
  absl::StatusOr<std::string> key = ReadAdminKey(key_file);
  if (!key.ok()) return key.status();
  session.key_ = *std::move(key);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      Connect("TokenService", session.address_, session.timeout_,
              TlsFilesOf(args, context));
  if (!channel.ok()) return channel.status();
  session.stub_ = v1::TokenService::NewStub(*channel);
  return session;
}

std::unique_ptr<grpc::ClientContext> AdminSession::NewCall() const {
  return NewContext(timeout_, key_);
}

absl::Status AdminSession::Convert(const grpc::Status& status) const {
  return FromGrpc(status, "TokenService", address_);
}

}  // namespace tokens::cli
