// A minimal blocking HTTP/1.1 client on Boost.Beast for end-to-end tests
// (the verifier's HTTP side, nginx in front of it). Test-only;
// thread-compatible.
#ifndef TESTS_TESTING_HTTP_CLIENT_H_
#define TESTS_TESTING_HTTP_CLIENT_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tokens::testing {

struct HttpResult {
  int status = 0;  // 0 when the request could not be made
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string error;  // why status is 0
};

// GET `target` from `address` (HOST:PORT) with `headers` (a Host header
// replaces the default, the address), on a fresh connection; from the local
// address `source` when set (127.0.0.2 and the like: several clients on one
// machine).
HttpResult HttpGet(
    const std::string& address, const std::string& target,
    const std::vector<std::pair<std::string, std::string>>& headers = {},
    const std::string& source = "");

}  // namespace tokens::testing

#endif  // TESTS_TESTING_HTTP_CLIENT_H_
