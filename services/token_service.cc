#include "services/token_service.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/bearer.h"
#include "common/grpc_status.h"
#include "common/json_log.h"
#include "common/peer_throttle.h"
#include "common/token_value.h"
#include "common/validation.h"
#include "services/caller_auth.h"
#include "services/proto_convert.h"
#include "services/watch_reactor.h"
#include "storage/store_rules.h"

namespace tokens {
namespace {

// A stream refused before it started.
class RefusedWatch : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit RefusedWatch(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

void LogRpc(const grpc::CallbackServerContext& ctx, const char* method,
            const std::string& principal, const absl::Status& status,
            absl::Duration latency) {
  JsonLog("rpc", status.ok() ? "info" : "warn")
      .Str("method", method)
      .Str("principal", principal)
      .Str("peer", ctx.peer())
      .Str("status", absl::StatusCodeToString(status.code()))
      .Double("latency_ms", absl::ToDoubleMilliseconds(latency));
}

// Logs the call's line and finishes it: what every unary call ends with.
std::function<void(const absl::Status&)> FinishCall(
    grpc::CallbackServerContext* ctx, grpc::ServerUnaryReactor* reactor,
    const char* method, std::string principal, const Clock* clock,
    absl::Duration start) {
  return [ctx, reactor, method, principal = std::move(principal), clock,
          start](const absl::Status& status) {
    LogRpc(*ctx, method, principal, status, clock->Monotonic() - start);
    reactor->Finish(ToGrpcStatus(status));
  };
}

}  // namespace

TokenService::TokenService(TokenManager* manager, const CallerRegistry* callers,
                           WatchCache* feed, WorkPool* pool, const Clock* clock)
    : manager_(manager),
      callers_(callers),
      feed_(feed),
      pool_(pool),
      clock_(clock) {}

absl::StatusOr<Principal> TokenService::Authenticate(
    const grpc::CallbackServerContext& ctx, RoleSet roles) const {
  const auto& metadata = ctx.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return AuthenticateCaller(*callers_, nullptr, roles);
  }
  const std::string value(it->second.data(), it->second.size());
  return AuthenticateCaller(*callers_, &value, roles);
}

grpc::ServerUnaryReactor* TokenService::Unary(
    grpc::CallbackServerContext* ctx, const char* method, RoleSet roles,
    AuditTarget audit, std::function<absl::Status(const Principal&)> body) {
  return UnaryAsync(
      ctx, method, roles, std::move(audit),
      [body = std::move(body)](const Principal& caller, Finish finish) {
        finish(body(caller));
      });
}

grpc::ServerUnaryReactor* TokenService::UnaryAsync(
    grpc::CallbackServerContext* ctx, const char* method, RoleSet roles,
    AuditTarget audit, std::function<void(const Principal&, Finish)> body) {
  // Latency on the monotonic clock.
  const absl::Duration start = clock_->Monotonic();
  auto* reactor = ctx->DefaultReactor();
  // Work that touches the store runs on the pool and finishes the call from
  // there (or from a thread of the store's, TokenStore::CreateAsync); `ctx`,
  // the request and the response stay valid until Finish.
  auto run = [this, ctx, method, roles, start, reactor,
              audit = std::move(audit), body = std::move(body)] {
    auto principal = Authenticate(*ctx, roles);
    const std::string who = principal.ok() ? principal->name : "anonymous";
    Finish finish = FinishCall(ctx, reactor, method, who, clock_, start);
    if (principal.ok()) {
      body(*principal, std::move(finish));
      return;
    }
    if (audit.action != nullptr) {
      manager_->AuditRefusal(who, audit.action, audit.token_id,
                             audit.deployment_id, principal.status());
    }
    finish(principal.status());
  };
  if (absl::Status queued = pool_->Schedule(run); !queued.ok()) {
    LogRpc(*ctx, method, "anonymous", queued, clock_->Monotonic() - start);
    reactor->Finish(ToGrpcStatus(queued));
  }
  return reactor;
}

grpc::ServerUnaryReactor* TokenService::CreateToken(
    grpc::CallbackServerContext* ctx, const v1::CreateTokenRequest* request,
    v1::CreateTokenResponse* response) {
  const absl::Duration start = clock_->Monotonic();
  CreateTokenParams params;
  params.deployment_id = request->deployment_id();
  params.name = request->name();
  params.description = request->description();
  params.expiration_days = request->expiration_days();
  params.self_rotate = request->self_rotate();
  // Fills the response and finishes the call, from the thread the store
  // finishes the write on (TokenStore::CreateAsync).
  auto answer = [response](Finish finish) {
    return [response,
            finish = std::move(finish)](absl::StatusOr<IssuedToken> issued) {
      if (!issued.ok()) {
        finish(issued.status());
        return;
      }
      ToProto(issued->token, response->mutable_token());
      response->set_secret(std::move(issued->secret));
      finish(absl::OkStatus());
    };
  };
  // The common case, a valid request from an admin, needs no pool thread
  // when the store only queues the write: authenticating, generating and
  // hashing the value take microseconds of CPU, and the group commit
  // finishes the call. Anything else (a refusal is audited, which writes)
  // goes to the pool as every other RPC does.
  if (auto caller = Authenticate(*ctx, CallerRole::kAdmin);
      caller.ok() && manager_->CreateNeverBlocks(params)) {
    auto* reactor = ctx->DefaultReactor();
    manager_->CreateAsync(*caller, params,
                          answer(FinishCall(ctx, reactor, "CreateToken",
                                            caller->name, clock_, start)));
    return reactor;
  }
  return UnaryAsync(
      ctx, "CreateToken", CallerRole::kAdmin,
      {kActionCreate, "", request->deployment_id()},
      [this, params, answer](const Principal& caller, Finish finish) {
        manager_->CreateAsync(caller, params, answer(std::move(finish)));
      });
}

grpc::ServerUnaryReactor* TokenService::GetToken(
    grpc::CallbackServerContext* ctx, const v1::GetTokenRequest* request,
    v1::Token* response) {
  return Unary(ctx, "GetToken", CallerRole::kAdmin, {},
               [this, request, response](const Principal&) {
                 auto token = manager_->Get(request->id());
                 if (!token.ok()) return token.status();
                 ToProto(*token, response);
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* TokenService::ListTokens(
    grpc::CallbackServerContext* ctx, const v1::ListTokensRequest* request,
    v1::ListTokensResponse* response) {
  return Unary(ctx, "ListTokens", CallerRole::kAdmin, {},
               [this, request, response](const Principal&) {
                 ListTokensParams params;
                 params.deployment_id = request->deployment_id();
                 params.page_size = request->page_size();
                 params.page_token = request->page_token();
                 params.order_by = request->order_by();
                 if (request->has_expire_before()) {
                   params.expire_before =
                       TimeFromProto(request->expire_before());
                 }
                 auto list = manager_->List(params);
                 if (!list.ok()) return list.status();
                 for (const TokenRecord& token : list->tokens) {
                   ToProto(token, response->add_tokens());
                 }
                 response->set_next_page_token(list->next_page_token);
                 response->set_total_size(list->total_size);
                 return absl::OkStatus();
               });
}

bool ParseUpdateTokenRequest(const std::string& bytes,
                             v1::UpdateTokenRequest* request) {
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(bytes.data()),
      static_cast<int>(bytes.size()));
  auto read_string = [&in](uint32_t tag, std::string* out) {
    return WireFormatLite::GetTagWireType(tag) ==
               WireFormatLite::WIRETYPE_LENGTH_DELIMITED &&
           WireFormatLite::ReadBytes(&in, out);
  };
  while (const uint32_t tag = in.ReadTag()) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    bool ok = true;
    if (field == v1::UpdateTokenRequest::kIdFieldNumber) {
      ok = read_string(tag, request->mutable_id());
    } else if (field == v1::UpdateTokenRequest::kNameFieldNumber) {
      ok = read_string(tag, request->mutable_name());
    } else if (field == v1::UpdateTokenRequest::kDescriptionFieldNumber) {
      ok = read_string(tag, request->mutable_description());
    } else if (field == v1::UpdateTokenRequest::kUpdateMaskFieldNumber &&
               WireFormatLite::GetTagWireType(tag) ==
                   WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      // google.protobuf.FieldMask: repeated string paths = 1.
      uint32_t length = 0;
      ok = in.ReadVarint32(&length);
      const auto limit = in.PushLimit(static_cast<int>(length));
      request->mutable_update_mask();
      while (ok) {
        const uint32_t inner = in.ReadTag();
        if (inner == 0) break;
        if (WireFormatLite::GetTagFieldNumber(inner) == 1) {
          ok = read_string(inner, request->mutable_update_mask()->add_paths());
        } else {
          ok = WireFormatLite::SkipField(&in, inner);
        }
      }
      ok = ok && in.BytesUntilLimit() == 0;
      in.PopLimit(limit);
    } else {
      ok = WireFormatLite::SkipField(&in, tag);
    }
    if (!ok) return false;
  }
  return in.ConsumedEntireMessage() &&
         in.CurrentPosition() == static_cast<int>(bytes.size());
}

grpc::ServerUnaryReactor* TokenService::UpdateToken(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  auto request = std::make_shared<v1::UpdateTokenRequest>();
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (request_bytes->Dump(&slices).ok()) {
    for (const grpc::Slice& slice : slices) {
      bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
  }
  if (!ParseUpdateTokenRequest(bytes, request.get())) {
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(ToGrpcStatus(absl::InvalidArgumentError(
        "request: not a well-formed tokens.v1.UpdateTokenRequest")));
    return reactor;
  }
  return Unary(ctx, "UpdateToken", CallerRole::kAdmin,
               {kActionUpdate, request->id(), ""},
               [this, request, response_bytes](const Principal& caller) {
                 const std::vector<std::string> mask(
                     request->update_mask().paths().begin(),
                     request->update_mask().paths().end());
                 auto token = manager_->Update(
                     caller, request->id(),
                     TokenFields{request->name(), request->description()},
                     mask);
                 if (!token.ok()) return token.status();
                 v1::Token response;
                 ToProto(*token, &response);
                 const std::string serialized = response.SerializeAsString();
                 grpc::Slice slice(serialized);
                 *response_bytes = grpc::ByteBuffer(&slice, 1);
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* TokenService::DeleteToken(
    grpc::CallbackServerContext* ctx, const v1::DeleteTokenRequest* request,
    google::protobuf::Empty* /*response*/) {
  return Unary(ctx, "DeleteToken", CallerRole::kAdmin,
               {kActionDelete, request->id(), ""},
               [this, request](const Principal& caller) {
                 return manager_->Delete(caller, request->id());
               });
}

grpc::ServerUnaryReactor* TokenService::RotateToken(
    grpc::CallbackServerContext* ctx, const v1::RotateTokenRequest* request,
    v1::RotateTokenResponse* response) {
  return Unary(ctx, "RotateToken", CallerRole::kAdmin,
               {kActionRotate, request->id(), ""},
               [this, request, response](const Principal& caller) {
                 auto issued = manager_->Rotate(
                     caller, request->id(), request->grace_period_seconds());
                 if (!issued.ok()) return issued.status();
                 ToProto(issued->token, response->mutable_token());
                 response->set_secret(issued->secret);
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* TokenService::ListAuditEvents(
    grpc::CallbackServerContext* ctx, const v1::ListAuditEventsRequest* request,
    v1::ListAuditEventsResponse* response) {
  return Unary(ctx, "ListAuditEvents", CallerRole::kAdmin, {},
               [this, request, response](const Principal&) {
                 auto list = manager_->ListAudit(request->deployment_id(),
                                                 request->page_size(),
                                                 request->page_token());
                 if (!list.ok()) return list.status();
                 for (const AuditEntry& entry : list->events) {
                   ToProto(entry, response->add_events());
                 }
                 response->set_next_page_token(list->next_page_token);
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* TokenService::ReportUsage(
    grpc::CallbackServerContext* ctx, const v1::ReportUsageRequest* request,
    google::protobuf::Empty* /*response*/) {
  return Unary(
      ctx, "ReportUsage", CallerRole::kVerifier, {},
      [this, request](const Principal& caller) {
        UsageReport report;
        report.verifier_name = request->verifier_name();
        report.usages.reserve(request->usages_size());
        for (const v1::TokenUsage& usage : request->usages()) {
          TokenUsageRecord record;
          record.token_id = usage.token_id();
          record.last_used_time =
              TimeFromProtoOr(usage.last_used_time(),
                              usage.has_last_used_time(), absl::InfinitePast());
          record.client_address = usage.client_address();
          report.usages.push_back(std::move(record));
        }
        for (const v1::ReuseSighting& seen : request->reuse_sightings()) {
          ReuseSighting sighting;
          sighting.token_id = seen.token_id();
          sighting.time = TimeFromProtoOr(seen.time(), seen.has_time(),
                                          absl::InfinitePast());
          sighting.client_address = seen.client_address();
          sighting.count = seen.count();
          report.sightings.push_back(std::move(sighting));
        }
        return manager_->ReportUsage(caller, std::move(report));
      });
}

grpc::ServerUnaryReactor* TokenService::ReportLeakedTokens(
    grpc::CallbackServerContext* ctx,
    const v1::ReportLeakedTokensRequest* request,
    v1::ReportLeakedTokensResponse* response) {
  return Unary(
      ctx, "ReportLeakedTokens", {CallerRole::kReporter, CallerRole::kAdmin},
      {}, [this, request, response](const Principal& caller) {
        LeakReport report;
        report.values.assign(request->values().begin(),
                             request->values().end());
        report.digests.assign(request->digests().begin(),
                              request->digests().end());
        report.location = request->location();
        auto outcomes = manager_->ReportLeaked(caller, report);
        if (!outcomes.ok()) return outcomes.status();
        // A reporter learns nothing about which values existed.
        response->set_received(static_cast<int32_t>(outcomes->size()));
        if (caller.role != CallerRole::kAdmin) return absl::OkStatus();
        for (const LeakOutcome& outcome : *outcomes) {
          v1::LeakResult* result = response->add_results();
          result->set_outcome(outcome.revoked ? v1::LeakResult::REVOKED
                                              : v1::LeakResult::NOT_LIVE);
          result->set_token_id(outcome.token_id);
          result->set_deployment_id(outcome.deployment_id);
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* TokenService::LookupTokens(
    grpc::CallbackServerContext* ctx, const v1::LookupTokensRequest* request,
    v1::LookupTokensResponse* response) {
  return Unary(ctx, "LookupTokens", CallerRole::kAdmin, {},
               [this, request, response](const Principal&) {
                 auto results = manager_->Lookup(std::vector<std::string>(
                     request->digests().begin(), request->digests().end()));
                 if (!results.ok()) return results.status();
                 for (const TokenLookupResult& found : *results) {
                   v1::TokenLookup* out = response->add_results();
                   out->set_live(found.live);
                   if (!found.live) continue;
                   out->set_token_id(found.token.id);
                   out->set_deployment_id(found.token.deployment_id);
                   out->set_name(found.token.name);
                 }
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* TokenService::RotateSelf(
    grpc::CallbackServerContext* ctx, const v1::RotateSelfRequest* request,
    v1::RotateTokenResponse* response) {
  const absl::Duration start = clock_->Monotonic();
  auto* reactor = ctx->DefaultReactor();
  // Authenticated by the token's own value, not a caller key: the manager
  // looks it up (on the pool, as it reads the store).
  auto run = [this, ctx, request, response, reactor, start] {
    const auto& metadata = ctx->client_metadata();
    auto it = metadata.find("authorization");
    const std::string value =
        it == metadata.end() ? ""
                             : std::string(BearerCredential(std::string_view(
                                   it->second.data(), it->second.size())));
    auto issued = manager_->RotateSelf(value, request->grace_period_seconds(),
                                       PeerHost(ctx->peer()));
    std::string who = "anonymous";
    if (issued.ok()) {
      who = issued->token.updated_by;  // the token itself, token:<id>
      ToProto(issued->token, response->mutable_token());
      response->set_secret(std::move(issued->secret));
    }
    FinishCall(ctx, reactor, "RotateSelf", who, clock_, start)(issued.status());
  };
  if (absl::Status queued = pool_->Schedule(run); !queued.ok()) {
    FinishCall(ctx, reactor, "RotateSelf", "anonymous", clock_, start)(queued);
  }
  return reactor;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* TokenService::WatchTokens(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* raw_request) {
  auto principal = Authenticate(*ctx, CallerRole::kVerifier);
  absl::Status status = principal.status();
  v1::WatchTokensRequest parsed;
  const v1::WatchTokensRequest* request = &parsed;
  if (status.ok()) {
    grpc::ByteBuffer bytes(*raw_request);  // Deserialize consumes its input.
    if (!grpc::SerializationTraits<v1::WatchTokensRequest>::Deserialize(&bytes,
                                                                        &parsed)
             .ok()) {
      status = absl::InvalidArgumentError(
          "WatchTokensRequest: not a well-formed message (deployment_id "
          "must be UTF-8)");
    }
  }
  if (status.ok() && request->since_revision() < 0) {
    status = absl::InvalidArgumentError("since_revision: must be >= 0");
  }
  if (status.ok() && !request->deployment_id().empty()) {
    status = ValidateDeploymentId(request->deployment_id());
  }
  if (!status.ok()) {
    LogRpc(*ctx, "WatchTokens", principal.ok() ? principal->name : "anonymous",
           status, absl::ZeroDuration());
    return new RefusedWatch(ToGrpcStatus(status));
  }
  return new WatchReactor(feed_, principal->name, ctx->peer(),
                          request->since_revision(), request->deployment_id(),
                          request->resume());
}

}  // namespace tokens
