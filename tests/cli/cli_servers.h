// CliServers: a real TokenService and verifier sidecar (child processes on port
// 0, data in TEST_TMPDIR) for driving the built `tokenctl` binary end to end,
// plus helpers to run tokenctl with the environment pointing at them, and to
// run it on a pseudo-terminal so that it sees a person at the keyboard.
// Test-only. Not thread-safe.
#ifndef TESTS_CLI_CLI_SERVERS_H_
#define TESTS_CLI_CLI_SERVERS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/testing/server_process.h"

namespace tokens::testing {

class CliServers {
 public:
  // Starts both servers and waits until the verifier has synced (a check
  // answers something other than NOT_READY). With `with_reporter`, the
  // credentials also hold a `reporter` caller whose key is in
  // reporter_key_file().
  static absl::StatusOr<std::unique_ptr<CliServers>> Start(
      bool with_reporter = false);

  // TOKENS_SERVICE_ADDR, TOKENS_VERIFIER_ADDR and TOKENS_ADMIN_KEY_FILE for
  // these servers, and ASTRO_API_TOKEN / ASTRONOMER_KEY_* set empty (unset
  // for tokenctl) so the test's own environment cannot leak in.
  std::vector<std::string> Env() const;

  // Runs tokenctl with `args`, Env() followed by `extra_env` (later entries
  // win), and `stdin_text` on a pipe.
  CommandResult Tokenctl(const std::vector<std::string>& args,
                         const std::vector<std::string>& extra_env = {},
                         const std::string& stdin_text = "") const;

  // Creates a token and returns {id, value}; fails the test on error.
  std::pair<std::string, std::string> CreateToken(
      const std::string& deployment, const std::string& name) const;

  // `tokenctl check` with ASTRO_API_TOKEN=`value`; returns the result.
  CommandResult Check(const std::string& value, const std::string& deployment,
                      const std::string& operation) const;

  const std::string& data_dir() const { return data_dir_; }
  std::string reporter_key_file() const { return data_dir_ + "/reporter.key"; }
  const std::string& service_address() const { return service_->address(); }
  const std::string& verifier_address() const { return verifier_->address(); }

 private:
  std::string data_dir_;
  std::unique_ptr<ServerProcess> service_;
  std::unique_ptr<ServerProcess> verifier_;
};

// Path of the built tokenctl in the runfiles.
std::string TokenctlPath();

// Runs `argv` with `env` (added to the test's environment, later entries win)
// on a new pseudo-terminal, types `typed` into it, and returns the exit code
// and everything the terminal showed (stdout, stderr and the echoed input, in
// `out`).
CommandResult RunOnTerminal(const std::vector<std::string>& argv,
                            const std::vector<std::string>& env,
                            const std::string& typed);

}  // namespace tokens::testing

#endif  // TESTS_CLI_CLI_SERVERS_H_
