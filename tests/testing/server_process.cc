#include "tests/testing/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/file_util.h"

extern char** environ;

namespace tokens::testing {
namespace {

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::string ReadAll(int fd) {
  std::string out;
  char buffer[4096];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace

std::string RunfilePath(const std::string& workspace_relative) {
  const char* srcdir = getenv("TEST_SRCDIR");
  const char* workspace = getenv("TEST_WORKSPACE");
  if (srcdir == nullptr) return workspace_relative;
  return absl::StrCat(srcdir, "/",
                      workspace ? workspace : "deployment_api_tokens", "/",
                      workspace_relative);
}

std::string FreeLoopbackAddress() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return absl::StrCat("127.0.0.1:", ntohs(address.sin_port));
}

std::string NewTempDir(const std::string& prefix) {
  const char* base = getenv("TEST_TMPDIR");
  std::string pattern =
      absl::StrCat(base ? base : "/tmp", "/", prefix, "-XXXXXX");
  char* made = mkdtemp(pattern.data());
  return made ? std::string(made) : std::string();
}

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    // Polling a condition, not waiting for time to pass.
    poll(nullptr, 0, 5);
  }
  return true;
}

pid_t StartScriptInProcessGroup(const std::string& script,
                                const std::vector<std::string>& extra_env,
                                const std::string& log_path) {
  std::vector<std::string> env = extra_env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  std::vector<std::string> args = {
      "/bin/bash", "-c",
      absl::StrCat("exec bash ", script, " >", log_path, " 2>&1")};
  std::vector<char*> c_args = CStrings(args);
  std::vector<char*> c_env = CStrings(env);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  if (posix_spawn(&pid, c_args[0], nullptr, &attr, c_args.data(),
                  c_env.data()) != 0) {
    pid = -1;
  }
  posix_spawnattr_destroy(&attr);
  return pid;
}

CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::vector<std::string>& extra_env,
                         const std::string& stdin_text) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  CommandResult result;
  if (pipe(in_pipe) != 0 || pipe(out_pipe) != 0 || pipe(err_pipe) != 0) {
    return result;
  }
  std::vector<std::string> args = argv;
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  for (const std::string& e : extra_env) env.push_back(e);
  std::vector<char*> c_args = CStrings(args);
  std::vector<char*> c_env = CStrings(env);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1],
                   err_pipe[0], err_pipe[1]}) {
      close(fd);
    }
    execve(c_args[0], c_args.data(), c_env.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  std::thread writer([&] {
    size_t done = 0;
    while (done < stdin_text.size()) {
      ssize_t n =
          write(in_pipe[1], stdin_text.data() + done, stdin_text.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    close(in_pipe[1]);
  });
  std::thread err_reader([&] { result.err = ReadAll(err_pipe[0]); });
  result.out = ReadAll(out_pipe[0]);
  err_reader.join();
  writer.join();
  close(out_pipe[0]);
  close(err_pipe[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::string& binary, const std::vector<std::string>& args,
    int listen_lines, absl::Duration timeout) {
  signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<ServerProcess> process(new ServerProcess);
  process->log_path_ = absl::StrCat(NewTempDir("log"), "/stderr.log");
  int out_pipe[2];
  if (pipe(out_pipe) != 0) return absl::InternalError("pipe failed");
  int log_fd =
      open(process->log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<std::string> argv = {binary};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> c_args = CStrings(argv);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out_pipe[1], 1);
    dup2(log_fd, 2);
    close(out_pipe[0]);
    close(out_pipe[1]);
    close(log_fd);
    execv(c_args[0], c_args.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(log_fd);
  process->pid_ = pid;
  process->stdout_fd_ = out_pipe[0];

  std::string buffer;
  int seen = 0;
  const absl::Time deadline = absl::Now() + timeout;
  while (seen < listen_lines) {
    int remaining_ms =
        static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (remaining_ms <= 0) {
      return absl::DeadlineExceededError(
          absl::StrCat(binary, " did not print its listening lines; log:\n",
                       process->Log()));
    }
    pollfd pfd{process->stdout_fd_, POLLIN, 0};
    if (poll(&pfd, 1, remaining_ms) <= 0) continue;
    char chunk[1024];
    ssize_t n = read(process->stdout_fd_, chunk, sizeof(chunk));
    if (n <= 0) {
      return absl::InternalError(
          absl::StrCat(binary, " exited early; log:\n", process->Log()));
    }
    buffer.append(chunk, static_cast<size_t>(n));
    size_t newline;
    while ((newline = buffer.find('\n')) != std::string::npos) {
      std::string line = buffer.substr(0, newline);
      buffer.erase(0, newline + 1);
      absl::string_view rest(line);
      if (absl::ConsumePrefix(&rest, "http listening on ")) {
        process->http_address_ = std::string(rest);
        ++seen;
      } else if (absl::ConsumePrefix(&rest, "listening on ")) {
        process->address_ = std::string(rest);
        ++seen;
      }
    }
  }
  return process;
}

std::string ServerProcess::Log() const {
  auto text = ReadFile(log_path_);
  return text.ok() ? *text : std::string();
}

int ServerProcess::Stop(int signal) {
  if (pid_ <= 0) return 0;
  kill(pid_, signal);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  if (stdout_fd_ >= 0) close(stdout_fd_);
  stdout_fd_ = -1;
  return status;
}

ServerProcess::~ServerProcess() { Stop(SIGTERM); }

}  // namespace tokens::testing
