#include "server/api/rpc_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <string>

namespace tinyfleet::api {
namespace {

using grpc::experimental::InterceptionHookPoints;

struct Families {
  prometheus::Family<prometheus::Counter>* requests;
  prometheus::Family<prometheus::Histogram>* latency;
};

std::string CodeName(grpc::StatusCode code) {
  static const char* kNames[] = {"OK",
                                 "CANCELLED",
                                 "UNKNOWN",
                                 "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED",
                                 "NOT_FOUND",
                                 "ALREADY_EXISTS",
                                 "PERMISSION_DENIED",
                                 "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION",
                                 "ABORTED",
                                 "OUT_OF_RANGE",
                                 "UNIMPLEMENTED",
                                 "INTERNAL",
                                 "UNAVAILABLE",
                                 "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  int c = static_cast<int>(code);
  if (c >= 0 && c < 17) return kNames[c];
  return "UNKNOWN";
}

class RpcMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  RpcMetricsInterceptor(grpc::experimental::ServerRpcInfo* info, Families* f)
      : info_(info), families_(f), start_(std::chrono::steady_clock::now()) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      std::string method = info_->method() ? info_->method() : "unknown";
      std::string code = CodeName(status.error_code());
      families_->requests->Add({{"method", method}, {"code", code}})
          .Increment();
      if (info_->type() == grpc::experimental::ServerRpcInfo::Type::UNARY) {
        double secs = std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - start_)
                          .count();
        families_->latency
            ->Add({{"method", method}, {"code", code}},
                  prometheus::Histogram::BucketBoundaries{
                      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                      0.25, 0.5, 1, 2.5, 5})
            .Observe(secs);
      }
    }
    methods->Proceed();
  }

 private:
  grpc::experimental::ServerRpcInfo* info_;
  Families* families_;
  std::chrono::steady_clock::time_point start_;
};

class RpcMetricsFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcMetricsFactory(prometheus::Registry* metrics) {
    families_.requests =
        &prometheus::BuildCounter()
             .Name("tinyfleet_grpc_requests_total")
             .Help("gRPC calls served, by method and status code")
             .Register(*metrics);
    families_.latency = &prometheus::BuildHistogram()
                             .Name("tinyfleet_grpc_request_duration_seconds")
                             .Help("Latency of unary gRPC calls")
                             .Register(*metrics);
  }
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcMetricsInterceptor(info, &families_);
  }

 private:
  Families families_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeRpcMetricsInterceptorFactory(prometheus::Registry* metrics) {
  return std::make_unique<RpcMetricsFactory>(metrics);
}

}  // namespace tinyfleet::api
