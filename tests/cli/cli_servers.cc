#include "tests/cli/cli_servers.h"

#include <pty.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/token_value.h"
#include "gtest/gtest.h"

extern char** environ;

namespace tokens::testing {
namespace {

// The test's environment overridden by `extra` ("NAME=value", later wins).
std::vector<std::string> MergedEnv(const std::vector<std::string>& extra) {
  std::map<std::string, std::string> vars;
  std::vector<std::string> order;
  auto add = [&](const std::string& entry) {
    const std::string name = entry.substr(0, entry.find('='));
    if (vars.count(name) == 0) order.push_back(name);
    vars[name] = entry;
  };
  for (char** e = environ; *e != nullptr; ++e) add(*e);
  for (const std::string& e : extra) add(e);
  std::vector<std::string> out;
  for (const std::string& name : order) out.push_back(vars[name]);
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// A random caller key (not shaped like a token value, which TokenService
// refuses as a caller key) and the credentials line for it.
std::pair<std::string, std::string> NewCaller(const std::string& name,
                                              const std::string& role) {
  const std::string key = absl::StrCat(
      "tkk_",
      absl::BytesToHexString(DigestToBytes(DigestOf(*GenerateTokenValue()))));
  const std::string digest =
      absl::BytesToHexString(DigestToBytes(DigestOf(key)));
  return {key, absl::StrCat(name, " ", role, " ", digest, "\n")};
}

void WriteFile(const std::string& path, const std::string& text) {
  FILE* file = fopen(path.c_str(), "w");
  ASSERT_NE(file, nullptr) << path;
  fputs(text.c_str(), file);
  fclose(file);
  chmod(path.c_str(), 0600);
}

// The files TokenService writes on a first start, plus a reporter caller.
void WriteCallersWithReporter(const std::string& dir) {
  auto [admin, admin_line] = NewCaller("admin", "admin");
  auto [verifier, verifier_line] = NewCaller("verifier", "verifier");
  auto [reporter, reporter_line] = NewCaller("scanner", "reporter");
  WriteFile(dir + "/admin.key", admin + "\n");
  WriteFile(dir + "/verifier.key", verifier + "\n");
  WriteFile(dir + "/reporter.key", reporter + "\n");
  WriteFile(dir + "/credentials",
            absl::StrCat(admin_line, verifier_line, reporter_line));
}

}  // namespace

std::string TokenctlPath() { return RunfilePath("cli/tokenctl"); }

absl::StatusOr<std::unique_ptr<CliServers>> CliServers::Start(
    bool with_reporter) {
  std::unique_ptr<CliServers> servers(new CliServers);
  servers->data_dir_ = NewTempDir("tokenctl-data");
  if (with_reporter) {
    chmod(servers->data_dir_.c_str(), 0700);
    WriteCallersWithReporter(servers->data_dir_);
  }
  auto service = ServerProcess::Start(
      RunfilePath("services/token_service"),
      {"--listen", "127.0.0.1:0", "--data-dir", servers->data_dir_});
  if (!service.ok()) return service.status();
  servers->service_ = *std::move(service);
  auto verifier = ServerProcess::Start(
      RunfilePath("verifier/token_verifier"),
      {"--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
       "--token-service", servers->service_->address(), "--key-file",
       absl::StrCat(servers->data_dir_, "/verifier.key")},
      /*listen_lines=*/2);
  if (!verifier.ok()) return verifier.status();
  servers->verifier_ = *std::move(verifier);

  // Ready when a made-up (well-formed) token is judged on its merits.
  const std::string unknown = *GenerateTokenValue();
  const bool ready = WaitFor(
      [&] {
        CommandResult result =
            servers->Check(unknown, "ready-probe", "deployment.get");
        return absl::StrContains(result.out, "UNKNOWN_TOKEN");
      },
      absl::Seconds(30));
  if (!ready) {
    return absl::DeadlineExceededError(
        absl::StrCat("the verifier did not become ready; log:\n",
                     servers->verifier_->Log()));
  }
  return servers;
}

std::vector<std::string> CliServers::Env() const {
  return {
      absl::StrCat("TOKENS_SERVICE_ADDR=", service_->address()),
      absl::StrCat("TOKENS_VERIFIER_ADDR=", verifier_->address()),
      absl::StrCat("TOKENS_ADMIN_KEY_FILE=", data_dir_, "/admin.key"),
      "ASTRO_API_TOKEN=",
      "ASTRONOMER_KEY_ID=",
      "ASTRONOMER_KEY_SECRET=",
  };
}

CommandResult CliServers::Tokenctl(const std::vector<std::string>& args,
                                   const std::vector<std::string>& extra_env,
                                   const std::string& stdin_text) const {
  std::vector<std::string> argv = {TokenctlPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> env = Env();
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  // RunCommand appends to the test's environment; pass a merged one so that
  // later entries really win.
  CommandResult result;
  std::vector<std::string> wrapped = {"/usr/bin/env", "-i"};
  for (const std::string& entry : MergedEnv(env)) wrapped.push_back(entry);
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return RunCommand(wrapped, {}, stdin_text);
}

std::pair<std::string, std::string> CliServers::CreateToken(
    const std::string& deployment, const std::string& name) const {
  CommandResult value = Tokenctl({"token", "create", "--deployment", deployment,
                                  "--name", name, "-o", "value"});
  EXPECT_EQ(value.exit_code, 0) << value.err;
  const std::string secret(absl::StripAsciiWhitespace(value.out));
  CommandResult id =
      Tokenctl({"token", "list", "--deployment", deployment, "-o", "id"});
  EXPECT_EQ(id.exit_code, 0) << id.err;
  std::string last(absl::StripTrailingAsciiWhitespace(id.out));
  last = last.substr(
      last.rfind('\n') == std::string::npos ? 0 : last.rfind('\n') + 1);
  return {last, secret};
}

CommandResult CliServers::Check(const std::string& value,
                                const std::string& deployment,
                                const std::string& operation) const {
  return Tokenctl(
      {"check", "--deployment", deployment, "--operation", operation},
      {absl::StrCat("ASTRO_API_TOKEN=", value)});
}

CommandResult RunOnTerminal(const std::vector<std::string>& argv,
                            const std::vector<std::string>& env,
                            const std::string& typed) {
  CommandResult result;
  std::vector<std::string> args = argv;
  std::vector<std::string> merged = MergedEnv(env);
  std::vector<char*> c_args = CStrings(args);
  std::vector<char*> c_env = CStrings(merged);
  int master = -1;
  pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  if (pid < 0) return result;
  if (pid == 0) {
    execve(c_args[0], c_args.data(), c_env.data());
    _exit(127);
  }
  // Canonical mode holds the typed line until the program reads it.
  if (!typed.empty()) {
    ssize_t written = write(master, typed.data(), typed.size());
    (void)written;
  }
  char buffer[4096];
  for (;;) {
    ssize_t n = read(master, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EIO once the child closed the terminal
    result.out.append(buffer, static_cast<size_t>(n));
  }
  close(master);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace tokens::testing
