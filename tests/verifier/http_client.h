// A minimal blocking HTTP/1.1 client on Boost.Beast for end-to-end tests of the
// verifier's HTTP side. Test-only; thread-compatible.
#ifndef TESTS_VERIFIER_HTTP_CLIENT_H_
#define TESTS_VERIFIER_HTTP_CLIENT_H_

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

// GET `target` from `address` (HOST:PORT) with `headers`, on a fresh
// connection.
HttpResult HttpGet(
    const std::string& address, const std::string& target,
    const std::vector<std::pair<std::string, std::string>>& headers = {});

}  // namespace tokens::testing

#endif  // TESTS_VERIFIER_HTTP_CLIENT_H_
