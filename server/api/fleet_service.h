// FleetService (operator API): enrollment and operator tokens, devices.
// The model, rollout, round, telemetry and event calls answer UNIMPLEMENTED
// until their rooms exist. Every call is authorized by role first.
//
// Thread-safety: handlers run concurrently on gRPC's sync-server threads; the
// service holds no mutable state of its own.
#ifndef TINYFLEET_SERVER_API_FLEET_SERVICE_H_
#define TINYFLEET_SERVER_API_FLEET_SERVICE_H_

#include "server/adapt/adapt.h"
#include "server/api/auth.h"
#include "server/catalog/model_catalog.h"
#include "server/events/event_bus.h"
#include "server/fleet/registry.h"
#include "server/ota/rollout_engine.h"
#include "tinyfleet/v1/fleet.grpc.pb.h"

namespace tinyfleet::api {

// Converts a registry view to the API message.
void ToProto(const fleet::DeviceView& view, v1::Device* out);

// A telemetry metric by its API name ("inferences", "accuracy", ...);
// INVALID_ARGUMENT naming the known ones otherwise. Shared by the gRPC and
// JSON APIs.
Result<store::TelemetryMetric> ParseTelemetryMetric(const std::string& name);

class FleetService final : public v1::FleetService::Service {
 public:
  // All pointers must outlive the service.
  FleetService(fleet::Registry* registry, Authenticator* auth,
               events::EventBus* events, store::TelemetryRepository* telemetry,
               const Clock* clock);
  // Model and rollout calls need these (both may stay null: UNIMPLEMENTED).
  // `datasets_dir` holds named feature data sets for EvaluateModel.
  void SetCatalog(catalog::ModelCatalog* catalog,
                  std::filesystem::path datasets_dir);
  void SetRollouts(ota::RolloutEngine* rollouts);
  // Round calls need this (may stay null: UNIMPLEMENTED).
  void SetRounds(adapt::RoundEngine* rounds);

  grpc::Status UploadModel(grpc::ServerContext* ctx,
                           grpc::ServerReader<v1::UploadModelRequest>* reader,
                           v1::Model* resp) override;
  grpc::Status ListModels(grpc::ServerContext* ctx,
                          const v1::ListModelsRequest* req,
                          v1::ListModelsResponse* resp) override;
  grpc::Status GetModel(grpc::ServerContext* ctx,
                        const v1::GetModelRequest* req,
                        v1::Model* resp) override;
  grpc::Status EvaluateModel(grpc::ServerContext* ctx,
                             const v1::EvaluateModelRequest* req,
                             v1::Evaluation* resp) override;
  grpc::Status CreateRollout(grpc::ServerContext* ctx,
                             const v1::CreateRolloutRequest* req,
                             v1::Rollout* resp) override;
  grpc::Status GetRollout(grpc::ServerContext* ctx,
                          const v1::GetRolloutRequest* req,
                          v1::Rollout* resp) override;
  grpc::Status ListRollouts(grpc::ServerContext* ctx,
                            const v1::ListRolloutsRequest* req,
                            v1::ListRolloutsResponse* resp) override;
  grpc::Status PauseRollout(grpc::ServerContext* ctx,
                            const v1::RolloutActionRequest* req,
                            v1::Rollout* resp) override;
  grpc::Status ResumeRollout(grpc::ServerContext* ctx,
                             const v1::RolloutActionRequest* req,
                             v1::Rollout* resp) override;
  grpc::Status AbortRollout(grpc::ServerContext* ctx,
                            const v1::RolloutActionRequest* req,
                            v1::Rollout* resp) override;

  grpc::Status StartRound(grpc::ServerContext* ctx,
                          const v1::StartRoundRequest* req,
                          v1::Round* resp) override;
  grpc::Status GetRound(grpc::ServerContext* ctx,
                        const v1::GetRoundRequest* req,
                        v1::Round* resp) override;
  grpc::Status ListRounds(grpc::ServerContext* ctx,
                          const v1::ListRoundsRequest* req,
                          v1::ListRoundsResponse* resp) override;
  grpc::Status CancelRound(grpc::ServerContext* ctx,
                           const v1::CancelRoundRequest* req,
                           v1::Round* resp) override;

  grpc::Status CreateEnrollmentTokens(
      grpc::ServerContext* ctx, const v1::CreateEnrollmentTokensRequest* req,
      v1::CreateEnrollmentTokensResponse* resp) override;
  grpc::Status ListEnrollmentTokens(
      grpc::ServerContext* ctx, const v1::ListEnrollmentTokensRequest* req,
      v1::ListEnrollmentTokensResponse* resp) override;
  grpc::Status RevokeEnrollmentToken(
      grpc::ServerContext* ctx, const v1::RevokeEnrollmentTokenRequest* req,
      v1::EnrollmentToken* resp) override;
  grpc::Status CreateOperatorToken(
      grpc::ServerContext* ctx, const v1::CreateOperatorTokenRequest* req,
      v1::CreateOperatorTokenResponse* resp) override;
  grpc::Status ListOperatorTokens(
      grpc::ServerContext* ctx, const v1::ListOperatorTokensRequest* req,
      v1::ListOperatorTokensResponse* resp) override;
  grpc::Status RevokeOperatorToken(grpc::ServerContext* ctx,
                                   const v1::RevokeOperatorTokenRequest* req,
                                   v1::OperatorToken* resp) override;
  grpc::Status WhoAmI(grpc::ServerContext* ctx, const v1::WhoAmIRequest* req,
                      v1::OperatorToken* resp) override;
  grpc::Status ListDevices(grpc::ServerContext* ctx,
                           const v1::ListDevicesRequest* req,
                           v1::ListDevicesResponse* resp) override;
  grpc::Status GetDevice(grpc::ServerContext* ctx,
                         const v1::GetDeviceRequest* req,
                         v1::Device* resp) override;
  grpc::Status SetDeviceLabels(grpc::ServerContext* ctx,
                               const v1::SetDeviceLabelsRequest* req,
                               v1::Device* resp) override;
  grpc::Status DecommissionDevice(grpc::ServerContext* ctx,
                                  const v1::DecommissionDeviceRequest* req,
                                  v1::Device* resp) override;
  grpc::Status QueryTelemetry(grpc::ServerContext* ctx,
                              const v1::QueryTelemetryRequest* req,
                              v1::QueryTelemetryResponse* resp) override;
  // Blocks one sync-server thread per watcher; watchers are few
  // (dashboards, CLIs).
  grpc::Status WatchEvents(grpc::ServerContext* ctx,
                           const v1::WatchEventsRequest* req,
                           grpc::ServerWriter<v1::Event>* writer) override;

 private:
  Status Authorize(grpc::ServerContext* ctx, store::Role least,
                   Principal* principal);

  fleet::Registry* registry_;
  Authenticator* auth_;
  events::EventBus* events_;
  store::TelemetryRepository* telemetry_;
  const Clock* clock_;
  catalog::ModelCatalog* catalog_ = nullptr;
  std::filesystem::path datasets_dir_;
  ota::RolloutEngine* rollouts_ = nullptr;
  adapt::RoundEngine* rounds_ = nullptr;
};

}  // namespace tinyfleet::api

#endif  // TINYFLEET_SERVER_API_FLEET_SERVICE_H_
