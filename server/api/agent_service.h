// AgentService (agent API) on gRPC's callback API, so that ten thousand
// concurrent sessions cost no threads: Enroll, and the bidirectional
// Session, artifact download and update upload.
//
// Work that may block (store writes, certificate signing) runs on the
// injected worker pool, never on a gRPC reactor thread. Messages of one
// session are handled in order, one at a time.
#ifndef TINYFLEET_SERVER_API_AGENT_SERVICE_H_
#define TINYFLEET_SERVER_API_AGENT_SERVICE_H_

#include <boost/asio/thread_pool.hpp>
#include <string>

#include "server/fleet/registry.h"
#include "tinyfleet/v1/agent.grpc.pb.h"

namespace tinyfleet::telemetry {
class TelemetryIngest;
}
namespace tinyfleet::ota {
class ArtifactStore;
class RolloutEngine;
}  // namespace tinyfleet::ota
namespace tinyfleet::adapt {
class RoundEngine;
}

namespace tinyfleet::api {

struct AgentServiceOptions {
  // Gateway started with --insecure-dev: no TLS, so the device id is taken
  // from the `x-tinyfleet-device-id` metadata instead of a certificate.
  // Development only.
  bool insecure_identity = false;
  // The gateway's telemetry public key (65 bytes), given to agents at
  // enrollment and in every welcome; empty disables telemetry.
  std::string gateway_telemetry_public_key;
  // Where relayed telemetry goes; may be null (records are then refused
  // with FAILED_PRECONDITION). Must outlive the service.
  telemetry::TelemetryIngest* ingest = nullptr;
  // Most records accepted in one TelemetryBatch message.
  size_t max_records_per_batch = 256;
  // Artifacts agents may fetch, and where their update progress goes; may
  // be null (FetchArtifact then answers UNAVAILABLE). Must outlive the
  // service.
  ota::ArtifactStore* artifacts = nullptr;
  ota::RolloutEngine* rollouts = nullptr;
  // Model-signing public key nodes verify blobs with (65 bytes).
  std::string model_signing_public_key;
  // Where training progress and uploaded updates go; may be null
  // (UploadUpdate then answers UNAVAILABLE). Must outlive the service.
  adapt::RoundEngine* rounds = nullptr;
};

// The device identity of a session's peer, from its verified client
// certificate: subject CN and SHA-256 of the DER certificate.
struct PeerIdentity {
  std::string device_id;
  std::string cert_sha256;
};
Result<PeerIdentity> IdentifyPeer(const grpc::CallbackServerContext& ctx,
                                  bool insecure_identity);

class AgentService final : public v1::AgentService::CallbackService {
 public:
  // `registry` and `pool` must outlive the service and every session.
  AgentService(fleet::Registry* registry, boost::asio::thread_pool* pool,
               AgentServiceOptions options);

  grpc::ServerUnaryReactor* Enroll(grpc::CallbackServerContext* ctx,
                                   const v1::EnrollRequest* request,
                                   v1::EnrollResponse* response) override;
  grpc::ServerBidiReactor<v1::AgentMessage, v1::GatewayMessage>* Session(
      grpc::CallbackServerContext* ctx) override;
  grpc::ServerWriteReactor<v1::ArtifactChunk>* FetchArtifact(
      grpc::CallbackServerContext* ctx,
      const v1::FetchArtifactRequest* request) override;
  // Takes an update's chunks in order; each is committed before the next is
  // read. The response carries the committed byte count (resume from it)
  // and, once complete, whether the update was accepted. The stream ends
  // early (OK) when the chunk leaves a gap or the round no longer takes
  // updates; errors: NOT_FOUND, FAILED_PRECONDITION (stale attempt),
  // INVALID_ARGUMENT (sizes).
  grpc::ServerReadReactor<v1::UpdateChunk>* UploadUpdate(
      grpc::CallbackServerContext* ctx,
      v1::UploadUpdateResponse* response) override;

  fleet::Registry* registry() { return registry_; }
  boost::asio::thread_pool* pool() { return pool_; }
  const AgentServiceOptions& options() const { return options_; }

 private:
  fleet::Registry* registry_;
  boost::asio::thread_pool* pool_;
  AgentServiceOptions options_;
};

}  // namespace tinyfleet::api

#endif  // TINYFLEET_SERVER_API_AGENT_SERVICE_H_
