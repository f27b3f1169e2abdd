// ServerProcess: a real server binary started as a child process for end-to-end
// tests. Start waits until it printed its `listening on HOST:PORT` line(s) on
// stdout; its stderr (the JSON log) goes to a file the test can read. The
// destructor sends SIGTERM and reaps it. Not thread-safe.
#ifndef TESTS_TESTING_SERVER_PROCESS_H_
#define TESTS_TESTING_SERVER_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tokens::testing {

// Path of a file in the test's runfiles, e.g. "services/token_service".
std::string RunfilePath(const std::string& workspace_relative);

// A fresh directory under TEST_TMPDIR (or /tmp outside Bazel).
std::string NewTempDir(const std::string& prefix);

// 127.0.0.1:PORT with a port nobody listens on right now, for a server that
// cannot take port 0 (nginx, make run's script).
std::string FreeLoopbackAddress();

// Polls `condition` (every ~5 ms) until it holds or `timeout` passes; returns
// whether it held.
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout);

// Runs a command to completion, feeding `stdin_text`; returns exit code and
// captured output.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::vector<std::string>& extra_env,
                         const std::string& stdin_text = "");

// Runs `script` with bash, stdout and stderr to `log_path`, with `extra_env`
// added to ours, in a process group of its own, as a terminal runs a
// foreground job: `kill(-pid, SIGINT)` is then what Ctrl-C sends. Returns the
// pid (the group id), or -1.
pid_t StartScriptInProcessGroup(const std::string& script,
                                const std::vector<std::string>& extra_env,
                                const std::string& log_path);

class ServerProcess {
 public:
  // Starts `binary` with `args` and waits for `listen_lines` lines that start
  // with "listening on " or "http listening on ".
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::string& binary, const std::vector<std::string>& args,
      int listen_lines = 1, absl::Duration timeout = absl::Seconds(30));
  ~ServerProcess();

  // HOST:PORT from the `listening on` line.
  const std::string& address() const { return address_; }
  // HOST:PORT from the `http listening on` line (empty if none).
  const std::string& http_address() const { return http_address_; }
  // The child's stderr so far.
  std::string Log() const;
  pid_t pid() const { return pid_; }

  // Sends `signal` and waits; returns the exit status as from waitpid.
  int Stop(int signal);

 private:
  ServerProcess() = default;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string log_path_;
  std::string address_;
  std::string http_address_;
};

}  // namespace tokens::testing

#endif  // TESTS_TESTING_SERVER_PROCESS_H_
