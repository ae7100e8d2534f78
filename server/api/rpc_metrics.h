// Prometheus metrics for every RPC, recorded by a server interceptor:
// tinyfleet_grpc_requests_total{method,code} and
// tinyfleet_grpc_request_duration_seconds{method,code} (unary calls; streams
// are counted but their lifetimes are not observed as latencies).
#ifndef TINYFLEET_SERVER_API_RPC_METRICS_H_
#define TINYFLEET_SERVER_API_RPC_METRICS_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>

namespace prometheus {
class Registry;
}

namespace tinyfleet::api {

// `metrics` must outlive the server the factory is installed in.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
MakeRpcMetricsInterceptorFactory(prometheus::Registry* metrics);

}  // namespace tinyfleet::api

#endif  // TINYFLEET_SERVER_API_RPC_METRICS_H_
