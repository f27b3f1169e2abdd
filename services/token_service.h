// TokenService: the tokens.v1.TokenService gRPC API on the callback API. Only
// authenticates, converts and logs; the work is TokenManager's (and the feed's,
// for WatchTokens). Thread-safe; the manager, registry, feed, pool and clock
// must outlive it.
#ifndef SERVICES_TOKEN_SERVICE_H_
#define SERVICES_TOKEN_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <functional>

#include "common/clock.h"
#include "proto/tokens/v1/tokens.grpc.pb.h"
#include "services/caller_auth.h"
#include "services/caller_registry.h"
#include "services/token_manager.h"
#include "services/watch_cache.h"
#include "services/work_pool.h"

namespace tokens {

// Parses an UpdateTokenRequest as protobuf does, except that no string is
// checked for UTF-8 (the fields are validated later, naming the field). False
// when the bytes are not a well-formed message.
bool ParseUpdateTokenRequest(const std::string& bytes,
                             v1::UpdateTokenRequest* request);

// UpdateToken takes its request as bytes (see ParseUpdateTokenRequest): the
// generated parser of google.protobuf.FieldMask rejects invalid UTF-8 in
// update_mask.paths before any of our code runs, and gRPC then answers
// UNIMPLEMENTED with no message.
//
// WatchTokens is raw too: its reactor writes the watch cache's pre-serialized
// messages (services/watch_reactor.h). Same method name and wire format, so
// reflection and every client see no difference.
class TokenService : public v1::TokenService::WithRawCallbackMethod_WatchTokens<
                         v1::TokenService::WithRawCallbackMethod_UpdateToken<
                             v1::TokenService::CallbackService>> {
 public:
  // Store work runs on `pool`, never on gRPC's callback threads.
  // `clock` times the calls (its monotonic time) for the log lines.
  TokenService(TokenManager* manager, const CallerRegistry* callers,
               WatchCache* feed, WorkPool* pool, const Clock* clock);

  grpc::ServerUnaryReactor* CreateToken(
      grpc::CallbackServerContext* ctx, const v1::CreateTokenRequest* request,
      v1::CreateTokenResponse* response) override;
  grpc::ServerUnaryReactor* GetToken(grpc::CallbackServerContext* ctx,
                                     const v1::GetTokenRequest* request,
                                     v1::Token* response) override;
  grpc::ServerUnaryReactor* ListTokens(
      grpc::CallbackServerContext* ctx, const v1::ListTokensRequest* request,
      v1::ListTokensResponse* response) override;
  grpc::ServerUnaryReactor* UpdateToken(grpc::CallbackServerContext* ctx,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* DeleteToken(
      grpc::CallbackServerContext* ctx, const v1::DeleteTokenRequest* request,
      google::protobuf::Empty* response) override;
  grpc::ServerUnaryReactor* RotateToken(
      grpc::CallbackServerContext* ctx, const v1::RotateTokenRequest* request,
      v1::RotateTokenResponse* response) override;
  grpc::ServerUnaryReactor* ListAuditEvents(
      grpc::CallbackServerContext* ctx,
      const v1::ListAuditEventsRequest* request,
      v1::ListAuditEventsResponse* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchTokens(
      grpc::CallbackServerContext* ctx,
      const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* ReportUsage(
      grpc::CallbackServerContext* ctx, const v1::ReportUsageRequest* request,
      google::protobuf::Empty* response) override;
  grpc::ServerUnaryReactor* ReportLeakedTokens(
      grpc::CallbackServerContext* ctx,
      const v1::ReportLeakedTokensRequest* request,
      v1::ReportLeakedTokensResponse* response) override;
  grpc::ServerUnaryReactor* LookupTokens(
      grpc::CallbackServerContext* ctx, const v1::LookupTokensRequest* request,
      v1::LookupTokensResponse* response) override;
  grpc::ServerUnaryReactor* RotateSelf(
      grpc::CallbackServerContext* ctx, const v1::RotateSelfRequest* request,
      v1::RotateTokenResponse* response) override;

 private:
  // Which audit record a refused request leaves (mutating RPCs only).
  struct AuditTarget {
    const char* action = nullptr;
    std::string token_id;
    std::string deployment_id;
  };

  // The caller behind `authorization: Bearer <key>`, if it has `role`.
  absl::StatusOr<Principal> Authenticate(const grpc::CallbackServerContext& ctx,
                                         RoleSet roles) const;

  // On the pool: authenticates, runs `body`, logs one line, finishes the call.
  // `body` must capture the request and response pointers by value.
  grpc::ServerUnaryReactor* Unary(
      grpc::CallbackServerContext* ctx, const char* method, RoleSet roles,
      AuditTarget audit, std::function<absl::Status(const Principal&)> body);
  // The same for a `body` that finishes later: it calls `finish` exactly once
  // (from any thread), which logs the line and finishes the call.
  using Finish = std::function<void(const absl::Status&)>;
  grpc::ServerUnaryReactor* UnaryAsync(
      grpc::CallbackServerContext* ctx, const char* method, RoleSet roles,
      AuditTarget audit, std::function<void(const Principal&, Finish)> body);

  TokenManager* const manager_;
  const CallerRegistry* const callers_;
  WatchCache* const feed_;
  WorkPool* const pool_;
  const Clock* const clock_;
};

}  // namespace tokens

#endif  // SERVICES_TOKEN_SERVICE_H_
