#include "server/api/fleet_service.h"

#include <google/protobuf/util/time_util.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>

#include "common/encoding.h"
#include "server/api/status_map.h"

namespace tinyfleet::api {
namespace {

using google::protobuf::util::TimeUtil;

void SetTime(int64_t unix_ms, google::protobuf::Timestamp* ts) {
  *ts = TimeUtil::MillisecondsToTimestamp(unix_ms);
}

v1::Role ToProtoRole(store::Role r) { return static_cast<v1::Role>(r); }

void ToProto(const store::EnrollmentTokenRecord& t, v1::EnrollmentToken* out) {
  out->set_token_id(t.token_id);
  SetTime(t.created_at_ms, out->mutable_created_at());
  SetTime(t.expires_at_ms, out->mutable_expires_at());
  if (t.used_at_ms) SetTime(t.used_at_ms, out->mutable_used_at());
  out->set_used_by_device_id(t.used_by_device_id);
  out->set_revoked(t.revoked);
  for (const auto& [k, v] : t.labels) (*out->mutable_labels())[k] = v;
  out->set_description(t.description);
  out->set_created_by(t.created_by);
}

void ToProto(const store::OperatorTokenRecord& t, v1::OperatorToken* out) {
  out->set_token_id(t.token_id);
  out->set_name(t.name);
  out->set_role(ToProtoRole(t.role));
  SetTime(t.created_at_ms, out->mutable_created_at());
  out->set_revoked(t.revoked);
  if (t.last_used_at_ms)
    SetTime(t.last_used_at_ms, out->mutable_last_used_at());
}

std::string Authorization(grpc::ServerContext* ctx) {
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

}  // namespace

void ToProto(const fleet::DeviceView& view, v1::Device* out) {
  const auto& r = view.record;
  out->set_device_id(r.device_id);
  out->set_lifecycle(r.lifecycle == store::Lifecycle::kActive
                         ? v1::DEVICE_LIFECYCLE_ACTIVE
                         : v1::DEVICE_LIFECYCLE_DECOMMISSIONED);
  out->set_connectivity(view.connectivity == fleet::Connectivity::kOnline
                            ? v1::CONNECTIVITY_ONLINE
                            : v1::CONNECTIVITY_OFFLINE);
  for (const auto& [k, v] : r.labels) (*out->mutable_labels())[k] = v;
  *out->mutable_node() = r.node;
  SetTime(r.enrolled_at_ms, out->mutable_enrolled_at());
  if (r.last_seen_at_ms)
    SetTime(r.last_seen_at_ms, out->mutable_last_seen_at());
  out->set_certificate_sha256(r.cert_sha256);
  out->set_certificate_serial(r.cert_serial);
  out->set_decommission_reason(r.decommission_reason);
  out->set_agent_version(r.agent_version);
}

FleetService::FleetService(fleet::Registry* registry, Authenticator* auth,
                           events::EventBus* events,
                           store::TelemetryRepository* telemetry,
                           const Clock* clock)
    : registry_(registry),
      auth_(auth),
      events_(events),
      telemetry_(telemetry),
      clock_(clock) {}

Status FleetService::Authorize(grpc::ServerContext* ctx, store::Role least,
                               Principal* principal) {
  return auth_->Authorize(Authorization(ctx), least, principal);
}

#define TF_AUTHORIZE(role)                                              \
  Principal principal;                                                  \
  do {                                                                  \
    Status auth_status = Authorize(ctx, store::Role::role, &principal); \
    if (!auth_status.ok()) return ToGrpc(auth_status);                  \
  } while (0)

grpc::Status FleetService::CreateEnrollmentTokens(
    grpc::ServerContext* ctx, const v1::CreateEnrollmentTokensRequest* req,
    v1::CreateEnrollmentTokensResponse* resp) {
  TF_AUTHORIZE(kOperator);
  std::optional<std::chrono::seconds> ttl;
  if (req->has_ttl()) {
    ttl = std::chrono::seconds(TimeUtil::DurationToSeconds(req->ttl()));
  }
  store::Labels labels(req->labels().begin(), req->labels().end());
  auto created = registry_->CreateEnrollmentTokens(
      req->count(), ttl, labels, req->description(), principal.name);
  if (!created.ok()) return ToGrpc(created.status());
  for (size_t i = 0; i < created->tokens.size(); ++i) {
    ToProto(created->tokens[i], resp->add_tokens());
    resp->add_secrets(created->secrets[i]);
  }
  return grpc::Status::OK;
}

grpc::Status FleetService::ListEnrollmentTokens(
    grpc::ServerContext* ctx, const v1::ListEnrollmentTokensRequest* req,
    v1::ListEnrollmentTokensResponse* resp) {
  TF_AUTHORIZE(kOperator);
  std::string next;
  auto tokens = registry_->ListEnrollmentTokens(
      req->include_inactive(), req->page_token(), req->page_size(), &next);
  if (!tokens.ok()) return ToGrpc(tokens.status());
  for (const auto& t : *tokens) ToProto(t, resp->add_tokens());
  resp->set_next_page_token(next);
  return grpc::Status::OK;
}

grpc::Status FleetService::RevokeEnrollmentToken(
    grpc::ServerContext* ctx, const v1::RevokeEnrollmentTokenRequest* req,
    v1::EnrollmentToken* resp) {
  TF_AUTHORIZE(kOperator);
  auto t = registry_->RevokeEnrollmentToken(req->token_id());
  if (!t.ok()) return ToGrpc(t.status());
  ToProto(*t, resp);
  return grpc::Status::OK;
}

grpc::Status FleetService::CreateOperatorToken(
    grpc::ServerContext* ctx, const v1::CreateOperatorTokenRequest* req,
    v1::CreateOperatorTokenResponse* resp) {
  TF_AUTHORIZE(kAdmin);
  auto created =
      auth_->CreateToken(req->name(), static_cast<store::Role>(req->role()));
  if (!created.ok()) return ToGrpc(created.status());
  ToProto(created->first, resp->mutable_token());
  resp->set_secret(created->second);
  return grpc::Status::OK;
}

grpc::Status FleetService::ListOperatorTokens(
    grpc::ServerContext* ctx, const v1::ListOperatorTokensRequest* req,
    v1::ListOperatorTokensResponse* resp) {
  TF_AUTHORIZE(kAdmin);
  (void)req;
  auto list = auth_->List();
  if (!list.ok()) return ToGrpc(list.status());
  for (const auto& t : *list) ToProto(t, resp->add_tokens());
  return grpc::Status::OK;
}

grpc::Status FleetService::RevokeOperatorToken(
    grpc::ServerContext* ctx, const v1::RevokeOperatorTokenRequest* req,
    v1::OperatorToken* resp) {
  TF_AUTHORIZE(kAdmin);
  auto t = auth_->Revoke(req->token_id());
  if (!t.ok()) return ToGrpc(t.status());
  ToProto(*t, resp);
  return grpc::Status::OK;
}

grpc::Status FleetService::WhoAmI(grpc::ServerContext* ctx,
                                  const v1::WhoAmIRequest* req,
                                  v1::OperatorToken* resp) {
  TF_AUTHORIZE(kViewer);
  (void)req;
  resp->set_token_id(principal.token_id);
  resp->set_name(principal.name);
  resp->set_role(ToProtoRole(principal.role));
  return grpc::Status::OK;
}

grpc::Status FleetService::ListDevices(grpc::ServerContext* ctx,
                                       const v1::ListDevicesRequest* req,
                                       v1::ListDevicesResponse* resp) {
  TF_AUTHORIZE(kViewer);
  fleet::DeviceListRequest q;
  q.label_selector = req->label_selector();
  if (req->connectivity() == v1::CONNECTIVITY_ONLINE) {
    q.connectivity = fleet::Connectivity::kOnline;
  } else if (req->connectivity() == v1::CONNECTIVITY_OFFLINE) {
    q.connectivity = fleet::Connectivity::kOffline;
  }
  q.lifecycle = req->lifecycle() == v1::DEVICE_LIFECYCLE_DECOMMISSIONED
                    ? store::Lifecycle::kDecommissioned
                    : store::Lifecycle::kActive;
  q.page_size = req->page_size();
  q.page_token = req->page_token();
  auto list = registry_->ListDevices(q);
  if (!list.ok()) return ToGrpc(list.status());
  for (const auto& d : list->devices) ToProto(d, resp->add_devices());
  resp->set_next_page_token(list->next_page_token);
  resp->set_total_count(static_cast<uint32_t>(list->total));
  return grpc::Status::OK;
}

grpc::Status FleetService::GetDevice(grpc::ServerContext* ctx,
                                     const v1::GetDeviceRequest* req,
                                     v1::Device* resp) {
  TF_AUTHORIZE(kViewer);
  auto d = registry_->GetDevice(req->device_id());
  if (!d.ok()) return ToGrpc(d.status());
  ToProto(*d, resp);
  return grpc::Status::OK;
}

grpc::Status FleetService::SetDeviceLabels(
    grpc::ServerContext* ctx, const v1::SetDeviceLabelsRequest* req,
    v1::Device* resp) {
  TF_AUTHORIZE(kOperator);
  store::Labels set(req->labels().begin(), req->labels().end());
  std::vector<std::string> remove(req->remove_keys().begin(),
                                  req->remove_keys().end());
  auto d = registry_->SetLabels(req->device_id(), set, remove, req->replace());
  if (!d.ok()) return ToGrpc(d.status());
  ToProto(*d, resp);
  return grpc::Status::OK;
}

grpc::Status FleetService::DecommissionDevice(
    grpc::ServerContext* ctx, const v1::DecommissionDeviceRequest* req,
    v1::Device* resp) {
  TF_AUTHORIZE(kAdmin);
  auto d = registry_->Decommission(req->device_id(), req->reason());
  if (!d.ok()) return ToGrpc(d.status());
  ToProto(*d, resp);
  return grpc::Status::OK;
}

Result<store::TelemetryMetric> ParseTelemetryMetric(const std::string& name) {
  static const std::map<std::string, store::TelemetryMetric> kMetrics = {
      {"inferences", store::TelemetryMetric::kInferences},
      {"confidence", store::TelemetryMetric::kConfidence},
      {"confidence_mean", store::TelemetryMetric::kConfidence},
      {"accuracy", store::TelemetryMetric::kAccuracy},
      {"energy_uj", store::TelemetryMetric::kEnergy},
      {"cycles", store::TelemetryMetric::kCycles},
      {"errors", store::TelemetryMetric::kErrors},
      {"records", store::TelemetryMetric::kRecords},
  };
  auto it = kMetrics.find(name);
  if (it == kMetrics.end()) {
    return InvalidArgumentError(
        "unknown metric \"" + name +
        "\" (inferences, confidence, accuracy, energy_uj, cycles, errors, "
        "records)");
  }
  return it->second;
}

grpc::Status FleetService::QueryTelemetry(grpc::ServerContext* ctx,
                                          const v1::QueryTelemetryRequest* req,
                                          v1::QueryTelemetryResponse* resp) {
  TF_AUTHORIZE(kViewer);
  store::TelemetryQuery q;
  auto metric = ParseTelemetryMetric(req->metric());
  if (!metric.ok()) return ToGrpc(metric.status());
  q.metric = *metric;
  q.device_id = req->device_id();
  switch (req->aggregation()) {
    case v1::AGGREGATION_UNSPECIFIED:
    case v1::AGGREGATION_RAW:
      q.aggregation = store::TelemetryAggregation::kRaw;
      break;
    case v1::AGGREGATION_MEAN:
      q.aggregation = store::TelemetryAggregation::kMean;
      break;
    case v1::AGGREGATION_MIN:
      q.aggregation = store::TelemetryAggregation::kMin;
      break;
    case v1::AGGREGATION_MAX:
      q.aggregation = store::TelemetryAggregation::kMax;
      break;
    case v1::AGGREGATION_SUM:
      q.aggregation = store::TelemetryAggregation::kSum;
      break;
    case v1::AGGREGATION_COUNT:
      q.aggregation = store::TelemetryAggregation::kCount;
      break;
    default:
      return ToGrpc(InvalidArgumentError("unknown aggregation"));
  }
  if (q.device_id.empty() &&
      q.aggregation == store::TelemetryAggregation::kRaw) {
    return ToGrpc(
        InvalidArgumentError("a query over every device needs an aggregation"));
  }
  int64_t now = clock_->NowUnixMillis();
  q.end_ms =
      req->has_end() ? TimeUtil::TimestampToMilliseconds(req->end()) : now + 1;
  q.start_ms = req->has_start()
                   ? TimeUtil::TimestampToMilliseconds(req->start())
                   : q.end_ms - 3'600'000;
  if (q.start_ms >= q.end_ms)
    return ToGrpc(InvalidArgumentError("start must be before end"));
  q.step_ms =
      req->has_step() ? TimeUtil::DurationToMilliseconds(req->step()) : 0;
  if (q.step_ms < 0)
    return ToGrpc(InvalidArgumentError("step must not be negative"));
  if (q.step_ms > 0 && (q.end_ms - q.start_ms) / q.step_ms > 100'000) {
    return ToGrpc(InvalidArgumentError("at most 100,000 buckets per query"));
  }
  q.limit =
      req->limit() == 0 ? 1000 : std::min<uint32_t>(req->limit(), 100'000);
  if (!q.device_id.empty()) {
    auto d = registry_->GetDevice(q.device_id);
    if (!d.ok()) return ToGrpc(d.status());
  }
  auto points = telemetry_->Query(q);
  if (!points.ok()) return ToGrpc(points.status());
  for (const auto& p : *points) {
    auto* out = resp->add_points();
    *out->mutable_time() = TimeUtil::MillisecondsToTimestamp(p.time_ms);
    out->set_value(p.value);
    out->set_device_id(p.device_id);
  }
  return grpc::Status::OK;
}

grpc::Status FleetService::WatchEvents(grpc::ServerContext* ctx,
                                       const v1::WatchEventsRequest* req,
                                       grpc::ServerWriter<v1::Event>* writer) {
  TF_AUTHORIZE(kViewer);
  static const std::set<std::string> kKinds = {"device", "rollout", "round",
                                               "model"};
  std::set<std::string> kinds;
  for (const auto& k : req->kinds()) {
    if (!kKinds.count(k)) {
      return ToGrpc(
          InvalidArgumentError("unknown event kind \"" + k +
                               "\" (device, rollout, round or model)"));
    }
    kinds.insert(k);
  }
  constexpr size_t kMaxQueued = 10'000;
  struct Queue {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<v1::Event> events;
    bool overflow = false;
  };
  auto q = std::make_shared<Queue>();
  auto kind_of = [](const v1::Event& e) -> std::string {
    switch (e.payload_case()) {
      case v1::Event::kDevice:
        return "device";
      case v1::Event::kRollout:
        return "rollout";
      case v1::Event::kRound:
        return "round";
      case v1::Event::kModel:
        return "model";
      default:
        return "";
    }
  };
  auto sub = events_->Subscribe(
      req->after_sequence(), [q, kinds, kind_of](const v1::Event& e) {
        if (!kinds.empty() && !kinds.count(kind_of(e))) return;
        std::lock_guard<std::mutex> lock(q->mu);
        if (q->events.size() >= kMaxQueued) {
          q->overflow = true;
        } else {
          q->events.push_back(e);
        }
        q->cv.notify_one();
      });
  if (!sub.ok()) return ToGrpc(sub.status());
  grpc::Status result = grpc::Status::OK;
  uint64_t last = req->after_sequence();
  while (!ctx->IsCancelled()) {
    std::deque<v1::Event> batch;
    {
      std::unique_lock<std::mutex> lock(q->mu);
      q->cv.wait_for(lock, std::chrono::milliseconds(250),
                     [&] { return !q->events.empty() || q->overflow; });
      if (q->overflow) {
        result = ToGrpc(ResourceExhaustedError(
            "watcher fell behind; resume with after_sequence=" +
            std::to_string(last)));
        break;
      }
      batch.swap(q->events);
    }
    bool ok = true;
    for (const auto& e : batch) {
      if (!writer->Write(e)) {
        ok = false;
        break;
      }
      last = e.sequence();
    }
    if (!ok) break;
  }
  events_->Unsubscribe(*sub);
  return result;
}

void FleetService::SetCatalog(catalog::ModelCatalog* catalog,
                              std::filesystem::path datasets_dir) {
  catalog_ = catalog;
  datasets_dir_ = std::move(datasets_dir);
}

void FleetService::SetRollouts(ota::RolloutEngine* rollouts) {
  rollouts_ = rollouts;
}

grpc::Status FleetService::UploadModel(
    grpc::ServerContext* ctx,
    grpc::ServerReader<v1::UploadModelRequest>* reader, v1::Model* resp) {
  TF_AUTHORIZE(kOperator);
  if (!catalog_)
    return ToGrpc(UnimplementedError("this gateway stores no models"));
  constexpr uint64_t kMaxModel = 64ull << 20, kMaxCalibration = 256ull << 20;
  v1::UploadModelRequest msg;
  if (!reader->Read(&msg) || !msg.has_header()) {
    return ToGrpc(InvalidArgumentError("the first message must be the header"));
  }
  v1::UploadModelHeader header = msg.header();
  if (header.model_bytes() == 0 || header.model_bytes() > kMaxModel ||
      header.calibration_bytes() > kMaxCalibration) {
    return ToGrpc(InvalidArgumentError(
        "model_bytes must be 1..64 MiB and calibration_bytes at most 256 MiB"));
  }
  std::string model, calibration;
  while (reader->Read(&msg)) {
    if (msg.has_header())
      return ToGrpc(InvalidArgumentError("a second header"));
    model += msg.model_chunk();
    calibration += msg.calibration_chunk();
    if (model.size() > header.model_bytes() ||
        calibration.size() > header.calibration_bytes()) {
      return ToGrpc(
          InvalidArgumentError("more bytes than the header announced"));
    }
  }
  if (model.size() != header.model_bytes() ||
      calibration.size() != header.calibration_bytes()) {
    return ToGrpc(
        InvalidArgumentError("fewer bytes than the header announced"));
  }
  Result<v1::Model> stored =
      InvalidArgumentError("format must be ONNX or BLOB");
  if (header.format() == v1::MODEL_FORMAT_BLOB) {
    stored = catalog_->AddBlob(header, std::move(model));
  } else if (header.format() == v1::MODEL_FORMAT_ONNX) {
    if (calibration.empty()) {
      return ToGrpc(
          InvalidArgumentError("an ONNX upload needs a calibration set"));
    }
    stored =
        catalog_->AddOnnx(header, std::move(model), std::move(calibration));
  }
  if (!stored.ok()) return ToGrpc(stored.status());
  *resp = *stored;
  return grpc::Status::OK;
}

grpc::Status FleetService::ListModels(grpc::ServerContext* ctx,
                                      const v1::ListModelsRequest* req,
                                      v1::ListModelsResponse* resp) {
  TF_AUTHORIZE(kViewer);
  if (!catalog_)
    return ToGrpc(UnimplementedError("this gateway stores no models"));
  std::string next;
  auto list =
      catalog_->List(req->name(), req->page_token(), req->page_size(), &next);
  if (!list.ok()) return ToGrpc(list.status());
  for (auto& m : *list) *resp->add_models() = std::move(m);
  resp->set_next_page_token(next);
  return grpc::Status::OK;
}

grpc::Status FleetService::GetModel(grpc::ServerContext* ctx,
                                    const v1::GetModelRequest* req,
                                    v1::Model* resp) {
  TF_AUTHORIZE(kViewer);
  if (!catalog_)
    return ToGrpc(UnimplementedError("this gateway stores no models"));
  auto rec = catalog_->Get(req->ref());
  if (!rec.ok()) return ToGrpc(rec.status());
  *resp = rec->model;
  return grpc::Status::OK;
}

grpc::Status FleetService::EvaluateModel(grpc::ServerContext* ctx,
                                         const v1::EvaluateModelRequest* req,
                                         v1::Evaluation* resp) {
  TF_AUTHORIZE(kOperator);
  if (!catalog_)
    return ToGrpc(UnimplementedError("this gateway stores no models"));
  std::string name = req->dataset().empty() ? "validation" : req->dataset();
  if (name.find('/') != std::string::npos ||
      name.find("..") != std::string::npos || name.size() > 64) {
    return ToGrpc(InvalidArgumentError(
        "dataset names a file in the gateway's datasets directory (no paths)"));
  }
  auto bytes = ReadFile(datasets_dir_ / (name + ".tnfs"));
  if (!bytes.ok()) {
    return ToGrpc(NotFoundError("no dataset \"" + name + "\" in " +
                                datasets_dir_.string()));
  }
  auto ev = catalog_->Evaluate(req->ref(), *bytes);
  if (!ev.ok()) return ToGrpc(ev.status());
  *resp = *ev;
  return grpc::Status::OK;
}

#define TF_NEED_ROLLOUTS() \
  if (!rollouts_) return ToGrpc(UnimplementedError("rollouts are off here"))

grpc::Status FleetService::CreateRollout(grpc::ServerContext* ctx,
                                         const v1::CreateRolloutRequest* req,
                                         v1::Rollout* resp) {
  TF_AUTHORIZE(kOperator);
  TF_NEED_ROLLOUTS();
  auto r = rollouts_->CreateRollout(*req);
  if (!r.ok()) return ToGrpc(r.status());
  *resp = *r;
  return grpc::Status::OK;
}

grpc::Status FleetService::GetRollout(grpc::ServerContext* ctx,
                                      const v1::GetRolloutRequest* req,
                                      v1::Rollout* resp) {
  TF_AUTHORIZE(kViewer);
  TF_NEED_ROLLOUTS();
  auto r = rollouts_->Get(req->rollout_id());
  if (!r.ok()) return ToGrpc(r.status());
  *resp = *r;
  return grpc::Status::OK;
}

grpc::Status FleetService::ListRollouts(grpc::ServerContext* ctx,
                                        const v1::ListRolloutsRequest* req,
                                        v1::ListRolloutsResponse* resp) {
  TF_AUTHORIZE(kViewer);
  TF_NEED_ROLLOUTS();
  std::string next;
  auto list = rollouts_->List(req->page_token(), req->page_size(), &next);
  if (!list.ok()) return ToGrpc(list.status());
  for (auto& r : *list) *resp->add_rollouts() = std::move(r);
  resp->set_next_page_token(next);
  return grpc::Status::OK;
}

grpc::Status FleetService::PauseRollout(grpc::ServerContext* ctx,
                                        const v1::RolloutActionRequest* req,
                                        v1::Rollout* resp) {
  TF_AUTHORIZE(kOperator);
  TF_NEED_ROLLOUTS();
  auto r = rollouts_->Pause(req->rollout_id(), req->reason());
  if (!r.ok()) return ToGrpc(r.status());
  *resp = *r;
  return grpc::Status::OK;
}

grpc::Status FleetService::ResumeRollout(grpc::ServerContext* ctx,
                                         const v1::RolloutActionRequest* req,
                                         v1::Rollout* resp) {
  TF_AUTHORIZE(kOperator);
  TF_NEED_ROLLOUTS();
  auto r = rollouts_->Resume(req->rollout_id());
  if (!r.ok()) return ToGrpc(r.status());
  *resp = *r;
  return grpc::Status::OK;
}

grpc::Status FleetService::AbortRollout(grpc::ServerContext* ctx,
                                        const v1::RolloutActionRequest* req,
                                        v1::Rollout* resp) {
  TF_AUTHORIZE(kOperator);
  TF_NEED_ROLLOUTS();
  auto r = rollouts_->Abort(req->rollout_id(), req->reason());
  if (!r.ok()) return ToGrpc(r.status());
  *resp = *r;
  return grpc::Status::OK;
}

void FleetService::SetRounds(adapt::RoundEngine* rounds) { rounds_ = rounds; }

#define TF_NEED_ROUNDS() \
  if (!rounds_) return ToGrpc(UnimplementedError("rounds are off here"))

grpc::Status FleetService::StartRound(grpc::ServerContext* ctx,
                                      const v1::StartRoundRequest* req,
                                      v1::Round* resp) {
  TF_AUTHORIZE(kOperator);
  TF_NEED_ROUNDS();
  auto r = rounds_->StartRound(*req);
  if (!r.ok()) return ToGrpc(r.status());
  *resp = *r;
  return grpc::Status::OK;
}

grpc::Status FleetService::GetRound(grpc::ServerContext* ctx,
                                    const v1::GetRoundRequest* req,
                                    v1::Round* resp) {
  TF_AUTHORIZE(kViewer);
  TF_NEED_ROUNDS();
  auto r = rounds_->Get(req->round_id());
  if (!r.ok()) return ToGrpc(r.status());
  *resp = *r;
  return grpc::Status::OK;
}

grpc::Status FleetService::ListRounds(grpc::ServerContext* ctx,
                                      const v1::ListRoundsRequest* req,
                                      v1::ListRoundsResponse* resp) {
  TF_AUTHORIZE(kViewer);
  TF_NEED_ROUNDS();
  std::string next;
  auto list = rounds_->List(req->page_token(), req->page_size(), &next);
  if (!list.ok()) return ToGrpc(list.status());
  for (auto& r : *list) *resp->add_rounds() = std::move(r);
  resp->set_next_page_token(next);
  return grpc::Status::OK;
}

grpc::Status FleetService::CancelRound(grpc::ServerContext* ctx,
                                       const v1::CancelRoundRequest* req,
                                       v1::Round* resp) {
  TF_AUTHORIZE(kOperator);
  TF_NEED_ROUNDS();
  auto r = rounds_->Cancel(req->round_id(), req->reason());
  if (!r.ok()) return ToGrpc(r.status());
  *resp = *r;
  return grpc::Status::OK;
}

}  // namespace tinyfleet::api
