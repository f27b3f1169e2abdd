#include "verifier/ext_authz_service.h"

#include <cstddef>
#include <string_view>
#include <utility>

#include "absl/strings/match.h"
#include "common/bearer.h"
#include "verifier/denial.h"

namespace tokens {
namespace {

namespace auth = envoy::service::auth::v3;
using envoy::config::core::v3::HeaderValueOption;

// A request header by lower-case name, from the map or the raw header list.
// A view into `http`.
std::string_view Header(const auth::AttributeContext::HttpRequest& http,
                        const std::string& name) {
  if (auto it = http.headers().find(name); it != http.headers().end()) {
    return it->second;
  }
  for (const auto& header : http.header_map().headers()) {
    if (absl::EqualsIgnoreCase(header.key(), name)) {
      return header.value().empty() ? header.raw_value() : header.value();
    }
  }
  return {};
}

// A view into `attributes`.
std::string_view ContextExtension(const auth::AttributeContext& attributes,
                                  const std::string& key) {
  auto it = attributes.context_extensions().find(key);
  return it == attributes.context_extensions().end()
             ? std::string_view()
             : std::string_view(it->second);
}

void AddHeader(google::protobuf::RepeatedPtrField<HeaderValueOption>* headers,
               std::string_view key, std::string_view value) {
  HeaderValueOption* option = headers->Add();
  option->mutable_header()->set_key(key.data(), key.size());
  option->mutable_header()->set_value(value.data(), value.size());
  // Never append to a header of the same name the client sent.
  option->set_append_action(HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD);
}

// Envoy's denial: `denial` with `message` as the RPC status message.
void Deny(const Denial& denial, std::string message,
          auth::CheckResponse* response) {
  response->mutable_status()->set_code(static_cast<int>(denial.code));
  response->mutable_status()->set_message(std::move(message));
  auth::DeniedHttpResponse* denied = response->mutable_denied_response();
  denied->mutable_status()->set_code(
      static_cast<envoy::type::v3::StatusCode>(denial.http_status));
  AddHeader(denied->mutable_headers(), "x-token-reason", denial.reason);
  if (!denial.www_authenticate.empty()) {
    AddHeader(denied->mutable_headers(), "www-authenticate",
              denial.www_authenticate);
  }
  if (!denial.retry_after.empty()) {
    AddHeader(denied->mutable_headers(), "retry-after", denial.retry_after);
  }
  denied->set_body(std::string(denial.reason) + "\n");
}

// One call's messages on an arena whose first block is part of the holder.
// Envoy's CheckRequests (a few dozen headers) fit in it; a larger one makes
// the arena take more blocks from the heap, freed with it.
class ArenaCheckHolder
    : public grpc::MessageHolder<auth::CheckRequest, auth::CheckResponse> {
 public:
  ArenaCheckHolder() : arena_(ArenaOptionsFor(first_block_)) {
    set_request(
        google::protobuf::Arena::CreateMessage<auth::CheckRequest>(&arena_));
    set_response(
        google::protobuf::Arena::CreateMessage<auth::CheckResponse>(&arena_));
  }
  void Release() override { delete this; }

 private:
  static constexpr size_t kFirstBlockBytes = 8192;
  static google::protobuf::ArenaOptions ArenaOptionsFor(char* block) {
    google::protobuf::ArenaOptions options;
    options.initial_block = block;
    options.initial_block_size = kFirstBlockBytes;
    return options;
  }

  alignas(std::max_align_t) char first_block_[kFirstBlockBytes];
  google::protobuf::Arena arena_;  // After the block it starts in.
};

}  // namespace

grpc::MessageHolder<auth::CheckRequest, auth::CheckResponse>*
ArenaCheckAllocator::AllocateMessages() {
  return new ArenaCheckHolder();
}

void AnswerExtAuthz(VerifierCore* core, const std::string& default_deployment,
                    const auth::CheckRequest& request,
                    absl::FunctionRef<std::string()> peer,
                    auth::CheckResponse* response) {
  const auth::AttributeContext& attributes = request.attributes();
  const auth::AttributeContext::HttpRequest& http = attributes.request().http();
  // Views into the request (or default_deployment): nothing is copied.
  std::string_view deployment_id =
      ContextExtension(attributes, "deployment_id");
  if (deployment_id.empty()) deployment_id = Header(http, "x-deployment-id");
  if (deployment_id.empty()) deployment_id = default_deployment;
  std::string_view operation = ContextExtension(attributes, "operation");
  if (operation.empty()) operation = Header(http, "x-operation");
  // Without a Deployment or an operation there is nothing to allow: denied,
  // never allowed, and never an RPC error.
  if (absl::Status valid =
          VerifierCore::ValidateRequest(deployment_id, operation);
      !valid.ok()) {
    Deny(InvalidRequestDenial(), std::string(valid.message()), response);
    return;
  }
  const std::string_view token =
      BearerCredential(Header(http, "authorization"));
  const absl::StatusOr<Decision> checked = core->CheckFrom(
      {peer,
       [&attributes] {
         return attributes.source().address().socket_address().address();
       }},
      token, deployment_id, operation);
  if (!checked.ok()) {
    Deny(ThrottledDenial(core->throttled_http_status()),
         std::string(checked.status().message()), response);
    return;
  }
  const Decision& decision = *checked;
  const Denial denial = DenialFor(decision);
  if (decision.allowed()) {
    response->mutable_status()->set_code(static_cast<int>(denial.code));
    AddHeader(response->mutable_ok_response()->mutable_headers(), "x-token-id",
              decision.token_id);
    return;
  }
  Deny(denial, std::string(denial.reason), response);
}

grpc::ServerUnaryReactor* ExtAuthzService::Check(
    grpc::CallbackServerContext* context, const auth::CheckRequest* request,
    auth::CheckResponse* response) {
  AnswerExtAuthz(
      core_, default_deployment_, *request,
      [context] { return context->peer(); }, response);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace tokens
