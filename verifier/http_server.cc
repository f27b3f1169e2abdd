#include "verifier/http_server.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/bearer.h"
#include "verifier/denial.h"

namespace tokens {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

using Request = HttpRequest;
using Response = HttpResponse;

std::string_view ToStd(beast::string_view s) {
  return std::string_view(s.data(), s.size());
}

// A response of the verifier's: MakeHttpResponse's headers, naming
// token_verifier in Server from the start (not set and then replaced).
Response Reply(http::status status, unsigned version, std::string body) {
  return MakeHttpResponse(status, version, std::move(body), "token_verifier");
}

beast::string_view ToBeast(std::string_view s) {
  return beast::string_view(s.data(), s.size());
}

// Forward-auth's answer: `denial`'s status and headers, with X-Token-Id when
// `token_id` is set (allowed).
Response Answer(const Request& request, const Denial& denial, std::string body,
                const std::string* token_id = nullptr) {
  Response response = Reply(static_cast<http::status>(denial.http_status),
                            request.version(), std::move(body));
  if (!denial.retry_after.empty()) {
    response.set(http::field::retry_after, ToBeast(denial.retry_after));
  }
  response.set("X-Auth-Reason", ToBeast(denial.reason));
  if (token_id != nullptr) response.set("X-Token-Id", *token_id);
  if (!denial.www_authenticate.empty()) {
    response.set(http::field::www_authenticate,
                 ToBeast(denial.www_authenticate));
  }
  return response;
}

Response Authorize(const Request& request, VerifierCore* core,
                   std::string_view peer) {
  const std::string_view deployment_id = ToStd(request["X-Deployment-Id"]);
  const std::string_view operation = ToStd(request["X-Operation"]);
  absl::Status valid = VerifierCore::ValidateRequest(deployment_id, operation);
  if (!valid.ok()) {
    return Reply(http::status::bad_request, request.version(),
                 absl::StrCat(valid.message(), "\n"));
  }
  const std::string_view token =
      BearerCredential(ToStd(request[http::field::authorization]));
  const absl::StatusOr<Decision> checked = core->CheckFrom(
      {[peer] { return std::string(peer); },
       [&request] {
         // Every X-Forwarded-For line, in order, as one list.
         std::string forwarded;
         const auto range = request.equal_range("X-Forwarded-For");
         for (auto it = range.first; it != range.second; ++it) {
           if (!forwarded.empty()) forwarded += ',';
           forwarded += std::string(ToStd(it->value()));
         }
         return forwarded;
       }},
      token, deployment_id, operation);
  if (!checked.ok()) {
    // A throttled bad token is still a denial the proxy passes on: nginx
    // auth_request turns any status but 2xx, 401 and 403 into a 500.
    return Answer(request, ThrottledDenial(core->throttled_http_status()),
                  absl::StrCat(checked.status().message(), "\n"));
  }
  const Decision& decision = *checked;
  const Denial denial = DenialFor(decision);
  return Answer(request, denial, std::string(denial.reason) + "\n",
                decision.allowed() ? &decision.token_id : nullptr);
}

Response Route(const Request& request, VerifierCore* core,
               std::string_view peer) {
  std::string_view path = ToStd(request.target());
  path = path.substr(0, path.find('?'));
  const bool read_only = request.method() == http::verb::get ||
                         request.method() == http::verb::head;
  if (path == "/v1/authorize") {
    // Proxies forward the original method (Traefik) or may be configured to;
    // any is fine.
    return Authorize(request, core, peer);
  }
  if (path != "/healthz" && path != "/readyz" && path != "/metrics") {
    return Reply(http::status::not_found, request.version(), "not found\n");
  }
  if (!read_only) {
    Response response = Reply(http::status::method_not_allowed,
                              request.version(), "method not allowed\n");
    response.set(http::field::allow, "GET, HEAD");
    return response;
  }
  if (path == "/healthz") {
    return Reply(http::status::ok, request.version(), "ok\n");
  }
  if (path == "/readyz") {
    return core->IsReady()
               ? Reply(http::status::ok, request.version(), "ready\n")
               : Reply(http::status::service_unavailable, request.version(),
                       "not ready\n");
  }
  Response response =
      Reply(http::status::ok, request.version(), core->RenderMetrics());
  response.set(http::field::content_type,
               "text/plain; version=0.0.4; charset=utf-8");
  return response;
}

}  // namespace

RawHttpAnswer AnswerRawHttpRequest(std::string_view raw, VerifierCore* core,
                                   std::string_view peer) {
  const HttpResponse response =
      AnswerRawHttp(raw, VerifierHttpHandler(core), peer);
  RawHttpAnswer answer;
  answer.status = response.result_int();
  answer.auth_reason = std::string(ToStd(response["X-Auth-Reason"]));
  answer.token_id = std::string(ToStd(response["X-Token-Id"]));
  return answer;
}

HttpHandler VerifierHttpHandler(VerifierCore* core) {
  return [core](const HttpRequest& request, std::string_view peer) {
    return Route(request, core, peer);
  };
}

absl::StatusOr<std::unique_ptr<HttpServer>> StartVerifierHttpServer(
    const std::string& address, VerifierCore* core, const HttpTlsFiles& tls) {
  return HttpServer::Start(address, VerifierHttpHandler(core), tls);
}

}  // namespace tokens
