#include "verifier/health_service.h"

#include <optional>
#include <string>

namespace tokens {
namespace {

using grpc::health::v1::HealthCheckResponse;

bool IsServedName(const std::string& service) {
  return service.empty() || service == "tokens.v1.Verifier" ||
         service == "envoy.service.auth.v3.Authorization";
}

// Liveness: SERVING while the process answers, whatever the feed's state, so
// a Kubernetes liveness probe does not restart a sidecar that is only waiting
// for TokenService.
constexpr char kLivenessService[] = "liveness";

HealthCheckResponse::ServingStatus StatusOf(const VerifierCore* core) {
  return core->IsReady() ? HealthCheckResponse::SERVING
                         : HealthCheckResponse::NOT_SERVING;
}

}  // namespace

// One Watch stream: one write in flight, the newest status queued behind it.
class HealthService::Watcher
    : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  Watcher(HealthService* service, bool known)
      : service_(service), known_(known) {
    absl::MutexLock lock(&mu_);
    if (!known) {
      Send(HealthCheckResponse::SERVICE_UNKNOWN);
    } else {
      Send(StatusOf(service->core_));
    }
  }

  void Update(HealthCheckResponse::ServingStatus status) {
    if (!known_) return;  // stays SERVICE_UNKNOWN
    absl::MutexLock lock(&mu_);
    Send(status);
  }

  void End() {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
    if (!writing_) Finish(grpc::Status::OK);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) finished_ = true;
    if (finished_) {
      Finish(grpc::Status::OK);
      return;
    }
    if (pending_.has_value()) {
      const auto next = *pending_;
      pending_.reset();
      Send(next);
    }
  }

  void OnCancel() override { End(); }

  void OnDone() override {
    service_->Remove(this);
    delete this;
  }

 private:
  void Send(HealthCheckResponse::ServingStatus status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || status == last_) return;
    if (writing_) {
      pending_ = status;
      return;
    }
    last_ = status;
    response_.set_status(status);
    writing_ = true;
    StartWrite(&response_);
  }

  HealthService* const service_;
  const bool known_;
  absl::Mutex mu_;
  HealthCheckResponse response_ ABSL_GUARDED_BY(mu_);
  std::optional<HealthCheckResponse::ServingStatus> pending_
      ABSL_GUARDED_BY(mu_);
  std::optional<HealthCheckResponse::ServingStatus> last_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

HealthService::~HealthService() { Shutdown(); }

grpc::ServerUnaryReactor* HealthService::Check(
    grpc::CallbackServerContext* context,
    const grpc::health::v1::HealthCheckRequest* request,
    HealthCheckResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (!IsServedName(request->service()) &&
      request->service() != kLivenessService) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                 "service: unknown service name"));
    return reactor;
  }
  response->set_status(request->service() == kLivenessService
                           ? HealthCheckResponse::SERVING
                           : StatusOf(core_));
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(
    grpc::CallbackServerContext* context,
    const grpc::health::v1::HealthCheckRequest* request) {
  auto* watcher = new Watcher(this, IsServedName(request->service()));
  absl::MutexLock lock(&mu_);
  watchers_.insert(watcher);
  if (shut_down_) watcher->End();
  return watcher;
}

void HealthService::Publish() {
  const auto status = StatusOf(core_);
  absl::MutexLock lock(&mu_);
  for (Watcher* watcher : watchers_) watcher->Update(status);
}

void HealthService::Shutdown() {
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
  for (Watcher* watcher : watchers_) watcher->End();
}

void HealthService::Remove(Watcher* watcher) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(watcher);
}

}  // namespace tokens
