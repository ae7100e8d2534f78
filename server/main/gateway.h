// Gateway: the wiring of one tinyfleet-gateway process — store, PKI,
// registry, authentication, the gRPC services (with health checking and
// reflection), the HTTP side (/metrics, /healthz) and the background sweep.
// main() builds GatewayOptions from flags and calls Start(); integration
// tests start gateways in-process on 127.0.0.1 port 0.
//
// Thread-safety: Start/Shutdown from one thread; accessors are thread-safe.
#ifndef TINYFLEET_SERVER_MAIN_GATEWAY_H_
#define TINYFLEET_SERVER_MAIN_GATEWAY_H_

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace tinyfleet::fleet {
class Registry;
}
namespace tinyfleet::ota {
class ArtifactStore;
}

namespace tinyfleet::gateway {

struct GatewayOptions {
  // gRPC address; port 0 picks a free port. Default 127.0.0.1:7443.
  std::string grpc_host = "127.0.0.1";
  uint16_t grpc_port = 7443;
  // HTTP (metrics, health, dashboard). Default 127.0.0.1:7080.
  std::string http_host = "127.0.0.1";
  uint16_t http_port = 7080;
  // Holds gateway.db, pki/ and admin.token unless overridden. Required.
  std::filesystem::path data_dir;
  // CA and server certificate; default <data_dir>/pki, created when missing.
  std::filesystem::path pki_dir;
  // Names and addresses the generated server certificate is valid for.
  std::vector<std::string> tls_hosts = {"localhost", "127.0.0.1"};
  // Where the first admin token's secret is written when no admin exists;
  // default <data_dir>/admin.token.
  std::filesystem::path admin_token_file;
  // Plain-text gRPC without TLS. Development only; identities then come
  // from request metadata.
  bool insecure_dev = false;
  std::chrono::milliseconds heartbeat_interval{5000};
  int missed_heartbeats_offline = 3;
  // How often devices with missed heartbeats are swept; 0 disables the
  // background sweep (tests call Sweep()). Default: the heartbeat interval.
  std::chrono::milliseconds sweep_interval{-1};
  // Largest accepted gRPC message. Default 4 MiB.
  int max_message_bytes = 4 * 1024 * 1024;
  // Threads for blocking work (store writes, signing). Default 4.
  int worker_threads = 4;
  // Raw telemetry is kept this long, then folded into 1-minute rollups.
  // Default 7 days.
  std::chrono::hours telemetry_raw_retention{24 * 7};
};

class Gateway {
 public:
  // Opens everything and starts serving. `clock` must outlive the gateway.
  static Result<std::unique_ptr<Gateway>> Start(const GatewayOptions& options,
                                                const Clock* clock);
  ~Gateway();

  uint16_t grpc_port() const;
  uint16_t http_port() const;
  const std::string& ca_certificate_pem() const;
  const std::filesystem::path& admin_token_file() const;
  fleet::Registry& registry();
  // Artifact files and the count of bytes served from them.
  ota::ArtifactStore& artifacts();
  // Advances rollouts now (also done by the background sweep).
  void TickRollouts();
  // Advances adaptation rounds now (also done by the background sweep).
  void TickRounds();
  // Folds raw telemetry older than the retention into rollups now.
  Result<uint64_t> DownsampleTelemetry();

  // Runs one presence sweep now.
  size_t Sweep();
  // Blocks until Shutdown() is called from another thread.
  void Wait();
  // Stops serving (in-flight calls get a short grace period) and flushes
  // presence to the store. Idempotent.
  void Shutdown();

 private:
  struct Impl;
  explicit Gateway(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tinyfleet::gateway

#endif  // TINYFLEET_SERVER_MAIN_GATEWAY_H_
